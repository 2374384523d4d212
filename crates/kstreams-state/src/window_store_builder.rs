//! [`WindowStoreBuilder`]: builds a window store (optionally cached and change-logged), one per
//! task.

use crate::caching_window_store::CachingWindowStore;
use crate::change_logging_window_store::ChangeLoggingWindowStore;
use crate::error::{Result, StateError};
use crate::rocksdb_config::RocksDbConfig;
use crate::segmented_window_store::{SegmentedWindowStore, validate_window_params};
use crate::store::WindowStore;
use crate::store_context::{StoreBackend, StoreContext, validate_store_name};

/// Describes a window store; [`WindowStoreBuilder::build`] makes one instance per task:
/// `Caching<ChangeLogging<RocksDb | InMemory>>`, with the caching and logging layers only
/// when enabled. Defaults: persistent (RocksDB), logging enabled, caching disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStoreBuilder {
    name: String,
    retention_ms: i64,
    window_size_ms: i64,
    retain_duplicates: bool,
    backend: StoreBackend,
    logging_enabled: bool,
    cache_max_bytes: Option<usize>,
    cache_forwarding: bool,
}

impl WindowStoreBuilder {
    /// A builder for the store `name` keeping windows of `window_size_ms` for `retention_ms`
    /// after they end; `retain_duplicates` keeps every put (stream-stream joins).
    pub fn new(
        name: impl Into<String>,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> Self {
        Self {
            name: name.into(),
            retention_ms,
            window_size_ms,
            retain_duplicates,
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

    /// Enables a write-back cache of at most `max_bytes` (see [`CachingWindowStore`]). Not
    /// for stores retaining duplicates: [`WindowStoreBuilder::validate`] refuses that.
    pub fn with_caching_enabled(mut self, max_bytes: usize) -> Self {
        self.cache_max_bytes = Some(max_bytes);
        self
    }

    /// Whether an aggregation over the cached store forwards from the cache (true, the
    /// default: one update per window per commit) or forwards every update itself (false:
    /// the cache then only serves reads and coalesces store and changelog writes).
    pub fn with_cache_forwarding(mut self, forwarding: bool) -> Self {
        self.cache_forwarding = forwarding;
        self
    }

    /// Disables caching (the default).
    pub fn with_caching_disabled(mut self) -> Self {
        self.cache_max_bytes = None;
        self
    }

    /// The cache budget in bytes, when caching is enabled.
    pub fn cache_max_bytes(&self) -> Option<usize> {
        self.cache_max_bytes
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

    /// The retention period in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// The window size in milliseconds.
    pub fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }

    /// Whether every put is kept.
    pub fn retain_duplicates(&self) -> bool {
        self.retain_duplicates
    }

    /// The backend.
    pub fn backend(&self) -> &StoreBackend {
        &self.backend
    }

    /// Checks the description: a valid name, `0 < window size <= retention`, no cache on a
    /// store retaining duplicates.
    pub fn validate(&self) -> Result<()> {
        validate_store_name(&self.name)?;
        validate_window_params(&self.name, self.retention_ms, self.window_size_ms)?;
        if self.retain_duplicates && self.cache_max_bytes.is_some() {
            return Err(StateError::Config {
                store: self.name.clone(),
                message: "a window store retaining duplicates cannot be cached: every put is \
                          its own entry, so there is nothing to coalesce"
                    .into(),
            });
        }
        if let StoreBackend::RocksDb(config) = &self.backend {
            config.validate(&self.name)?;
        }
        Ok(())
    }

    /// Builds one instance. Change-logging applies when enabled and `context.changelog` is set.
    pub fn build(&self, context: &StoreContext) -> Result<Box<dyn WindowStore>> {
        self.validate()?;
        let bytes = self.backend.open_key_value(&self.name, context)?;
        let store = SegmentedWindowStore::from_store(
            bytes,
            self.retention_ms,
            self.window_size_ms,
            self.retain_duplicates,
        )?;
        tracing::debug!(
            store = %self.name,
            persistent = self.is_persistent(),
            cached = self.cache_max_bytes.is_some(),
            "built window store"
        );
        let store: Box<dyn WindowStore> = match (self.logging_enabled, &context.changelog) {
            (true, Some(changelog)) => Box::new(ChangeLoggingWindowStore::new(
                store,
                changelog.clone(),
                self.retain_duplicates,
            )),
            _ => Box::new(store),
        };
        let Some(max_bytes) = self.cache_max_bytes else {
            return Ok(store);
        };
        let mut caching = CachingWindowStore::new(store, max_bytes);
        if let Some(cache) = &context.cache {
            caching = caching.with_thread_cache(cache.clone());
        }
        if !self.cache_forwarding {
            caching = caching.without_forwarding();
        }
        Ok(Box::new(caching))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateError;
    use crate::test_support::RecordingChangelogWriter;
    use crate::window_key_codec;
    use crate::window_store_suite::window_store_suite;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn builder_is_send_sync_clone() {
        assert_send_sync_clone::<WindowStoreBuilder>();
    }

    #[test]
    fn accessors_and_defaults() {
        let builder = WindowStoreBuilder::new("w", 100, 10, true);
        assert_eq!(
            (
                builder.name(),
                builder.retention_ms(),
                builder.window_size_ms()
            ),
            ("w", 100, 10)
        );
        assert!(
            builder.retain_duplicates() && builder.is_persistent() && builder.logging_enabled()
        );
        assert!(!builder.clone().in_memory().is_persistent());
        assert!(!builder.with_logging_enabled(false).logging_enabled());
    }

    #[test]
    fn validates() {
        let context = StoreContext::in_memory();
        for builder in [
            WindowStoreBuilder::new("w", 5, 10, false),
            WindowStoreBuilder::new("w", 10, 0, false),
            WindowStoreBuilder::new("", 10, 10, false),
        ] {
            assert!(matches!(
                builder.in_memory().build(&context),
                Err(StateError::Config { .. })
            ));
        }
        let err = WindowStoreBuilder::new("w", 10, 10, false)
            .build(&context)
            .err()
            .unwrap();
        assert!(
            matches!(err, StateError::Config { .. }),
            "rocksdb without task dir: {err}"
        );
    }

    #[test]
    fn built_stores_pass_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let writer = RecordingChangelogWriter::shared();
        let mut n = 0;
        window_store_suite(&mut |retention, size, duplicates| {
            n += 1;
            let context = StoreContext::new(dir.path().join(n.to_string()), Some(writer.clone()));
            let builder = WindowStoreBuilder::new("w", retention, size, duplicates);
            let builder = if n % 2 == 0 {
                builder.in_memory()
            } else {
                builder
            };
            // Every other pair of stores is cached (those retaining duplicates cannot be).
            let builder = if n % 4 < 2 && !duplicates {
                builder.with_caching_enabled(1 << 20)
            } else {
                builder
            };
            builder.build(&context).unwrap()
        });
    }

    #[test]
    fn caching_wraps_the_logged_store_and_shares_the_thread_budget() {
        let writer = RecordingChangelogWriter::shared();
        let thread = crate::ThreadCache::shared(1 << 20);
        let context = StoreContext {
            task_dir: None,
            changelog: Some(writer.clone()),
            cache: Some(thread.clone()),
        };
        let builder = WindowStoreBuilder::new("w", 100, 10, false)
            .in_memory()
            .with_caching_enabled(4096);
        assert_eq!(builder.cache_max_bytes(), Some(4096));
        let mut store = builder.build(&context).unwrap();
        store.put(b"k", Some(b"1"), 5).unwrap();
        store.put(b"k", Some(b"2"), 5).unwrap();
        assert!(writer.changes().is_empty());
        assert!(thread.used_bytes() > 0);
        assert!(store.set_flush_listener(Box::new(|_| {})));
        store.flush_cache().unwrap();
        assert_eq!(
            writer.changes(),
            vec![(
                "w".to_string(),
                window_key_codec::encode(b"k", 5, 0),
                Some(b"2".to_vec())
            )]
        );
        let mut store_only = builder
            .clone()
            .with_cache_forwarding(false)
            .build(&context)
            .unwrap();
        assert!(!store_only.set_flush_listener(Box::new(|_| {})));
        let mut plain = builder.with_caching_disabled().build(&context).unwrap();
        assert!(!plain.set_flush_listener(Box::new(|_| {})));
    }

    #[test]
    fn refuses_a_cache_on_a_store_retaining_duplicates() {
        let err = WindowStoreBuilder::new("join", 100, 10, true)
            .in_memory()
            .with_caching_enabled(1024)
            .build(&StoreContext::in_memory())
            .err()
            .unwrap();
        assert!(
            matches!(&err, StateError::Config { message, .. } if message.contains("duplicates")),
            "{err}"
        );
    }

    #[test]
    fn logging_uses_the_context_writer() {
        let writer = RecordingChangelogWriter::shared();
        let context = StoreContext {
            task_dir: None,
            changelog: Some(writer.clone()),
            cache: None,
        };
        let mut store = WindowStoreBuilder::new("w", 100, 10, false)
            .in_memory()
            .build(&context)
            .unwrap();
        store.put(b"k", Some(b"v"), 5).unwrap();
        assert_eq!(
            writer.changes(),
            vec![(
                "w".to_string(),
                window_key_codec::encode(b"k", 5, 0),
                Some(b"v".to_vec())
            )]
        );
        let mut unlogged = WindowStoreBuilder::new("w", 100, 10, false)
            .in_memory()
            .with_logging_enabled(false)
            .build(&context)
            .unwrap();
        unlogged.put(b"k", Some(b"v"), 5).unwrap();
        assert_eq!(writer.changes().len(), 1);
    }
}
