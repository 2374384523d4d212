//! [`ConsumerWakeup`]: ends a consumer's poll early from another task or thread (Kafka's
//! `KafkaConsumer.wakeup()`), so an application that stops does not wait out the poll.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A handle that makes the consumer's poll in progress, or else its next one, return at once
/// with the records it has (none, if it was waiting). Kafka's consumer throws a
/// `WakeupException` instead; returning what is there loses nothing and needs no special
/// case at the caller. Cheap to clone; any thread may call [`ConsumerWakeup::wakeup`].
#[derive(Debug, Clone, Default)]
pub struct ConsumerWakeup {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requested: AtomicBool,
    notify: Notify,
}

impl ConsumerWakeup {
    /// Ends the poll in progress, or the next one.
    pub fn wakeup(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        // A permit is kept if no poll waits now, so a wakeup racing the start of a wait is
        // not lost.
        self.inner.notify.notify_one();
    }

    /// Takes a pending wakeup request.
    pub(crate) fn take(&self) -> bool {
        self.inner.requested.swap(false, Ordering::SeqCst)
    }

    /// Resolves when a wakeup is requested.
    pub(crate) async fn requested(&self) {
        self.inner.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wakeup_before_the_wait_is_not_lost() {
        let w = ConsumerWakeup::default();
        w.clone().wakeup();
        tokio::time::timeout(std::time::Duration::from_secs(5), w.requested())
            .await
            .expect("the stored wakeup ends the wait");
        assert!(w.take());
        assert!(!w.take(), "taken once");
    }
}
