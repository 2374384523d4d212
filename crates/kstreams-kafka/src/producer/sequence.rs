//! Idempotent-producer bookkeeping: producer id and epoch, and the next sequence number of
//! each partition. Pure, no I/O.
//!
//! With at most one batch in flight per partition a batch keeps its sequence across retries,
//! and the partition's next sequence advances only when the batch is acknowledged.

use crate::types::TopicPartition;
use std::collections::HashMap;

/// Producer id and epoch from InitProducerId.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdAndEpoch {
    /// Producer id (-1: none).
    pub producer_id: i64,
    /// Epoch (-1: none).
    pub epoch: i16,
}

impl ProducerIdAndEpoch {
    /// No producer id: neither idempotent nor transactional.
    pub const NONE: ProducerIdAndEpoch = ProducerIdAndEpoch {
        producer_id: -1,
        epoch: -1,
    };

    /// Whether an id was assigned.
    pub fn is_valid(&self) -> bool {
        self.producer_id >= 0
    }
}

/// What to do with a batch after the broker's answer for its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Written: complete the records with these offsets.
    Success,
    /// Already written by an earlier attempt (DUPLICATE_SEQUENCE_NUMBER): complete, offset
    /// unknown.
    Duplicate,
    /// Send again unchanged (same sequence), after refreshing the leader if `refresh`.
    Retry {
        /// Whether the leader must be looked up again first.
        refresh: bool,
    },
    /// The producer was fenced by a newer instance: fail everything, the producer is unusable.
    Fenced,
    /// Fail this batch.
    Fail,
}

/// Classifies a partition's error code in a Produce response.
pub fn classify_produce_error(code: i16) -> BatchOutcome {
    match code {
        0 => BatchOutcome::Success,
        46 => BatchOutcome::Duplicate,
        // NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION,
        // FENCED/UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_ID, NOT_ENOUGH_REPLICAS*: refresh.
        3 | 5 | 6 | 74 | 75 | 100 => BatchOutcome::Retry { refresh: true },
        // CORRUPT_MESSAGE (as the Java client), REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS(_AFTER_APPEND),
        // KAFKA_STORAGE_ERROR, NETWORK_EXCEPTION, CONCURRENT_TRANSACTIONS, THROTTLING.
        2 | 7 | 13 | 19 | 20 | 51 | 56 | 89 => BatchOutcome::Retry { refresh: false },
        90 | 47 => BatchOutcome::Fenced,
        _ => BatchOutcome::Fail,
    }
}

/// Whether a Produce error code means the broker lost track of this producer's sequence
/// numbers for the partition: OUT_OF_ORDER_SEQUENCE_NUMBER (45) or UNKNOWN_PRODUCER_ID (59).
///
/// For an idempotent, non-transactional producer the batch fails and the producer bumps its
/// epoch (KIP-360) and restarts every partition's sequence at 0, so later records are
/// delivered. A transactional producer instead aborts the transaction.
pub fn requires_epoch_bump(code: i16) -> bool {
    matches!(code, 45 | 59)
}

/// The producer id and epoch to send in InitProducerId to bump the epoch of an idempotent
/// producer (KIP-360). Brokers with InitProducerId v3 or later bump the epoch of `current`
/// (and hand out a new id if the epoch is exhausted); older brokers cannot, so the producer
/// asks for a new producer id (`NONE`).
pub fn epoch_bump_request(
    current: ProducerIdAndEpoch,
    init_producer_id_version: i16,
) -> ProducerIdAndEpoch {
    if init_producer_id_version >= 3 && current.is_valid() && current.epoch >= 0 {
        current
    } else {
        ProducerIdAndEpoch::NONE
    }
}

/// Next sequence number per partition for the current producer id and epoch.
#[derive(Debug, Clone, Default)]
pub struct SequenceTracker {
    next: HashMap<TopicPartition, i32>,
}

impl SequenceTracker {
    /// The sequence the next new batch of a partition starts with.
    pub fn next_sequence(&self, tp: &TopicPartition) -> i32 {
        self.next.get(tp).copied().unwrap_or(0)
    }

    /// Records that a batch of `count` records starting at `base` was acknowledged.
    /// Sequences wrap at `i32::MAX` as in Kafka.
    pub fn acknowledge(&mut self, tp: &TopicPartition, base: i32, count: i32) {
        let next = increment_sequence(base, count);
        self.next.insert(tp.clone(), next);
    }

    /// Forgets all sequences (after a new producer id or epoch).
    pub fn reset(&mut self) {
        self.next.clear();
    }
}

/// `base + count`, wrapping to 0 past `i32::MAX` like the Java client's
/// `DefaultRecordBatch.incrementSequence`.
pub fn increment_sequence(base: i32, count: i32) -> i32 {
    if base > i32::MAX - count {
        count - (i32::MAX - base) - 1
    } else {
        base + count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_bump_decisions() {
        assert!(requires_epoch_bump(45));
        assert!(requires_epoch_bump(59));
        for code in [0, 46, 47, 90, 6, 7, 10] {
            assert!(!requires_epoch_bump(code), "{code}");
        }
        let cur = ProducerIdAndEpoch {
            producer_id: 12,
            epoch: 4,
        };
        assert_eq!(epoch_bump_request(cur, 3), cur);
        assert_eq!(epoch_bump_request(cur, 5), cur);
        assert_eq!(epoch_bump_request(cur, 2), ProducerIdAndEpoch::NONE);
        assert_eq!(
            epoch_bump_request(ProducerIdAndEpoch::NONE, 4),
            ProducerIdAndEpoch::NONE
        );
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn sequences_start_at_zero_and_advance_on_ack() {
        let mut s = SequenceTracker::default();
        assert_eq!(s.next_sequence(&tp(0)), 0);
        s.acknowledge(&tp(0), 0, 5);
        assert_eq!(s.next_sequence(&tp(0)), 5);
        assert_eq!(s.next_sequence(&tp(1)), 0);
        s.acknowledge(&tp(0), 5, 1);
        assert_eq!(s.next_sequence(&tp(0)), 6);
        s.reset();
        assert_eq!(s.next_sequence(&tp(0)), 0);
    }

    #[test]
    fn sequences_wrap() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(10, 3), 13);
    }

    #[test]
    fn classification() {
        use BatchOutcome::*;
        assert_eq!(classify_produce_error(0), Success);
        assert_eq!(classify_produce_error(46), Duplicate);
        assert_eq!(classify_produce_error(6), Retry { refresh: true });
        assert_eq!(classify_produce_error(3), Retry { refresh: true });
        assert_eq!(classify_produce_error(7), Retry { refresh: false });
        assert_eq!(classify_produce_error(90), Fenced);
        assert_eq!(classify_produce_error(47), Fenced);
        assert_eq!(classify_produce_error(45), Fail);
        assert_eq!(classify_produce_error(10), Fail);
        assert_eq!(classify_produce_error(87), Fail);
    }

    #[test]
    fn id_validity() {
        assert!(!ProducerIdAndEpoch::NONE.is_valid());
        assert!(
            ProducerIdAndEpoch {
                producer_id: 0,
                epoch: 0
            }
            .is_valid()
        );
    }
}
