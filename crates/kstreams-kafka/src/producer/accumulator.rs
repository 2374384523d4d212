//! Per-partition queues of batches: where records wait for their batch to fill or linger to
//! expire, with at most one batch in flight per partition (which keeps per-partition order
//! across retries). No I/O: the sender drives it.

use super::batch::{PendingRecord, ProducerBatch};
use crate::types::TopicPartition;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;

#[derive(Default)]
pub(crate) struct PartitionQueue {
    pub batches: VecDeque<ProducerBatch>,
    pub in_flight: bool,
    pub retry_at: Option<Instant>,
}

pub(crate) struct RecordAccumulator {
    pub queues: HashMap<TopicPartition, PartitionQueue>,
    linger: Duration,
    batches: NewBatches,
}

/// What a new batch is made of: its size bound and delivery deadline, the next batch id and
/// the record vectors of completed batches.
struct NewBatches {
    batch_size: usize,
    delivery_timeout: Duration,
    next_id: u64,
    /// Record vectors of completed batches, emptied, for new batches: a batch reserves room
    /// for all the records it may take (up to 4096), and a fresh vector of that size is
    /// fresh memory the allocator takes from the kernel (and zeroes) every time.
    spare_records: Vec<Vec<PendingRecord>>,
}

/// Emptied record vectors kept for reuse, at most.
const MAX_SPARE_RECORD_VECS: usize = 8;

impl RecordAccumulator {
    pub fn new(batch_size: usize, linger: Duration, delivery_timeout: Duration) -> Self {
        RecordAccumulator {
            queues: HashMap::new(),
            linger,
            batches: NewBatches {
                batch_size,
                delivery_timeout,
                next_id: 0,
                spare_records: Vec::new(),
            },
        }
    }

    /// Keeps a completed batch's record vector for a new batch (a few at most).
    pub fn recycle(&mut self, mut records: Vec<PendingRecord>) {
        records.clear();
        let spare = &mut self.batches.spare_records;
        if records.capacity() > 0 && spare.len() < MAX_SPARE_RECORD_VECS {
            spare.push(records);
        }
    }

    /// Appends a record to the partition's open batch, opening a new one when full. The
    /// partition is copied only into a new queue or a new batch, not per record.
    pub fn append(&mut self, tp: &TopicPartition, record: PendingRecord, now: Instant) -> u64 {
        if !self.queues.contains_key(tp) {
            self.queues.insert(tp.clone(), Default::default());
        }
        match self.queues.get_mut(tp) {
            Some(q) => self.batches.append_to(q, tp, record, now),
            // Unreachable: the queue was just ensured.
            None => 0,
        }
    }

    /// Appends each `(i, record)` to partition `partitions[i]`: each partition's queue is
    /// looked up once for the call, not once per record. Returns the records whose index
    /// names no partition.
    pub fn append_all(
        &mut self,
        partitions: Vec<TopicPartition>,
        records: Vec<(usize, PendingRecord)>,
        memory: OwnedSemaphorePermit,
        now: Instant,
    ) -> Vec<PendingRecord> {
        // A partition listed twice shares the queue taken out for its first listing.
        let first: Vec<usize> = (0..partitions.len())
            .map(|i| {
                partitions[..i]
                    .iter()
                    .position(|tp| *tp == partitions[i])
                    .unwrap_or(i)
            })
            .collect();
        let mut queues: Vec<PartitionQueue> = partitions
            .iter()
            .map(|tp| self.queues.remove(tp).unwrap_or_default())
            .collect();
        let mut unplaced = Vec::new();
        let last = records.len().saturating_sub(1);
        let mut rest = Some(memory);
        for (n, (i, mut record)) in records.into_iter().enumerate() {
            // Each record brings its share of the call's memory to its batch, which holds it
            // until it is done; the last one brings the rest (all that is left when the call
            // was clamped to buffer.memory).
            record.permit = if n == last {
                rest.take()
            } else {
                rest.as_mut().and_then(|p| p.split(record.size.max(1)))
            };
            let i = first.get(i).copied().unwrap_or(i);
            match (queues.get_mut(i), partitions.get(i)) {
                (Some(q), Some(tp)) => {
                    self.batches.append_to(q, tp, record, now);
                }
                _ => unplaced.push(record),
            }
        }
        self.queues.extend(
            partitions
                .into_iter()
                .zip(queues)
                .zip(&first)
                .enumerate()
                .filter(|(i, (_, first))| *i == **first)
                .map(|(_, (entry, _))| entry),
        );
        unplaced
    }

    /// Closes every open batch (flush): they become ready at once.
    pub fn close_all(&mut self) {
        for q in self.queues.values_mut() {
            for b in q.batches.iter_mut() {
                b.closed = true;
            }
        }
    }

    /// Ids of all batches not completed yet.
    pub fn batch_ids(&self) -> Vec<u64> {
        self.queues
            .values()
            .flat_map(|q| q.batches.iter().map(|b| b.id))
            .collect()
    }

    /// Partitions whose front batch can be sent now: not in flight, past any retry backoff,
    /// and full, closed, followed by another batch, or lingered long enough.
    pub fn ready(&self, now: Instant) -> Vec<TopicPartition> {
        let mut out = Vec::new();
        for (tp, q) in &self.queues {
            if q.in_flight || q.retry_at.is_some_and(|t| t > now) {
                continue;
            }
            let Some(front) = q.batches.front() else {
                continue;
            };
            if front.closed || q.batches.len() > 1 || now >= front.created + self.linger {
                out.push(tp.clone());
            }
        }
        out
    }

    /// When the next batch becomes ready by time (linger or retry backoff), if any.
    pub fn next_wake(&self) -> Option<Instant> {
        self.queues
            .values()
            .filter(|q| !q.in_flight)
            .filter_map(|q| {
                let front = q.batches.front()?;
                let t = if front.closed || q.batches.len() > 1 {
                    q.retry_at.unwrap_or(front.created)
                } else {
                    (front.created + self.linger).max(q.retry_at.unwrap_or(front.created))
                };
                Some(t.min(front.deadline))
            })
            .min()
    }

    /// Removes batches not in flight whose delivery timeout passed.
    pub fn expired(&mut self, now: Instant) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for q in self.queues.values_mut() {
            let skip = usize::from(q.in_flight);
            while q.batches.len() > skip {
                let Some(b) = q.batches.get(skip) else { break };
                if b.deadline > now || b.maybe_written {
                    break;
                }
                if let Some(b) = q.batches.remove(skip) {
                    out.push(b);
                }
            }
        }
        out
    }

    /// Splits the partition's front batch `id`, refused by the broker as too large, in two
    /// ([`ProducerBatch::split_off_half`]): the front keeps its id and the first half, the
    /// second half follows it with a new id, which is returned. Both are sent next, in order;
    /// the partition is no longer in flight. `None`, and nothing changed, when `id` is not the
    /// front batch or holds a single record.
    pub fn split_front(&mut self, tp: &TopicPartition, id: u64) -> Option<u64> {
        let q = self.queues.get_mut(tp)?;
        let front = q.batches.front_mut().filter(|b| b.id == id)?;
        let rest = front.split_off_half(self.batches.next_id + 1)?;
        self.batches.next_id += 1;
        q.batches.insert(1, rest);
        q.in_flight = false;
        q.retry_at = None;
        Some(self.batches.next_id)
    }

    /// Whether no record is buffered or in flight.
    pub fn is_empty(&self) -> bool {
        self.queues.values().all(|q| q.batches.is_empty())
    }

    /// Removes and returns every batch (fatal errors, close).
    pub fn drain_all(&mut self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for q in self.queues.values_mut() {
            out.extend(q.batches.drain(..));
            q.in_flight = false;
        }
        out
    }

    /// Removes every batch of the given partitions that is not in flight.
    pub fn drain_partition(&mut self, tp: &TopicPartition) -> Vec<ProducerBatch> {
        let Some(q) = self.queues.get_mut(tp) else {
            return Vec::new();
        };
        let skip = usize::from(q.in_flight);
        q.batches.drain(skip..).collect()
    }
}

impl NewBatches {
    /// Appends `record` to `q`, `tp`'s queue (see [`RecordAccumulator::append`]).
    fn append_to(
        &mut self,
        q: &mut PartitionQueue,
        tp: &TopicPartition,
        record: PendingRecord,
        now: Instant,
    ) -> u64 {
        let fits = q.batches.back().is_some_and(|b| {
            !b.closed && (b.records.is_empty() || b.bytes + record.size <= self.batch_size)
        });
        if !fits {
            if let Some(b) = q.batches.back_mut() {
                b.closed = true;
            }
            self.next_id += 1;
            q.batches.push_back(ProducerBatch::new(
                self.next_id,
                tp.clone(),
                now,
                now + self.delivery_timeout,
            ));
        }
        let Some(b) = q.batches.back_mut() else {
            // Unreachable: a batch was just ensured.
            return 0;
        };
        if b.records.is_empty() {
            if b.records.capacity() == 0
                && let Some(spare) = self.spare_records.pop()
            {
                b.records = spare;
            }
            // Room for as many records of this size as the batch takes: no regrowth (and
            // copies of the records) while it fills.
            b.records
                .reserve((self.batch_size / record.size.max(1)).clamp(1, 4096));
        }
        b.push(record);
        if b.bytes >= self.batch_size {
            b.closed = true;
        }
        b.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::batch::BATCH_OVERHEAD;
    use bytes::Bytes;
    use tokio::sync::oneshot;

    fn rec(size: usize) -> PendingRecord {
        let (tx, _rx) = oneshot::channel();
        PendingRecord {
            key: None,
            value: Some(Bytes::from(vec![0u8; size])),
            headers: vec![],
            timestamp: 0,
            size,
            reply: tx.into(),
            permit: None,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn append_all_places_each_record_in_its_partition_in_order() {
        let now = Instant::now();
        let mut a = RecordAccumulator::new(1000, Duration::from_millis(10), Duration::from_secs(5));
        a.append(&tp(1), rec(10), now);
        let sizes = |a: &RecordAccumulator, p: i32| -> Vec<usize> {
            a.queues[&tp(p)]
                .batches
                .iter()
                .flat_map(|b| b.records.iter().map(|r| r.size))
                .collect()
        };
        // The call's buffer.memory: its records' sizes.
        let memory = std::sync::Arc::new(tokio::sync::Semaphore::new(1000));
        let call = memory
            .clone()
            .try_acquire_many_owned(11 + 20 + 12 + 99 + 21)
            .unwrap();
        // Partition 1 listed twice (shares one queue); index 9 names no partition.
        let unplaced = a.append_all(
            vec![tp(0), tp(1), tp(1)],
            vec![
                (1, rec(11)),
                (0, rec(20)),
                (2, rec(12)),
                (9, rec(99)),
                (0, rec(21)),
            ],
            call,
            now,
        );
        assert_eq!(
            unplaced.iter().map(|r| r.size).collect::<Vec<_>>(),
            vec![99]
        );
        assert_eq!(sizes(&a, 0), vec![20, 21]);
        assert_eq!(sizes(&a, 1), vec![10, 11, 12], "the earlier batch is kept");
        assert_eq!(a.queues.len(), 2);
        // Each batch holds its records' share of the call's memory.
        let held = |a: &RecordAccumulator, p: i32| -> Vec<usize> {
            a.queues[&tp(p)]
                .batches
                .iter()
                .map(|b| b.memory.as_ref().map_or(0, |m| m.num_permits()))
                .collect()
        };
        assert_eq!(held(&a, 0), vec![20 + 21]);
        assert_eq!(held(&a, 1), vec![11 + 12]);
        assert_eq!(
            unplaced[0].permit.as_ref().map(|p| p.num_permits()),
            Some(99)
        );
        drop(unplaced);
        assert_eq!(memory.available_permits(), 1000 - 20 - 21 - 11 - 12);
    }

    /// A completed batch's record vector goes to the next new batch instead of a fresh one;
    /// only a few are kept.
    #[test]
    fn new_batches_reuse_the_record_vectors_of_completed_ones() {
        let now = Instant::now();
        let mut a = RecordAccumulator::new(1000, Duration::from_millis(10), Duration::from_secs(5));
        a.append(&tp(0), rec(10), now);
        let done = a
            .queues
            .get_mut(&tp(0))
            .unwrap()
            .batches
            .pop_front()
            .unwrap();
        let records = done.complete(0, -1);
        let buffer = records.as_ptr();
        a.recycle(records);
        a.append(&tp(1), rec(10), now);
        let reused = &a.queues[&tp(1)].batches[0].records;
        assert_eq!(
            reused.as_ptr(),
            buffer,
            "the completed batch's vector is reused"
        );
        assert_eq!(reused.len(), 1);
        for _ in 0..MAX_SPARE_RECORD_VECS + 3 {
            a.recycle(Vec::with_capacity(4));
        }
        a.recycle(Vec::new());
        assert_eq!(a.batches.spare_records.len(), MAX_SPARE_RECORD_VECS);
    }

    #[test]
    fn batches_fill_and_close() {
        let now = Instant::now();
        let mut a = RecordAccumulator::new(200, Duration::from_millis(10), Duration::from_secs(5));
        let id1 = a.append(&tp(0), rec(50), now);
        let id2 = a.append(&tp(0), rec(50), now);
        assert_eq!(id1, id2);
        assert!(a.ready(now).is_empty(), "not full, linger not expired");
        let id3 = a.append(&tp(0), rec(100), now);
        assert_ne!(id1, id3, "would overflow: new batch");
        assert_eq!(
            a.ready(now),
            vec![tp(0)],
            "first batch is followed by another"
        );
        assert_eq!(a.queues[&tp(0)].batches.len(), 2);
    }

    #[test]
    fn oversized_record_gets_its_own_batch() {
        let now = Instant::now();
        let mut a = RecordAccumulator::new(100, Duration::from_secs(10), Duration::from_secs(5));
        a.append(&tp(0), rec(500), now);
        assert_eq!(a.ready(now), vec![tp(0)]);
    }

    #[test]
    fn linger_and_wake() {
        let now = Instant::now();
        let linger = Duration::from_millis(10);
        let mut a = RecordAccumulator::new(1000, linger, Duration::from_secs(5));
        assert_eq!(a.next_wake(), None);
        a.append(&tp(1), rec(10), now);
        assert_eq!(a.next_wake(), Some(now + linger));
        assert!(a.ready(now + Duration::from_millis(5)).is_empty());
        assert_eq!(a.ready(now + linger), vec![tp(1)]);
    }

    #[test]
    fn in_flight_and_retry_backoff_block_readiness() {
        let now = Instant::now();
        let mut a = RecordAccumulator::new(10, Duration::ZERO, Duration::from_secs(5));
        a.append(&tp(0), rec(20), now);
        a.queues.get_mut(&tp(0)).unwrap().in_flight = true;
        assert!(a.ready(now).is_empty());
        assert_eq!(a.next_wake(), None);
        let q = a.queues.get_mut(&tp(0)).unwrap();
        q.in_flight = false;
        q.retry_at = Some(now + Duration::from_millis(100));
        assert!(a.ready(now).is_empty());
        assert_eq!(a.next_wake(), Some(now + Duration::from_millis(100)));
        assert_eq!(a.ready(now + Duration::from_millis(100)), vec![tp(0)]);
    }

    #[test]
    fn flush_closes_everything() {
        let now = Instant::now();
        let mut a = RecordAccumulator::new(1000, Duration::from_secs(60), Duration::from_secs(5));
        a.append(&tp(0), rec(1), now);
        a.append(&tp(1), rec(1), now);
        assert!(a.ready(now).is_empty());
        a.close_all();
        let mut r = a.ready(now);
        r.sort();
        assert_eq!(r, vec![tp(0), tp(1)]);
        assert_eq!(a.batch_ids().len(), 2);
    }

    #[test]
    fn a_refused_batch_splits_in_two_by_bytes_and_keeps_its_place() {
        let now = Instant::now();
        let mut a = RecordAccumulator::new(1000, Duration::ZERO, Duration::from_secs(5));
        let sizes = [100, 100, 100, 300, 50, 50];
        let id = a.append(&tp(0), rec(sizes[0]), now);
        for s in &sizes[1..] {
            assert_eq!(a.append(&tp(0), rec(*s), now), id);
        }
        // The next batch, already queued behind the refused one.
        let later = a.append(&tp(0), rec(400), now);
        assert_ne!(later, id);
        {
            let q = a.queues.get_mut(&tp(0)).unwrap();
            q.in_flight = true;
            q.batches[0].maybe_written = true;
        }
        assert_eq!(a.split_front(&tp(0), id + 100), None, "not the front batch");
        let second = a.split_front(&tp(0), id).unwrap();
        assert!(second != id && second != later);
        let q = &a.queues[&tp(0)];
        assert!(!q.in_flight);
        let batches: Vec<(u64, Vec<usize>, usize, bool)> = q
            .batches
            .iter()
            .map(|b| {
                let s = b.records.iter().map(|r| r.size).collect();
                (
                    b.id,
                    s,
                    b.bytes,
                    b.closed && !b.maybe_written && b.encoded.is_none(),
                )
            })
            .collect();
        // 700 bytes of records: the first half takes what fits in 350.
        assert_eq!(
            batches,
            vec![
                (id, vec![100, 100, 100], BATCH_OVERHEAD + 300, true),
                (second, vec![300, 50, 50], BATCH_OVERHEAD + 400, true),
                (later, vec![400], BATCH_OVERHEAD + 400, false),
            ]
        );
        assert_eq!(a.ready(now), vec![tp(0)]);
        // Halving again gets down to single records, which do not split.
        assert!(a.split_front(&tp(0), id).is_some());
        assert_eq!(a.queues[&tp(0)].batches[0].records.len(), 1);
        assert_eq!(a.split_front(&tp(0), id), None);
        let order: Vec<usize> = a.queues[&tp(0)]
            .batches
            .iter()
            .flat_map(|b| b.records.iter().map(|r| r.size))
            .collect();
        assert_eq!(
            order,
            vec![100, 100, 100, 300, 50, 50, 400],
            "record order kept"
        );
    }

    #[test]
    fn expiry_skips_in_flight_front() {
        let now = Instant::now();
        let mut a = RecordAccumulator::new(10, Duration::ZERO, Duration::from_secs(1));
        a.append(&tp(0), rec(20), now);
        a.append(&tp(0), rec(20), now);
        a.queues.get_mut(&tp(0)).unwrap().in_flight = true;
        assert!(a.expired(now).is_empty());
        let gone = a.expired(now + Duration::from_secs(2));
        assert_eq!(gone.len(), 1);
        assert_eq!(a.queues[&tp(0)].batches.len(), 1);
        assert!(!a.is_empty());
        assert_eq!(a.drain_all().len(), 1);
        assert!(a.is_empty());
    }
}
