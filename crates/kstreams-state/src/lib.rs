//! State stores for kstreams.
//!
//! Stores work on bytes; the processor API adds typed views with serdes. Stores stack:
//! `Metered<Caching<ChangeLogging<RocksDb>>>`, each wrapper a small module tested over an
//! in-memory inner store. Builders ([`KeyValueStoreBuilder`], [`WindowStoreBuilder`],
//! [`SessionStoreBuilder`]) describe a store once and build one instance per task from a
//! [`StoreContext`].
//!
//! Changelog formats: key-value stores log plain keys and values; window stores log keys
//! encoded by [`window_key_codec`]; session stores by [`session_key_codec`]. Each store's
//! `restore` accepts exactly what it logs.

pub mod error;
pub mod store;

mod boxed_store;
mod cache_entries;
pub mod caching_key_value_store;
pub mod caching_session_store;
pub mod caching_window_store;
pub mod change_logging_key_value_store;
pub mod change_logging_session_store;
pub mod change_logging_window_store;
pub mod in_memory_key_value_store;
pub mod in_memory_session_store;
pub mod in_memory_window_store;
mod key_bytes;
pub mod key_value_store_builder;
mod merged_iterator;
pub mod metered_key_value_store;
pub mod rocksdb_config;
pub mod rocksdb_key_value_store;
pub mod rocksdb_session_store;
pub mod rocksdb_window_store;
pub mod segmented_session_store;
pub mod segmented_window_store;
mod segments;
pub mod session_key_codec;
pub mod session_store_builder;
pub mod store_context;
pub mod store_metrics;
pub mod thread_cache;
pub mod window_key_codec;
pub mod window_store_builder;

#[cfg(test)]
mod session_store_suite;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod window_store_suite;

pub use caching_key_value_store::CachingKeyValueStore;
pub use caching_session_store::CachingSessionStore;
pub use caching_window_store::CachingWindowStore;
pub use change_logging_key_value_store::ChangeLoggingKeyValueStore;
pub use change_logging_session_store::ChangeLoggingSessionStore;
pub use change_logging_window_store::ChangeLoggingWindowStore;
pub use error::{Result, StateError};
pub use in_memory_key_value_store::InMemoryKeyValueStore;
pub use in_memory_session_store::InMemorySessionStore;
pub use in_memory_window_store::InMemoryWindowStore;
pub use key_value_store_builder::{
    BuiltKeyValueStore, KeyValueStoreBuilder, key_value_store_metrics,
};
pub use metered_key_value_store::MeteredKeyValueStore;
pub use rocksdb_config::RocksDbConfig;
pub use rocksdb_key_value_store::{RocksDbKeyValueStore, rocksdb_store_path};
pub use rocksdb_session_store::RocksDbSessionStore;
pub use rocksdb_window_store::RocksDbWindowStore;
pub use segmented_session_store::{SegmentedSessionStore, validate_session_params};
pub use segmented_window_store::{SegmentedWindowStore, validate_window_params};
pub use session_store_builder::SessionStoreBuilder;
pub use store::{
    CacheFlushEntry, CacheFlushListener, ChangelogWriter, KeyValue, KeyValueIter, KeyValueStore,
    SessionStore, SharedChangelogWriter, StateStore, TimeWindow, WindowStore, WindowedKey,
};
pub use store_context::{StoreBackend, StoreContext, validate_store_name};
pub use store_metrics::{OperationMetrics, StoreMetrics, StoreOperation};
pub use thread_cache::{SharedThreadCache, ThreadCache};
pub use window_key_codec::WindowKeyParts;
pub use window_store_builder::WindowStoreBuilder;
