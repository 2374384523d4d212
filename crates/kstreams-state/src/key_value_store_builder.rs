//! [`KeyValueStoreBuilder`]: builds the wrapper stack of a key-value store, one per task.

use crate::caching_key_value_store::CachingKeyValueStore;
use crate::change_logging_key_value_store::ChangeLoggingKeyValueStore;
use crate::error::Result;
use crate::metered_key_value_store::MeteredKeyValueStore;
use crate::rocksdb_config::RocksDbConfig;
use crate::store::KeyValueStore;
use crate::store_context::{StoreBackend, StoreContext, validate_store_name};
use crate::store_metrics::StoreMetrics;

/// The concrete type [`KeyValueStoreBuilder::build`] returns inside its box; downcast to it
/// (via [`crate::StateStore::as_any`]) to read metrics, or use [`key_value_store_metrics`].
pub type BuiltKeyValueStore = MeteredKeyValueStore<Box<dyn KeyValueStore>>;

/// The metrics of a store built by [`KeyValueStoreBuilder::build`]; `None` for other stores.
pub fn key_value_store_metrics(store: &dyn KeyValueStore) -> Option<StoreMetrics> {
    store
        .as_any()
        .downcast_ref::<BuiltKeyValueStore>()
        .map(BuiltKeyValueStore::metrics)
}

/// Describes a key-value store; [`KeyValueStoreBuilder::build`] makes one instance per task:
/// `Metered<Caching<ChangeLogging<RocksDb | InMemory>>>`, with caching and logging layers only
/// when enabled. Defaults: persistent (RocksDB with default [`RocksDbConfig`]), logging enabled,
/// caching disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValueStoreBuilder {
    name: String,
    backend: StoreBackend,
    logging_enabled: bool,
    cache_max_bytes: Option<usize>,
    cache_forwarding: bool,
}

impl KeyValueStoreBuilder {
    /// A builder for the store `name` with the defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            backend: StoreBackend::default(),
            logging_enabled: true,
            cache_max_bytes: None,
            cache_forwarding: true,
        }
    }

    /// Keeps the store in memory.
    pub fn in_memory(mut self) -> Self {
        self.backend = StoreBackend::InMemory;
        self
    }

    /// Keeps the store in RocksDB (the default), keeping a configuration set earlier.
    pub fn persistent(mut self) -> Self {
        if !self.backend.is_persistent() {
            self.backend = StoreBackend::RocksDb(RocksDbConfig::default());
        }
        self
    }

    /// Keeps the store in RocksDB opened with `config`.
    pub fn with_rocksdb_config(mut self, config: RocksDbConfig) -> Self {
        self.backend = StoreBackend::RocksDb(config);
        self
    }

    /// Sets the backend directly.
    pub fn with_backend(mut self, backend: StoreBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Enables or disables change-logging (enabled by default).
    pub fn with_logging_enabled(mut self, enabled: bool) -> Self {
        self.logging_enabled = enabled;
        self
    }

    /// Enables a write-back cache of at most `max_bytes`.
    pub fn with_caching_enabled(mut self, max_bytes: usize) -> Self {
        self.cache_max_bytes = Some(max_bytes);
        self
    }

    /// Whether a table over the cached store forwards from the cache (true, the default: only
    /// the latest update of a key per commit goes downstream) or forwards every update itself
    /// (false: the cache then only coalesces store and changelog writes).
    pub fn with_cache_forwarding(mut self, forwarding: bool) -> Self {
        self.cache_forwarding = forwarding;
        self
    }

    /// Disables caching (the default).
    pub fn with_caching_disabled(mut self) -> Self {
        self.cache_max_bytes = None;
        self
    }

    /// The store name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether change-logging is enabled.
    pub fn logging_enabled(&self) -> bool {
        self.logging_enabled
    }

    /// Whether the store is kept in RocksDB.
    pub fn is_persistent(&self) -> bool {
        self.backend.is_persistent()
    }

    /// Whether caching is enabled.
    pub fn caching_enabled(&self) -> bool {
        self.cache_max_bytes.is_some()
    }

    /// The cache budget in bytes, when caching is enabled.
    pub fn cache_max_bytes(&self) -> Option<usize> {
        self.cache_max_bytes
    }

    /// The backend.
    pub fn backend(&self) -> &StoreBackend {
        &self.backend
    }

    /// Checks the description without building anything.
    pub fn validate(&self) -> Result<()> {
        validate_store_name(&self.name)?;
        if let StoreBackend::RocksDb(config) = &self.backend {
            config.validate(&self.name)?;
        }
        Ok(())
    }

    /// Builds one instance. Change-logging applies when enabled and `context.changelog` is set.
    /// Fails with [`crate::StateError::Config`] for an invalid description or a persistent store
    /// without `context.task_dir`, and with I/O or backend errors opening RocksDB.
    pub fn build(&self, context: &StoreContext) -> Result<Box<dyn KeyValueStore>> {
        self.validate()?;
        let mut store = self.backend.open_key_value(&self.name, context)?;
        if let (true, Some(changelog)) = (self.logging_enabled, &context.changelog) {
            store = Box::new(ChangeLoggingKeyValueStore::new(store, changelog.clone()));
        }
        if let Some(max_bytes) = self.cache_max_bytes {
            let mut caching = CachingKeyValueStore::new(store, max_bytes);
            if let Some(cache) = &context.cache {
                caching = caching.with_thread_cache(cache.clone());
            }
            if !self.cache_forwarding {
                caching = caching.without_forwarding();
            }
            store = Box::new(caching);
        }
        tracing::debug!(
            store = %self.name,
            persistent = self.is_persistent(),
            logging = self.logging_enabled && context.changelog.is_some(),
            caching = self.caching_enabled(),
            "built key-value store"
        );
        Ok(Box::new(MeteredKeyValueStore::new(store)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::test_support::{RecordingChangelogWriter, SuiteOptions, key_value_store_suite};
    use crate::{CacheFlushEntry, StateError};

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn builder_is_send_sync_clone() {
        assert_send_sync_clone::<KeyValueStoreBuilder>();
    }

    #[test]
    fn defaults() {
        let builder = KeyValueStoreBuilder::new("s");
        assert_eq!(builder.name(), "s");
        assert!(builder.is_persistent());
        assert!(builder.logging_enabled());
        assert!(!builder.caching_enabled());
        let builder = builder
            .in_memory()
            .with_caching_enabled(10)
            .with_logging_enabled(false);
        assert!(!builder.is_persistent());
        assert_eq!(builder.cache_max_bytes(), Some(10));
        assert!(!builder.logging_enabled());
        assert!(builder.clone().persistent().is_persistent());
        assert!(!builder.with_caching_disabled().caching_enabled());
    }

    #[test]
    fn full_in_memory_stack_semantics() {
        let writer = RecordingChangelogWriter::shared();
        let context = StoreContext {
            task_dir: None,
            changelog: Some(writer.clone()),
            cache: None,
        };
        let builder = KeyValueStoreBuilder::new("kv")
            .in_memory()
            .with_caching_enabled(300);
        key_value_store_suite(|| builder.build(&context).unwrap(), SuiteOptions::exact());
        assert!(!writer.changes().is_empty());
    }

    #[test]
    fn full_rocksdb_stack_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let writer = RecordingChangelogWriter::shared();
        let mut n = 0;
        key_value_store_suite(
            || {
                n += 1;
                let context =
                    StoreContext::new(dir.path().join(format!("task{n}")), Some(writer.clone()));
                KeyValueStoreBuilder::new("kv")
                    .with_caching_enabled(300)
                    .build(&context)
                    .unwrap()
            },
            SuiteOptions::estimated(),
        );
    }

    #[test]
    fn stack_logs_deduplicated_writes_and_forwards_to_listener() {
        let writer = RecordingChangelogWriter::shared();
        let context = StoreContext {
            task_dir: None,
            changelog: Some(writer.clone()),
            cache: None,
        };
        let mut store = KeyValueStoreBuilder::new("kv")
            .in_memory()
            .with_caching_enabled(1 << 20)
            .build(&context)
            .unwrap();
        let flushed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = flushed.clone();
        assert!(
            store.set_flush_listener(Box::new(move |e: CacheFlushEntry| sink
                .lock()
                .unwrap()
                .push(e)))
        );
        store.put(b"k", b"1").unwrap();
        store.put(b"k", b"2").unwrap();
        store.put(b"k", b"3").unwrap();
        store.flush().unwrap();
        assert_eq!(
            writer.changes(),
            vec![("kv".to_string(), b"k".to_vec(), Some(b"3".to_vec()))]
        );
        assert_eq!(flushed.lock().unwrap().len(), 1);
        let metrics = key_value_store_metrics(store.as_ref()).unwrap();
        assert_eq!(metrics.put.count, 3);
        assert_eq!(metrics.flush.count, 1);
    }

    #[test]
    fn logging_needs_both_flag_and_writer() {
        let writer = RecordingChangelogWriter::shared();
        let context = StoreContext {
            task_dir: None,
            changelog: Some(writer.clone()),
            cache: None,
        };
        let mut store = KeyValueStoreBuilder::new("kv")
            .in_memory()
            .with_logging_enabled(false)
            .build(&context)
            .unwrap();
        store.put(b"a", b"1").unwrap();
        assert!(writer.changes().is_empty());
        let mut store = KeyValueStoreBuilder::new("kv")
            .in_memory()
            .build(&StoreContext::in_memory())
            .unwrap();
        store.put(b"a", b"1").unwrap();
        assert!(
            !store.set_flush_listener(Box::new(|_| {})),
            "no cache, no listener"
        );
    }

    #[test]
    fn persistent_store_requires_task_dir_and_valid_name() {
        let err = KeyValueStoreBuilder::new("kv")
            .build(&StoreContext::in_memory())
            .err()
            .unwrap();
        assert!(matches!(err, StateError::Config { .. }), "{err}");
        let err = KeyValueStoreBuilder::new("")
            .in_memory()
            .build(&StoreContext::in_memory())
            .err()
            .unwrap();
        assert!(matches!(err, StateError::Config { .. }), "{err}");
    }

    #[test]
    fn persistent_store_reopens_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let context = StoreContext::new(dir.path(), None);
        let builder = KeyValueStoreBuilder::new("kv").with_caching_enabled(1 << 20);
        let mut store = builder.build(&context).unwrap();
        assert!(store.persistent());
        store.put(b"a", b"1").unwrap();
        store.close().unwrap();
        let store = builder.build(&context).unwrap();
        assert_eq!(store.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert!(dir.path().join("rocksdb").join("kv").is_dir());
    }
}
