//! [`InMemorySessionStore`]: a session store held in memory.

use crate::error::Result;
use crate::in_memory_key_value_store::InMemoryKeyValueStore;
use crate::segmented_session_store::SegmentedSessionStore;

/// A session store in memory: a [`SegmentedSessionStore`] over an [`InMemoryKeyValueStore`].
pub type InMemorySessionStore = SegmentedSessionStore<InMemoryKeyValueStore>;

impl InMemorySessionStore {
    /// Creates an empty store; fails with [`crate::StateError::Config`] for a negative retention.
    pub fn new(name: impl Into<String>, retention_period: i64) -> Result<Self> {
        Self::from_store(InMemoryKeyValueStore::new(name), retention_period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session_store_suite::{SessionSuiteStore, session_store_suite};

    #[test]
    fn session_semantics() {
        session_store_suite(&mut |retention| {
            Box::new(InMemorySessionStore::new("sess", retention).unwrap()) as SessionSuiteStore
        });
    }

    #[test]
    fn rejects_negative_retention() {
        assert!(InMemorySessionStore::new("sess", -1).is_err());
    }
}
