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
}
