//! Punctuation: scheduling of periodic callbacks by stream time or wall-clock time.
//!
//! The queue is pure: it stores schedules and decides which are due at a given time; the task
//! runs the callbacks. Semantics follow Kafka Streams: stream-time schedules are aligned to 0
//! and fire as soon as stream time reaches them; wall-clock schedules first fire one interval
//! after they were scheduled; missed intervals are skipped, not replayed.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Which time drives a punctuator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// Event time, advanced by the timestamps of processed records.
    StreamTime,
    /// The wall clock.
    WallClockTime,
}

/// A handle that cancels a scheduled punctuator.
#[derive(Debug, Clone, Default)]
pub struct Cancellable(Arc<AtomicBool>);

impl Cancellable {
    /// Cancels the punctuator: it never fires again.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether [`Cancellable::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// One scheduled punctuator with its payload (the task's callback).
pub struct PunctuationSchedule<P> {
    /// The next time it is due.
    pub next: i64,
    /// Its interval in ms (> 0).
    pub interval: i64,
    /// Cancellation flag.
    pub cancellable: Cancellable,
    /// Insertion order, to break ties deterministically.
    seq: u64,
    /// What to run.
    pub payload: P,
}

impl<P> PunctuationSchedule<P> {
    /// The next due time after firing at `now`, skipping missed intervals (Kafka Streams'
    /// `PunctuationSchedule.next`).
    pub fn next_after(next: i64, interval: i64, now: i64) -> i64 {
        let candidate = next + interval;
        if now >= candidate {
            let missed = (now - next) / interval;
            next + (missed + 1) * interval
        } else {
            candidate
        }
    }
}

impl<P> PartialEq for PunctuationSchedule<P> {
    fn eq(&self, other: &Self) -> bool {
        self.next == other.next && self.seq == other.seq
    }
}
impl<P> Eq for PunctuationSchedule<P> {}
impl<P> PartialOrd for PunctuationSchedule<P> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for PunctuationSchedule<P> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // Min-heap on (next, seq).
        (other.next, other.seq).cmp(&(self.next, self.seq))
    }
}

/// A queue of schedules of one punctuation type.
pub struct PunctuationQueue<P> {
    heap: BinaryHeap<PunctuationSchedule<P>>,
    seq: u64,
}

impl<P> Default for PunctuationQueue<P> {
    fn default() -> Self {
        PunctuationQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<P> PunctuationQueue<P> {
    /// Adds a schedule first due at `first`, repeating every `interval` ms.
    pub fn schedule(&mut self, first: i64, interval: i64, payload: P) -> Cancellable {
        let cancellable = Cancellable::default();
        self.push(PunctuationSchedule {
            next: first,
            interval,
            cancellable: cancellable.clone(),
            seq: 0,
            payload,
        });
        cancellable
    }

    fn push(&mut self, mut s: PunctuationSchedule<P>) {
        self.seq += 1;
        s.seq = self.seq;
        self.heap.push(s);
    }

    /// Removes and returns the earliest schedule due at `now` (cancelled ones are discarded).
    /// The caller runs it and hands it back with [`PunctuationQueue::reschedule`].
    pub fn pop_due(&mut self, now: i64) -> Option<PunctuationSchedule<P>> {
        loop {
            let top = self.heap.peek()?;
            if top.cancellable.is_cancelled() {
                self.heap.pop();
                continue;
            }
            if top.next > now {
                return None;
            }
            return self.heap.pop();
        }
    }

    /// Puts a schedule that fired at `now` back with its next due time, unless it was cancelled.
    pub fn reschedule(&mut self, mut s: PunctuationSchedule<P>, now: i64) {
        if s.cancellable.is_cancelled() {
            return;
        }
        s.next = PunctuationSchedule::<P>::next_after(s.next, s.interval, now);
        self.push(s);
    }

    /// Whether any uncancelled schedule is due at `now`.
    pub fn has_due(&self, now: i64) -> bool {
        self.heap
            .iter()
            .any(|s| !s.cancellable.is_cancelled() && s.next <= now)
    }

    /// When the earliest live schedule is due, if any.
    pub fn next_due(&self) -> Option<i64> {
        self.heap
            .iter()
            .filter(|s| !s.cancellable.is_cancelled())
            .map(|s| s.next)
            .min()
    }

    /// Number of live schedules.
    pub fn len(&self) -> usize {
        self.heap
            .iter()
            .filter(|s| !s.cancellable.is_cancelled())
            .count()
    }

    /// Whether there are no live schedules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire_all(q: &mut PunctuationQueue<&'static str>, now: i64) -> Vec<(&'static str, i64)> {
        let mut out = vec![];
        while let Some(s) = q.pop_due(now) {
            out.push((s.payload, s.next));
            q.reschedule(s, now);
        }
        out
    }

    #[test]
    fn stream_time_aligned_to_zero_skips_missed_intervals() {
        let mut q = PunctuationQueue::default();
        q.schedule(0, 100, "p");
        // First record at 1000: fires once, next due at 1100.
        assert_eq!(fire_all(&mut q, 1000), vec![("p", 0)]);
        assert!(fire_all(&mut q, 1099).is_empty());
        assert_eq!(fire_all(&mut q, 1100), vec![("p", 1100)]);
        // A jump over several intervals fires once.
        assert_eq!(fire_all(&mut q, 1555), vec![("p", 1200)]);
        assert!(fire_all(&mut q, 1599).is_empty());
        assert_eq!(fire_all(&mut q, 1600).len(), 1);
    }

    #[test]
    fn next_due_is_the_earliest_live_schedule() {
        let mut q = PunctuationQueue::default();
        assert_eq!(q.next_due(), None);
        let early = q.schedule(100, 50, "early");
        q.schedule(300, 50, "late");
        assert_eq!(q.next_due(), Some(100));
        assert_eq!(fire_all(&mut q, 120), vec![("early", 100)]);
        assert_eq!(q.next_due(), Some(150));
        early.cancel();
        assert_eq!(q.next_due(), Some(300));
    }

    #[test]
    fn cancelled_schedules_never_fire() {
        let mut q = PunctuationQueue::default();
        let c = q.schedule(10, 10, "a");
        q.schedule(10, 10, "b");
        c.cancel();
        assert_eq!(fire_all(&mut q, 10), vec![("b", 10)]);
        assert_eq!(q.len(), 1);
        // Cancelled while being fired: not rescheduled.
        let s = q.pop_due(20).unwrap();
        s.cancellable.cancel();
        q.reschedule(s, 20);
        assert!(q.is_empty());
    }

    #[test]
    fn ties_fire_in_schedule_order() {
        let mut q = PunctuationQueue::default();
        q.schedule(5, 5, "first");
        q.schedule(5, 5, "second");
        assert_eq!(fire_all(&mut q, 5), vec![("first", 5), ("second", 5)]);
        assert_eq!(fire_all(&mut q, 10), vec![("first", 10), ("second", 10)]);
    }

    #[test]
    fn next_after_matches_kafka_streams() {
        assert_eq!(PunctuationSchedule::<()>::next_after(0, 100, 50), 100);
        assert_eq!(PunctuationSchedule::<()>::next_after(0, 100, 100), 200);
        assert_eq!(PunctuationSchedule::<()>::next_after(0, 100, 250), 300);
    }
}
