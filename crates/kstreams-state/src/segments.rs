//! Time segments of window and session stores: composite keys start with the segment of their
//! time, so expired data is dropped a whole segment at a time with one ordered scan from the
//! first key, and time-bounded fetches visit only the few live segments.

use crate::error::{Result, StateError};
use crate::key_bytes::{encode_ordered_i64, prefix_successor};
use crate::store::{KeyValue, KeyValueStore};

/// The smallest segment interval, as in Kafka Streams.
const MIN_SEGMENT_INTERVAL_MS: i64 = 60_000;

/// Maps times to segments of `max(retention / 2, 60 s)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segments {
    interval: i64,
}

impl Segments {
    pub(crate) fn for_retention(retention_period: i64) -> Self {
        Self {
            interval: (retention_period / 2).max(MIN_SEGMENT_INTERVAL_MS),
        }
    }

    pub(crate) fn segment_of(self, time: i64) -> i64 {
        time.div_euclid(self.interval)
    }

    /// The segment prefix of composite keys holding `time`.
    pub(crate) fn prefix_of(self, time: i64) -> [u8; 8] {
        encode_ordered_i64(self.segment_of(time))
    }

    /// The segment prefixes covering times `[from, to]`, ascending.
    pub(crate) fn prefixes(self, from: i64, to: i64) -> impl Iterator<Item = [u8; 8]> {
        (self.segment_of(from)..=self.segment_of(to)).map(encode_ordered_i64)
    }
}

/// The stream time of a window or session store and what it has expired. Stream time is the
/// largest window start (window stores) or session end (session stores) written or restored;
/// a time is expired once it is before stream time minus the horizon: window size plus
/// retention for windows, the retention for sessions. The stores and their caches keep one
/// each, so they agree on what is gone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamClock {
    observed: i64,
    /// Subtracted in turn, saturating, from the stream time.
    horizon: [i64; 2],
}

impl StreamClock {
    /// The clock of a window store: window starts expire `size + retention` behind.
    pub(crate) fn for_windows(window_size: i64, retention_period: i64) -> Self {
        Self {
            observed: i64::MIN,
            horizon: [window_size, retention_period],
        }
    }

    /// The clock of a session store: session ends expire `retention` behind.
    pub(crate) fn for_sessions(retention_period: i64) -> Self {
        Self {
            observed: i64::MIN,
            horizon: [0, retention_period],
        }
    }

    /// The stream time (`i64::MIN` before any write).
    pub(crate) fn observed(self) -> i64 {
        self.observed
    }

    /// Moves stream time to `time` if that is later; returns whether it moved.
    pub(crate) fn advance(&mut self, time: i64) -> bool {
        let moved = time > self.observed;
        self.observed = self.observed.max(time);
        moved
    }

    /// The earliest time not expired.
    pub(crate) fn min_live(self) -> i64 {
        self.observed
            .saturating_sub(self.horizon[0])
            .saturating_sub(self.horizon[1])
    }

    pub(crate) fn is_expired(self, time: i64) -> bool {
        time < self.min_live()
    }

    /// The live part of `[from, to]` (never past stream time), or `None` if empty.
    pub(crate) fn live_range(self, from: i64, to: i64) -> Option<(i64, i64)> {
        let from = from.max(self.min_live());
        let to = to.min(self.observed);
        (from <= to).then_some((from, to))
    }
}

/// A `Corrupt` error for `store`.
pub(crate) fn corrupt(store: &str, message: &str) -> StateError {
    StateError::Corrupt {
        store: store.to_string(),
        message: message.to_string(),
    }
}

/// Entries with `lower <= key < upper` (`upper == None`: unbounded), ascending.
pub(crate) fn scan<'a>(
    store: &'a dyn KeyValueStore,
    lower: &[u8],
    upper: Option<Vec<u8>>,
) -> Result<impl Iterator<Item = Result<KeyValue>> + 'a> {
    let iter = store.range(Some(lower), upper.as_deref())?;
    Ok(iter.take_while(move |entry| match (entry, &upper) {
        (Ok((key, _)), Some(upper)) => key < upper,
        _ => true,
    }))
}

/// Deletes every entry in segments before `segment`; returns how many were deleted.
pub(crate) fn drop_segments_before<S: KeyValueStore>(store: &mut S, segment: i64) -> Result<usize> {
    let bound = encode_ordered_i64(segment);
    let expired: Vec<Vec<u8>> = store
        .all()?
        .take_while(|entry| {
            entry
                .as_ref()
                .map_or(true, |(key, _)| key.as_slice() < bound.as_slice())
        })
        .map(|entry| entry.map(|(key, _)| key))
        .collect::<Result<_>>()?;
    for key in &expired {
        store.delete(key)?;
    }
    Ok(expired.len())
}

/// All entries of the last non-empty segment (empty when the store is empty).
pub(crate) fn last_segment_entries<S: KeyValueStore>(store: &S) -> Result<Vec<KeyValue>> {
    let last = match store.reverse_range(None, None)?.next() {
        Some(entry) => entry?,
        None => return Ok(Vec::new()),
    };
    let prefix = last
        .0
        .get(..8)
        .ok_or_else(|| corrupt(store.name(), "composite key shorter than its segment"))?;
    let upper = prefix_successor(prefix);
    scan(store, prefix, upper)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_negative_times_in_order() {
        let segments = Segments::for_retention(1_000);
        assert_eq!(segments.segment_of(0), 0);
        assert_eq!(segments.segment_of(59_999), 0);
        assert_eq!(segments.segment_of(60_000), 1);
        assert_eq!(segments.segment_of(-1), -1);
        assert!(segments.prefix_of(-1) < segments.prefix_of(0));
        assert_eq!(segments.prefixes(0, 120_000).count(), 3);
        assert_eq!(Segments::for_retention(1_000_000).segment_of(499_999), 0);
    }

    #[test]
    fn stream_clocks_expire_behind_the_largest_time_seen() {
        let mut windows = StreamClock::for_windows(10, 100);
        assert_eq!(windows.observed(), i64::MIN);
        assert!(
            !windows.is_expired(i64::MIN),
            "nothing expires before a write"
        );
        assert!(windows.advance(500));
        assert!(!windows.advance(400), "stream time never goes back");
        assert_eq!(windows.observed(), 500);
        assert_eq!(windows.min_live(), 390);
        assert!(windows.is_expired(389) && !windows.is_expired(390));
        assert_eq!(windows.live_range(0, 1_000), Some((390, 500)));
        assert_eq!(windows.live_range(0, 300), None);
        let mut sessions = StreamClock::for_sessions(100);
        sessions.advance(500);
        assert_eq!(sessions.min_live(), 400);
        assert_eq!(
            StreamClock::for_sessions(100).min_live(),
            i64::MIN,
            "saturates"
        );
    }
}
