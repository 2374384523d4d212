//! [`RocksDbWindowStore`]: a persistent window store, one RocksDB instance per store per task.

use std::path::Path;

use crate::error::Result;
use crate::rocksdb_config::RocksDbConfig;
use crate::rocksdb_key_value_store::RocksDbKeyValueStore;
use crate::segmented_window_store::SegmentedWindowStore;

/// A window store in RocksDB: a [`SegmentedWindowStore`] over a [`RocksDbKeyValueStore`] at
/// `<task_dir>/rocksdb/<name>`. Reopening recovers the data and the observed stream time.
pub type RocksDbWindowStore = SegmentedWindowStore<RocksDbKeyValueStore>;

impl RocksDbWindowStore {
    /// Opens (creating if missing) the store.
    pub fn open(
        name: impl Into<String>,
        task_dir: &Path,
        config: &RocksDbConfig,
        retention_period: i64,
        window_size: i64,
        retain_duplicates: bool,
    ) -> Result<Self> {
        let inner = RocksDbKeyValueStore::open(name, task_dir, config)?;
        Self::from_store(inner, retention_period, window_size, retain_duplicates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window_store_suite::{WindowSuiteStore, window_store_suite};
    use crate::{StateStore, WindowStore};

    #[test]
    fn window_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        window_store_suite(&mut |retention, size, duplicates| {
            n += 1;
            let name = format!("win{n}");
            Box::new(
                RocksDbWindowStore::open(
                    name,
                    dir.path(),
                    &RocksDbConfig::default(),
                    retention,
                    size,
                    duplicates,
                )
                .unwrap(),
            ) as WindowSuiteStore
        });
    }

    #[test]
    fn reopen_recovers_data_and_stream_time() {
        let dir = tempfile::tempdir().unwrap();
        let config = RocksDbConfig::default();
        let mut store =
            RocksDbWindowStore::open("win", dir.path(), &config, 100, 10, true).unwrap();
        store.put(b"k", Some(b"a"), 500).unwrap();
        store.put(b"k", Some(b"b"), 500).unwrap();
        store.close().unwrap();
        let mut store =
            RocksDbWindowStore::open("win", dir.path(), &config, 100, 10, true).unwrap();
        assert_eq!(store.observed_stream_time(), 500);
        store.put(b"k", Some(b"expired"), 100).unwrap();
        store.put(b"k", Some(b"c"), 500).unwrap();
        let values: Vec<Vec<u8>> = store
            .fetch_range(b"k", 0, 1000)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(values, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }
}
