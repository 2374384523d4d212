//! [`CachingWindowStore`]: the record cache of a window store (Kafka Streams'
//! `CachingWindowStore`), stacked over the change-logging layer: a
//! [`CachingKeyValueStore`] over the window store's [`CacheEntries`], keyed by
//! `[escaped key][ordered window start]`.

use std::any::Any;

use crate::cache_entries::{CacheEntries, CacheKey, EntryShape, encode_cache_key};
use crate::caching_key_value_store::CachingKeyValueStore;
use crate::error::{Result, StateError};
use crate::segments::{StreamClock, corrupt};
use crate::store::{
    CacheFlushListener, KeyValue, KeyValueStore, StateStore, TimeWindow, WindowStore, WindowedKey,
};
use crate::thread_cache::SharedThreadCache;
use crate::window_key_codec;

/// The cache key of `key`'s window starting at `start`.
fn cache_key(key: &[u8], start: i64) -> Vec<u8> {
    encode_cache_key(key, [start])
}

/// A window store (one value per key and window: no duplicates) addressed by cache keys.
struct Windows<S>(std::marker::PhantomData<S>);

impl<S: WindowStore> EntryShape for Windows<S> {
    type Store = S;

    fn get(store: &S, key: &CacheKey) -> Result<Option<Vec<u8>>> {
        store.fetch(&key.key, key.times[0])
    }

    fn put(store: &mut S, key: &CacheKey, value: Option<&[u8]>) -> Result<()> {
        store.put(&key.key, value, key.times[0])
    }

    /// Bounds of one key are one time-bounded fetch; bounds across keys read every live
    /// window of the keys in between (the window store's time bounds apply to each key alike).
    fn entries(store: &S, from: Option<&CacheKey>, to: Option<&CacheKey>) -> Result<Vec<KeyValue>> {
        if let (Some(from), Some(to)) = (from, to)
            && from.key == to.key
        {
            return Ok(store
                .fetch_range(&from.key, from.times[0], to.times[0])?
                .into_iter()
                .map(|(start, value)| (cache_key(&from.key, start), value))
                .collect());
        }
        let found = store.fetch_key_range(
            from.map(|k| k.key.as_slice()),
            to.map(|k| k.key.as_slice()),
            i64::MIN,
            i64::MAX,
        )?;
        Ok(found
            .into_iter()
            .map(|(wk, value)| (cache_key(&wk.key, wk.window.start), value))
            .collect())
    }

    fn changelog_key(key: &CacheKey) -> Vec<u8> {
        window_key_codec::encode(&key.key, key.times[0], 0)
    }
}

type WindowEntries<S> = CacheEntries<Windows<S>, 1>;

/// A write-back cache over a window store that keeps one value per key and window (not one
/// retaining duplicates): reads hit the cache first, and repeated writes of a window between
/// commits reach the inner store, and so its changelog, once, on
/// [`StateStore::flush_cache`] (every commit) or when the cache evicts the entry under its
/// own or the stream thread's byte budget (least recently written first).
///
/// Each entry written down goes to the flush listener keyed in the changelog format
/// ([`window_key_codec`], sequence 0), with the value the inner store held before: that is how
/// a windowed aggregation forwards one update per window per commit. Expiry follows the
/// largest window start written, as in the inner store: expired windows are not returned,
/// and writes to them are ignored.
pub struct CachingWindowStore<S: WindowStore> {
    cache: CachingKeyValueStore<WindowEntries<S>>,
    window_size: i64,
    retention_period: i64,
    clock: StreamClock,
}

impl<S: WindowStore> CachingWindowStore<S> {
    /// Wraps `inner` (which must not retain duplicates) with a cache of at most
    /// `max_cache_bytes`.
    pub fn new(inner: S, max_cache_bytes: usize) -> Self {
        let window_size = inner.window_size();
        let retention_period = inner.retention_period();
        Self {
            cache: CachingKeyValueStore::new(WindowEntries::new(inner), max_cache_bytes),
            window_size,
            retention_period,
            clock: StreamClock::for_windows(window_size, retention_period),
        }
    }

    /// Refuses flush listeners: the aggregation over this store forwards every update itself,
    /// while the cache still serves reads and coalesces writes.
    pub fn without_forwarding(mut self) -> Self {
        self.cache = self.cache.without_forwarding();
        self
    }

    /// Also charges the entries to the thread's shared budget.
    pub fn with_thread_cache(mut self, cache: SharedThreadCache) -> Self {
        self.cache = self.cache.with_thread_cache(cache);
        self
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.cache.inner().inner
    }

    /// Bytes currently charged to the cache.
    pub fn cached_bytes(&self) -> usize {
        self.cache.cached_bytes()
    }

    /// Number of cached windows not yet written down.
    pub fn dirty_entries(&self) -> usize {
        self.cache.dirty_entries()
    }

    fn check_open(&self) -> Result<()> {
        if self.cache.is_open() {
            Ok(())
        } else {
            Err(StateError::Closed {
                store: self.cache.name().to_string(),
            })
        }
    }

    /// The record key and window start of a cache key.
    fn decode(&self, cache_key: &[u8]) -> Result<(Vec<u8>, i64)> {
        let CacheKey { key, times } = self.cache.inner().decode(cache_key)?;
        Ok((key, times[0]))
    }
}

impl<S: WindowStore> StateStore for CachingWindowStore<S> {
    fn name(&self) -> &str {
        self.cache.name()
    }

    fn persistent(&self) -> bool {
        self.cache.persistent()
    }

    fn is_open(&self) -> bool {
        self.cache.is_open()
    }

    fn flush(&mut self) -> Result<()> {
        self.cache.flush()
    }

    fn flush_cache(&mut self) -> Result<()> {
        self.cache.flush_cache()
    }

    fn close(&mut self) -> Result<()> {
        self.cache.close()
    }

    /// Applies a changelog record keyed by [`window_key_codec`], dropping the window's cache
    /// entry.
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        let parts = window_key_codec::decode(key).ok_or_else(|| {
            corrupt(
                self.cache.name(),
                "changelog key shorter than the window key suffix",
            )
        })?;
        self.clock.advance(parts.window_start);
        self.cache
            .restore(&cache_key(parts.key, parts.window_start), value)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<S: WindowStore> WindowStore for CachingWindowStore<S> {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> Result<()> {
        self.check_open()?;
        self.clock.advance(window_start);
        if self.clock.is_expired(window_start) {
            tracing::trace!(store = %self.cache.name(), window_start, "ignoring write to an expired window");
            return Ok(());
        }
        let key = cache_key(key, window_start);
        match value {
            Some(value) => self.cache.put(&key, value),
            None => self.cache.delete(&key).map(drop),
        }
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        if self.clock.is_expired(window_start) {
            return Ok(None);
        }
        self.cache.get(&cache_key(key, window_start))
    }

    fn fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        self.check_open()?;
        let Some((from, to)) = self.clock.live_range(time_from, time_to) else {
            return Ok(Vec::new());
        };
        let (lower, upper) = (cache_key(key, from), cache_key(key, to));
        self.cache
            .range(Some(&lower), Some(&upper))?
            .map(|entry| {
                let (cache_key, value) = entry?;
                Ok((self.decode(&cache_key)?.1, value))
            })
            .collect()
    }

    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        self.check_open()?;
        if matches!((key_from, key_to), (Some(f), Some(t)) if f > t) {
            return Ok(Vec::new());
        }
        let Some((from, to)) = self.clock.live_range(time_from, time_to) else {
            return Ok(Vec::new());
        };
        let lower = key_from.map(|k| cache_key(k, i64::MIN));
        let upper = key_to.map(|k| cache_key(k, i64::MAX));
        let mut found = Vec::new();
        for entry in self.cache.range(lower.as_deref(), upper.as_deref())? {
            let (cache_key, value) = entry?;
            let (key, start) = self.decode(&cache_key)?;
            if (from..=to).contains(&start) {
                let window = TimeWindow {
                    start,
                    end: start.saturating_add(self.window_size),
                };
                found.push((WindowedKey { key, window }, value));
            }
        }
        Ok(found)
    }

    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        self.fetch_key_range(None, None, i64::MIN, i64::MAX)
    }

    fn window_size(&self) -> i64 {
        self.window_size
    }

    fn retention_period(&self) -> i64 {
        self.retention_period
    }

    /// The listener gets each window written down keyed by [`window_key_codec`].
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        self.cache
            .set_flush_listener(WindowEntries::<S>::changelog_keyed(listener))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::change_logging_window_store::ChangeLoggingWindowStore;
    use crate::in_memory_window_store::InMemoryWindowStore;
    use crate::store::CacheFlushEntry;
    use crate::test_support::RecordingChangelogWriter;
    use crate::thread_cache::ThreadCache;
    use crate::window_store_suite::{WindowSuiteStore, window_store_suite};

    type Logged = CachingWindowStore<ChangeLoggingWindowStore<InMemoryWindowStore>>;

    fn v(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn logged(max_bytes: usize) -> (Logged, Arc<RecordingChangelogWriter>) {
        let writer = RecordingChangelogWriter::shared();
        let inner = InMemoryWindowStore::new("w", 1_000, 10, false).unwrap();
        let logging = ChangeLoggingWindowStore::new(inner, writer.clone(), false);
        (CachingWindowStore::new(logging, max_bytes), writer)
    }

    fn listen(store: &mut impl WindowStore) -> Arc<Mutex<Vec<CacheFlushEntry>>> {
        let flushed = Arc::new(Mutex::new(Vec::new()));
        let sink = flushed.clone();
        assert!(store.set_flush_listener(Box::new(move |e| sink.lock().unwrap().push(e))));
        flushed
    }

    fn entry(key: &[u8], start: i64, new: Option<&str>, old: Option<&str>) -> CacheFlushEntry {
        CacheFlushEntry {
            key: window_key_codec::encode(key, start, 0),
            new_value: new.map(v),
            old_value: old.map(v),
        }
    }

    #[test]
    fn window_semantics_with_a_large_and_a_tiny_cache() {
        for budget in [1 << 20, 0] {
            window_store_suite(&mut |retention, size, duplicates| {
                let inner = InMemoryWindowStore::new("win", retention, size, duplicates).unwrap();
                if duplicates {
                    // Not cacheable: the suite's duplicate checks run on the plain store.
                    return Box::new(inner) as WindowSuiteStore;
                }
                Box::new(CachingWindowStore::new(inner, budget))
            });
        }
    }

    #[test]
    fn repeated_writes_of_a_window_reach_the_changelog_once_per_flush() {
        let (mut store, writer) = logged(1 << 20);
        for n in 1..=5 {
            store.put(b"k", Some(n.to_string().as_bytes()), 0).unwrap();
        }
        store.put(b"k", Some(b"x"), 10).unwrap();
        assert_eq!(store.fetch(b"k", 0).unwrap(), Some(v("5")));
        assert!(
            writer.changes().is_empty(),
            "nothing written down before a flush"
        );
        assert_eq!(store.dirty_entries(), 2);
        store.flush_cache().unwrap();
        let changes = writer.changes();
        assert_eq!(changes.len(), 2);
        assert!(changes.contains(&(
            "w".into(),
            window_key_codec::encode(b"k", 0, 0),
            Some(v("5"))
        )));
        assert!(changes.contains(&(
            "w".into(),
            window_key_codec::encode(b"k", 10, 0),
            Some(v("x"))
        )));
        assert_eq!(store.inner().inner().fetch(b"k", 0).unwrap(), Some(v("5")));
        store.flush_cache().unwrap();
        assert_eq!(
            writer.changes().len(),
            2,
            "a clean cache writes nothing down"
        );
    }

    #[test]
    fn the_listener_gets_windows_in_write_order_with_the_value_written_down_before() {
        let (mut store, _) = logged(1 << 20);
        let flushed = listen(&mut store);
        store.put(b"b", Some(b"1"), 10).unwrap();
        store.put(b"a", Some(b"1"), 0).unwrap();
        store.put(b"b", Some(b"2"), 10).unwrap();
        store.flush_cache().unwrap();
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![
                entry(b"a", 0, Some("1"), None),
                entry(b"b", 10, Some("2"), None)
            ]
        );
        flushed.lock().unwrap().clear();
        store.put(b"a", Some(b"2"), 0).unwrap();
        store.put(b"b", None, 10).unwrap();
        store.flush_cache().unwrap();
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![
                entry(b"a", 0, Some("2"), Some("1")),
                entry(b"b", 10, None, Some("2"))
            ]
        );
        assert_eq!(store.fetch(b"b", 10).unwrap(), None);
        assert_eq!(store.inner().inner().fetch(b"b", 10).unwrap(), None);
    }

    #[test]
    fn without_forwarding_refuses_the_listener_but_still_coalesces() {
        let (store, writer) = logged(1 << 20);
        let mut store = store.without_forwarding();
        assert!(!store.set_flush_listener(Box::new(|_| {})));
        store.put(b"k", Some(b"1"), 0).unwrap();
        store.put(b"k", Some(b"2"), 0).unwrap();
        store.flush_cache().unwrap();
        assert_eq!(writer.changes().len(), 1);
    }

    #[test]
    fn scans_merge_cached_and_stored_windows_and_hide_cached_deletes() {
        let (mut store, _) = logged(1 << 20);
        store.put(b"a", Some(b"stored"), 0).unwrap();
        store.put(b"a", Some(b"gone"), 20).unwrap();
        store.put(b"b", Some(b"stored"), 10).unwrap();
        store.flush_cache().unwrap();
        store.put(b"a", Some(b"cached"), 10).unwrap();
        store.put(b"a", None, 20).unwrap();
        store.put(b"b", Some(b"newer"), 10).unwrap();
        store.put(b"c", Some(b"cached"), 0).unwrap();
        assert_eq!(
            store.fetch_range(b"a", 0, 30).unwrap(),
            vec![(0, v("stored")), (10, v("cached"))]
        );
        assert_eq!(
            store.fetch_range(b"a", 5, 30).unwrap(),
            vec![(10, v("cached"))]
        );
        let keys: Vec<(Vec<u8>, i64, Vec<u8>)> = store
            .fetch_key_range(Some(b"a"), Some(b"b"), 5, 30)
            .unwrap()
            .into_iter()
            .map(|(wk, value)| (wk.key, wk.window.start, value))
            .collect();
        assert_eq!(
            keys,
            vec![(v("a"), 10, v("cached")), (v("b"), 10, v("newer"))]
        );
        let all: Vec<(Vec<u8>, TimeWindow)> = store
            .all()
            .unwrap()
            .into_iter()
            .map(|(wk, _)| (wk.key, wk.window))
            .collect();
        let w = |start| TimeWindow {
            start,
            end: start + 10,
        };
        assert_eq!(
            all,
            vec![
                (v("a"), w(0)),
                (v("a"), w(10)),
                (v("b"), w(10)),
                (v("c"), w(0))
            ]
        );
    }

    #[test]
    fn expired_windows_are_hidden_in_the_cache_and_writes_to_them_ignored() {
        let (mut store, writer) = logged(1 << 20);
        store.put(b"k", Some(b"early"), 0).unwrap();
        // Stream time 2_000: windows starting before 2_000 - 10 - 1_000 have expired.
        store.put(b"k", Some(b"late"), 2_000).unwrap();
        assert_eq!(store.fetch(b"k", 0).unwrap(), None);
        assert_eq!(
            store.fetch_range(b"k", 0, 3_000).unwrap(),
            vec![(2_000, v("late"))]
        );
        assert_eq!(store.all().unwrap().len(), 1);
        store.put(b"k", Some(b"too late"), 500).unwrap();
        assert_eq!(store.fetch(b"k", 500).unwrap(), None);
        assert_eq!(
            store.dirty_entries(),
            2,
            "the write to window 500 was ignored"
        );
        store.flush_cache().unwrap();
        assert_eq!(store.fetch(b"k", 0).unwrap(), None);
        assert!(
            !writer
                .changes()
                .iter()
                .any(|(_, key, _)| key == &window_key_codec::encode(b"k", 500, 0)),
            "an ignored write is not logged"
        );
    }

    #[test]
    fn a_budget_overrun_writes_down_the_least_recently_written_windows() {
        let (mut store, writer) = logged(400);
        let flushed = listen(&mut store);
        for start in [0, 10, 20, 30, 40, 50] {
            store.put(b"key", Some(b"value"), start).unwrap();
        }
        let evicted: Vec<Vec<u8>> = flushed
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.key.clone())
            .collect();
        assert!(!evicted.is_empty(), "400 bytes hold fewer than six windows");
        assert_eq!(evicted[0], window_key_codec::encode(b"key", 0, 0));
        assert_eq!(writer.changes().len(), evicted.len());
        assert!(store.cached_bytes() <= 400);
        for start in [0, 10, 20, 30, 40, 50] {
            assert_eq!(store.fetch(b"key", start).unwrap(), Some(v("value")));
        }
    }

    #[test]
    fn the_thread_budget_is_charged_and_released_on_close() {
        let thread = ThreadCache::shared(1 << 20);
        let (store, _) = logged(1 << 20);
        let mut store = store.with_thread_cache(thread.clone());
        store.put(b"k", Some(b"v"), 0).unwrap();
        assert!(thread.used_bytes() > 0);
        store.close().unwrap();
        assert_eq!(thread.used_bytes(), 0);
        assert!(matches!(
            store.fetch(b"k", 0),
            Err(StateError::Closed { .. })
        ));
    }

    #[test]
    fn restore_drops_the_cached_window() {
        let (mut store, _) = logged(1 << 20);
        store.put(b"k", Some(b"cached"), 0).unwrap();
        store
            .restore(&window_key_codec::encode(b"k", 0, 0), Some(b"restored"))
            .unwrap();
        assert_eq!(store.fetch(b"k", 0).unwrap(), Some(v("restored")));
        assert_eq!(store.dirty_entries(), 0);
        assert!(store.restore(b"short", Some(b"x")).is_err());
    }
}
