//! [`ThreadCache`]: the byte budget shared by the caching stores of one stream thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `statestore.cache.max.bytes` budget of one stream thread (Kafka Streams' `ThreadCache`),
/// shared by every caching store of the thread's tasks. Each
/// [`CachingKeyValueStore`](crate::CachingKeyValueStore) charges its entries here; a store
/// whose write takes the thread over budget evicts its own least-recently-written entries
/// (writing dirty ones down, which forwards them) until the thread is back under budget or
/// the store's cache is empty, as Kafka Streams evicts from the cache being written to.
#[derive(Debug)]
pub struct ThreadCache {
    max_bytes: AtomicUsize,
    used: AtomicUsize,
}

/// A handle to a thread's cache budget, given to stores through
/// [`StoreContext::cache`](crate::StoreContext::cache).
pub type SharedThreadCache = Arc<ThreadCache>;

impl ThreadCache {
    /// A budget of `max_bytes` (0: nothing is cached, every write goes straight down).
    pub fn new(max_bytes: usize) -> Self {
        ThreadCache {
            max_bytes: AtomicUsize::new(max_bytes),
            used: AtomicUsize::new(0),
        }
    }

    /// A shared budget of `max_bytes`.
    pub fn shared(max_bytes: usize) -> SharedThreadCache {
        Arc::new(Self::new(max_bytes))
    }

    /// The budget in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes.load(Ordering::Relaxed)
    }

    /// Changes the budget (the instance's stream threads changed in number). A smaller one
    /// takes effect as the stores write: each write over budget evicts, as always.
    pub fn set_max_bytes(&self, max_bytes: usize) {
        self.max_bytes.store(max_bytes, Ordering::Relaxed);
    }

    /// Bytes currently charged by all stores of the thread.
    pub fn used_bytes(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether the stores together hold more than the budget.
    pub fn over_budget(&self) -> bool {
        self.used_bytes() > self.max_bytes()
    }

    pub(crate) fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn release(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_can_change() {
        let c = ThreadCache::new(10);
        c.charge(8);
        assert!(!c.over_budget());
        c.set_max_bytes(5);
        assert_eq!(c.max_bytes(), 5);
        assert!(c.over_budget(), "the next write evicts");
    }

    #[test]
    fn charges_and_releases_saturate() {
        let c = ThreadCache::new(10);
        c.charge(8);
        assert!(!c.over_budget());
        c.charge(3);
        assert!(c.over_budget());
        assert_eq!(c.used_bytes(), 11);
        c.release(20);
        assert_eq!(c.used_bytes(), 0);
        assert_eq!(c.max_bytes(), 10);
    }
}
