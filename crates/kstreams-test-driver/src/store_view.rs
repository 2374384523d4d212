//! Read-only, typed access to a driver's key-value, window and session stores.
//!
//! As in Kafka Streams' driver, a view asking for values `V` reads a DSL store that keeps
//! `ValueAndTimestamp<V>` without the timestamps; asking for `ValueAndTimestamp<V>` keeps
//! them.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use kstreams_core::state::{KeyValueStoreFacade, WindowStoreFacade};
use kstreams_core::{Result, SessionStore, SharedSerde, StreamsError, TaskStore};
use kstreams_state::TimeWindow;

use crate::driver::Inner;

/// The driver and the name of the store a view reads.
struct Named<K, V> {
    inner: Rc<RefCell<Inner>>,
    name: String,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Named<K, V> {
    /// The store `name` if `fits` says it is of the view's kind and types.
    fn open(
        inner: Rc<RefCell<Inner>>,
        name: &str,
        fits: fn(&dyn TaskStore) -> bool,
    ) -> Option<Self> {
        let ok = inner.borrow().with_store(name, fits).unwrap_or(false);
        ok.then(|| Named {
            inner,
            name: name.to_string(),
            _types: PhantomData,
        })
    }

    /// Runs `f` with the store; an error when it is gone or `f` finds it of other types.
    fn read<R>(&self, f: impl FnOnce(&dyn TaskStore) -> Option<Result<R>>) -> Result<R> {
        self.inner
            .borrow()
            .with_store(&self.name, f)
            .flatten()
            .ok_or_else(|| StreamsError::IllegalState(format!("store '{}' is gone", self.name)))?
    }
}

/// A read-only view of one key-value store of a driver's topology. Each call reads the
/// store's current contents (through its cache, if it has one).
pub struct KeyValueStoreView<K, V> {
    store: Named<K, V>,
}

impl<K: 'static, V: 'static> KeyValueStoreView<K, V> {
    pub(crate) fn open(inner: Rc<RefCell<Inner>>, name: &str) -> Option<Self> {
        let fits = |s: &dyn TaskStore| KeyValueStoreFacade::<K, V>::of(s).is_some();
        Named::open(inner, name, fits).map(|store| KeyValueStoreView { store })
    }

    fn with<R>(&self, f: impl FnOnce(KeyValueStoreFacade<'_, K, V>) -> Result<R>) -> Result<R> {
        self.store.read(|s| KeyValueStoreFacade::of(s).map(f))
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.store.name
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.with(|s| s.get(key))
    }

    /// Entries with `from <= key <= to` in key-byte order (`None`: unbounded).
    pub fn range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        self.with(|s| s.range(from, to))
    }

    /// As [`Self::range`], descending.
    pub fn reverse_range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        self.with(|s| s.reverse_range(from, to))
    }

    /// Entries whose serialized key starts with `prefix` serialized by `prefix_serde`.
    pub fn prefix_scan<P: 'static>(
        &self,
        prefix: &P,
        prefix_serde: &SharedSerde<P>,
    ) -> Result<Vec<(K, V)>> {
        self.with(|s| s.prefix_scan(prefix, prefix_serde))
    }

    /// Every entry in key-byte order.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        self.with(|s| s.all())
    }

    /// The store's estimate of its entry count.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.with(|s| s.approximate_num_entries())
    }
}

/// A read-only view of one window store of a driver's topology (windows named by their
/// start, in ms).
pub struct WindowStoreView<K, V> {
    store: Named<K, V>,
}

impl<K: 'static, V: 'static> WindowStoreView<K, V> {
    pub(crate) fn open(inner: Rc<RefCell<Inner>>, name: &str) -> Option<Self> {
        let fits = |s: &dyn TaskStore| WindowStoreFacade::<K, V>::of(s).is_some();
        Named::open(inner, name, fits).map(|store| WindowStoreView { store })
    }

    fn with<R>(&self, f: impl FnOnce(WindowStoreFacade<'_, K, V>) -> Result<R>) -> Result<R> {
        self.store.read(|s| WindowStoreFacade::of(s).map(f))
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.store.name
    }

    /// The value of `key` in the window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>> {
        self.with(|s| s.fetch(key, window_start))
    }

    /// `(window start, value)` of `key` for windows starting in `[time_from, time_to]`,
    /// ascending.
    pub fn fetch_range(&self, key: &K, time_from: i64, time_to: i64) -> Result<Vec<(i64, V)>> {
        self.with(|s| s.fetch_range(key, time_from, time_to))
    }

    /// Every unexpired `(key, window start, value)` whose window starts in
    /// `[time_from, time_to]`.
    pub fn fetch_all(&self, time_from: i64, time_to: i64) -> Result<Vec<(K, i64, V)>> {
        self.with(|s| s.fetch_all(time_from, time_to))
    }

    /// Every unexpired `(key, window start, value)`, by serialized key then start.
    pub fn all(&self) -> Result<Vec<(K, i64, V)>> {
        self.with(|s| s.all())
    }
}

/// A read-only view of one session store of a driver's topology.
pub struct SessionStoreView<K, V> {
    store: Named<K, V>,
}

impl<K: 'static, V: 'static> SessionStoreView<K, V> {
    pub(crate) fn open(inner: Rc<RefCell<Inner>>, name: &str) -> Option<Self> {
        let fits = |s: &dyn TaskStore| s.as_any().is::<SessionStore<K, V>>();
        Named::open(inner, name, fits).map(|store| SessionStoreView { store })
    }

    fn with<R>(&self, f: impl FnOnce(&SessionStore<K, V>) -> Result<R>) -> Result<R> {
        self.store
            .read(|s| s.as_any().downcast_ref::<SessionStore<K, V>>().map(f))
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.store.name
    }

    /// Every session of `key`, by session start.
    pub fn fetch(&self, key: &K) -> Result<Vec<(TimeWindow, V)>> {
        self.with(|s| s.fetch(key))
    }

    /// Sessions of `key` that end at or after `earliest_session_end` and start at or before
    /// `latest_session_start`.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(TimeWindow, V)>> {
        self.with(|s| s.find_sessions(key, earliest_session_end, latest_session_start))
    }

    /// The value of exactly this session of `key`.
    pub fn fetch_session(&self, key: &K, window: TimeWindow) -> Result<Option<V>> {
        self.with(|s| s.fetch_session(key, window))
    }
}
