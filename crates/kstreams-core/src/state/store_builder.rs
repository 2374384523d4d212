//! Store builders: how a topology describes a store it creates once per task.

use kstreams_state::{KeyValueStoreBuilder as BytesKeyValueStoreBuilder, StoreContext};

use super::key_value_store::KeyValueStore;
use super::task_store::TaskStore;
use crate::error::Result;
use crate::serde::{DefaultSerde, SharedSerde};

/// Describes a store and builds one instance per task.
pub trait StoreBuilder: Send + Sync + 'static {
    /// The store's name.
    fn name(&self) -> &str;
    /// Whether writes go to a changelog topic.
    fn logging_enabled(&self) -> bool;
    /// Whether the store keeps data on disk.
    fn persistent(&self) -> bool;
    /// Builds the task's instance.
    fn build(&self, ctx: &StoreContext) -> Result<Box<dyn TaskStore>>;
}

/// Builds typed key-value stores.
pub struct KeyValueStoreBuilder<K, V> {
    inner: BytesKeyValueStoreBuilder,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> Clone for KeyValueStoreBuilder<K, V> {
    fn clone(&self) -> Self {
        KeyValueStoreBuilder {
            inner: self.inner.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K: 'static, V: 'static> KeyValueStoreBuilder<K, V> {
    /// A builder from a byte-store builder and serdes.
    pub fn new(
        inner: BytesKeyValueStoreBuilder,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        KeyValueStoreBuilder {
            inner,
            key_serde,
            value_serde,
        }
    }

    /// Keeps the store in memory instead of RocksDB.
    pub fn in_memory(mut self) -> Self {
        self.inner = self.inner.in_memory();
        self
    }

    /// Keeps the store in RocksDB (the default).
    pub fn persistent(mut self) -> Self {
        self.inner = self.inner.persistent();
        self
    }

    /// Turns change-logging on or off (on by default).
    pub fn with_logging_enabled(mut self, enabled: bool) -> Self {
        self.inner = self.inner.with_logging_enabled(enabled);
        self
    }

    /// Adds a write-back cache of `max_bytes`.
    pub fn with_caching_enabled(mut self, max_bytes: usize) -> Self {
        self.inner = self.inner.with_caching_enabled(max_bytes);
        self
    }

    /// See [`BytesKeyValueStoreBuilder::with_cache_forwarding`].
    pub fn with_cache_forwarding(mut self, forwarding: bool) -> Self {
        self.inner = self.inner.with_cache_forwarding(forwarding);
        self
    }

    /// The byte-store builder underneath.
    pub fn bytes_builder(&self) -> &BytesKeyValueStoreBuilder {
        &self.inner
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> StoreBuilder
    for KeyValueStoreBuilder<K, V>
{
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn logging_enabled(&self) -> bool {
        self.inner.logging_enabled()
    }
    fn persistent(&self) -> bool {
        self.inner.is_persistent()
    }
    fn build(&self, ctx: &StoreContext) -> Result<Box<dyn TaskStore>> {
        let bytes = self.inner.build(ctx)?;
        Ok(Box::new(KeyValueStore::new(
            bytes,
            self.key_serde.clone(),
            self.value_serde.clone(),
        )))
    }
}

/// Factory functions in the style of Kafka Streams' `Stores`.
pub struct Stores;

impl Stores {
    /// A RocksDB-backed, change-logged key-value store with the types' default serdes.
    pub fn key_value_store_builder<K: DefaultSerde, V: DefaultSerde>(
        name: &str,
    ) -> KeyValueStoreBuilder<K, V> {
        KeyValueStoreBuilder::new(
            BytesKeyValueStoreBuilder::new(name),
            K::default_serde(),
            V::default_serde(),
        )
    }

    /// An in-memory, change-logged key-value store with the types' default serdes.
    pub fn in_memory_key_value_store_builder<K: DefaultSerde, V: DefaultSerde>(
        name: &str,
    ) -> KeyValueStoreBuilder<K, V> {
        Self::key_value_store_builder(name).in_memory()
    }

    /// A key-value store with explicit serdes.
    pub fn key_value_store_builder_with<K: 'static, V: 'static>(
        name: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> KeyValueStoreBuilder<K, V> {
        KeyValueStoreBuilder::new(BytesKeyValueStoreBuilder::new(name), key_serde, value_serde)
    }
}
