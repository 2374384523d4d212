//! [`InMemoryWindowStore`]: a window store held in memory.

use crate::error::Result;
use crate::in_memory_key_value_store::InMemoryKeyValueStore;
use crate::segmented_window_store::SegmentedWindowStore;

/// A window store in memory: a [`SegmentedWindowStore`] over an [`InMemoryKeyValueStore`].
pub type InMemoryWindowStore = SegmentedWindowStore<InMemoryKeyValueStore>;

impl InMemoryWindowStore {
    /// Creates an empty store; fails with [`crate::StateError::Config`] unless
    /// `0 < window_size <= retention_period`.
    pub fn new(
        name: impl Into<String>,
        retention_period: i64,
        window_size: i64,
        retain_duplicates: bool,
    ) -> Result<Self> {
        Self::from_store(
            InMemoryKeyValueStore::new(name),
            retention_period,
            window_size,
            retain_duplicates,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window_store_suite::{WindowSuiteStore, window_store_suite};

    #[test]
    fn window_semantics() {
        window_store_suite(&mut |retention, size, duplicates| {
            Box::new(InMemoryWindowStore::new("win", retention, size, duplicates).unwrap())
                as WindowSuiteStore
        });
    }

    #[test]
    fn expired_segments_are_deleted() {
        use crate::{KeyValueStore, WindowStore};
        let mut store = InMemoryWindowStore::new("win", 60_000, 10, false).unwrap();
        store.put(b"k", Some(b"old"), 0).unwrap();
        store.put(b"k", Some(b"mid"), 100_000).unwrap();
        assert_eq!(store.inner().approximate_num_entries().unwrap(), 2);
        store.put(b"k", Some(b"new"), 250_000).unwrap();
        assert_eq!(store.inner().approximate_num_entries().unwrap(), 1);
        assert_eq!(store.observed_stream_time(), 250_000);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(InMemoryWindowStore::new("win", 10, 20, false).is_err());
        assert!(InMemoryWindowStore::new("win", 10, 0, false).is_err());
    }
}
