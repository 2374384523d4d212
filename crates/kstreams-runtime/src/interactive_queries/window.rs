//! [`ReadOnlyWindowStore`]: queries a window store of a running instance.

use std::marker::PhantomData;

use kstreams_core::Result as StoreResult;
use kstreams_core::state::WindowStoreFacade;

use super::{QueryRouter, StoreQueryParameters};
use crate::error::Result;

/// A read-only view of the local instances of a window store (one per task) of a running
/// [`crate::KafkaStreams`], for keys `K` and values `V`. Windows are named by their start
/// (ms). Cheap to clone, usable from any thread.
///
/// As with [`super::ReadOnlyKeyValueStore`], `V` may name the value of a DSL store that
/// keeps timestamps (they are dropped) or `ValueAndTimestamp<V>`.
#[derive(Clone)]
pub struct ReadOnlyWindowStore<K, V> {
    router: QueryRouter,
    params: StoreQueryParameters,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> std::fmt::Debug for ReadOnlyWindowStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyWindowStore")
            .field("params", &self.params)
            .finish()
    }
}

const KIND: &str = "window store of the requested key and value types";

impl<K, V> ReadOnlyWindowStore<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Send + 'static,
{
    pub(crate) fn new(router: QueryRouter, params: StoreQueryParameters) -> Self {
        ReadOnlyWindowStore {
            router,
            params,
            _types: PhantomData,
        }
    }

    /// The query's parameters.
    pub fn parameters(&self) -> &StoreQueryParameters {
        &self.params
    }

    fn query<R: Send + 'static>(
        &self,
        f: impl Fn(WindowStoreFacade<'_, K, V>) -> StoreResult<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        self.router.query(&self.params, KIND, move |s| {
            WindowStoreFacade::of(s).map(&f)
        })
    }

    /// The value of `key` in the window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>> {
        let key = key.clone();
        let found = self.query(move |s| s.fetch(&key, window_start))?;
        Ok(found.into_iter().flatten().next())
    }

    /// `(window start, value)` of `key` for the windows starting in `[time_from, time_to]`,
    /// ascending.
    pub fn fetch_range(&self, key: &K, time_from: i64, time_to: i64) -> Result<Vec<(i64, V)>> {
        let key = key.clone();
        let parts = self.query(move |s| s.fetch_range(&key, time_from, time_to))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Every unexpired `(key, window start, value)` whose window starts in
    /// `[time_from, time_to]`, each task's by key then start, task after task.
    pub fn fetch_all(&self, time_from: i64, time_to: i64) -> Result<Vec<(K, i64, V)>> {
        let parts = self.query(move |s| s.fetch_all(time_from, time_to))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Every unexpired `(key, window start, value)`, each task's by key then start, task
    /// after task.
    pub fn all(&self) -> Result<Vec<(K, i64, V)>> {
        let parts = self.query(|s| s.all())?;
        Ok(parts.into_iter().flatten().collect())
    }
}
