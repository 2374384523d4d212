//! [`RocksDbConfig`]: the tuning knobs of RocksDB-backed stores.

/// Options every RocksDB instance of a store is opened with (one instance per store per task).
/// Defaults follow Kafka Streams: a 50 MiB block cache, 16 MiB write buffers, three of them,
/// LZ4 compression and no write-ahead log (the changelog topic is the source of truth, so a
/// crash loses nothing that restoration cannot bring back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksDbConfig {
    /// Size of the store's LRU block cache, in bytes.
    pub block_cache_bytes: usize,
    /// Size of one memtable (write buffer), in bytes.
    pub write_buffer_size: usize,
    /// Maximum number of memtables held in memory before writes stall.
    pub max_write_buffers: i32,
    /// Whether SST files are compressed with LZ4.
    pub lz4_compression: bool,
    /// Whether writes go through RocksDB's write-ahead log (off by default).
    pub wal_enabled: bool,
}

impl Default for RocksDbConfig {
    fn default() -> Self {
        Self {
            block_cache_bytes: 50 * 1024 * 1024,
            write_buffer_size: 16 * 1024 * 1024,
            max_write_buffers: 3,
            lz4_compression: true,
            wal_enabled: false,
        }
    }
}

impl RocksDbConfig {
    /// Checks the values are usable (positive sizes).
    pub fn validate(&self, store: &str) -> crate::Result<()> {
        let problem = if self.write_buffer_size == 0 {
            Some("write_buffer_size must be positive")
        } else if self.max_write_buffers < 1 {
            Some("max_write_buffers must be at least 1")
        } else {
            None
        };
        match problem {
            Some(message) => Err(crate::StateError::Config {
                store: store.to_string(),
                message: message.to_string(),
            }),
            None => Ok(()),
        }
    }
}
