//! A typed window store, and its builder.

use std::any::Any;

use kstreams_state::{
    CacheFlushEntry, CacheFlushListener, StoreContext, WindowStore as BytesWindowStore,
    WindowStoreBuilder as BytesWindowStoreBuilder, window_key_codec,
};

use super::store_builder::StoreBuilder;
use super::task_store::TaskStore;
use crate::error::Result;
use crate::serde::{SerdeError, SharedSerde};

/// A window store with typed keys and values: one value per (key, window start), over a
/// byte store (RocksDB or in-memory, possibly change-logged). Windows are `[start, start +
/// size)`; expired windows (older than the retention behind observed stream time) are gone.
pub struct WindowStore<K, V> {
    name: String,
    inner: Box<dyn BytesWindowStore>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K: 'static, V: 'static> WindowStore<K, V> {
    /// Wraps a byte store.
    pub fn new(
        inner: Box<dyn BytesWindowStore>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        WindowStore {
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

    fn decode(&self, bytes: &[u8]) -> Result<V> {
        Ok(self.value_serde.deserialize(&self.name, Some(bytes))?)
    }

    /// Writes `value` of `key` in the window starting at `window_start`; `None` (or a value
    /// serializing to null) deletes it. Writes to expired windows are ignored.
    pub fn put(&mut self, key: &K, value: Option<&V>, window_start: i64) -> Result<()> {
        let k = self.key_bytes(key)?;
        let v = match value {
            Some(v) => self.value_serde.serialize(&self.name, v)?,
            None => None,
        };
        Ok(self.inner.put(&k, v.as_deref(), window_start)?)
    }

    /// The value of `key` in the window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>> {
        let k = self.key_bytes(key)?;
        match self.inner.fetch(&k, window_start)? {
            Some(b) => Ok(Some(self.decode(&b)?)),
            None => Ok(None),
        }
    }

    /// `(window start, value)` of `key` for windows starting in `[time_from, time_to]`,
    /// ascending.
    pub fn fetch_range(&self, key: &K, time_from: i64, time_to: i64) -> Result<Vec<(i64, V)>> {
        let k = self.key_bytes(key)?;
        self.inner
            .fetch_range(&k, time_from, time_to)?
            .into_iter()
            .map(|(start, b)| Ok((start, self.decode(&b)?)))
            .collect()
    }

    /// Every unexpired `(key, window start, value)`, by serialized key then start.
    pub fn all(&self) -> Result<Vec<(K, i64, V)>> {
        self.inner
            .all()?
            .into_iter()
            .map(|(wk, b)| {
                Ok((
                    self.key_serde.deserialize(&self.name, Some(&wk.key))?,
                    wk.window.start,
                    self.decode(&b)?,
                ))
            })
            .collect()
    }

    /// The window size (ms).
    pub fn window_size(&self) -> i64 {
        self.inner.window_size()
    }

    /// Decodes an entry the store's cache wrote down: (key, window start, new value, value
    /// the store held before).
    pub fn decode_flush_entry(
        &self,
        entry: &CacheFlushEntry,
    ) -> Result<(K, i64, Option<V>, Option<V>)> {
        let parts = window_key_codec::decode(&entry.key).ok_or_else(|| {
            SerdeError::deserialize(
                &self.name,
                "store key",
                "a window cache key is shorter than its window suffix",
            )
        })?;
        let key = self.key_serde.deserialize(&self.name, Some(parts.key))?;
        let new = entry
            .new_value
            .as_deref()
            .map(|b| self.decode(b))
            .transpose()?;
        let old = entry
            .old_value
            .as_deref()
            .map(|b| self.decode(b))
            .transpose()?;
        Ok((key, parts.window_start, new, old))
    }

    /// The retention period (ms).
    pub fn retention_period(&self) -> i64 {
        self.inner.retention_period()
    }
}

impl<K: 'static, V: 'static> TaskStore for WindowStore<K, V> {
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

/// Builds typed window stores.
pub struct WindowStoreBuilder<K, V> {
    inner: BytesWindowStoreBuilder,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> Clone for WindowStoreBuilder<K, V> {
    fn clone(&self) -> Self {
        WindowStoreBuilder {
            inner: self.inner.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K: 'static, V: 'static> WindowStoreBuilder<K, V> {
    /// A builder from a byte-store builder and serdes.
    pub fn new(
        inner: BytesWindowStoreBuilder,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        WindowStoreBuilder {
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

    /// Adds a write-back cache of `max_bytes`.
    pub fn with_caching_enabled(mut self, max_bytes: usize) -> Self {
        self.inner = self.inner.with_caching_enabled(max_bytes);
        self
    }

    /// See [`BytesWindowStoreBuilder::with_cache_forwarding`].
    pub fn with_cache_forwarding(mut self, forwarding: bool) -> Self {
        self.inner = self.inner.with_cache_forwarding(forwarding);
        self
    }

    /// The byte-store builder underneath.
    pub fn bytes_builder(&self) -> &BytesWindowStoreBuilder {
        &self.inner
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> StoreBuilder for WindowStoreBuilder<K, V> {
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
        Ok(Box::new(WindowStore::new(
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

    fn builder() -> WindowStoreBuilder<String, i64> {
        WindowStoreBuilder::new(
            BytesWindowStoreBuilder::new("w", 100, 10, false),
            Serdes::string(),
            Serdes::i64(),
        )
        .in_memory()
        .with_logging_enabled(false)
    }

    #[test]
    fn builder_builds_a_typed_store() {
        let b = builder();
        assert_eq!(StoreBuilder::name(&b), "w");
        assert!(!StoreBuilder::persistent(&b) && !StoreBuilder::logging_enabled(&b));
        let mut built = b.build(&StoreContext::in_memory()).unwrap();
        assert!(
            built
                .as_any_mut()
                .downcast_mut::<WindowStore<String, i64>>()
                .is_some()
        );
    }

    #[test]
    fn typed_put_fetch_range_and_expiry() {
        let b = builder();
        let mut s = WindowStore::new(
            b.bytes_builder().build(&StoreContext::in_memory()).unwrap(),
            Serdes::string(),
            Serdes::i64(),
        );
        let k = "a".to_string();
        s.put(&k, Some(&1), 0).unwrap();
        s.put(&k, Some(&2), 10).unwrap();
        s.put(&"b".to_string(), Some(&3), 10).unwrap();
        assert_eq!(s.fetch(&k, 0).unwrap(), Some(1));
        assert_eq!(s.fetch_range(&k, 0, 10).unwrap(), vec![(0, 1), (10, 2)]);
        assert_eq!(s.all().unwrap().len(), 3);
        s.put(&k, None, 10).unwrap();
        assert_eq!(s.fetch(&k, 10).unwrap(), None);
        // Stream time moves to 200: windows ending more than 100 before it expire.
        s.put(&k, Some(&9), 200).unwrap();
        assert_eq!(s.fetch(&k, 0).unwrap(), None);
        assert_eq!(s.fetch(&k, 200).unwrap(), Some(9));
        assert_eq!((s.window_size(), s.retention_period()), (10, 100));
    }
}
