//! [`RocksDbSessionStore`]: a persistent session store, one RocksDB instance per store per task.

use std::path::Path;

use crate::error::Result;
use crate::rocksdb_config::RocksDbConfig;
use crate::rocksdb_key_value_store::RocksDbKeyValueStore;
use crate::segmented_session_store::SegmentedSessionStore;

/// A session store in RocksDB: a [`SegmentedSessionStore`] over a [`RocksDbKeyValueStore`] at
/// `<task_dir>/rocksdb/<name>`. Reopening recovers the data and the observed stream time.
pub type RocksDbSessionStore = SegmentedSessionStore<RocksDbKeyValueStore>;

impl RocksDbSessionStore {
    /// Opens (creating if missing) the store.
    pub fn open(
        name: impl Into<String>,
        task_dir: &Path,
        config: &RocksDbConfig,
        retention_period: i64,
    ) -> Result<Self> {
        let inner = RocksDbKeyValueStore::open(name, task_dir, config)?;
        Self::from_store(inner, retention_period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session_store_suite::{SessionSuiteStore, session_store_suite};
    use crate::{SessionStore, StateStore, TimeWindow};

    #[test]
    fn session_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        session_store_suite(&mut |retention| {
            n += 1;
            Box::new(
                RocksDbSessionStore::open(
                    format!("sess{n}"),
                    dir.path(),
                    &RocksDbConfig::default(),
                    retention,
                )
                .unwrap(),
            ) as SessionSuiteStore
        });
    }

    #[test]
    fn reopen_recovers_data_and_stream_time() {
        let dir = tempfile::tempdir().unwrap();
        let config = RocksDbConfig::default();
        let mut store = RocksDbSessionStore::open("sess", dir.path(), &config, 100).unwrap();
        store
            .put(
                b"k",
                TimeWindow {
                    start: 400,
                    end: 500,
                },
                b"a",
            )
            .unwrap();
        store.close().unwrap();
        let mut store = RocksDbSessionStore::open("sess", dir.path(), &config, 100).unwrap();
        assert_eq!(store.observed_stream_time(), 500);
        store
            .put(b"k", TimeWindow { start: 10, end: 20 }, b"expired")
            .unwrap();
        assert_eq!(
            store.fetch(b"k").unwrap(),
            vec![(
                TimeWindow {
                    start: 400,
                    end: 500
                },
                b"a".to_vec()
            )]
        );
    }
}
