//! [`ReadOnlySessionStore`]: queries a session store of a running instance.

use kstreams_core::{Result as StoreResult, SessionStore};
use kstreams_state::TimeWindow;

use super::{ReadOnlyStore, StoreKind};
use crate::error::Result;

/// A read-only view of the local instances of a session store (one per task) of a running
/// [`crate::KafkaStreams`], for keys `K` and values `V`. Cheap to clone, usable from any
/// thread.
pub type ReadOnlySessionStore<K, V> = ReadOnlyStore<SessionKind, K, V>;

/// The marker of [`ReadOnlySessionStore`].
#[derive(Debug, Clone, Copy)]
pub struct SessionKind;

impl StoreKind for SessionKind {
    const VIEW: &'static str = "ReadOnlySessionStore";
    const DESCRIPTION: &'static str = "session store of the requested key and value types";
}

impl<K, V> ReadOnlySessionStore<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Send + 'static,
{
    fn query<R: Send + 'static>(
        &self,
        f: impl Fn(&SessionStore<K, V>) -> StoreResult<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        self.router
            .query(&self.params, SessionKind::DESCRIPTION, move |s| {
                s.as_any().downcast_ref::<SessionStore<K, V>>().map(&f)
            })
    }

    /// Every session of `key`: `(session window, value)`, by session start.
    pub fn fetch(&self, key: &K) -> Result<Vec<(TimeWindow, V)>> {
        let key = key.clone();
        let parts = self.query(move |s| s.fetch(&key))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// The sessions of `key` that end at or after `earliest_session_end` and start at or
    /// before `latest_session_start`, ascending by end then start.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(TimeWindow, V)>> {
        let key = key.clone();
        let parts =
            self.query(move |s| s.find_sessions(&key, earliest_session_end, latest_session_start))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// The value of `key`'s session `window`, if the store has that exact session.
    pub fn fetch_session(&self, key: &K, window: TimeWindow) -> Result<Option<V>> {
        let key = key.clone();
        let found = self.query(move |s| s.fetch_session(&key, window))?;
        Ok(found.into_iter().flatten().next())
    }
}
