//! The fetch state of one assigned partition: positions, pause, the isolation filter and the
//! buffer of records ready for `poll`. Pure: the fetcher feeds it decoded responses.

use std::collections::VecDeque;

use super::records::{ConsumerRecord, DecodedBatch};
use super::transaction_filter::{AbortedTransaction, TransactionFilter};
use crate::types::IsolationLevel;

/// Held (undecided) transactional data beyond which a partition stops fetching, so an open
/// transaction cannot grow the buffer without bound.
pub const MAX_HELD_BYTES: usize = 64 * 1024 * 1024;

/// What a partition needs before it can be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionState {
    /// The position is known.
    Valid,
    /// No position yet: use the committed offset, else the reset strategy.
    AwaitingInitial,
    /// The position must be reset with the reset strategy (e.g. after OFFSET_OUT_OF_RANGE).
    AwaitingReset,
}

/// The state of one assigned partition.
#[derive(Debug)]
pub struct PartitionState {
    /// The next offset `poll` returns (the offset to commit).
    position: i64,
    /// The next offset to fetch from the broker (`>= position`).
    fetch_offset: i64,
    position_state: PositionState,
    paused: bool,
    in_flight: bool,
    /// Bumped on every seek or reset so that responses to older fetches are dropped.
    epoch: u64,
    filter: TransactionFilter,
    /// The released batches' records not yet taken, in offset order, each batch in the vector
    /// the decoder made (see [`TransactionFilter::drain_with`]).
    ready: VecDeque<ReadyBatch>,
    /// Records in `ready`.
    ready_records: usize,
    /// What `ready` counts for against the buffer's byte bound: the batches' wire sizes plus
    /// [`RECORD_OVERHEAD`] per record, each batch until its last record is taken.
    ready_bytes: usize,
    /// The position once every ready record is returned.
    ready_end: Option<i64>,
    high_watermark: i64,
    last_stable_offset: i64,
}

/// Bytes a buffered record counts for besides its share of its batch's wire size.
const RECORD_OVERHEAD: usize = 64;

/// A released batch in the ready buffer.
#[derive(Debug)]
struct ReadyBatch {
    records: std::vec::IntoIter<ConsumerRecord>,
    /// What the batch counts for in `ready_bytes`.
    bytes: usize,
}

impl PartitionState {
    /// A partition without a position.
    pub fn new(isolation: IsolationLevel) -> Self {
        PartitionState {
            position: -1,
            fetch_offset: -1,
            position_state: PositionState::AwaitingInitial,
            paused: false,
            in_flight: false,
            epoch: 0,
            filter: TransactionFilter::new(isolation),
            ready: VecDeque::new(),
            ready_records: 0,
            ready_bytes: 0,
            ready_end: None,
            high_watermark: -1,
            last_stable_offset: -1,
        }
    }

    /// The position, if known.
    pub fn position(&self) -> Option<i64> {
        (self.position_state == PositionState::Valid).then_some(self.position)
    }

    /// What the partition waits for.
    pub fn position_state(&self) -> PositionState {
        self.position_state
    }

    /// The next offset to fetch.
    pub fn fetch_offset(&self) -> i64 {
        self.fetch_offset
    }

    /// The current seek epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether the partition is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Pauses or resumes.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// The last high watermark the broker reported (-1 if none yet).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The last stable offset the broker reported (-1 if none yet).
    pub fn last_stable_offset(&self) -> i64 {
        self.last_stable_offset
    }

    /// Records buffered and ready.
    pub fn buffered_records(&self) -> usize {
        self.ready_records
    }

    /// Approximate bytes of the buffered records.
    pub fn buffered_bytes(&self) -> usize {
        self.ready_bytes
    }

    /// Whether a fetch may be sent: position known, not paused, no fetch in flight, buffer
    /// below both bounds and not too much held in an open transaction.
    pub fn is_fetchable(&self, max_records: usize, max_bytes: usize) -> bool {
        self.position_state == PositionState::Valid
            && !self.paused
            && !self.in_flight
            && self.ready_records < max_records
            && self.ready_bytes < max_bytes
            && self.filter.queued_bytes() < MAX_HELD_BYTES
    }

    /// Marks a fetch as sent.
    pub fn set_in_flight(&mut self, in_flight: bool) {
        self.in_flight = in_flight;
    }

    /// Whether a fetch is in flight.
    pub fn is_in_flight(&self) -> bool {
        self.in_flight
    }

    /// Moves to `offset`, dropping everything buffered.
    pub fn seek(&mut self, offset: i64) {
        self.position = offset;
        self.fetch_offset = offset;
        self.position_state = PositionState::Valid;
        self.drop_buffers();
    }

    /// Requires a reset by the reset strategy (the buffers are dropped).
    pub fn request_reset(&mut self) {
        self.position_state = PositionState::AwaitingReset;
        self.drop_buffers();
    }

    fn drop_buffers(&mut self) {
        self.epoch += 1;
        self.in_flight = false;
        self.filter.clear();
        self.ready.clear();
        self.ready_records = 0;
        self.ready_bytes = 0;
        self.ready_end = None;
    }

    /// Feeds the decoded batches of a fetch sent at `epoch`. Returns false (and ignores the
    /// data) when the partition was sought since.
    pub fn on_fetched(
        &mut self,
        epoch: u64,
        batches: Vec<DecodedBatch>,
        aborted: Option<&[AbortedTransaction]>,
        high_watermark: i64,
        last_stable_offset: i64,
    ) -> bool {
        if epoch != self.epoch || self.position_state != PositionState::Valid {
            return false;
        }
        self.in_flight = false;
        self.high_watermark = high_watermark;
        self.last_stable_offset = last_stable_offset;
        let fetch_offset = self.fetch_offset;
        let batches: Vec<DecodedBatch> = batches
            .into_iter()
            .filter(|b| b.last_offset >= fetch_offset)
            .collect();
        if let Some(last) = batches.last() {
            self.fetch_offset = last.last_offset + 1;
        }
        self.filter.push(batches, aborted);
        self.release();
        true
    }

    /// Moves what the filter releases into the ready buffer.
    fn release(&mut self) {
        let floor = self.ready_end.unwrap_or(self.position).max(self.position);
        let (ready, ready_records, ready_bytes) = (
            &mut self.ready,
            &mut self.ready_records,
            &mut self.ready_bytes,
        );
        let next = self
            .filter
            .drain_with(self.last_stable_offset, |mut records, wire_bytes| {
                // A batch fetched from its middle starts with records returned before.
                if records.first().is_some_and(|r| r.offset < floor) {
                    records.retain(|r| r.offset >= floor);
                }
                if records.is_empty() {
                    return;
                }
                let bytes = wire_bytes + RECORD_OVERHEAD * records.len();
                *ready_records += records.len();
                *ready_bytes += bytes;
                ready.push_back(ReadyBatch {
                    records: records.into_iter(),
                    bytes,
                });
            });
        if let Some(next) = next {
            let next = next.max(floor);
            self.ready_end = Some(next);
            if self.ready.is_empty() {
                self.position = next;
            }
        }
    }

    /// Takes up to `max` ready records (none while paused), advancing the position.
    pub fn take(&mut self, max: usize, out: &mut Vec<ConsumerRecord>) {
        if self.paused || self.position_state != PositionState::Valid {
            return;
        }
        let mut left = max;
        while left > 0
            && let Some(front) = self.ready.front_mut()
        {
            let before = out.len();
            out.extend(front.records.by_ref().take(left));
            let taken = out.len() - before;
            left -= taken;
            self.ready_records -= taken;
            if let Some(last) = out.last().filter(|_| taken > 0) {
                self.position = last.offset + 1;
            }
            if front.records.len() == 0 {
                self.ready_bytes = self.ready_bytes.saturating_sub(front.bytes);
                self.ready.pop_front();
            }
        }
        if self.ready.is_empty()
            && let Some(end) = self.ready_end
        {
            self.position = self.position.max(end);
        }
    }

    /// The fetch failed or returned nothing for this partition: allow a new one.
    pub fn on_fetch_failed(&mut self, epoch: u64) {
        if epoch == self.epoch {
            self.in_flight = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetcher::records::decode_batches;
    use crate::fetcher::records::test_support::{Spec, concat, data, marker};

    fn batches(parts: &[bytes::Bytes]) -> Vec<DecodedBatch> {
        decode_batches("t", 0, concat(parts)).unwrap()
    }

    fn take_all(s: &mut PartitionState) -> Vec<i64> {
        let mut out = Vec::new();
        s.take(usize::MAX, &mut out);
        out.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn position_follows_returned_records_and_skips_markers() {
        let mut s = PartitionState::new(IsolationLevel::ReadCommitted);
        assert_eq!(s.position(), None);
        assert!(!s.is_fetchable(10, 1 << 20));
        s.seek(0);
        assert!(s.is_fetchable(10, 1 << 20));
        s.set_in_flight(true);
        assert!(!s.is_fetchable(10, 1 << 20));
        let e = s.epoch();
        assert!(s.on_fetched(
            e,
            batches(&[data(&Spec::txn(1, 0, 3)), marker(1, 3, true)]),
            None,
            4,
            4
        ));
        assert_eq!(s.fetch_offset(), 4);
        let mut out = Vec::new();
        s.take(2, &mut out);
        assert_eq!(s.position(), Some(2));
        assert_eq!(take_all(&mut s), vec![2]);
        // The marker at 3 is passed once everything before it is returned.
        assert_eq!(s.position(), Some(4));
    }

    #[test]
    fn aborted_only_fetch_advances_position_immediately() {
        let mut s = PartitionState::new(IsolationLevel::ReadCommitted);
        s.seek(0);
        let e = s.epoch();
        s.on_fetched(
            e,
            batches(&[data(&Spec::txn(1, 0, 3)), marker(1, 3, false)]),
            None,
            4,
            4,
        );
        assert_eq!(s.buffered_records(), 0);
        assert_eq!(s.position(), Some(4));
    }

    #[test]
    fn stale_responses_after_seek_are_dropped() {
        let mut s = PartitionState::new(IsolationLevel::ReadUncommitted);
        s.seek(0);
        let old = s.epoch();
        s.set_in_flight(true);
        s.seek(5);
        assert!(!s.on_fetched(old, batches(&[data(&Spec::plain(0, 3))]), None, 3, 3));
        assert_eq!(s.position(), Some(5));
        assert_eq!(s.buffered_records(), 0);
        assert!(!s.is_in_flight());
    }

    #[test]
    fn records_before_the_position_in_a_batch_are_skipped() {
        let mut s = PartitionState::new(IsolationLevel::ReadUncommitted);
        s.seek(2);
        let e = s.epoch();
        s.on_fetched(e, batches(&[data(&Spec::plain(0, 5))]), None, 5, 5);
        assert_eq!(take_all(&mut s), vec![2, 3, 4]);
        assert_eq!(s.position(), Some(5));
    }

    #[test]
    fn duplicate_batches_below_the_fetch_offset_are_ignored() {
        let mut s = PartitionState::new(IsolationLevel::ReadUncommitted);
        s.seek(0);
        let e = s.epoch();
        s.on_fetched(e, batches(&[data(&Spec::plain(0, 2))]), None, 2, 2);
        s.on_fetched(
            e,
            batches(&[data(&Spec::plain(0, 2)), data(&Spec::plain(2, 1))]),
            None,
            3,
            3,
        );
        assert_eq!(take_all(&mut s), vec![0, 1, 2]);
    }

    #[test]
    fn paused_partitions_neither_fetch_nor_return_but_keep_their_buffer() {
        let mut s = PartitionState::new(IsolationLevel::ReadUncommitted);
        s.seek(0);
        let e = s.epoch();
        s.on_fetched(e, batches(&[data(&Spec::plain(0, 3))]), None, 3, 3);
        s.set_paused(true);
        assert!(!s.is_fetchable(100, 1 << 20));
        assert!(take_all(&mut s).is_empty());
        assert_eq!(s.buffered_records(), 3);
        s.set_paused(false);
        assert_eq!(take_all(&mut s), vec![0, 1, 2]);
    }

    #[test]
    fn a_full_buffer_stops_fetching() {
        let mut s = PartitionState::new(IsolationLevel::ReadUncommitted);
        s.seek(0);
        let e = s.epoch();
        s.on_fetched(e, batches(&[data(&Spec::plain(0, 5))]), None, 5, 5);
        assert!(!s.is_fetchable(5, 1 << 20));
        assert!(s.is_fetchable(6, 1 << 20));
        assert!(!s.is_fetchable(100, s.buffered_bytes()));
        let mut out = Vec::new();
        s.take(1, &mut out);
        assert!(s.is_fetchable(5, 1 << 20));
    }

    #[test]
    fn reset_request_drops_buffers_and_position() {
        let mut s = PartitionState::new(IsolationLevel::ReadUncommitted);
        s.seek(0);
        let e = s.epoch();
        s.on_fetched(e, batches(&[data(&Spec::plain(0, 2))]), None, 2, 2);
        s.request_reset();
        assert_eq!(s.position(), None);
        assert_eq!(s.position_state(), PositionState::AwaitingReset);
        assert_eq!(s.buffered_records(), 0);
        assert!(!s.is_fetchable(100, 1 << 20));
    }

    #[test]
    fn read_committed_waits_for_the_lso_to_move() {
        let mut s = PartitionState::new(IsolationLevel::ReadCommitted);
        s.seek(0);
        let e = s.epoch();
        s.on_fetched(
            e,
            batches(&[data(&Spec::plain(0, 2)), data(&Spec::plain(2, 2))]),
            None,
            4,
            2,
        );
        assert_eq!(take_all(&mut s), vec![0, 1]);
        s.on_fetched(e, Vec::new(), None, 4, 4);
        assert_eq!(take_all(&mut s), vec![2, 3]);
        assert_eq!(s.position(), Some(4));
    }

    #[test]
    fn takes_cross_batches_and_a_batch_counts_until_its_last_record_is_taken() {
        let mut s = PartitionState::new(IsolationLevel::ReadUncommitted);
        s.seek(1);
        let e = s.epoch();
        let fetched = batches(&[
            data(&Spec::plain(0, 3)),
            data(&Spec::plain(3, 2)),
            data(&Spec::plain(5, 4)),
        ]);
        let sizes: Vec<usize> = fetched.iter().map(|b| b.size_bytes).collect();
        // The first batch was fetched from its middle: offset 0 is before the position.
        s.on_fetched(e, fetched, None, 9, 9);
        assert_eq!(s.buffered_records(), 8);
        let full = sizes.iter().sum::<usize>() + 8 * RECORD_OVERHEAD;
        assert_eq!(s.buffered_bytes(), full);

        let mut out = Vec::new();
        s.take(3, &mut out);
        let offsets: Vec<i64> = out.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![1, 2, 3], "across the first two batches");
        assert_eq!(s.position(), Some(4));
        assert_eq!(s.buffered_records(), 5);
        assert_eq!(
            s.buffered_bytes(),
            full - sizes[0] - 2 * RECORD_OVERHEAD,
            "the second batch still counts in full"
        );

        // Another partition's records before these stay in place.
        s.take(4, &mut out);
        let offsets: Vec<i64> = out.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(s.position(), Some(8));
        assert_eq!(s.buffered_records(), 1);
        assert_eq!(s.buffered_bytes(), sizes[2] + 4 * RECORD_OVERHEAD);
        assert_eq!(take_all(&mut s), vec![8]);
        assert_eq!((s.buffered_records(), s.buffered_bytes()), (0, 0));
        assert_eq!(s.position(), Some(9));
    }
}
