//! [`StoreContext`] and [`StoreBackend`]: what a store builder needs to build one store instance
//! for one task.

use std::path::PathBuf;

use crate::error::{Result, StateError};
use crate::in_memory_key_value_store::InMemoryKeyValueStore;
use crate::rocksdb_config::RocksDbConfig;
use crate::rocksdb_key_value_store::RocksDbKeyValueStore;
use crate::store::{KeyValueStore, SharedChangelogWriter};
use crate::thread_cache::SharedThreadCache;

/// Per-task facts a builder needs: where persistent stores live and where changes are logged.
#[derive(Clone, Default)]
pub struct StoreContext {
    /// The task's state directory (`<state.dir>/<application.id>/<task id>`); RocksDB stores
    /// live under `<task_dir>/rocksdb/<store>`. Required for persistent stores.
    pub task_dir: Option<PathBuf>,
    /// The writer of the task's changelog records; `None` disables change-logging.
    pub changelog: Option<SharedChangelogWriter>,
    /// The stream thread's shared cache budget (`statestore.cache.max.bytes`); caching stores
    /// charge it besides their own limit. `None`: only the store's own limit applies.
    pub cache: Option<SharedThreadCache>,
}

impl std::fmt::Debug for StoreContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreContext")
            .field("task_dir", &self.task_dir)
            .field(
                "changelog",
                &self.changelog.as_ref().map(|_| "ChangelogWriter"),
            )
            .field("cache", &self.cache)
            .finish()
    }
}

impl StoreContext {
    /// A context for in-memory stores without change-logging (tests).
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A context with a task directory and an optional changelog writer.
    pub fn new(task_dir: impl Into<PathBuf>, changelog: Option<SharedChangelogWriter>) -> Self {
        Self {
            task_dir: Some(task_dir.into()),
            changelog,
            cache: None,
        }
    }
}

/// Where a store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// In memory, rebuilt from the changelog on restart.
    InMemory,
    /// In a RocksDB instance under the task directory.
    RocksDb(RocksDbConfig),
}

impl Default for StoreBackend {
    fn default() -> Self {
        StoreBackend::RocksDb(RocksDbConfig::default())
    }
}

impl StoreBackend {
    /// Whether the backend keeps data on disk.
    pub fn is_persistent(&self) -> bool {
        matches!(self, StoreBackend::RocksDb(_))
    }

    /// Opens the raw byte key-value store of this backend.
    pub(crate) fn open_key_value(
        &self,
        name: &str,
        context: &StoreContext,
    ) -> Result<Box<dyn KeyValueStore>> {
        match self {
            StoreBackend::InMemory => Ok(Box::new(InMemoryKeyValueStore::new(name))),
            StoreBackend::RocksDb(config) => {
                let task_dir = context
                    .task_dir
                    .as_deref()
                    .ok_or_else(|| StateError::Config {
                        store: name.to_string(),
                        message: "a persistent (RocksDB) store needs StoreContext::task_dir"
                            .to_string(),
                    })?;
                Ok(Box::new(RocksDbKeyValueStore::open(
                    name, task_dir, config,
                )?))
            }
        }
    }
}

/// Checks a store name: non-empty, at most 200 characters of `[A-Za-z0-9._-]`, not `.` or `..`
/// (it names a directory and, in the changelog topic name, part of a Kafka topic).
pub fn validate_store_name(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("the store name is empty")
    } else if name == "." || name == ".." {
        Some("the store name cannot be '.' or '..'")
    } else if name.len() > 200 {
        Some("the store name is longer than 200 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some("the store name may only contain ASCII letters, digits, '.', '_' and '-'")
    } else {
        None
    };
    match problem {
        Some(message) => Err(StateError::Config {
            store: name.to_string(),
            message: message.to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_are_validated() {
        assert!(validate_store_name("counts-store_1.v2").is_ok());
        for bad in ["", ".", "..", "a/b", "with space", "ü"] {
            assert!(
                matches!(validate_store_name(bad), Err(StateError::Config { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_store_name(&"x".repeat(201)).is_err());
    }

    #[test]
    fn rocksdb_backend_needs_a_task_dir() {
        let backend = StoreBackend::default();
        assert!(backend.is_persistent());
        let err = backend
            .open_key_value("s", &StoreContext::in_memory())
            .err()
            .unwrap();
        assert!(matches!(err, StateError::Config { .. }), "{err}");
    }
}
