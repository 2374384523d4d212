//! Timestamp extractors: which event time a consumed record gets.

use crate::error::{Result, StreamsError};
use crate::record::Record;
use crate::time::{Clock, SystemClock};

/// Chooses the event time of a consumed (already deserialized) record. `partition_time` is
/// the highest timestamp seen so far on the record's partition (-1 before the first).
/// A negative result drops the record with a warning; an error stops processing.
pub trait TimestampExtractor<K, V>: Send + Sync + 'static {
    /// The record's event time in ms.
    fn extract(&self, record: &Record<K, V>, partition_time: i64) -> Result<i64>;
}

/// The default: the record's own timestamp, failing on a negative one (Kafka Streams'
/// `FailOnInvalidTimestamp`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FailOnInvalidTimestamp;

impl<K, V> TimestampExtractor<K, V> for FailOnInvalidTimestamp {
    fn extract(&self, record: &Record<K, V>, _partition_time: i64) -> Result<i64> {
        if record.timestamp < 0 {
            return Err(StreamsError::Fatal(format!(
                "record has invalid (negative) timestamp {}; use a different TimestampExtractor to process it",
                record.timestamp
            )));
        }
        Ok(record.timestamp)
    }
}

/// The record's own timestamp; records with a negative one are dropped with a warning.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndSkipOnInvalidTimestamp;

impl<K, V> TimestampExtractor<K, V> for LogAndSkipOnInvalidTimestamp {
    fn extract(&self, record: &Record<K, V>, _partition_time: i64) -> Result<i64> {
        Ok(record.timestamp)
    }
}

/// The record's own timestamp, or the partition's time when that is negative.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsePartitionTimeOnInvalidTimestamp;

impl<K, V> TimestampExtractor<K, V> for UsePartitionTimeOnInvalidTimestamp {
    fn extract(&self, record: &Record<K, V>, partition_time: i64) -> Result<i64> {
        if record.timestamp >= 0 {
            Ok(record.timestamp)
        } else if partition_time >= 0 {
            Ok(partition_time)
        } else {
            Err(StreamsError::Fatal(format!(
                "record has invalid timestamp {} and the partition has no time yet",
                record.timestamp
            )))
        }
    }
}

/// Processing time: the wall clock when the record is consumed.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallclockTimestampExtractor;

impl<K, V> TimestampExtractor<K, V> for WallclockTimestampExtractor {
    fn extract(&self, _record: &Record<K, V>, _partition_time: i64) -> Result<i64> {
        Ok(SystemClock.now_ms())
    }
}

impl<K, V, F> TimestampExtractor<K, V> for F
where
    F: Fn(&Record<K, V>, i64) -> Result<i64> + Send + Sync + 'static,
{
    fn extract(&self, record: &Record<K, V>, partition_time: i64) -> Result<i64> {
        self(record, partition_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extractors() {
        let ok = Record::new((), (), 5);
        let bad = Record::new((), (), -1);
        assert_eq!(FailOnInvalidTimestamp.extract(&ok, -1).unwrap(), 5);
        assert!(FailOnInvalidTimestamp.extract(&bad, -1).is_err());
        assert_eq!(LogAndSkipOnInvalidTimestamp.extract(&bad, 3).unwrap(), -1);
        assert_eq!(
            UsePartitionTimeOnInvalidTimestamp.extract(&bad, 3).unwrap(),
            3
        );
        assert!(
            UsePartitionTimeOnInvalidTimestamp
                .extract(&bad, -1)
                .is_err()
        );
        assert!(WallclockTimestampExtractor.extract(&bad, -1).unwrap() > 0);
    }
}
