//! Per-partition input queues of a task and the choice of the next record: the queue whose
//! head has the lowest timestamp goes first, so a task interleaves its partitions in event-time
//! order as Kafka Streams' `PartitionGroup` does.

use std::collections::{BTreeMap, VecDeque};

use crate::processor::StampedRecord;

/// A topic-partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// The queue of one input partition.
#[derive(Debug, Default)]
pub(crate) struct RecordQueue {
    records: VecDeque<StampedRecord>,
    /// Highest timestamp seen on this partition (-1 before the first record).
    pub(crate) partition_time: i64,
    /// The offset after the last record taken for processing (`None` before the first).
    consumed: Option<i64>,
}

impl RecordQueue {
    fn new() -> Self {
        RecordQueue {
            records: VecDeque::new(),
            partition_time: -1,
            consumed: None,
        }
    }
}

/// One partition's queue, found once to append a fetched batch.
pub(crate) struct QueueAppender<'a> {
    queue: &'a mut RecordQueue,
    buffered: &'a mut usize,
}

impl QueueAppender<'_> {
    /// The partition time so far (-1 before its first record).
    pub(crate) fn partition_time(&self) -> i64 {
        self.queue.partition_time
    }

    /// Appends a decoded record.
    pub(crate) fn push(&mut self, record: StampedRecord) {
        self.queue.partition_time = self.queue.partition_time.max(record.timestamp);
        self.queue.records.push_back(record);
        *self.buffered += 1;
    }
}

/// The input queues of one task, keyed by topic-partition.
#[derive(Debug, Default)]
pub struct PartitionGroup {
    queues: BTreeMap<TopicPartition, RecordQueue>,
    buffered: usize,
}

impl PartitionGroup {
    /// Queues for these partitions.
    pub fn new(partitions: impl IntoIterator<Item = TopicPartition>) -> Self {
        PartitionGroup {
            queues: partitions
                .into_iter()
                .map(|tp| (tp, RecordQueue::new()))
                .collect(),
            buffered: 0,
        }
    }

    /// Whether this group reads `tp`.
    pub fn contains(&self, tp: &TopicPartition) -> bool {
        self.queues.contains_key(tp)
    }

    /// The partitions of this group.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.queues.keys()
    }

    /// The partition time of `tp` (-1 before its first record or when unknown).
    pub fn partition_time(&self, tp: &TopicPartition) -> i64 {
        self.queues.get(tp).map_or(-1, |q| q.partition_time)
    }

    /// Appends a decoded record to its partition's queue. Returns `false` if the group does
    /// not read that partition.
    pub fn push(&mut self, tp: &TopicPartition, record: StampedRecord) -> bool {
        let Some(mut q) = self.appender(tp) else {
            return false;
        };
        q.push(record);
        true
    }

    /// `tp`'s queue, to append a batch of its records; `None` if the group does not read it.
    pub(crate) fn appender(&mut self, tp: &TopicPartition) -> Option<QueueAppender<'_>> {
        Some(QueueAppender {
            queue: self.queues.get_mut(tp)?,
            buffered: &mut self.buffered,
        })
    }

    /// The offset after the last record taken from `tp`'s queue (`None` before the first).
    pub fn consumed(&self, tp: &TopicPartition) -> Option<i64> {
        self.queues.get(tp).and_then(|q| q.consumed)
    }

    /// The partition whose head record has the lowest timestamp (ties: the first partition in
    /// topic-partition order), or `None` when every queue is empty.
    pub fn next_partition(&self) -> Option<&TopicPartition> {
        self.queues
            .iter()
            .filter_map(|(tp, q)| q.records.front().map(|r| (r.timestamp, tp)))
            .min_by_key(|(ts, _)| *ts)
            .map(|(_, tp)| tp)
    }

    /// Removes and returns the next record in timestamp order; its offset + 1 becomes its
    /// partition's consumed offset.
    pub fn pop_next(&mut self) -> Option<(TopicPartition, StampedRecord)> {
        self.pop_next_ref().map(|(tp, r)| (tp.clone(), r))
    }

    /// [`PartitionGroup::pop_next`] without cloning the topic-partition (the task's hot path).
    pub(crate) fn pop_next_ref(&mut self) -> Option<(&TopicPartition, StampedRecord)> {
        // One pass: the queue whose head has the lowest timestamp (ties: the first).
        let mut best: Option<(&TopicPartition, &mut RecordQueue)> = None;
        let mut best_ts = i64::MAX;
        for (tp, q) in self.queues.iter_mut() {
            if let Some(head) = q.records.front()
                && (best.is_none() || head.timestamp < best_ts)
            {
                best_ts = head.timestamp;
                best = Some((tp, q));
            }
        }
        let (tp, q) = best?;
        let r = q.records.pop_front()?;
        q.consumed = Some(r.metadata.offset + 1);
        self.buffered -= 1;
        Some((tp, r))
    }

    /// Records waiting in `tp`'s queue.
    pub fn buffered_in(&self, tp: &TopicPartition) -> usize {
        self.queues.get(tp).map_or(0, |q| q.records.len())
    }

    /// Records waiting in all queues.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Whether every queue has at least one record (Kafka Streams processes without waiting
    /// only then; otherwise a task may idle up to `max.task.idle.ms`).
    pub fn all_partitions_buffered(&self) -> bool {
        self.queues.values().all(|q| !q.records.is_empty())
    }

    /// Drops every buffered record (a task closing dirty or a partition revoked).
    pub fn clear(&mut self) {
        for q in self.queues.values_mut() {
            q.records.clear();
        }
        self.buffered = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::StampedRecord;
    use crate::record::RecordMetadata;

    fn rec(topic: &str, offset: i64, ts: i64) -> StampedRecord {
        StampedRecord::untyped(
            ts,
            RecordMetadata {
                topic: topic.into(),
                partition: 0,
                offset,
            },
        )
    }

    #[test]
    fn lowest_head_timestamp_goes_first() {
        let a = TopicPartition::new("a", 0);
        let b = TopicPartition::new("b", 0);
        let mut g = PartitionGroup::new([a.clone(), b.clone()]);
        g.push(&a, rec("a", 0, 10));
        g.push(&a, rec("a", 1, 1));
        g.push(&b, rec("b", 0, 5));
        assert!(!g.push(&TopicPartition::new("c", 0), rec("c", 0, 0)));
        assert_eq!(g.buffered(), 3);
        assert!(g.all_partitions_buffered());
        let order: Vec<_> = std::iter::from_fn(|| g.pop_next())
            .map(|(tp, r)| (tp.topic, r.timestamp))
            .collect();
        // Per-partition order is kept even when a later record has a lower timestamp.
        assert_eq!(
            order,
            vec![("b".into(), 5), ("a".into(), 10), ("a".into(), 1)]
        );
        assert_eq!(g.partition_time(&a), 10);
        assert_eq!(g.buffered(), 0);
        assert_eq!((g.consumed(&a), g.consumed(&b)), (Some(2), Some(1)));
    }

    #[test]
    fn a_batch_appends_through_one_lookup_and_moves_partition_time() {
        let a = TopicPartition::new("a", 0);
        let mut g = PartitionGroup::new([a.clone()]);
        assert!(g.appender(&TopicPartition::new("b", 0)).is_none());
        let mut q = g.appender(&a).unwrap();
        assert_eq!(q.partition_time(), -1);
        q.push(rec("a", 7, 30));
        q.push(rec("a", 8, 20));
        assert_eq!(q.partition_time(), 30);
        assert_eq!((g.buffered(), g.buffered_in(&a)), (2, 2));
        assert_eq!(g.consumed(&a), None, "nothing taken yet");
        g.pop_next();
        assert_eq!(g.consumed(&a), Some(8));
        g.clear();
        assert_eq!(g.consumed(&a), Some(8), "dropped records are not consumed");
    }

    #[test]
    fn ties_go_to_the_first_partition() {
        let a = TopicPartition::new("a", 1);
        let b = TopicPartition::new("a", 0);
        let mut g = PartitionGroup::new([a.clone(), b.clone()]);
        g.push(&a, rec("a", 0, 3));
        g.push(&b, rec("a", 0, 3));
        assert_eq!(g.next_partition(), Some(&b));
        g.clear();
        assert_eq!(g.next_partition(), None);
        assert_eq!(g.buffered_in(&a), 0);
    }
}
