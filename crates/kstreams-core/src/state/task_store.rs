//! The type-erased view a task has of each of its stores.

use std::any::Any;

use kstreams_state::CacheFlushListener;

use crate::error::Result;

/// What a task needs of any store: lifecycle, restoration and downcasting to the typed store.
pub trait TaskStore: Send + 'static {
    /// The store's name.
    fn name(&self) -> &str;
    /// Whether the store keeps data on disk.
    fn persistent(&self) -> bool;
    /// Flushes caches and buffers down to storage.
    fn flush(&mut self) -> Result<()>;
    /// Writes cached entries down (forwarding them) without forcing storage to disk: what
    /// every commit does.
    fn flush_cache(&mut self) -> Result<()> {
        Ok(())
    }
    /// Installs the listener of the store's cache (entries written down on flush or
    /// eviction). Returns `false`, dropping the listener, when the store has no cache.
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        drop(listener);
        false
    }
    /// Flushes and closes.
    fn close(&mut self) -> Result<()>;
    /// Applies one changelog record (restoration; not logged again).
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()>;
    /// Downcasting.
    fn as_any(&self) -> &dyn Any;
    /// Downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}
