//! The per-partition isolation filter: which fetched batches reach the user, and when.
//!
//! `read_uncommitted` delivers every data batch and drops control batches. `read_committed`
//! decides each transactional data batch two ways:
//!
//! * when the fetch response carries a (non-empty) aborted-transactions list, with the Java
//!   client's semantics: an aborted transaction of producer P starting at `first_offset` drops
//!   P's transactional batches from `first_offset` until P's ABORT marker; every other batch of
//!   that response is committed;
//! * otherwise by the markers in the log: a producer's transactional batches are held until its
//!   control batch arrives, delivered on COMMIT and dropped on ABORT. This is what makes the
//!   client correct on brokers that never send the list (tansu) and is also correct on Kafka.
//!
//! Batches leave the filter strictly in offset order, so a held transaction also holds the
//! batches behind it (their offsets must not be committed past undecided records), and nothing
//! at or beyond the last stable offset is released.

use std::collections::{HashSet, VecDeque};

pub use crate::types::IsolationLevel;

use super::records::{BatchContent, ConsumerRecord, ControlMarker, DecodedBatch};

/// An entry of a fetch response's aborted-transactions list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTransaction {
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
    /// The first offset of the aborted transaction.
    pub first_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Deliver,
    Drop,
    Undecided,
}

#[derive(Debug)]
struct Entry {
    batch: DecodedBatch,
    decision: Decision,
}

/// What [`TransactionFilter::drain`] released.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Records to deliver, in offset order.
    pub records: Vec<ConsumerRecord>,
    /// The position after the last released batch (delivered or dropped), if any was released.
    pub next_position: Option<i64>,
}

/// The isolation filter of one partition.
#[derive(Debug)]
pub struct TransactionFilter {
    isolation: IsolationLevel,
    queue: VecDeque<Entry>,
    queued_bytes: usize,
}

impl TransactionFilter {
    /// A filter with nothing queued.
    pub fn new(isolation: IsolationLevel) -> Self {
        TransactionFilter {
            isolation,
            queue: VecDeque::new(),
            queued_bytes: 0,
        }
    }

    /// The filter's isolation level.
    pub fn isolation(&self) -> IsolationLevel {
        self.isolation
    }

    /// Batches fetched but not yet released.
    pub fn queued_batches(&self) -> usize {
        self.queue.len()
    }

    /// Wire bytes of the batches fetched but not yet released.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Forgets everything queued (after a seek, a reset or a revocation).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.queued_bytes = 0;
    }

    /// Adds the batches of one fetch response, in offset order. `aborted` is the response's
    /// aborted-transactions list (`None` when the broker sent none).
    pub fn push(&mut self, batches: Vec<DecodedBatch>, aborted: Option<&[AbortedTransaction]>) {
        let java_list = match (self.isolation, aborted) {
            (IsolationLevel::ReadCommitted, Some(list)) if !list.is_empty() => {
                let mut list = list.to_vec();
                list.sort_by_key(|a| a.first_offset);
                Some(list)
            }
            _ => None,
        };
        let mut next_aborted = 0;
        let mut aborted_pids: HashSet<i64> = HashSet::new();
        for batch in batches {
            let decision = match &batch.content {
                BatchContent::Control(marker) => {
                    if let Some(list) = &java_list {
                        while next_aborted < list.len()
                            && list[next_aborted].first_offset <= batch.last_offset
                        {
                            aborted_pids.insert(list[next_aborted].producer_id);
                            next_aborted += 1;
                        }
                        if *marker == ControlMarker::Abort {
                            aborted_pids.remove(&batch.producer_id);
                        }
                    }
                    self.apply_marker(batch.producer_id, *marker);
                    Decision::Drop
                }
                BatchContent::Records(_) => match self.isolation {
                    IsolationLevel::ReadUncommitted => Decision::Deliver,
                    IsolationLevel::ReadCommitted if !batch.transactional => Decision::Deliver,
                    IsolationLevel::ReadCommitted => match &java_list {
                        Some(list) => {
                            while next_aborted < list.len()
                                && list[next_aborted].first_offset <= batch.last_offset
                            {
                                aborted_pids.insert(list[next_aborted].producer_id);
                                next_aborted += 1;
                            }
                            if aborted_pids.contains(&batch.producer_id) {
                                Decision::Drop
                            } else {
                                Decision::Deliver
                            }
                        }
                        None => Decision::Undecided,
                    },
                },
            };
            self.queued_bytes += batch.size_bytes;
            self.queue.push_back(Entry { batch, decision });
        }
    }

    /// A marker decides every held batch of its producer that precedes it.
    fn apply_marker(&mut self, producer_id: i64, marker: ControlMarker) {
        let decision = match marker {
            ControlMarker::Commit => Decision::Deliver,
            ControlMarker::Abort => Decision::Drop,
            ControlMarker::Unknown(_) => return,
        };
        for entry in &mut self.queue {
            if entry.decision == Decision::Undecided && entry.batch.producer_id == producer_id {
                entry.decision = decision;
            }
        }
    }

    /// Releases decided batches from the front of the queue, stopping at the first undecided
    /// one and (read_committed) at the first batch reaching `last_stable_offset`
    /// (negative: unknown, no bound).
    pub fn drain(&mut self, last_stable_offset: i64) -> Drained {
        let mut records = Vec::new();
        let next_position = self.drain_with(last_stable_offset, |batch, _| records.extend(batch));
        Drained {
            records,
            next_position,
        }
    }

    /// [`TransactionFilter::drain`] handing each released batch's records (in offset order,
    /// as the decoder made them) to `deliver` with the batch's size on the wire, without
    /// collecting them; returns the position after the last released batch. The fetcher keeps
    /// the batches' vectors as its ready buffer this way: moving every record into one buffer
    /// costs a copy per record and, for a large fetch, a large fresh allocation.
    pub fn drain_with(
        &mut self,
        last_stable_offset: i64,
        mut deliver: impl FnMut(Vec<ConsumerRecord>, usize),
    ) -> Option<i64> {
        let mut next_position = None;
        while let Some(front) = self.queue.front() {
            if front.decision == Decision::Undecided {
                break;
            }
            if self.isolation == IsolationLevel::ReadCommitted
                && last_stable_offset >= 0
                && front.batch.last_offset >= last_stable_offset
            {
                break;
            }
            let Some(entry) = self.queue.pop_front() else {
                break;
            };
            self.queued_bytes = self.queued_bytes.saturating_sub(entry.batch.size_bytes);
            next_position = Some(entry.batch.last_offset + 1);
            if entry.decision == Decision::Deliver
                && let BatchContent::Records(records) = entry.batch.content
            {
                deliver(records, entry.batch.size_bytes);
            }
        }
        next_position
    }

    /// Records of the batches [`TransactionFilter::drain`] would release now (an upper bound
    /// when a later batch is held back by the last stable offset).
    pub fn releasable_records(&self) -> usize {
        self.queue
            .iter()
            .take_while(|e| e.decision != Decision::Undecided)
            .map(|e| match &e.batch.content {
                BatchContent::Records(r) if e.decision == Decision::Deliver => r.len(),
                _ => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetcher::records::decode_batches;
    use crate::fetcher::records::test_support::{Spec, concat, data, marker};
    use bytes::Bytes;

    const RC: IsolationLevel = IsolationLevel::ReadCommitted;
    const RU: IsolationLevel = IsolationLevel::ReadUncommitted;
    const NO_LSO: i64 = -1;

    /// Batch builders: `t(pid, base, n)` transactional data, `p(base, n)` plain data,
    /// `c(pid, off)` commit marker, `a(pid, off)` abort marker.
    fn t(pid: i64, base: i64, n: usize) -> Bytes {
        data(&Spec::txn(pid, base, n))
    }
    fn p(base: i64, n: usize) -> Bytes {
        data(&Spec::plain(base, n))
    }
    fn c(pid: i64, off: i64) -> Bytes {
        marker(pid, off, true)
    }
    fn a(pid: i64, off: i64) -> Bytes {
        marker(pid, off, false)
    }

    fn batches(parts: &[Bytes]) -> Vec<DecodedBatch> {
        decode_batches("t", 0, concat(parts)).unwrap()
    }

    fn offsets(d: &Drained) -> Vec<i64> {
        d.records.iter().map(|r| r.offset).collect()
    }

    fn run(iso: IsolationLevel, parts: &[Bytes]) -> (Vec<i64>, Option<i64>) {
        let mut f = TransactionFilter::new(iso);
        f.push(batches(parts), None);
        let d = f.drain(NO_LSO);
        (offsets(&d), d.next_position)
    }

    #[test]
    fn non_transactional_batches_pass_through_both_levels() {
        for iso in [RC, RU] {
            let (offs, next) = run(iso, &[p(0, 2), p(2, 3)]);
            assert_eq!(offs, vec![0, 1, 2, 3, 4]);
            assert_eq!(next, Some(5));
        }
    }

    #[test]
    fn committed_transaction_is_delivered_and_marker_skipped() {
        let (offs, next) = run(RC, &[t(1, 0, 3), c(1, 3)]);
        assert_eq!(offs, vec![0, 1, 2]);
        assert_eq!(next, Some(4));
    }

    #[test]
    fn aborted_transaction_is_dropped_but_position_advances() {
        let (offs, next) = run(RC, &[t(1, 0, 3), a(1, 3), p(4, 1)]);
        assert_eq!(offs, vec![4]);
        assert_eq!(next, Some(5));
    }

    #[test]
    fn read_uncommitted_delivers_aborted_records_but_never_markers() {
        let (offs, next) = run(RU, &[t(1, 0, 3), a(1, 3), t(2, 4, 1), c(2, 5)]);
        assert_eq!(offs, vec![0, 1, 2, 4]);
        assert_eq!(next, Some(6));
        // Even an open transaction is delivered.
        let (offs, _) = run(RU, &[t(1, 0, 2)]);
        assert_eq!(offs, vec![0, 1]);
    }

    #[test]
    fn open_transaction_holds_itself_and_everything_behind_it() {
        let (offs, next) = run(RC, &[p(0, 1), t(1, 1, 2), p(3, 1)]);
        assert_eq!(offs, vec![0]);
        assert_eq!(next, Some(1));
    }

    #[test]
    fn two_producers_interleaved_commit_and_abort() {
        // P1: 0, 2, commit@5; P2: 1, 3, abort@4; plain 6
        let parts = [
            t(1, 0, 1),
            t(2, 1, 1),
            t(1, 2, 1),
            t(2, 3, 1),
            a(2, 4),
            c(1, 5),
            p(6, 1),
        ];
        let (offs, next) = run(RC, &parts);
        assert_eq!(offs, vec![0, 2, 6]);
        assert_eq!(next, Some(7));
    }

    #[test]
    fn two_producers_interleaved_abort_then_commit() {
        let parts = [
            t(1, 0, 1),
            t(2, 1, 1),
            t(1, 2, 1),
            t(2, 3, 1),
            c(2, 4),
            a(1, 5),
        ];
        let (offs, next) = run(RC, &parts);
        assert_eq!(offs, vec![1, 3]);
        assert_eq!(next, Some(6));
    }

    #[test]
    fn same_producer_commit_then_abort_then_commit() {
        let parts = [
            t(1, 0, 2),
            c(1, 2),
            t(1, 3, 2),
            a(1, 5),
            t(1, 6, 1),
            c(1, 7),
        ];
        let (offs, next) = run(RC, &parts);
        assert_eq!(offs, vec![0, 1, 6]);
        assert_eq!(next, Some(8));
    }

    #[test]
    fn marker_in_a_later_fetch_releases_held_records() {
        let mut f = TransactionFilter::new(RC);
        f.push(batches(&[p(0, 1), t(1, 1, 2), p(3, 1)]), None);
        let d = f.drain(NO_LSO);
        assert_eq!(offsets(&d), vec![0]);
        assert_eq!(f.queued_batches(), 2);
        assert!(f.queued_bytes() > 0);
        // Nothing new decided: nothing released.
        f.push(batches(&[p(4, 1)]), None);
        let d = f.drain(NO_LSO);
        assert!(d.records.is_empty());
        assert_eq!(d.next_position, None);
        // The commit arrives.
        f.push(batches(&[c(1, 5)]), None);
        let d = f.drain(NO_LSO);
        assert_eq!(offsets(&d), vec![1, 2, 3, 4]);
        assert_eq!(d.next_position, Some(6));
        assert_eq!(f.queued_batches(), 0);
        assert_eq!(f.queued_bytes(), 0);
    }

    #[test]
    fn held_records_across_fetches_dropped_on_later_abort() {
        let mut f = TransactionFilter::new(RC);
        f.push(batches(&[t(1, 0, 2)]), None);
        assert!(f.drain(NO_LSO).records.is_empty());
        f.push(batches(&[t(2, 2, 1), t(1, 3, 1)]), None);
        assert!(f.drain(NO_LSO).records.is_empty());
        f.push(batches(&[a(1, 4)]), None);
        // P1 dropped, but P2 is still open and holds the position at 2.
        let d = f.drain(NO_LSO);
        assert!(d.records.is_empty());
        assert_eq!(d.next_position, Some(2));
        f.push(batches(&[c(2, 5)]), None);
        let d = f.drain(NO_LSO);
        assert_eq!(offsets(&d), vec![2]);
        assert_eq!(d.next_position, Some(6));
    }

    #[test]
    fn nothing_is_released_at_or_beyond_the_lso() {
        let mut f = TransactionFilter::new(RC);
        f.push(batches(&[p(0, 2), p(2, 2), t(1, 4, 1), c(1, 5)]), None);
        let d = f.drain(2);
        assert_eq!(offsets(&d), vec![0, 1]);
        assert_eq!(d.next_position, Some(2));
        let d = f.drain(5);
        assert_eq!(offsets(&d), vec![2, 3, 4]);
        assert_eq!(d.next_position, Some(5));
        let d = f.drain(6);
        assert!(d.records.is_empty());
        assert_eq!(d.next_position, Some(6));
    }

    #[test]
    fn read_uncommitted_ignores_the_lso() {
        let mut f = TransactionFilter::new(RU);
        f.push(batches(&[p(0, 2), p(2, 2)]), None);
        assert_eq!(offsets(&f.drain(1)), vec![0, 1, 2, 3]);
    }

    #[test]
    fn aborted_list_java_semantics() {
        // P1 aborted from 0 (abort marker at 3), P2 committed, P1 again from 5 not aborted.
        let parts = [
            t(1, 0, 2),
            t(2, 2, 1),
            a(1, 3),
            c(2, 4),
            t(1, 5, 1),
            p(6, 1),
        ];
        let aborted = [AbortedTransaction {
            producer_id: 1,
            first_offset: 0,
        }];
        let mut f = TransactionFilter::new(RC);
        f.push(batches(&parts), Some(&aborted));
        // With the list, P1's transaction at 5 is taken as committed without its marker.
        let d = f.drain(NO_LSO);
        assert_eq!(offsets(&d), vec![2, 5, 6]);
        assert_eq!(d.next_position, Some(7));
    }

    #[test]
    fn aborted_list_starting_mid_response() {
        // P1 commits 0..1 and then opens an aborted transaction at 3.
        let parts = [t(1, 0, 2), c(1, 2), t(1, 3, 2), a(1, 5), p(6, 1)];
        let aborted = [AbortedTransaction {
            producer_id: 1,
            first_offset: 3,
        }];
        let mut f = TransactionFilter::new(RC);
        f.push(batches(&parts), Some(&aborted));
        assert_eq!(offsets(&f.drain(NO_LSO)), vec![0, 1, 6]);
    }

    #[test]
    fn aborted_list_is_ignored_by_read_uncommitted() {
        let aborted = [AbortedTransaction {
            producer_id: 1,
            first_offset: 0,
        }];
        let mut f = TransactionFilter::new(RU);
        f.push(batches(&[t(1, 0, 2), a(1, 2)]), Some(&aborted));
        assert_eq!(offsets(&f.drain(NO_LSO)), vec![0, 1]);
    }

    #[test]
    fn empty_aborted_list_falls_back_to_markers() {
        let mut f = TransactionFilter::new(RC);
        f.push(batches(&[t(1, 0, 2), a(1, 2), t(2, 3, 1)]), Some(&[]));
        let d = f.drain(NO_LSO);
        assert!(d.records.is_empty());
        assert_eq!(d.next_position, Some(3));
    }

    #[test]
    fn marker_from_later_list_response_decides_earlier_held_batches() {
        let mut f = TransactionFilter::new(RC);
        f.push(batches(&[t(1, 0, 1)]), None);
        assert!(f.drain(NO_LSO).records.is_empty());
        let aborted = [AbortedTransaction {
            producer_id: 9,
            first_offset: 1,
        }];
        f.push(batches(&[t(9, 1, 1), c(1, 2), a(9, 3)]), Some(&aborted));
        assert_eq!(offsets(&f.drain(NO_LSO)), vec![0]);
    }

    #[test]
    fn non_transactional_batch_of_an_idempotent_producer_is_not_held() {
        let mut spec = Spec::plain(0, 2);
        spec.producer_id = 4;
        let (offs, _) = run(RC, &[data(&spec)]);
        assert_eq!(offs, vec![0, 1]);
    }

    #[test]
    fn clear_forgets_held_batches() {
        let mut f = TransactionFilter::new(RC);
        f.push(batches(&[t(1, 0, 1)]), None);
        f.clear();
        assert_eq!(f.queued_batches(), 0);
        assert_eq!(f.queued_bytes(), 0);
        f.push(batches(&[c(1, 1)]), None);
        let d = f.drain(NO_LSO);
        assert!(d.records.is_empty());
        assert_eq!(d.next_position, Some(2));
    }

    /// Every interleaving of two small transactions and a plain batch, against a model.
    #[test]
    fn exhaustive_two_producer_interleavings_match_the_model() {
        // Events: P1 data, P1 data, P1 end, P2 data, P2 end, plain. Order within a producer fixed.
        #[derive(Clone, Copy)]
        enum Ev {
            Data(i64),
            End(i64),
            Plain,
        }
        let p1 = [Ev::Data(1), Ev::Data(1), Ev::End(1)];
        let p2 = [Ev::Data(2), Ev::End(2)];
        let plain = [Ev::Plain];
        let mut orders: Vec<Vec<Ev>> = Vec::new();
        fn weave(a: &[Ev], b: &[Ev], c: &[Ev], acc: &mut Vec<Ev>, out: &mut Vec<Vec<Ev>>) {
            if a.is_empty() && b.is_empty() && c.is_empty() {
                out.push(acc.clone());
                return;
            }
            for which in 0..3 {
                let (src, rest_a, rest_b, rest_c) = match which {
                    0 if !a.is_empty() => (a[0], &a[1..], b, c),
                    1 if !b.is_empty() => (b[0], a, &b[1..], c),
                    2 if !c.is_empty() => (c[0], a, b, &c[1..]),
                    _ => continue,
                };
                acc.push(src);
                weave(rest_a, rest_b, rest_c, acc, out);
                acc.pop();
            }
        }
        weave(&p1, &p2, &plain, &mut Vec::new(), &mut orders);
        assert_eq!(orders.len(), 60);
        for order in &orders {
            for (commit1, commit2) in [(true, true), (true, false), (false, true), (false, false)] {
                for split in 0..=order.len() {
                    let mut parts = Vec::new();
                    let mut expected = Vec::new();
                    for (off, ev) in order.iter().enumerate() {
                        let off = off as i64;
                        match *ev {
                            Ev::Data(pid) => {
                                parts.push(t(pid, off, 1));
                                let committed = if pid == 1 { commit1 } else { commit2 };
                                if committed {
                                    expected.push(off);
                                }
                            }
                            Ev::End(pid) => {
                                let committed = if pid == 1 { commit1 } else { commit2 };
                                parts.push(marker(pid, off, committed));
                            }
                            Ev::Plain => {
                                parts.push(p(off, 1));
                                expected.push(off);
                            }
                        }
                    }
                    // Deliver in two fetches split at `split`.
                    let mut f = TransactionFilter::new(RC);
                    f.push(batches(&parts[..split]), None);
                    let mut got = offsets(&f.drain(NO_LSO));
                    f.push(batches(&parts[split..]), None);
                    let last = f.drain(NO_LSO);
                    got.extend(offsets(&last));
                    assert_eq!(got, expected);
                    assert_eq!(f.queued_batches(), 0);
                    // Offsets are delivered in order, never beyond a held batch.
                    assert!(got.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }
}
