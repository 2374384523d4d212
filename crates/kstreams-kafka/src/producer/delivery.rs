//! How a record's acknowledgement gets back to its sender: [`DeliveryFuture`] on the caller's
//! side, [`Reply`] inside the batch.
//!
//! A record sent alone ([`super::Producer::send`]) has a oneshot channel of its own. Records
//! sent together ([`super::Producer::send_all`]) share one [`SendGroup`]: one allocation for
//! the whole call instead of a channel per record, and each record's result goes into its slot.

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
    inner: Pending,
}

#[derive(Debug)]
enum Pending {
    One(oneshot::Receiver<Result<RecordMetadata>>),
    Group { group: Arc<SendGroup>, index: usize },
}

impl DeliveryFuture {
    pub(crate) fn one(rx: oneshot::Receiver<Result<RecordMetadata>>) -> Self {
        DeliveryFuture {
            inner: Pending::One(rx),
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            Pending::One(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(r)) => Poll::Ready(r),
                Poll::Ready(Err(_)) => Poll::Ready(Err(KafkaError::Closed)),
                Poll::Pending => Poll::Pending,
            },
            Pending::Group { group, index } => group.poll_slot(*index, cx),
        }
    }
}

/// The results of the records of one [`super::Producer::send_all`] call.
#[derive(Debug)]
pub(crate) struct SendGroup {
    /// One slot per record, by index.
    slots: Mutex<Vec<Slot>>,
}

#[derive(Debug)]
enum Slot {
    /// No result yet; the waker of the task that polled the record's future, if one did
    /// (each future may be awaited by a task of its own).
    Waiting(Option<Waker>),
    Done(Result<RecordMetadata>),
    Taken,
}

impl SendGroup {
    /// A group of `n` records: the futures the caller awaits and the replies that go into
    /// the batches, index for index.
    pub(crate) fn open(n: usize) -> (Vec<DeliveryFuture>, Vec<Reply>) {
        let group = Arc::new(SendGroup {
            slots: Mutex::new((0..n).map(|_| Slot::Waiting(None)).collect()),
        });
        let futures = (0..n)
            .map(|index| DeliveryFuture {
                inner: Pending::Group {
                    group: group.clone(),
                    index,
                },
            })
            .collect();
        let replies = (0..n)
            .map(|index| {
                Reply(ReplyTo::Group(GroupReply {
                    group: group.clone(),
                    index,
                }))
            })
            .collect();
        (futures, replies)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn poll_slot(&self, index: usize, cx: &mut Context<'_>) -> Poll<Result<RecordMetadata>> {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(index) else {
            return Poll::Ready(Err(KafkaError::Closed));
        };
        match std::mem::replace(slot, Slot::Taken) {
            Slot::Done(result) => Poll::Ready(result),
            Slot::Taken => Poll::Ready(Err(KafkaError::IllegalState(
                "delivery polled after it completed".into(),
            ))),
            Slot::Waiting(_) => {
                *slot = Slot::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }

    fn fill(&self, index: usize, result: Result<RecordMetadata>) {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(index) else {
            return;
        };
        let Slot::Waiting(waker) = slot else {
            return;
        };
        let waker = waker.take();
        *slot = Slot::Done(result);
        drop(slots);
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
    /// Hands the result to whoever awaits the record (nobody, if its future was dropped).
    pub(crate) fn send(self, result: Result<RecordMetadata>) {
        match self.0 {
            ReplyTo::One(tx) => {
                let _ = tx.send(result);
            }
            ReplyTo::Group(mut reply) => reply.fill(result),
        }
    }
}

/// One slot of a [`SendGroup`]. Dropped without an answer (the producer closed), it answers
/// [`KafkaError::Closed`], as a dropped oneshot sender does.
#[derive(Debug)]
struct GroupReply {
    group: Arc<SendGroup>,
    index: usize,
}

impl GroupReply {
    fn fill(&mut self, result: Result<RecordMetadata>) {
        self.group.fill(self.index, result);
        // Answered: the drop below has nothing left to do (and takes no lock).
        self.index = usize::MAX;
    }
}

impl Drop for GroupReply {
    fn drop(&mut self) {
        if self.index != usize::MAX {
            self.group.fill(self.index, Err(KafkaError::Closed));
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

    #[tokio::test]
    async fn each_record_of_a_group_gets_its_own_result() {
        let (futures, replies) = SendGroup::open(3);
        let mut replies = replies.into_iter();
        let (a, b, c) = (replies.next(), replies.next(), replies.next());
        let mut futures = futures.into_iter();
        let (fa, fb, fc) = (futures.next(), futures.next(), futures.next());
        let (mut fa, fb, fc) = (fa.unwrap(), fb.unwrap(), fc.unwrap());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            Pin::new(&mut fa).poll(&mut cx).is_pending(),
            "nothing answered yet"
        );
        b.unwrap().send(Ok(meta(11)));
        a.unwrap().send(Ok(meta(10)));
        assert_eq!(fa.await.unwrap().offset, 10);
        assert_eq!(fb.await.unwrap().offset, 11);
        // A reply dropped unanswered (the producer closed) fails its record.
        drop(c);
        assert!(matches!(fc.await, Err(KafkaError::Closed)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn futures_awaited_by_different_tasks_are_each_woken() {
        let (futures, replies) = SendGroup::open(3);
        let waiters: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // Answer in an order unrelated to the order of polling.
        let mut replies: Vec<_> = replies.into_iter().map(Some).collect();
        for (i, offset) in [(0usize, 10i64), (2, 12), (1, 11)] {
            if let Some(reply) = replies[i].take() {
                reply.send(Ok(meta(offset)));
            }
        }
        for (i, waiter) in waiters.into_iter().enumerate() {
            let md = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .expect("woken")
                .unwrap()
                .unwrap();
            assert_eq!(md.offset, 10 + i as i64);
        }
    }

    #[tokio::test]
    async fn a_waiting_future_is_woken_by_its_slot() {
        let (mut futures, mut replies) = SendGroup::open(2);
        let second = futures.pop().unwrap();
        let reply = replies.pop().unwrap();
        let waiter = tokio::spawn(second);
        tokio::task::yield_now().await;
        reply.send(Err(KafkaError::Closed));
        assert!(matches!(waiter.await.unwrap(), Err(KafkaError::Closed)));
    }
}
