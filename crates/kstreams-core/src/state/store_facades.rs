//! Read-only facades that show a store by the value type asked for (Kafka Streams'
//! `ReadOnlyKeyValueStoreFacade` and `ReadOnlyWindowStoreFacade`): the DSL keeps each value
//! with its timestamp (`ValueAndTimestamp<V>`), and a reader asking for `V` gets the values
//! without them. A store that holds `V` itself is read as it is. Interactive queries and the
//! test driver's store views read through these.

use super::{KeyValueStore, TaskStore, ValueAndTimestamp, WindowStore};
use crate::SharedSerde;
use crate::error::Result;

/// A key-value store read with values `V`.
pub enum KeyValueStoreFacade<'a, K, V> {
    /// The store holds `V`.
    Plain(&'a KeyValueStore<K, V>),
    /// The store holds `V` with timestamps, which reads drop.
    Timestamped(&'a KeyValueStore<K, ValueAndTimestamp<V>>),
}

fn values<K, V>(entries: Vec<(K, ValueAndTimestamp<V>)>) -> Vec<(K, V)> {
    entries.into_iter().map(|(k, v)| (k, v.value)).collect()
}

impl<'a, K: 'static, V: 'static> KeyValueStoreFacade<'a, K, V> {
    /// `store` read with keys `K` and values `V`, if it holds them (with or without
    /// timestamps).
    pub fn of(store: &'a dyn TaskStore) -> Option<Self> {
        let any = store.as_any();
        any.downcast_ref::<KeyValueStore<K, V>>()
            .map(KeyValueStoreFacade::Plain)
            .or_else(|| {
                any.downcast_ref::<KeyValueStore<K, ValueAndTimestamp<V>>>()
                    .map(KeyValueStoreFacade::Timestamped)
            })
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        match self {
            KeyValueStoreFacade::Plain(s) => s.get(key),
            KeyValueStoreFacade::Timestamped(s) => Ok(s.get(key)?.map(|v| v.value)),
        }
    }

    /// Entries with `from <= key <= to` in key-byte order (`None`: unbounded).
    pub fn range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        match self {
            KeyValueStoreFacade::Plain(s) => s.range(from, to),
            KeyValueStoreFacade::Timestamped(s) => Ok(values(s.range(from, to)?)),
        }
    }

    /// As [`Self::range`], descending.
    pub fn reverse_range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        match self {
            KeyValueStoreFacade::Plain(s) => s.reverse_range(from, to),
            KeyValueStoreFacade::Timestamped(s) => Ok(values(s.reverse_range(from, to)?)),
        }
    }

    /// Entries whose serialized key starts with the serialized `prefix`.
    pub fn prefix_scan<P: 'static>(
        &self,
        prefix: &P,
        prefix_serde: &SharedSerde<P>,
    ) -> Result<Vec<(K, V)>> {
        match self {
            KeyValueStoreFacade::Plain(s) => s.prefix_scan(prefix, prefix_serde),
            KeyValueStoreFacade::Timestamped(s) => Ok(values(s.prefix_scan(prefix, prefix_serde)?)),
        }
    }

    /// Every entry in key-byte order.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        match self {
            KeyValueStoreFacade::Plain(s) => s.all(),
            KeyValueStoreFacade::Timestamped(s) => Ok(values(s.all()?)),
        }
    }

    /// The store's estimate of its entry count.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        match self {
            KeyValueStoreFacade::Plain(s) => s.approximate_num_entries(),
            KeyValueStoreFacade::Timestamped(s) => s.approximate_num_entries(),
        }
    }
}

/// A window store read with values `V`.
pub enum WindowStoreFacade<'a, K, V> {
    /// The store holds `V`.
    Plain(&'a WindowStore<K, V>),
    /// The store holds `V` with timestamps, which reads drop.
    Timestamped(&'a WindowStore<K, ValueAndTimestamp<V>>),
}

impl<'a, K: 'static, V: 'static> WindowStoreFacade<'a, K, V> {
    /// `store` read with keys `K` and values `V`, if it holds them (with or without
    /// timestamps).
    pub fn of(store: &'a dyn TaskStore) -> Option<Self> {
        let any = store.as_any();
        any.downcast_ref::<WindowStore<K, V>>()
            .map(WindowStoreFacade::Plain)
            .or_else(|| {
                any.downcast_ref::<WindowStore<K, ValueAndTimestamp<V>>>()
                    .map(WindowStoreFacade::Timestamped)
            })
    }

    /// The value of `key` in the window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>> {
        match self {
            WindowStoreFacade::Plain(s) => s.fetch(key, window_start),
            WindowStoreFacade::Timestamped(s) => Ok(s.fetch(key, window_start)?.map(|v| v.value)),
        }
    }

    /// `(window start, value)` of `key` for windows starting in `[time_from, time_to]`,
    /// ascending.
    pub fn fetch_range(&self, key: &K, time_from: i64, time_to: i64) -> Result<Vec<(i64, V)>> {
        match self {
            WindowStoreFacade::Plain(s) => s.fetch_range(key, time_from, time_to),
            WindowStoreFacade::Timestamped(s) => {
                Ok(values(s.fetch_range(key, time_from, time_to)?))
            }
        }
    }

    /// Every unexpired `(key, window start, value)`, by serialized key then start.
    pub fn all(&self) -> Result<Vec<(K, i64, V)>> {
        match self {
            WindowStoreFacade::Plain(s) => s.all(),
            WindowStoreFacade::Timestamped(s) => Ok(s
                .all()?
                .into_iter()
                .map(|(k, start, v)| (k, start, v.value))
                .collect()),
        }
    }

    /// Every unexpired `(key, window start, value)` whose window starts in
    /// `[time_from, time_to]`, by serialized key then start.
    pub fn fetch_all(&self, time_from: i64, time_to: i64) -> Result<Vec<(K, i64, V)>> {
        let mut windows = self.all()?;
        windows.retain(|(_, start, _)| (time_from..=time_to).contains(start));
        Ok(windows)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kstreams_state::StoreContext;

    use super::*;
    use crate::Serdes;
    use crate::state::{StoreBuilder, Stores, ValueAndTimestampSerde};

    #[test]
    fn timestamped_and_plain_stores_read_as_values() {
        let mut plain = Stores::in_memory_key_value_store_builder::<String, i64>("p")
            .with_logging_enabled(false)
            .build(&StoreContext::default())
            .unwrap();
        plain
            .as_any_mut()
            .downcast_mut::<KeyValueStore<String, i64>>()
            .unwrap()
            .put(&"a".into(), &1)
            .unwrap();
        let mut stamped = Stores::key_value_store_builder_with(
            "t",
            Serdes::string(),
            Arc::new(ValueAndTimestampSerde::new(Serdes::i64())),
        )
        .in_memory()
        .with_logging_enabled(false)
        .build(&StoreContext::default())
        .unwrap();
        stamped
            .as_any_mut()
            .downcast_mut::<KeyValueStore<String, ValueAndTimestamp<i64>>>()
            .unwrap()
            .put(&"b".into(), &ValueAndTimestamp::make(2, 99))
            .unwrap();
        for (store, key, value) in [(&plain, "a", 1), (&stamped, "b", 2)] {
            let f = KeyValueStoreFacade::<String, i64>::of(store.as_ref()).unwrap();
            assert_eq!(f.get(&key.into()).unwrap(), Some(value));
            assert_eq!(f.all().unwrap(), vec![(key.to_string(), value)]);
            assert_eq!(f.range(None, None).unwrap().len(), 1);
            assert_eq!(f.reverse_range(None, None).unwrap().len(), 1);
            assert_eq!(
                f.prefix_scan(&key.to_string(), &Serdes::string())
                    .unwrap()
                    .len(),
                1
            );
            assert!(
                f.prefix_scan(&"zz".to_string(), &Serdes::string())
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(f.approximate_num_entries().unwrap(), 1);
        }
        // Asked with the timestamps, the timestamped store answers as it is.
        let raw = KeyValueStoreFacade::<String, ValueAndTimestamp<i64>>::of(stamped.as_ref());
        assert_eq!(
            raw.unwrap().get(&"b".into()).unwrap(),
            Some(ValueAndTimestamp::make(2, 99))
        );
        assert!(KeyValueStoreFacade::<String, String>::of(plain.as_ref()).is_none());
        assert!(WindowStoreFacade::<String, i64>::of(plain.as_ref()).is_none());
    }
}
