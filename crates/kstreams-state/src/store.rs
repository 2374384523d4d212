//! Store traits: the contract between stores, their wrappers, the processor API and the runtime.
//!
//! All stores here work on bytes. Typed access (with serdes) lives in `kstreams-core`.

use std::any::Any;
use std::sync::Arc;

use crate::error::Result;

/// An owned key-value pair as returned by scans.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// A fallible iterator over key-value pairs, in key order (byte-wise lexicographic) unless the
/// method says otherwise.
pub type KeyValueIter<'a> = Box<dyn Iterator<Item = Result<KeyValue>> + 'a>;

/// What every state store has, whatever its shape.
pub trait StateStore: Send + 'static {
    /// The store's name, unique within a topology.
    fn name(&self) -> &str;
    /// Whether the store keeps its data on disk (and so may be restored from a local checkpoint).
    fn persistent(&self) -> bool;
    /// Whether the store is open for reads and writes.
    fn is_open(&self) -> bool;
    /// Flushes buffered writes (cache entries, memtables) down to the storage layer.
    fn flush(&mut self) -> Result<()>;
    /// Writes cached entries down to the next layer (and forwards them to the flush listener)
    /// without forcing the storage layer to disk: what every commit does. A full
    /// [`StateStore::flush`] is only needed before a checkpoint or close.
    fn flush_cache(&mut self) -> Result<()> {
        Ok(())
    }
    /// Flushes and closes the store. Further use fails with [`crate::StateError::Closed`].
    fn close(&mut self) -> Result<()>;
    /// Applies one changelog record during restoration, bypassing change-logging and caching
    /// (a cache entry for the key is invalidated). `value == None` is a tombstone. The key and
    /// value are in the store's changelog format (for key-value stores: the plain key and value).
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()>;
    /// Downcasting support for custom stores.
    fn as_any(&self) -> &dyn Any;
    /// Downcasting support for custom stores.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A key-value store over bytes.
pub trait KeyValueStore: StateStore {
    /// The value for `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Hands `key`'s value to `read`, lent where the store can (a cached entry, an in-memory
    /// entry, RocksDB's pinned slice) instead of copied; the default copies through
    /// [`KeyValueStore::get`]. Wrappers forward it, so a typed read allocates no value copy.
    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<()> {
        let value = self.get(key)?;
        read(value.as_deref());
        Ok(())
    }
    /// Inserts or replaces the value for `key`.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Inserts the value only if `key` is absent; returns the existing value otherwise.
    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Inserts or replaces several entries.
    fn put_all(&mut self, entries: &[KeyValue]) -> Result<()>;
    /// Deletes `key`, returning the value it had.
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Entries with `from <= key <= to` (both bounds inclusive, `None` is unbounded), ascending.
    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>>;
    /// As [`KeyValueStore::range`] but descending.
    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>>;
    /// Entries whose key starts with `prefix`, ascending.
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>>;
    /// All entries, ascending.
    fn all(&self) -> Result<KeyValueIter<'_>>;
    /// An estimate of the number of entries (exact for in-memory stores).
    fn approximate_num_entries(&self) -> Result<u64>;
    /// Installs a listener for entries written down by a caching layer on flush or eviction.
    /// Returns `false` when the store has no cache (the listener is dropped).
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        drop(listener);
        false
    }
}

/// A record leaving a cache on flush or eviction: the key, the new value (`None`: deleted) and
/// the value the underlying store held before it (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFlushEntry {
    /// The key.
    pub key: Vec<u8>,
    /// The newly written value; `None` for a delete.
    pub new_value: Option<Vec<u8>>,
    /// The value the underlying store had before this write.
    pub old_value: Option<Vec<u8>>,
}

/// Callback receiving entries a caching store writes down (KTable forwarding hooks in here).
pub type CacheFlushListener = Box<dyn FnMut(CacheFlushEntry) + Send>;

/// Receives every write of a change-logged store, for the runtime to send to the store's
/// changelog topic (`<application.id>-<store>-changelog`) in the task's partition. The runtime
/// knows the current record's timestamp and the task's partition; the store only says what
/// changed. Keys and values are in the store's changelog format.
pub trait ChangelogWriter: Send + Sync {
    /// Records one change; `value == None` is a tombstone.
    fn log_change(&self, store: &str, key: &[u8], value: Option<&[u8]>);
}

/// A shared handle to a changelog writer.
pub type SharedChangelogWriter = Arc<dyn ChangelogWriter>;

/// A window as stored: `[start, end)` in milliseconds of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeWindow {
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end for time windows; inclusive end for sessions (Kafka Streams' convention).
    pub end: i64,
}

/// A key with the window it belongs to, as returned by window and session scans.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowedKey {
    /// The record key.
    pub key: Vec<u8>,
    /// The window.
    pub window: TimeWindow,
}

/// A windowed store of values per (key, window start), over bytes. Retention is driven by
/// observed stream time: a `put` with a later window start moves the store's clock forward,
/// and windows that ended more than `retention_period` before that clock are dropped and no
/// longer returned by fetches.
pub trait WindowStore: StateStore {
    /// Writes (`Some`) or deletes (`None`) the value of `key` in the window starting at
    /// `window_start`. Writes to windows already expired are ignored.
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> Result<()>;
    /// The value of `key` in the window starting at `window_start`.
    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>>;
    /// Values of `key` for windows starting in `[time_from, time_to]`, ascending by start.
    fn fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> Result<Vec<(i64, Vec<u8>)>>;
    /// Values of keys in `[key_from, key_to]` (inclusive, `None` unbounded) for windows starting
    /// in `[time_from, time_to]`, ordered by key then start.
    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(WindowedKey, Vec<u8>)>>;
    /// All unexpired entries, ordered by key then start.
    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>>;
    /// The window size in milliseconds (window end = start + size).
    fn window_size(&self) -> i64;
    /// How long windows are kept after they end, in milliseconds.
    fn retention_period(&self) -> i64;
    /// Installs a listener for windows written down by a caching layer on flush or eviction,
    /// keyed by [`crate::window_key_codec`]. Returns `false` when the store has no cache (the
    /// listener is dropped).
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        drop(listener);
        false
    }
}

/// A store of session windows per key, over bytes. Sessions are `[start, end]` with both
/// bounds inclusive. Retention works as for [`WindowStore`], on session ends.
pub trait SessionStore: StateStore {
    /// Sessions of `key` with `end >= earliest_session_end` and `start <= latest_session_start`,
    /// ascending by end then start: the candidates a new record at time t merges with, for
    /// `earliest_session_end = t - gap` and `latest_session_start = t + gap`.
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(TimeWindow, Vec<u8>)>>;
    /// The value of exactly this session.
    fn fetch_session(&self, key: &[u8], window: TimeWindow) -> Result<Option<Vec<u8>>>;
    /// All sessions of `key`, ascending by end then start.
    fn fetch(&self, key: &[u8]) -> Result<Vec<(TimeWindow, Vec<u8>)>>;
    /// Writes a session's value.
    fn put(&mut self, key: &[u8], window: TimeWindow, value: &[u8]) -> Result<()>;
    /// Removes a session.
    fn remove(&mut self, key: &[u8], window: TimeWindow) -> Result<()>;
    /// All unexpired sessions, ordered by key then end then start.
    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>>;
    /// How long sessions are kept after they end, in milliseconds.
    fn retention_period(&self) -> i64;
    /// Installs a listener for sessions written down by a caching layer on flush or eviction,
    /// keyed by [`crate::session_key_codec`]. Returns `false` when the store has no cache (the
    /// listener is dropped).
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        drop(listener);
        false
    }
}
