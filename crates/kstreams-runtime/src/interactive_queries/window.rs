//! [`ReadOnlyWindowStore`]: queries a window store of a running instance.

use kstreams_core::Result as StoreResult;
use kstreams_core::state::WindowStoreFacade;

use super::{ReadOnlyStore, StoreKind};
use crate::error::Result;

/// A read-only view of the local instances of a window store (one per task) of a running
/// [`crate::KafkaStreams`], for keys `K` and values `V`. Windows are named by their start
/// (ms). Cheap to clone, usable from any thread.
///
/// As with [`super::ReadOnlyKeyValueStore`], `V` may name the value of a DSL store that
/// keeps timestamps (they are dropped) or `ValueAndTimestamp<V>`.
pub type ReadOnlyWindowStore<K, V> = ReadOnlyStore<WindowKind, K, V>;

/// The marker of [`ReadOnlyWindowStore`].
#[derive(Debug, Clone, Copy)]
pub struct WindowKind;

impl StoreKind for WindowKind {
    const VIEW: &'static str = "ReadOnlyWindowStore";
    const DESCRIPTION: &'static str = "window store of the requested key and value types";
}

impl<K, V> ReadOnlyWindowStore<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Send + 'static,
{
    fn query<R: Send + 'static>(
        &self,
        f: impl Fn(WindowStoreFacade<'_, K, V>) -> StoreResult<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        self.router
            .query(&self.params, WindowKind::DESCRIPTION, move |s| {
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
