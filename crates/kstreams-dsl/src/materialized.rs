//! `Materialized`: the store behind an aggregation or table.

use std::sync::Arc;

use std::time::Duration;

use kstreams_core::{KeyValueStoreBuilder, SharedSerde, Stores, WindowStoreBuilder};

use crate::Data;
use kstreams_core::state::{ValueAndTimestamp, ValueAndTimestampSerde};

/// Where a key-value store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreType {
    /// RocksDB on disk (the default).
    #[default]
    RocksDb,
    /// In memory (restored from the changelog on restart).
    InMemory,
}

/// Default cache size when caching is turned on (10 MiB, Kafka Streams' default).
const DEFAULT_CACHE_BYTES: usize = 10 * 1024 * 1024;

/// The store of an aggregation or table: its name (queryable; a generated one without it),
/// serdes, store type, caching and change-logging. The store holds
/// [`ValueAndTimestamp`]`<V>` values.
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) store_type: StoreType,
    pub(crate) cache_bytes: Option<usize>,
    /// Whether a cached table forwards from its cache (see `with_store_cache_only`).
    pub(crate) cache_forwarding: bool,
    pub(crate) logging: bool,
    pub(crate) retention: Option<Duration>,
}

impl<K, V> Default for Materialized<K, V> {
    fn default() -> Self {
        Materialized {
            name: None,
            key_serde: None,
            value_serde: None,
            store_type: StoreType::RocksDb,
            cache_bytes: None,
            cache_forwarding: true,
            logging: true,
            retention: None,
        }
    }
}

impl<K: Data, V: Data> Materialized<K, V> {
    /// A store named `name`.
    pub fn as_(name: impl Into<String>) -> Self {
        Materialized {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// A store with a generated name and these serdes.
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Materialized {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Sets the key serde.
    pub fn with_key_serde(mut self, s: SharedSerde<K>) -> Self {
        self.key_serde = Some(s);
        self
    }

    /// Sets the value serde.
    pub fn with_value_serde(mut self, s: SharedSerde<V>) -> Self {
        self.value_serde = Some(s);
        self
    }

    /// RocksDB or in-memory.
    pub fn with_store_type(mut self, t: StoreType) -> Self {
        self.store_type = t;
        self
    }

    /// Turns the store's record cache on or off (off by default). With the cache, a table
    /// forwards only the latest update of a key per commit (or when the cache evicts it under
    /// the store's or the thread's `statestore.cache.max.bytes` budget), as Kafka Streams
    /// does; without it, every update is forwarded. For every kind of store: a time-windowed
    /// aggregation forwards one update per window per commit, a session aggregation the
    /// sessions each commit leaves (deletes for the ones merged away after they were
    /// forwarded). A sliding-window aggregation's store is cached (reads and coalesced writes)
    /// but it still forwards every update.
    pub fn with_caching_enabled(mut self, enabled: bool) -> Self {
        self.cache_bytes = enabled.then_some(DEFAULT_CACHE_BYTES);
        self.cache_forwarding = true;
        self
    }

    /// A record cache that only serves the store: reads hit it and repeated writes of a key
    /// between commits reach the store and its changelog once (as with
    /// [`Materialized::with_caching_enabled`]), but every update is still forwarded downstream
    /// at once (as with caching disabled). For a running aggregate whose every result matters
    /// downstream but whose changelog need only hold the latest value per commit.
    pub fn with_store_cache_only(mut self) -> Self {
        self.cache_bytes = Some(DEFAULT_CACHE_BYTES);
        self.cache_forwarding = false;
        self
    }

    /// Turns the record cache off: every update is forwarded (the default).
    pub fn with_caching_disabled(self) -> Self {
        self.with_caching_enabled(false)
    }

    /// Turns change-logging on or off (on by default).
    pub fn with_logging_enabled(mut self, enabled: bool) -> Self {
        self.logging = enabled;
        self
    }

    /// How long a windowed store keeps windows after they end (default: size + grace).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// The window store builder for store `name` with windows of `size_ms`, retaining at
    /// least `min_retention_ms`.
    pub(crate) fn window_store_builder(
        &self,
        name: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        size_ms: i64,
        min_retention_ms: i64,
    ) -> WindowStoreBuilder<K, ValueAndTimestamp<V>> {
        let retention = self.retention.map_or(min_retention_ms, |r| {
            i64::try_from(r.as_millis()).unwrap_or(i64::MAX)
        });
        let bytes = kstreams_state::WindowStoreBuilder::new(name, retention, size_ms, false);
        let mut sb = WindowStoreBuilder::new(
            bytes,
            key_serde,
            Arc::new(ValueAndTimestampSerde::new(value_serde)),
        )
        .with_logging_enabled(self.logging);
        if self.store_type == StoreType::InMemory {
            sb = sb.in_memory();
        }
        if let Some(bytes) = self.cache_bytes {
            sb = sb
                .with_caching_enabled(bytes)
                .with_cache_forwarding(self.cache_forwarding);
        }
        sb
    }

    /// The store builder for store `name` with these serdes.
    pub(crate) fn store_builder(
        &self,
        name: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> KeyValueStoreBuilder<K, ValueAndTimestamp<V>> {
        let mut sb = Stores::key_value_store_builder_with(
            name,
            key_serde,
            Arc::new(ValueAndTimestampSerde::new(value_serde)),
        )
        .with_logging_enabled(self.logging);
        if self.store_type == StoreType::InMemory {
            sb = sb.in_memory();
        }
        if let Some(bytes) = self.cache_bytes {
            sb = sb
                .with_caching_enabled(bytes)
                .with_cache_forwarding(self.cache_forwarding);
        }
        sb
    }
}
