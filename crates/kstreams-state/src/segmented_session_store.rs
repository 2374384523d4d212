//! [`SegmentedSessionStore`]: a session store over any byte key-value store, with time segments
//! (by session end) for retention. [`crate::InMemorySessionStore`] and
//! [`crate::RocksDbSessionStore`] are this store over the in-memory and RocksDB key-value stores.
//!
//! Inner layout: `[segment of end][escaped key][end][start]`, so entries of one key within a
//! segment sort by end, then start.

use std::any::Any;

use crate::error::{Result, StateError};
use crate::key_bytes::{
    decode_ordered_i64, encode_ordered_i64, escape_key, escaped_key_upper_bound, prefix_successor,
    unescape_key,
};
use crate::segments::{
    Segments, StreamClock, corrupt, drop_segments_before, last_segment_entries, scan,
};
use crate::session_key_codec;
use crate::store::{KeyValueStore, SessionStore, StateStore, TimeWindow, WindowedKey};

/// A decoded session: key, window, value.
type SessionEntry = (Vec<u8>, TimeWindow, Vec<u8>);

/// A session store over the byte key-value store `S`. Stream time is the largest session end
/// written (or restored); a session is expired once `end + retention_period < stream time`:
/// expired sessions are not returned, writes to them are ignored, and whole segments of them
/// are deleted as stream time advances.
pub struct SegmentedSessionStore<S> {
    inner: S,
    retention_period: i64,
    segments: Segments,
    clock: StreamClock,
    first_live_segment: i64,
}

impl<S: KeyValueStore> SegmentedSessionStore<S> {
    /// Builds the store over `inner` (empty, or holding this store's earlier data: stream time
    /// is recovered from it). Fails with [`StateError::Config`] for a negative retention.
    pub fn from_store(inner: S, retention_period: i64) -> Result<Self> {
        validate_session_params(inner.name(), retention_period)?;
        let mut store = Self {
            inner,
            retention_period,
            segments: Segments::for_retention(retention_period),
            clock: StreamClock::for_sessions(retention_period),
            first_live_segment: i64::MIN,
        };
        for (key, _) in last_segment_entries(&store.inner)? {
            let (_, window) = store.decode(&key)?;
            store.clock.advance(window.end);
        }
        store.expire()?;
        Ok(store)
    }

    /// The underlying key-value store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The largest session end seen (`i64::MIN` before any write).
    pub fn observed_stream_time(&self) -> i64 {
        self.clock.observed()
    }

    fn is_expired(&self, end: i64) -> bool {
        self.clock.is_expired(end)
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.is_open() {
            Ok(())
        } else {
            Err(StateError::Closed {
                store: self.inner.name().to_string(),
            })
        }
    }

    fn advance_stream_time(&mut self, end: i64) -> Result<()> {
        if self.clock.advance(end) {
            self.expire()?;
        }
        Ok(())
    }

    fn expire(&mut self) -> Result<()> {
        let first_live = self.segments.segment_of(self.clock.min_live());
        if first_live > self.first_live_segment {
            let dropped = drop_segments_before(&mut self.inner, first_live)?;
            self.first_live_segment = first_live;
            if dropped > 0 {
                tracing::debug!(store = %self.inner.name(), dropped, "dropped expired session segments");
            }
        }
        Ok(())
    }

    fn store_key(&self, key: &[u8], window: TimeWindow) -> Vec<u8> {
        let mut out = Vec::with_capacity(key.len() + 26);
        out.extend_from_slice(&self.segments.prefix_of(window.end));
        escape_key(key, &mut out);
        out.extend_from_slice(&encode_ordered_i64(window.end));
        out.extend_from_slice(&encode_ordered_i64(window.start));
        out
    }

    fn decode(&self, bytes: &[u8]) -> Result<(Vec<u8>, TimeWindow)> {
        let bad = || corrupt(self.inner.name(), "malformed session store key");
        let rest = bytes.get(8..).ok_or_else(bad)?;
        let (key, used) = unescape_key(rest).ok_or_else(bad)?;
        let suffix = rest.get(used..).ok_or_else(bad)?;
        if suffix.len() != 16 {
            return Err(bad());
        }
        let end = decode_ordered_i64(&suffix[..8]).ok_or_else(bad)?;
        let start = decode_ordered_i64(&suffix[8..]).ok_or_else(bad)?;
        Ok((key, TimeWindow { start, end }))
    }

    /// Live sessions of `key` (`None`: every key) with `end >= earliest_end` and
    /// `start <= latest_start`, by segment, then key, end, start.
    fn scan_sessions(
        &self,
        key: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>> {
        let mut out = Vec::new();
        let Some((from_end, to_end)) = self.clock.live_range(earliest_end, i64::MAX) else {
            return Ok(out);
        };
        for prefix in self.segments.prefixes(from_end, to_end) {
            let mut lower = prefix.to_vec();
            let upper = match key {
                Some(key) => {
                    let mut upper = lower.clone();
                    escaped_key_upper_bound(key, &mut upper);
                    escape_key(key, &mut lower);
                    lower.extend_from_slice(&encode_ordered_i64(from_end));
                    Some(upper)
                }
                None => prefix_successor(&prefix),
            };
            for entry in scan(&self.inner, &lower, upper)? {
                let (store_key, value) = entry?;
                let (key, window) = self.decode(&store_key)?;
                if window.end >= from_end && window.start <= latest_start {
                    out.push((key, window, value));
                }
            }
        }
        Ok(out)
    }
}

/// Checks session store parameters: `retention_period >= 0`.
pub fn validate_session_params(store: &str, retention_period: i64) -> Result<()> {
    if retention_period < 0 {
        return Err(StateError::Config {
            store: store.to_string(),
            message: format!("retention period must not be negative, got {retention_period}"),
        });
    }
    Ok(())
}

impl<S: KeyValueStore> StateStore for SegmentedSessionStore<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn is_open(&self) -> bool {
        self.inner.is_open()
    }

    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }

    /// Applies a changelog record keyed by [`session_key_codec`].
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        let (key, window) = session_key_codec::decode(key).ok_or_else(|| {
            corrupt(
                self.inner.name(),
                "changelog key shorter than the session key suffix",
            )
        })?;
        self.advance_stream_time(window.end)?;
        if self.is_expired(window.end) {
            return Ok(());
        }
        let store_key = self.store_key(key, window);
        match value {
            Some(value) => self.inner.put(&store_key, value),
            None => self.inner.delete(&store_key).map(drop),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<S: KeyValueStore> SessionStore for SegmentedSessionStore<S> {
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        self.check_open()?;
        let found = self.scan_sessions(Some(key), earliest_session_end, latest_session_start)?;
        Ok(found
            .into_iter()
            .map(|(_, window, value)| (window, value))
            .collect())
    }

    fn fetch_session(&self, key: &[u8], window: TimeWindow) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        if self.is_expired(window.end) {
            return Ok(None);
        }
        self.inner.get(&self.store_key(key, window))
    }

    fn fetch(&self, key: &[u8]) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }

    fn put(&mut self, key: &[u8], window: TimeWindow, value: &[u8]) -> Result<()> {
        self.check_open()?;
        self.advance_stream_time(window.end)?;
        if self.is_expired(window.end) {
            tracing::trace!(store = %self.inner.name(), end = window.end, "ignoring write to an expired session");
            return Ok(());
        }
        let store_key = self.store_key(key, window);
        self.inner.put(&store_key, value)
    }

    fn remove(&mut self, key: &[u8], window: TimeWindow) -> Result<()> {
        self.check_open()?;
        let store_key = self.store_key(key, window);
        self.inner.delete(&store_key).map(drop)
    }

    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        self.check_open()?;
        let mut found = self.scan_sessions(None, i64::MIN, i64::MAX)?;
        found.sort_by(|a, b| (&a.0, a.1.end, a.1.start).cmp(&(&b.0, b.1.end, b.1.start)));
        Ok(found
            .into_iter()
            .map(|(key, window, value)| (WindowedKey { key, window }, value))
            .collect())
    }

    fn retention_period(&self) -> i64 {
        self.retention_period
    }
}
