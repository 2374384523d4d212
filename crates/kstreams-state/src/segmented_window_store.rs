//! [`SegmentedWindowStore`]: a window store over any byte key-value store, with time segments
//! for retention. [`crate::InMemoryWindowStore`] and [`crate::RocksDbWindowStore`] are this
//! store over the in-memory and RocksDB key-value stores.
//!
//! Inner layout: `[segment of start][escaped key][start][4-byte seq]`, where the escaped key
//! sorts exactly like the key and is prefix-free, so entries sort by segment, key, start, seq.

use std::any::Any;

use crate::error::{Result, StateError};
use crate::key_bytes::{
    decode_ordered_i64, encode_ordered_i64, escape_key, escaped_key_upper_bound, prefix_successor,
    unescape_key,
};
use crate::segments::{
    Segments, StreamClock, corrupt, drop_segments_before, last_segment_entries, scan,
};
use crate::store::{KeyValueStore, StateStore, TimeWindow, WindowStore, WindowedKey};
use crate::window_key_codec;

/// Checks window store parameters: `window_size > 0`, `retention_period >= window_size`.
pub fn validate_window_params(store: &str, retention_period: i64, window_size: i64) -> Result<()> {
    let problem = if window_size <= 0 {
        Some(format!("window size must be positive, got {window_size}"))
    } else if retention_period < window_size {
        Some(format!(
            "retention period ({retention_period} ms) must be at least the window size ({window_size} ms)"
        ))
    } else {
        None
    };
    match problem {
        Some(message) => Err(StateError::Config {
            store: store.to_string(),
            message,
        }),
        None => Ok(()),
    }
}

/// A window store over the byte key-value store `S`. Stream time is the largest window start
/// written (or restored); a window `[start, start + size)` is expired once
/// `start + size + retention_period < stream time`: expired windows are not returned, writes
/// to them are ignored, and whole segments of them are deleted as stream time advances.
///
/// With `retain_duplicates`, every `put` adds an entry (a per-store sequence number orders
/// entries of the same key and start by insertion), `put(.., None, ..)` is ignored, and
/// `fetch` returns the first entry.
pub struct SegmentedWindowStore<S> {
    inner: S,
    window_size: i64,
    retention_period: i64,
    retain_duplicates: bool,
    segments: Segments,
    clock: StreamClock,
    /// Segments before this one have been dropped.
    first_live_segment: i64,
    next_seq: u32,
}

struct DecodedEntry {
    key: Vec<u8>,
    start: i64,
    seq: u32,
}

impl<S: KeyValueStore> SegmentedWindowStore<S> {
    /// Builds the store over `inner` (empty, or holding this store's earlier data: stream time
    /// is recovered from it).
    pub fn from_store(
        inner: S,
        retention_period: i64,
        window_size: i64,
        retain_duplicates: bool,
    ) -> Result<Self> {
        validate_window_params(inner.name(), retention_period, window_size)?;
        let mut store = Self {
            inner,
            window_size,
            retention_period,
            retain_duplicates,
            segments: Segments::for_retention(retention_period),
            clock: StreamClock::for_windows(window_size, retention_period),
            first_live_segment: i64::MIN,
            next_seq: 0,
        };
        for (key, _) in last_segment_entries(&store.inner)? {
            let entry = store.decode(&key)?;
            store.clock.advance(entry.start);
            store.next_seq = store.next_seq.max(entry.seq.wrapping_add(1));
        }
        store.expire()?;
        Ok(store)
    }

    /// The underlying key-value store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Whether each put adds an entry instead of replacing.
    pub fn retain_duplicates(&self) -> bool {
        self.retain_duplicates
    }

    /// The largest window start seen (`i64::MIN` before any write).
    pub fn observed_stream_time(&self) -> i64 {
        self.clock.observed()
    }

    fn is_expired(&self, start: i64) -> bool {
        self.clock.is_expired(start)
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

    fn advance_stream_time(&mut self, start: i64) -> Result<()> {
        if self.clock.advance(start) {
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
                tracing::debug!(store = %self.inner.name(), dropped, "dropped expired window segments");
            }
        }
        Ok(())
    }

    fn store_key(&self, key: &[u8], start: i64, seq: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(key.len() + 22);
        out.extend_from_slice(&self.segments.prefix_of(start));
        escape_key(key, &mut out);
        out.extend_from_slice(&encode_ordered_i64(start));
        out.extend_from_slice(&seq.to_be_bytes());
        out
    }

    fn decode(&self, bytes: &[u8]) -> Result<DecodedEntry> {
        let bad = || corrupt(self.inner.name(), "malformed window store key");
        let rest = bytes.get(8..).ok_or_else(bad)?;
        let (key, used) = unescape_key(rest).ok_or_else(bad)?;
        let suffix = rest.get(used..).ok_or_else(bad)?;
        if suffix.len() != 12 {
            return Err(bad());
        }
        let start = decode_ordered_i64(&suffix[..8]).ok_or_else(bad)?;
        let seq = u32::from_be_bytes(suffix[8..].try_into().map_err(|_| bad())?);
        Ok(DecodedEntry { key, start, seq })
    }

    fn window(&self, start: i64) -> TimeWindow {
        TimeWindow {
            start,
            end: start.saturating_add(self.window_size),
        }
    }

    fn write(&mut self, key: &[u8], value: Option<&[u8]>, start: i64, seq: u32) -> Result<()> {
        let store_key = self.store_key(key, start, seq);
        match value {
            Some(value) => self.inner.put(&store_key, value),
            None => self.inner.delete(&store_key).map(drop),
        }
    }
}

impl<S: KeyValueStore> StateStore for SegmentedWindowStore<S> {
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

    /// Applies a changelog record keyed by [`window_key_codec`].
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        let parts = window_key_codec::decode(key).ok_or_else(|| {
            corrupt(
                self.inner.name(),
                "changelog key shorter than the window key suffix",
            )
        })?;
        self.advance_stream_time(parts.window_start)?;
        if self.is_expired(parts.window_start) {
            return Ok(());
        }
        let seq = if self.retain_duplicates {
            if parts.seq >= self.next_seq {
                self.next_seq = parts.seq.wrapping_add(1);
            }
            parts.seq
        } else {
            0
        };
        self.write(parts.key, value, parts.window_start, seq)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<S: KeyValueStore> WindowStore for SegmentedWindowStore<S> {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> Result<()> {
        self.check_open()?;
        self.advance_stream_time(window_start)?;
        if self.is_expired(window_start) {
            tracing::trace!(store = %self.inner.name(), window_start, "ignoring write to an expired window");
            return Ok(());
        }
        if !self.retain_duplicates {
            return self.write(key, value, window_start, 0);
        }
        if value.is_none() {
            return Ok(());
        }
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.write(key, value, window_start, seq)
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        if self.is_expired(window_start) {
            return Ok(None);
        }
        if !self.retain_duplicates {
            return self.inner.get(&self.store_key(key, window_start, 0));
        }
        let lower = self.store_key(key, window_start, 0);
        let upper = prefix_successor(&lower[..lower.len() - 4]);
        match scan(&self.inner, &lower, upper)?.next() {
            Some(entry) => Ok(Some(entry?.1)),
            None => Ok(None),
        }
    }

    fn fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        self.check_open()?;
        let Some((from, to)) = self.clock.live_range(time_from, time_to) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for prefix in self.segments.prefixes(from, to) {
            let mut lower = prefix.to_vec();
            escape_key(key, &mut lower);
            let mut upper = lower.clone();
            lower.extend_from_slice(&encode_ordered_i64(from));
            upper.extend_from_slice(&encode_ordered_i64(to));
            upper.extend_from_slice(&[0xFF; 5]);
            for entry in scan(&self.inner, &lower, Some(upper))? {
                let (store_key, value) = entry?;
                out.push((self.decode(&store_key)?.start, value));
            }
        }
        Ok(out)
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
        let mut found = Vec::new();
        for prefix in self.segments.prefixes(from, to) {
            let mut lower = prefix.to_vec();
            if let Some(key_from) = key_from {
                escape_key(key_from, &mut lower);
            }
            let upper = match key_to {
                Some(key_to) => {
                    let mut upper = prefix.to_vec();
                    escaped_key_upper_bound(key_to, &mut upper);
                    Some(upper)
                }
                None => prefix_successor(&prefix),
            };
            for entry in scan(&self.inner, &lower, upper)? {
                let (store_key, value) = entry?;
                let decoded = self.decode(&store_key)?;
                if (from..=to).contains(&decoded.start) {
                    found.push((decoded.key, decoded.start, decoded.seq, value));
                }
            }
        }
        found.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
        Ok(found
            .into_iter()
            .map(|(key, start, _, value)| {
                (
                    WindowedKey {
                        key,
                        window: self.window(start),
                    },
                    value,
                )
            })
            .collect())
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
}
