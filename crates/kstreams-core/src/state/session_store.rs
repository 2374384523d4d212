//! A typed session store, and its builder.

use std::any::Any;

use kstreams_state::{
    CacheFlushEntry, CacheFlushListener, SessionStore as BytesSessionStore,
    SessionStoreBuilder as BytesSessionStoreBuilder, StoreContext, TimeWindow, session_key_codec,
};

use super::store_builder::StoreBuilder;
use super::task_store::TaskStore;
use crate::error::Result;
use crate::serde::{SerdeError, SharedSerde};

/// A session store with typed keys and values: one value per (key, session `[start, end]`,
/// both inclusive), over a byte store (RocksDB or in-memory, possibly change-logged).
pub struct SessionStore<K, V> {
    name: String,
    inner: Box<dyn BytesSessionStore>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K: 'static, V: 'static> SessionStore<K, V> {
    /// Wraps a byte store.
    pub fn new(
        inner: Box<dyn BytesSessionStore>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        SessionStore {
            name: inner.name().to_string(),
            inner,
            key_serde,
            value_serde,
        }
    }

    fn key_bytes(&self, key: &K) -> Result<Vec<u8>> {
        self.key_serde.serialize(&self.name, key)?.ok_or_else(|| {
            SerdeError::serialize(
                &self.name,
                "store key",
                "a store key must not serialize to null",
            )
            .into()
        })
    }

    fn decode_all(&self, v: Vec<(TimeWindow, Vec<u8>)>) -> Result<Vec<(TimeWindow, V)>> {
        v.into_iter()
            .map(|(w, b)| Ok((w, self.value_serde.deserialize(&self.name, Some(&b))?)))
            .collect()
    }

    /// Sessions of `key` with `end >= earliest_session_end` and `start <=
    /// latest_session_start`, ascending by end then start.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(TimeWindow, V)>> {
        let k = self.key_bytes(key)?;
        let found = self
            .inner
            .find_sessions(&k, earliest_session_end, latest_session_start)?;
        self.decode_all(found)
    }

    /// The value of exactly this session.
    pub fn fetch_session(&self, key: &K, window: TimeWindow) -> Result<Option<V>> {
        let k = self.key_bytes(key)?;
        match self.inner.fetch_session(&k, window)? {
            Some(b) => Ok(Some(self.value_serde.deserialize(&self.name, Some(&b))?)),
            None => Ok(None),
        }
    }

    /// All sessions of `key`, ascending by end then start.
    pub fn fetch(&self, key: &K) -> Result<Vec<(TimeWindow, V)>> {
        let k = self.key_bytes(key)?;
        let found = self.inner.fetch(&k)?;
        self.decode_all(found)
    }

    /// Writes a session's value.
    pub fn put(&mut self, key: &K, window: TimeWindow, value: &V) -> Result<()> {
        let k = self.key_bytes(key)?;
        let v = self
            .value_serde
            .serialize(&self.name, value)?
            .ok_or_else(|| {
                SerdeError::serialize(
                    &self.name,
                    "session value",
                    "a session value must not be null",
                )
            })?;
        Ok(self.inner.put(&k, window, &v)?)
    }

    /// Removes a session.
    pub fn remove(&mut self, key: &K, window: TimeWindow) -> Result<()> {
        let k = self.key_bytes(key)?;
        Ok(self.inner.remove(&k, window)?)
    }

    /// Decodes an entry the store's cache wrote down: (key, session, new value, value the
    /// store held before).
    pub fn decode_flush_entry(
        &self,
        entry: &CacheFlushEntry,
    ) -> Result<(K, TimeWindow, Option<V>, Option<V>)> {
        let (key, window) = session_key_codec::decode(&entry.key).ok_or_else(|| {
            SerdeError::deserialize(
                &self.name,
                "store key",
                "a session cache key is shorter than its session suffix",
            )
        })?;
        let key = self.key_serde.deserialize(&self.name, Some(key))?;
        let decode = |b: &[u8]| self.value_serde.deserialize(&self.name, Some(b));
        let new = entry.new_value.as_deref().map(decode).transpose()?;
        let old = entry.old_value.as_deref().map(decode).transpose()?;
        Ok((key, window, new, old))
    }
}

impl<K: 'static, V: 'static> TaskStore for SessionStore<K, V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn persistent(&self) -> bool {
        self.inner.persistent()
    }
    fn flush(&mut self) -> Result<()> {
        Ok(self.inner.flush()?)
    }
    fn flush_cache(&mut self) -> Result<()> {
        Ok(self.inner.flush_cache()?)
    }
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        self.inner.set_flush_listener(listener)
    }
    fn close(&mut self) -> Result<()> {
        Ok(self.inner.close()?)
    }
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        Ok(self.inner.restore(key, value)?)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Builds typed session stores.
pub struct SessionStoreBuilder<K, V> {
    inner: BytesSessionStoreBuilder,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> Clone for SessionStoreBuilder<K, V> {
    fn clone(&self) -> Self {
        SessionStoreBuilder {
            inner: self.inner.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K: 'static, V: 'static> SessionStoreBuilder<K, V> {
    /// A builder from a byte-store builder and serdes.
    pub fn new(
        inner: BytesSessionStoreBuilder,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        SessionStoreBuilder {
            inner,
            key_serde,
            value_serde,
        }
    }

    /// Keeps the store in memory instead of RocksDB.
    pub fn in_memory(mut self) -> Self {
        self.inner = self.inner.in_memory();
        self
    }

    /// Turns change-logging on or off (on by default).
    pub fn with_logging_enabled(mut self, enabled: bool) -> Self {
        self.inner = self.inner.with_logging_enabled(enabled);
        self
    }

    /// The byte-store builder underneath.
    pub fn bytes_builder(&self) -> &BytesSessionStoreBuilder {
        &self.inner
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> StoreBuilder
    for SessionStoreBuilder<K, V>
{
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn logging_enabled(&self) -> bool {
        self.inner.logging_enabled()
    }
    fn persistent(&self) -> bool {
        self.inner.is_persistent()
    }
    fn build(&self, ctx: &StoreContext) -> Result<Box<dyn TaskStore>> {
        let bytes = self.inner.build(ctx)?;
        Ok(Box::new(SessionStore::new(
            bytes,
            self.key_serde.clone(),
            self.value_serde.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::Serdes;

    fn builder() -> SessionStoreBuilder<String, i64> {
        SessionStoreBuilder::new(
            BytesSessionStoreBuilder::new("s", 100),
            Serdes::string(),
            Serdes::i64(),
        )
        .in_memory()
        .with_logging_enabled(false)
    }

    #[test]
    fn builder_builds_a_typed_store() {
        let b = builder();
        assert_eq!(StoreBuilder::name(&b), "s");
        assert!(!StoreBuilder::persistent(&b) && !StoreBuilder::logging_enabled(&b));
        let mut built = b.build(&StoreContext::in_memory()).unwrap();
        assert!(
            built
                .as_any_mut()
                .downcast_mut::<SessionStore<String, i64>>()
                .is_some()
        );
    }

    #[test]
    fn typed_sessions_find_fetch_remove() {
        let b = builder();
        let mut s = SessionStore::new(
            b.bytes_builder().build(&StoreContext::in_memory()).unwrap(),
            Serdes::string(),
            Serdes::i64(),
        );
        let k = "a".to_string();
        let w1 = TimeWindow { start: 0, end: 5 };
        let w2 = TimeWindow { start: 20, end: 30 };
        s.put(&k, w1, &1).unwrap();
        s.put(&k, w2, &2).unwrap();
        s.put(&"b".to_string(), w1, &3).unwrap();
        // A record at 8 with gap 4 merges with sessions ending >= 4 and starting <= 12.
        assert_eq!(s.find_sessions(&k, 4, 12).unwrap(), vec![(w1, 1)]);
        assert_eq!(s.fetch(&k).unwrap(), vec![(w1, 1), (w2, 2)]);
        assert_eq!(s.fetch_session(&k, w2).unwrap(), Some(2));
        s.remove(&k, w1).unwrap();
        assert_eq!(s.fetch(&k).unwrap(), vec![(w2, 2)]);
    }
}
