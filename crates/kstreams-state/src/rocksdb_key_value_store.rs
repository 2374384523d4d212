//! [`RocksDbKeyValueStore`]: a persistent key-value store, one RocksDB instance per store per
//! task at `<task_dir>/rocksdb/<store_name>`.

use std::any::Any;
use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompressionType, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};

use crate::error::{Result, StateError};
use crate::key_bytes::{immediate_successor, is_inverted, prefix_successor};
use crate::rocksdb_config::RocksDbConfig;
use crate::store::{KeyValue, KeyValueIter, KeyValueStore, StateStore};

/// A key-value store in its own RocksDB instance. Writes skip the write-ahead log unless
/// [`RocksDbConfig::wal_enabled`]; [`StateStore::flush`] persists memtables and
/// [`StateStore::close`] flushes and closes the database.
pub struct RocksDbKeyValueStore {
    name: String,
    path: PathBuf,
    db: Option<DB>,
    write_options: WriteOptions,
}

impl std::fmt::Debug for RocksDbKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbKeyValueStore")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("open", &self.db.is_some())
            .finish()
    }
}

/// The directory of a store's RocksDB instance within a task directory.
pub fn rocksdb_store_path(task_dir: &Path, store_name: &str) -> PathBuf {
    task_dir.join("rocksdb").join(store_name)
}

impl RocksDbKeyValueStore {
    /// Opens (creating if missing) the store's database at `<task_dir>/rocksdb/<name>`.
    pub fn open(name: impl Into<String>, task_dir: &Path, config: &RocksDbConfig) -> Result<Self> {
        let name = name.into();
        config.validate(&name)?;
        let path = rocksdb_store_path(task_dir, &name);
        std::fs::create_dir_all(&path).map_err(|source| StateError::Io {
            path: path.clone(),
            source,
        })?;

        let mut table = BlockBasedOptions::default();
        if config.block_cache_bytes > 0 {
            let cache = Cache::new_lru_cache(config.block_cache_bytes);
            table.set_block_cache(&cache);
        } else {
            table.disable_cache();
        }
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_block_based_table_factory(&table);
        options.set_write_buffer_size(config.write_buffer_size);
        options.set_max_write_buffer_number(config.max_write_buffers);
        options.set_compression_type(if config.lz4_compression {
            DBCompressionType::Lz4
        } else {
            DBCompressionType::None
        });
        let db = DB::open(&options, &path).map_err(|e| backend(&name, e))?;

        let mut write_options = WriteOptions::default();
        write_options.disable_wal(!config.wal_enabled);
        tracing::debug!(store = %name, path = %path.display(), "opened rocksdb store");
        Ok(Self {
            name,
            path,
            db: Some(db),
            write_options,
        })
    }

    /// The directory holding this store's database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> Result<&DB> {
        self.db.as_ref().ok_or_else(|| StateError::Closed {
            store: self.name.clone(),
        })
    }

    fn backend(&self, error: rocksdb::Error) -> StateError {
        backend(&self.name, error)
    }

    fn iter_with(
        &self,
        lower: Option<Vec<u8>>,
        upper_exclusive: Option<Vec<u8>>,
        reverse: bool,
    ) -> Result<KeyValueIter<'_>> {
        let db = self.db()?;
        let mut read = ReadOptions::default();
        if let Some(lower) = lower {
            read.set_iterate_lower_bound(lower);
        }
        if let Some(upper) = upper_exclusive {
            read.set_iterate_upper_bound(upper);
        }
        let mode = if reverse {
            IteratorMode::End
        } else {
            IteratorMode::Start
        };
        let name = self.name.clone();
        Ok(Box::new(db.iterator_opt(mode, read).map(move |item| {
            item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                .map_err(|e| backend(&name, e))
        })))
    }

    fn range_iter(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        reverse: bool,
    ) -> Result<KeyValueIter<'_>> {
        self.db()?;
        if is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        self.iter_with(
            from.map(<[u8]>::to_vec),
            to.map(immediate_successor),
            reverse,
        )
    }
}

fn backend(store: &str, error: rocksdb::Error) -> StateError {
    StateError::Backend {
        store: store.to_string(),
        message: error.into_string(),
    }
}

impl StateStore for RocksDbKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn is_open(&self) -> bool {
        self.db.is_some()
    }

    fn flush(&mut self) -> Result<()> {
        self.db()?.flush().map_err(|e| self.backend(e))
    }

    fn close(&mut self) -> Result<()> {
        if let Some(db) = self.db.take() {
            let flushed = db.flush().map_err(|e| self.backend(e));
            drop(db);
            tracing::debug!(store = %self.name, "closed rocksdb store");
            flushed?;
        }
        Ok(())
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let db = self.db()?;
        let written = match value {
            Some(value) => db.put_opt(key, value, &self.write_options),
            None => db.delete_opt(key, &self.write_options),
        };
        written.map_err(|e| self.backend(e))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl KeyValueStore for RocksDbKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db()?.get(key).map_err(|e| self.backend(e))
    }

    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<()> {
        let value = self.db()?.get_pinned(key).map_err(|e| self.backend(e))?;
        read(value.as_deref());
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db()?
            .put_opt(key, value, &self.write_options)
            .map_err(|e| self.backend(e))
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(existing) = self.get(key)? {
            return Ok(Some(existing));
        }
        self.put(key, value)?;
        Ok(None)
    }

    fn put_all(&mut self, entries: &[KeyValue]) -> Result<()> {
        let db = self.db()?;
        let mut batch = WriteBatch::default();
        for (key, value) in entries {
            batch.put(key, value);
        }
        db.write_opt(batch, &self.write_options)
            .map_err(|e| self.backend(e))
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let old = self.get(key)?;
        if old.is_some() {
            self.db()?
                .delete_opt(key, &self.write_options)
                .map_err(|e| self.backend(e))?;
        }
        Ok(old)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.range_iter(from, to, false)
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.range_iter(from, to, true)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        self.db()?;
        self.iter_with(Some(prefix.to_vec()), prefix_successor(prefix), false)
    }

    fn all(&self) -> Result<KeyValueIter<'_>> {
        self.iter_with(None, None, false)
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        let estimate = self
            .db()?
            .property_int_value(rocksdb::properties::ESTIMATE_NUM_KEYS)
            .map_err(|e| self.backend(e))?;
        Ok(estimate.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{SuiteOptions, key_value_store_suite};

    #[test]
    fn key_value_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        key_value_store_suite(
            || {
                n += 1;
                RocksDbKeyValueStore::open(format!("kv{n}"), dir.path(), &RocksDbConfig::default())
                    .unwrap()
            },
            SuiteOptions::estimated(),
        );
    }

    #[test]
    fn data_survives_flush_close_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let config = RocksDbConfig::default();
        let mut store = RocksDbKeyValueStore::open("kv", dir.path(), &config).unwrap();
        assert_eq!(store.path(), dir.path().join("rocksdb").join("kv"));
        store.put(b"a", b"1").unwrap();
        store.put_all(&[(b"b".to_vec(), b"2".to_vec())]).unwrap();
        store.flush().unwrap();
        store.put(b"c", b"3").unwrap();
        store.delete(b"a").unwrap();
        store.close().unwrap();
        store.close().unwrap();
        assert!(matches!(store.get(b"b"), Err(StateError::Closed { .. })));

        let store = RocksDbKeyValueStore::open("kv", dir.path(), &config).unwrap();
        assert_eq!(store.get(b"a").unwrap(), None);
        assert_eq!(store.get(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(
            store.get(b"c").unwrap(),
            Some(b"3".to_vec()),
            "close flushes memtables"
        );
        let estimate = store.approximate_num_entries().unwrap();
        assert!((1..=4).contains(&estimate), "estimate {estimate}");
    }

    #[test]
    fn config_variants_open() {
        let dir = tempfile::tempdir().unwrap();
        let config = RocksDbConfig {
            block_cache_bytes: 0,
            write_buffer_size: 1 << 20,
            max_write_buffers: 2,
            lz4_compression: false,
            wal_enabled: true,
        };
        let mut store = RocksDbKeyValueStore::open("kv", dir.path(), &config).unwrap();
        store.put(b"a", b"1").unwrap();
        assert_eq!(store.get(b"a").unwrap(), Some(b"1".to_vec()));
        let bad = RocksDbConfig {
            max_write_buffers: 0,
            ..RocksDbConfig::default()
        };
        assert!(matches!(
            RocksDbKeyValueStore::open("bad", dir.path(), &bad),
            Err(StateError::Config { .. })
        ));
    }

    #[test]
    fn open_fails_cleanly_on_unusable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = RocksDbKeyValueStore::open("kv", &file, &RocksDbConfig::default()).unwrap_err();
        assert!(matches!(err, StateError::Io { .. }), "{err}");
    }
}
