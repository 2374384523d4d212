//! [`SessionStoreBuilder`]: builds a session store (optionally change-logged), one per task.

use crate::change_logging_session_store::ChangeLoggingSessionStore;
use crate::error::Result;
use crate::rocksdb_config::RocksDbConfig;
use crate::segmented_session_store::{SegmentedSessionStore, validate_session_params};
use crate::store::SessionStore;
use crate::store_context::{StoreBackend, StoreContext, validate_store_name};

/// Describes a session store; [`SessionStoreBuilder::build`] makes one instance per task:
/// `ChangeLogging<RocksDb | InMemory>`. Defaults: persistent (RocksDB), logging enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStoreBuilder {
    name: String,
    retention_ms: i64,
    backend: StoreBackend,
    logging_enabled: bool,
}

impl SessionStoreBuilder {
    /// A builder for the store `name` keeping sessions for `retention_ms` after they end.
    pub fn new(name: impl Into<String>, retention_ms: i64) -> Self {
        Self {
            name: name.into(),
            retention_ms,
            backend: StoreBackend::default(),
            logging_enabled: true,
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
        tracing::debug!(store = %self.name, persistent = self.is_persistent(), "built session store");
        match (self.logging_enabled, &context.changelog) {
            (true, Some(changelog)) => Ok(Box::new(ChangeLoggingSessionStore::new(
                store,
                changelog.clone(),
            ))),
            _ => Ok(Box::new(store)),
        }
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
            builder.build(&context).unwrap()
        });
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
