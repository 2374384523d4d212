//! [`CachingSessionStore`]: the record cache of a session store (Kafka Streams'
//! `CachingSessionStore`), stacked over the change-logging layer: a
//! [`CachingKeyValueStore`] over the session store's [`CacheEntries`], keyed by
//! `[escaped key][ordered session end][ordered session start]`, the order of the store's own
//! scans.

use std::any::Any;

use crate::cache_entries::{CacheEntries, CacheKey, EntryShape, encode_cache_key};
use crate::caching_key_value_store::CachingKeyValueStore;
use crate::error::{Result, StateError};
use crate::segments::{StreamClock, corrupt};
use crate::session_key_codec;
use crate::store::{
    CacheFlushListener, KeyValue, KeyValueStore, SessionStore, StateStore, TimeWindow, WindowedKey,
};
use crate::thread_cache::SharedThreadCache;

/// The cache key of `key`'s session `window`.
fn cache_key(key: &[u8], window: TimeWindow) -> Vec<u8> {
    encode_cache_key(key, [window.end, window.start])
}

fn session(key: &CacheKey) -> TimeWindow {
    TimeWindow {
        start: key.times[1],
        end: key.times[0],
    }
}

/// A session store addressed by cache keys.
struct Sessions<S>(std::marker::PhantomData<S>);

impl<S: SessionStore> EntryShape for Sessions<S> {
    type Store = S;

    fn get(store: &S, key: &CacheKey) -> Result<Option<Vec<u8>>> {
        store.fetch_session(&key.key, session(key))
    }

    fn put(store: &mut S, key: &CacheKey, value: Option<&[u8]>) -> Result<()> {
        match value {
            Some(value) => store.put(&key.key, session(key), value),
            None => store.remove(&key.key, session(key)),
        }
    }

    /// Bounds of one key read that key's sessions; bounds across keys read every session.
    fn entries(store: &S, from: Option<&CacheKey>, to: Option<&CacheKey>) -> Result<Vec<KeyValue>> {
        if let (Some(from), Some(to)) = (from, to)
            && from.key == to.key
        {
            return Ok(store
                .find_sessions(&from.key, from.times[0], i64::MAX)?
                .into_iter()
                .map(|(window, value)| (cache_key(&from.key, window), value))
                .collect());
        }
        Ok(store
            .all()?
            .into_iter()
            .map(|(wk, value)| (cache_key(&wk.key, wk.window), value))
            .collect())
    }

    fn changelog_key(key: &CacheKey) -> Vec<u8> {
        session_key_codec::encode(&key.key, session(key))
    }
}

type SessionEntries<S> = CacheEntries<Sessions<S>, 2>;

/// A write-back cache over a session store: reads hit the cache first, and repeated writes
/// of a session between commits reach the inner store, and so its changelog, once, on
/// [`StateStore::flush_cache`] (every commit) or when the cache evicts the entry under its
/// own or the stream thread's byte budget (least recently written first). A session created
/// and merged away between two commits never reaches the inner store.
///
/// Each entry written down goes to the flush listener keyed in the changelog format
/// ([`session_key_codec`]), with the value the inner store held before: that is how a session
/// aggregation forwards the sessions of a commit. Expiry follows the largest session end
/// written, as in the inner store: expired sessions are not returned, and writes to them are
/// ignored.
pub struct CachingSessionStore<S: SessionStore> {
    cache: CachingKeyValueStore<SessionEntries<S>>,
    retention_period: i64,
    clock: StreamClock,
}

impl<S: SessionStore> CachingSessionStore<S> {
    /// Wraps `inner` with a cache of at most `max_cache_bytes`.
    pub fn new(inner: S, max_cache_bytes: usize) -> Self {
        let retention_period = inner.retention_period();
        Self {
            cache: CachingKeyValueStore::new(SessionEntries::new(inner), max_cache_bytes),
            retention_period,
            clock: StreamClock::for_sessions(retention_period),
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

    /// Number of cached sessions not yet written down.
    pub fn dirty_entries(&self) -> usize {
        self.cache.dirty_entries()
    }

    fn is_expired(&self, end: i64) -> bool {
        self.clock.is_expired(end)
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

    /// The live sessions among the cache entries of `key` from session end `earliest_end` on.
    fn sessions_of(&self, key: &[u8], earliest_end: i64) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        let lower = cache_key(
            key,
            TimeWindow {
                start: i64::MIN,
                end: earliest_end,
            },
        );
        let upper = cache_key(
            key,
            TimeWindow {
                start: i64::MAX,
                end: i64::MAX,
            },
        );
        let mut out = Vec::new();
        for entry in self.cache.range(Some(&lower), Some(&upper))? {
            let (cache_key, value) = entry?;
            let window = session(&self.cache.inner().decode(&cache_key)?);
            if !self.is_expired(window.end) {
                out.push((window, value));
            }
        }
        Ok(out)
    }
}

impl<S: SessionStore> StateStore for CachingSessionStore<S> {
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

    /// Applies a changelog record keyed by [`session_key_codec`], dropping the session's
    /// cache entry.
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        let (key, window) = session_key_codec::decode(key).ok_or_else(|| {
            corrupt(
                self.cache.name(),
                "changelog key shorter than the session key suffix",
            )
        })?;
        self.clock.advance(window.end);
        self.cache.restore(&cache_key(key, window), value)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<S: SessionStore> SessionStore for CachingSessionStore<S> {
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        self.check_open()?;
        let mut found = self.sessions_of(key, earliest_session_end)?;
        found.retain(|(window, _)| window.start <= latest_session_start);
        Ok(found)
    }

    fn fetch_session(&self, key: &[u8], window: TimeWindow) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        if self.is_expired(window.end) {
            return Ok(None);
        }
        self.cache.get(&cache_key(key, window))
    }

    fn fetch(&self, key: &[u8]) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        self.check_open()?;
        self.sessions_of(key, i64::MIN)
    }

    fn put(&mut self, key: &[u8], window: TimeWindow, value: &[u8]) -> Result<()> {
        self.check_open()?;
        self.clock.advance(window.end);
        if self.is_expired(window.end) {
            tracing::trace!(store = %self.cache.name(), end = window.end, "ignoring write to an expired session");
            return Ok(());
        }
        self.cache.put(&cache_key(key, window), value)
    }

    fn remove(&mut self, key: &[u8], window: TimeWindow) -> Result<()> {
        self.check_open()?;
        self.cache.delete(&cache_key(key, window)).map(drop)
    }

    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        self.check_open()?;
        let mut out = Vec::new();
        for entry in self.cache.all()? {
            let (cache_key, value) = entry?;
            let key = self.cache.inner().decode(&cache_key)?;
            let window = session(&key);
            if !self.is_expired(window.end) {
                let key = key.key;
                out.push((WindowedKey { key, window }, value));
            }
        }
        Ok(out)
    }

    fn retention_period(&self) -> i64 {
        self.retention_period
    }

    /// The listener gets each session written down keyed by [`session_key_codec`].
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        self.cache
            .set_flush_listener(SessionEntries::<S>::changelog_keyed(listener))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::change_logging_session_store::ChangeLoggingSessionStore;
    use crate::in_memory_session_store::InMemorySessionStore;
    use crate::session_store_suite::{SessionSuiteStore, session_store_suite};
    use crate::store::CacheFlushEntry;
    use crate::test_support::RecordingChangelogWriter;

    type Logged = CachingSessionStore<ChangeLoggingSessionStore<InMemorySessionStore>>;

    fn v(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn w(start: i64, end: i64) -> TimeWindow {
        TimeWindow { start, end }
    }

    fn logged(max_bytes: usize) -> (Logged, Arc<RecordingChangelogWriter>) {
        let writer = RecordingChangelogWriter::shared();
        let inner = InMemorySessionStore::new("s", 1_000).unwrap();
        let logging = ChangeLoggingSessionStore::new(inner, writer.clone());
        (CachingSessionStore::new(logging, max_bytes), writer)
    }

    #[test]
    fn session_semantics_with_a_large_and_a_tiny_cache() {
        for budget in [1 << 20, 0] {
            session_store_suite(&mut |retention| {
                let inner = InMemorySessionStore::new("sess", retention).unwrap();
                Box::new(CachingSessionStore::new(inner, budget)) as SessionSuiteStore
            });
        }
    }

    #[test]
    fn a_session_merged_away_before_the_flush_never_reaches_the_changelog() {
        let (mut store, writer) = logged(1 << 20);
        let flushed = Arc::new(Mutex::new(Vec::new()));
        let sink = flushed.clone();
        assert!(store.set_flush_listener(Box::new(move |e| sink.lock().unwrap().push(e))));
        // A record at 10, then one at 12 merging into [10, 12], then one at 20 into [10, 20].
        store.put(b"k", w(10, 10), b"1").unwrap();
        store.remove(b"k", w(10, 10)).unwrap();
        store.put(b"k", w(10, 12), b"2").unwrap();
        assert_eq!(
            store.find_sessions(b"k", 5, 15).unwrap(),
            vec![(w(10, 12), v("2"))]
        );
        store.remove(b"k", w(10, 12)).unwrap();
        store.put(b"k", w(10, 20), b"3").unwrap();
        assert!(writer.changes().is_empty());
        store.flush_cache().unwrap();
        assert_eq!(
            writer.changes(),
            vec![(
                "s".to_string(),
                session_key_codec::encode(b"k", w(10, 20)),
                Some(v("3"))
            )]
        );
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![CacheFlushEntry {
                key: session_key_codec::encode(b"k", w(10, 20)),
                new_value: Some(v("3")),
                old_value: None,
            }]
        );
        // Merged again after the flush: the written-down session's removal is forwarded with
        // its old value.
        flushed.lock().unwrap().clear();
        store.remove(b"k", w(10, 20)).unwrap();
        store.put(b"k", w(10, 25), b"4").unwrap();
        store.flush_cache().unwrap();
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![
                CacheFlushEntry {
                    key: session_key_codec::encode(b"k", w(10, 20)),
                    new_value: None,
                    old_value: Some(v("3")),
                },
                CacheFlushEntry {
                    key: session_key_codec::encode(b"k", w(10, 25)),
                    new_value: Some(v("4")),
                    old_value: None,
                },
            ]
        );
        assert_eq!(
            store.inner().fetch(b"k").unwrap(),
            vec![(w(10, 25), v("4"))]
        );
    }

    #[test]
    fn finds_merge_cached_and_stored_sessions() {
        let (mut store, _) = logged(1 << 20);
        store.put(b"a", w(0, 5), b"stored").unwrap();
        store.put(b"a", w(30, 40), b"stored late").unwrap();
        store.put(b"b", w(0, 1), b"other key").unwrap();
        store.flush_cache().unwrap();
        store.put(b"a", w(10, 20), b"cached").unwrap();
        store.remove(b"a", w(30, 40)).unwrap();
        assert_eq!(
            store.find_sessions(b"a", 3, 15).unwrap(),
            vec![(w(0, 5), v("stored")), (w(10, 20), v("cached"))]
        );
        assert_eq!(
            store.find_sessions(b"a", 6, 100).unwrap(),
            vec![(w(10, 20), v("cached"))]
        );
        assert_eq!(store.fetch(b"a").unwrap().len(), 2);
        let all: Vec<(Vec<u8>, TimeWindow)> = store
            .all()
            .unwrap()
            .into_iter()
            .map(|(k, _)| (k.key, k.window))
            .collect();
        assert_eq!(
            all,
            vec![(v("a"), w(0, 5)), (v("a"), w(10, 20)), (v("b"), w(0, 1))]
        );
        // Stream time 2_000: sessions ending before 1_000 have expired, cached or not.
        store.put(b"a", w(2_000, 2_000), b"late").unwrap();
        assert_eq!(
            store.fetch(b"a").unwrap(),
            vec![(w(2_000, 2_000), v("late"))]
        );
        assert_eq!(store.fetch_session(b"a", w(10, 20)).unwrap(), None);
        store.put(b"a", w(100, 200), b"too late").unwrap();
        assert_eq!(store.fetch_session(b"a", w(100, 200)).unwrap(), None);
    }

    #[test]
    fn restore_drops_the_cached_session() {
        let (mut store, _) = logged(1 << 20);
        store.put(b"k", w(0, 5), b"cached").unwrap();
        store
            .restore(&session_key_codec::encode(b"k", w(0, 5)), Some(b"restored"))
            .unwrap();
        assert_eq!(
            store.fetch_session(b"k", w(0, 5)).unwrap(),
            Some(v("restored"))
        );
        assert_eq!(store.dirty_entries(), 0);
        assert!(store.restore(b"short", None).is_err());
    }
}
