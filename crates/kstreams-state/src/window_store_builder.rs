//! [`WindowStoreBuilder`]: builds a window store (optionally change-logged), one per task.

use crate::change_logging_window_store::ChangeLoggingWindowStore;
use crate::error::Result;
use crate::rocksdb_config::RocksDbConfig;
use crate::segmented_window_store::{SegmentedWindowStore, validate_window_params};
use crate::store::WindowStore;
use crate::store_context::{StoreBackend, StoreContext, validate_store_name};

/// Describes a window store; [`WindowStoreBuilder::build`] makes one instance per task:
/// `ChangeLogging<RocksDb | InMemory>`. Defaults: persistent (RocksDB), logging enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStoreBuilder {
    name: String,
    retention_ms: i64,
    window_size_ms: i64,
    retain_duplicates: bool,
    backend: StoreBackend,
    logging_enabled: bool,
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

    /// Checks the description: a valid name, `0 < window size <= retention`.
    pub fn validate(&self) -> Result<()> {
        validate_store_name(&self.name)?;
        validate_window_params(&self.name, self.retention_ms, self.window_size_ms)?;
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
        tracing::debug!(store = %self.name, persistent = self.is_persistent(), "built window store");
        match (self.logging_enabled, &context.changelog) {
            (true, Some(changelog)) => Ok(Box::new(ChangeLoggingWindowStore::new(
                store,
                changelog.clone(),
                self.retain_duplicates,
            ))),
            _ => Ok(Box::new(store)),
        }
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
