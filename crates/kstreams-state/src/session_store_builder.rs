//! [`SessionStoreBuilder`]: builds a session store (optionally cached and change-logged), one
//! per task.

use crate::caching_session_store::CachingSessionStore;
use crate::change_logging_session_store::ChangeLoggingSessionStore;
use crate::error::Result;
use crate::rocksdb_config::RocksDbConfig;
use crate::segmented_session_store::{SegmentedSessionStore, validate_session_params};
use crate::store::SessionStore;
use crate::store_context::{StoreBackend, StoreContext, validate_store_name};

/// Describes a session store; [`SessionStoreBuilder::build`] makes one instance per task:
/// `Caching<ChangeLogging<RocksDb | InMemory>>`, with the caching and logging layers only
/// when enabled. Defaults: persistent (RocksDB), logging enabled, caching disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStoreBuilder {
    name: String,
    retention_ms: i64,
    backend: StoreBackend,
    logging_enabled: bool,
    cache_max_bytes: Option<usize>,
    cache_forwarding: bool,
}

impl SessionStoreBuilder {
    /// A builder for the store `name` keeping sessions for `retention_ms` after they end.
    pub fn new(name: impl Into<String>, retention_ms: i64) -> Self {
        Self {
            name: name.into(),
            retention_ms,
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

    /// Enables a write-back cache of at most `max_bytes` (see [`CachingSessionStore`]).
    pub fn with_caching_enabled(mut self, max_bytes: usize) -> Self {
        self.cache_max_bytes = Some(max_bytes);
        self
    }

    /// Whether an aggregation over the cached store forwards from the cache (true, the
    /// default: the sessions of each commit) or forwards every update itself (false: the
    /// cache then only serves reads and coalesces store and changelog writes).
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

    /// The backend.
    pub fn backend(&self) -> &StoreBackend {
        &self.backend
    }

    /// Checks the description: a valid name and a non-negative retention.
    pub fn validate(&self) -> Result<()> {
        validate_store_name(&self.name)?;
        validate_session_params(&self.name, self.retention_ms)?;
        if let StoreBackend::RocksDb(config) = &self.backend {
            config.validate(&self.name)?;
        }
        Ok(())
    }

    /// Builds one instance. Change-logging applies when enabled and `context.changelog` is set.
    pub fn build(&self, context: &StoreContext) -> Result<Box<dyn SessionStore>> {
        self.validate()?;
        let bytes = self.backend.open_key_value(&self.name, context)?;
        let store = SegmentedSessionStore::from_store(bytes, self.retention_ms)?;
        tracing::debug!(
            store = %self.name,
            persistent = self.is_persistent(),
            cached = self.cache_max_bytes.is_some(),
            "built session store"
        );
        let store: Box<dyn SessionStore> = match (self.logging_enabled, &context.changelog) {
            (true, Some(changelog)) => {
                Box::new(ChangeLoggingSessionStore::new(store, changelog.clone()))
            }
            _ => Box::new(store),
        };
        let Some(max_bytes) = self.cache_max_bytes else {
            return Ok(store);
        };
        let mut caching = CachingSessionStore::new(store, max_bytes);
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
    use crate::session_key_codec;
    use crate::session_store_suite::session_store_suite;
    use crate::test_support::RecordingChangelogWriter;
    use crate::{StateError, TimeWindow};

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn builder_is_send_sync_clone() {
        assert_send_sync_clone::<SessionStoreBuilder>();
    }

    #[test]
    fn validates() {
        let context = StoreContext::in_memory();
        assert!(matches!(
            SessionStoreBuilder::new("s", -1)
                .in_memory()
                .build(&context),
            Err(StateError::Config { .. })
        ));
        assert!(matches!(
            SessionStoreBuilder::new("s", 10).build(&context),
            Err(StateError::Config { .. })
        ));
        let builder = SessionStoreBuilder::new("s", 10);
        assert!(
            builder.is_persistent() && builder.logging_enabled() && builder.retention_ms() == 10
        );
    }

    #[test]
    fn built_stores_pass_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let writer = RecordingChangelogWriter::shared();
        let mut n = 0;
        session_store_suite(&mut |retention| {
            n += 1;
            let context = StoreContext::new(dir.path().join(n.to_string()), Some(writer.clone()));
            let builder = SessionStoreBuilder::new("s", retention);
            let builder = if n % 2 == 0 {
                builder.in_memory()
            } else {
                builder
            };
            // Every other pair of stores is cached.
            let builder = if n % 4 < 2 {
                builder.with_caching_enabled(1 << 20)
            } else {
                builder
            };
            builder.build(&context).unwrap()
        });
    }

    #[test]
    fn caching_wraps_the_logged_store() {
        let writer = RecordingChangelogWriter::shared();
        let context = StoreContext {
            task_dir: None,
            changelog: Some(writer.clone()),
            cache: Some(crate::ThreadCache::shared(1 << 20)),
        };
        let builder = SessionStoreBuilder::new("s", 100)
            .in_memory()
            .with_caching_enabled(4096);
        assert_eq!(builder.cache_max_bytes(), Some(4096));
        let mut store = builder.build(&context).unwrap();
        let window = TimeWindow { start: 1, end: 2 };
        store.put(b"k", window, b"1").unwrap();
        store.put(b"k", window, b"2").unwrap();
        assert!(writer.changes().is_empty());
        assert!(store.set_flush_listener(Box::new(|_| {})));
        store.flush_cache().unwrap();
        assert_eq!(
            writer.changes(),
            vec![(
                "s".to_string(),
                session_key_codec::encode(b"k", window),
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
    fn logging_uses_the_context_writer() {
        let writer = RecordingChangelogWriter::shared();
        let context = StoreContext {
            task_dir: None,
            changelog: Some(writer.clone()),
            cache: None,
        };
        let mut store = SessionStoreBuilder::new("s", 100)
            .in_memory()
            .build(&context)
            .unwrap();
        let window = TimeWindow { start: 1, end: 2 };
        store.put(b"k", window, b"v").unwrap();
        assert_eq!(
            writer.changes(),
            vec![(
                "s".to_string(),
                session_key_codec::encode(b"k", window),
                Some(b"v".to_vec())
            )]
        );
    }
}
