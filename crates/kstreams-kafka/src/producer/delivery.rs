//! How a record's acknowledgement gets back to its sender: [`DeliveryFuture`] and
//! [`SendAllDelivery`] on the caller's side, [`Reply`] inside the batch.
//!
//! A record sent alone ([`super::Producer::send`]) has a oneshot channel of its own. Records
//! sent together ([`super::Producer::send_all`]) share one [`SendGroup`]: one allocation and
//! one handle for the whole call instead of a channel and a future per record. Each record's
//! result goes into its slot; a batch fills the slots of its records under one lock, and the
//! caller takes all results at once when it waits.

use crate::error::{KafkaError, Result};
use crate::types::RecordMetadata;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::oneshot;

/// Resolves to the record's metadata once the broker acknowledged it, or to its error.
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl DeliveryFuture {
    pub(crate) fn one(rx: oneshot::Receiver<Result<RecordMetadata>>) -> Self {
        DeliveryFuture { rx }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(_)) => Poll::Ready(Err(KafkaError::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Where the broker put a record of a [`super::Producer::send_all`] call (its topic is the
/// record's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The partition.
    pub partition: i32,
    /// The record's offset (-1 when the broker did not say).
    pub offset: i64,
    /// The record's timestamp (the broker's log append time if the topic uses it).
    pub timestamp: i64,
}

impl From<&RecordMetadata> for Delivered {
    fn from(m: &RecordMetadata) -> Self {
        Delivered {
            partition: m.partition,
            offset: m.offset,
            timestamp: m.timestamp,
        }
    }
}

/// The results of the records of one [`super::Producer::send_all`] call, by index in the
/// call.
///
/// [`SendAllDelivery::settled`] waits until every record is answered (or, on request, until
/// one failed); [`SendAllDelivery::take_answered`] then takes the results answered so far,
/// each once.
#[derive(Debug)]
pub struct SendAllDelivery {
    group: Arc<SendGroup>,
    len: usize,
}

impl SendAllDelivery {
    /// Records in the call.
    pub fn len(&self) -> usize {
        self.len
    }

    /// A call whose records are all answered already, with these results (for stand-ins
    /// of a producer in tests).
    pub fn answered(results: Vec<Result<Delivered>>) -> Self {
        let len = results.len();
        let failed = results.iter().any(Result::is_err);
        let group = Arc::new(SendGroup {
            state: Mutex::new(GroupState {
                slots: results.into_iter().map(Slot::done).collect(),
                waiting: 0,
                failed,
                waker: None,
            }),
        });
        SendAllDelivery { group, len }
    }

    /// Whether the call had no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every record is answered (takes no time).
    pub fn is_settled(&self) -> bool {
        self.group.lock().waiting == 0
    }

    /// Resolves once every record is answered, or, with `until_failure`, as soon as one
    /// failed.
    pub fn settled(&self, until_failure: bool) -> Settled<'_> {
        Settled {
            group: &self.group,
            until_failure,
        }
    }

    /// The results answered and not taken yet, by index: `None` for a record still waiting
    /// (or taken before). Takes no time.
    pub fn take_answered(&self) -> Vec<Option<Result<Delivered>>> {
        self.with_answers(|answers| (0..answers.len()).map(|i| answers.take(i)).collect())
    }

    /// Runs `f` on the answers as they stand, under the call's lock (no answer lands
    /// meanwhile): `f` takes the ones it wants without collecting all of them first. Takes
    /// no time besides `f`'s.
    pub fn with_answers<R>(&self, f: impl FnOnce(&mut Answers<'_>) -> R) -> R {
        let mut state = self.group.lock();
        f(&mut Answers {
            slots: &mut state.slots,
        })
    }

    /// Waits for every record and takes all results, in call order (a result taken before
    /// reads as `None`).
    pub async fn all(self) -> Vec<Option<Result<Delivered>>> {
        self.settled(false).await;
        self.take_answered()
    }
}

/// The answers of a call, lent by [`SendAllDelivery::with_answers`].
#[derive(Debug)]
pub struct Answers<'a> {
    slots: &'a mut [Slot],
}

impl Answers<'_> {
    /// Records in the call.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the call had no records.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Takes record `index`'s result: `None` if it still waits, was taken before, or there
    /// is no such record.
    pub fn take(&mut self, index: usize) -> Option<Result<Delivered>> {
        let slot = self.slots.get_mut(index)?;
        if !matches!(slot, Slot::Done(_)) {
            return None;
        }
        match std::mem::replace(slot, Slot::Taken) {
            Slot::Done(r) => Some(r.map_err(|e| *e)),
            _ => None,
        }
    }
}

/// The future of [`SendAllDelivery::settled`].
#[derive(Debug)]
pub struct Settled<'a> {
    group: &'a SendGroup,
    until_failure: bool,
}

impl Future for Settled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.group.lock();
        if state.waiting == 0 || (self.until_failure && state.failed) {
            return Poll::Ready(());
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The shared state of one [`super::Producer::send_all`] call.
#[derive(Debug)]
pub(crate) struct SendGroup {
    state: Mutex<GroupState>,
}

#[derive(Debug)]
struct GroupState {
    /// One slot per record, by index.
    slots: Vec<Slot>,
    /// Slots not answered yet.
    waiting: usize,
    /// Whether a record failed.
    failed: bool,
    /// The task waiting in [`Settled`], woken when the wait may be over.
    waker: Option<Waker>,
}

/// A record's answer. The error is boxed: a call's slots are written and read once per
/// record, and most answers are not errors (a `KafkaError` takes 64 bytes, a `Delivered` 24).
#[derive(Debug)]
enum Slot {
    Waiting,
    Done(std::result::Result<Delivered, Box<KafkaError>>),
    Taken,
}

impl Slot {
    fn done(result: Result<Delivered>) -> Slot {
        Slot::Done(result.map_err(Box::new))
    }
}

impl SendGroup {
    /// A group of `n` records: the caller's handle and the replies that go into the
    /// batches, index for index.
    #[cfg(test)]
    pub(crate) fn open(n: usize) -> (SendAllDelivery, Vec<Reply>) {
        let (delivery, group) = Self::open_shared(n);
        let replies = (0..n).map(|index| Reply::in_group(&group, index)).collect();
        (delivery, replies)
    }

    /// A group of `n` records: the caller's handle and the group, for
    /// [`Reply::in_group`].
    pub(crate) fn open_shared(n: usize) -> (SendAllDelivery, Arc<SendGroup>) {
        let group = Arc::new(SendGroup {
            state: Mutex::new(GroupState {
                slots: (0..n).map(|_| Slot::Waiting).collect(),
                waiting: n,
                failed: false,
                waker: None,
            }),
        });
        (
            SendAllDelivery {
                group: group.clone(),
                len: n,
            },
            group,
        )
    }

    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers records of this group; wakes the waiting caller if that may end its wait.
    fn fill(&self, answers: impl IntoIterator<Item = (usize, Result<Delivered>)>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        for (index, result) in answers {
            let Some(slot) = state.slots.get_mut(index) else {
                continue;
            };
            if !matches!(slot, Slot::Waiting) {
                continue;
            }
            state.failed |= result.is_err();
            *slot = Slot::done(result);
            state.waiting -= 1;
        }
        let waker = if state.waiting == 0 || state.failed {
            state.waker.take()
        } else {
            None
        };
        drop(guard);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Where a batched record's result goes.
#[derive(Debug)]
pub(crate) struct Reply(ReplyTo);

#[derive(Debug)]
enum ReplyTo {
    One(oneshot::Sender<Result<RecordMetadata>>),
    Group(GroupReply),
}

impl From<oneshot::Sender<Result<RecordMetadata>>> for Reply {
    fn from(tx: oneshot::Sender<Result<RecordMetadata>>) -> Self {
        Reply(ReplyTo::One(tx))
    }
}

impl Reply {
    /// The reply to record `index` of a group.
    pub(crate) fn in_group(group: &Arc<SendGroup>, index: usize) -> Self {
        Reply(ReplyTo::Group(GroupReply {
            group: group.clone(),
            index,
        }))
    }

    /// Hands the result to whoever awaits the record (nobody, if its future was dropped).
    pub(crate) fn send(self, result: Result<RecordMetadata>) {
        match self.0 {
            ReplyTo::One(tx) => {
                let _ = tx.send(result);
            }
            ReplyTo::Group(mut reply) => {
                let result = result.map(|m| Delivered::from(&m));
                reply.group.fill([(reply.index, result)]);
                reply.index = usize::MAX;
            }
        }
    }
}

/// Answers the replies of a batch in order: consecutive records of one
/// [`super::Producer::send_all`] call are filled under one lock.
pub(crate) struct ReplyRun {
    group: Option<Arc<SendGroup>>,
    answers: Vec<(usize, Result<Delivered>)>,
}

impl ReplyRun {
    pub(crate) fn new() -> Self {
        ReplyRun {
            group: None,
            answers: Vec::new(),
        }
    }

    /// Answers `reply` (a record of `topic`) now, or with the next records of its call.
    pub(crate) fn deliver(&mut self, reply: Reply, topic: &Arc<str>, delivered: Delivered) {
        match reply.0 {
            ReplyTo::One(tx) => {
                self.finish();
                let _ = tx.send(Ok(RecordMetadata {
                    topic: topic.clone(),
                    partition: delivered.partition,
                    offset: delivered.offset,
                    timestamp: delivered.timestamp,
                }));
            }
            ReplyTo::Group(mut reply) => {
                let index = std::mem::replace(&mut reply.index, usize::MAX);
                if !self
                    .group
                    .as_ref()
                    .is_some_and(|g| Arc::ptr_eq(g, &reply.group))
                {
                    self.finish();
                    self.group = Some(reply.group.clone());
                }
                self.answers.push((index, Ok(delivered)));
            }
        }
    }

    /// Answers what is held.
    pub(crate) fn finish(&mut self) {
        if let Some(group) = self.group.take() {
            group.fill(self.answers.drain(..));
        }
    }
}

impl Drop for ReplyRun {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One slot of a [`SendGroup`]. Dropped without an answer (the producer closed), it answers
/// [`KafkaError::Closed`], as a dropped oneshot sender does.
#[derive(Debug)]
struct GroupReply {
    group: Arc<SendGroup>,
    index: usize,
}

impl Drop for GroupReply {
    fn drop(&mut self) {
        if self.index != usize::MAX {
            self.group.fill([(self.index, Err(KafkaError::Closed))]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(offset: i64) -> RecordMetadata {
        RecordMetadata {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp: 0,
        }
    }

    fn delivered(offset: i64) -> Delivered {
        Delivered::from(&meta(offset))
    }

    fn offsets(results: Vec<Option<Result<Delivered>>>) -> Vec<Option<i64>> {
        results
            .into_iter()
            .map(|r| r.map(|r| r.map_or(-1, |m| m.offset)))
            .collect()
    }

    #[tokio::test]
    async fn each_record_of_a_group_gets_its_own_result_once() {
        let (delivery, replies) = SendGroup::open(3);
        assert_eq!(delivery.len(), 3);
        let mut replies = replies.into_iter();
        let (a, b, c) = (replies.next(), replies.next(), replies.next());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            Pin::new(&mut delivery.settled(false))
                .poll(&mut cx)
                .is_pending(),
            "nothing answered yet"
        );
        b.unwrap().send(Ok(meta(11)));
        assert_eq!(offsets(delivery.take_answered()), [None, Some(11), None]);
        a.unwrap().send(Ok(meta(10)));
        // A reply dropped unanswered (the producer closed) fails its record.
        drop(c);
        assert_eq!(
            offsets(delivery.all().await),
            [Some(10), None, Some(-1)],
            "the second was taken before"
        );
    }

    #[tokio::test]
    async fn a_wait_until_failure_ends_at_the_first_failure() {
        let (delivery, mut replies) = SendGroup::open(3);
        replies.remove(1).send(Err(KafkaError::Closed));
        delivery.settled(true).await;
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            Pin::new(&mut delivery.settled(false))
                .poll(&mut cx)
                .is_pending(),
            "two records still wait"
        );
        let answered = delivery.take_answered();
        assert!(matches!(answered[1], Some(Err(KafkaError::Closed))));
        assert!(answered[0].is_none() && answered[2].is_none());
    }

    #[tokio::test]
    async fn a_run_of_replies_fills_its_groups_in_order() {
        let (first, first_replies) = SendGroup::open(2);
        let (second, second_replies) = SendGroup::open(2);
        let (tx, rx) = oneshot::channel();
        let mut run = ReplyRun::new();
        let topic: Arc<str> = "t".into();
        let mut first_replies = first_replies.into_iter();
        let mut second_replies = second_replies.into_iter();
        // A batch holding records of two calls and of a single send, interleaved.
        for (offset, reply) in [
            first_replies.next().unwrap(),
            second_replies.next().unwrap(),
            Reply::from(tx),
            second_replies.next().unwrap(),
            first_replies.next().unwrap(),
        ]
        .into_iter()
        .enumerate()
        {
            run.deliver(reply, &topic, delivered(offset as i64));
        }
        drop(run);
        assert_eq!(offsets(first.all().await), [Some(0), Some(4)]);
        assert_eq!(offsets(second.all().await), [Some(1), Some(3)]);
        assert_eq!(DeliveryFuture::one(rx).await.unwrap().offset, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_waiting_on_another_thread_is_woken() {
        let (delivery, replies) = SendGroup::open(3);
        let waiter = tokio::spawn(async move { offsets(delivery.all().await) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut replies: Vec<_> = replies.into_iter().map(Some).collect();
        for (i, offset) in [(0usize, 10i64), (2, 12), (1, 11)] {
            if let Some(reply) = replies[i].take() {
                reply.send(Ok(meta(offset)));
            }
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(got, [Some(10), Some(11), Some(12)]);
    }
}
