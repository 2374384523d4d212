//! The lifecycle of a [`crate::KafkaStreams`] instance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The instance's state, as Kafka Streams' `KafkaStreams.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Created, not started.
    Created,
    /// Joining the group, (re)assigning and restoring tasks.
    Rebalancing,
    /// Every stream thread processes its tasks.
    Running,
    /// `close()` was called; threads commit and stop.
    PendingShutdown,
    /// Stopped cleanly.
    NotRunning,
    /// A stream thread failed; the instance stopped.
    Error,
}

impl State {
    /// Whether the instance may move from `self` to `to`.
    pub fn can_transition_to(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (Created, Rebalancing)
                | (Created, PendingShutdown)
                | (Rebalancing, Running)
                | (Rebalancing, Rebalancing)
                | (Running, Rebalancing)
                | (Rebalancing | Running, PendingShutdown)
                | (Rebalancing | Running, Error)
                | (PendingShutdown, NotRunning)
                | (Error, PendingShutdown)
                | (PendingShutdown, Error)
        )
    }

    /// Whether the instance is running or rebalancing.
    pub fn is_running_or_rebalancing(self) -> bool {
        matches!(self, State::Running | State::Rebalancing)
    }
}

/// Called on every state change with `(new, old)`.
pub type StateListener = Box<dyn Fn(State, State) + Send + Sync>;

/// The instance's state shared with its threads.
#[derive(Clone)]
pub(crate) struct SharedState {
    inner: Arc<Mutex<StateInner>>,
}

struct StateInner {
    state: State,
    listener: Option<Arc<dyn Fn(State, State) + Send + Sync>>,
    /// Per live thread (by index): whether it is running (assigned and restored).
    threads_running: BTreeMap<usize, bool>,
}

impl SharedState {
    pub(crate) fn new() -> Self {
        SharedState {
            inner: Arc::new(Mutex::new(StateInner {
                state: State::Created,
                listener: None,
                threads_running: BTreeMap::new(),
            })),
        }
    }

    pub(crate) fn get(&self) -> State {
        self.inner.lock().map(|s| s.state).unwrap_or(State::Error)
    }

    pub(crate) fn set_listener(&self, l: StateListener) {
        if let Ok(mut s) = self.inner.lock() {
            s.listener = Some(Arc::from(l));
        }
    }

    pub(crate) fn set_threads(&self, n: usize) {
        if let Ok(mut s) = self.inner.lock() {
            s.threads_running = (0..n).map(|i| (i, false)).collect();
        }
    }

    /// A thread joins the instance (not running yet): the instance rebalances until it runs.
    pub(crate) fn add_thread(&self, thread: usize) {
        self.thread_running(thread, false);
    }

    /// A thread left the instance: the others alone decide whether it runs.
    pub(crate) fn remove_thread(&self, thread: usize) {
        if let Ok(mut s) = self.inner.lock() {
            s.threads_running.remove(&thread);
        }
        self.update_running();
    }

    /// Moves to `to` if allowed; returns whether it moved.
    pub(crate) fn transition(&self, to: State) -> bool {
        let (old, listener) = {
            let Ok(mut s) = self.inner.lock() else {
                return false;
            };
            let old = s.state;
            if !old.can_transition_to(to) {
                return false;
            }
            s.state = to;
            (old, s.listener.clone())
        };
        tracing::info!(from = ?old, to = ?to, "state transition");
        if let Some(l) = listener {
            l(to, old);
        }
        true
    }

    /// Whether thread `thread` last reported itself running.
    pub(crate) fn is_thread_running(&self, thread: usize) -> bool {
        self.inner
            .lock()
            .is_ok_and(|s| s.threads_running.get(&thread).copied().unwrap_or(false))
    }

    /// A thread reports whether it is running; the instance is Running when all are.
    pub(crate) fn thread_running(&self, thread: usize, running: bool) {
        if let Ok(mut s) = self.inner.lock() {
            s.threads_running.insert(thread, running);
        }
        self.update_running();
    }

    /// Running when every live thread runs, Rebalancing otherwise.
    fn update_running(&self) {
        let all = self
            .inner
            .lock()
            .is_ok_and(|s| s.threads_running.values().all(|r| *r));
        let cur = self.get();
        if all && cur == State::Rebalancing {
            self.transition(State::Running);
        } else if !all && cur == State::Running {
            self.transition(State::Rebalancing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_checked() {
        assert!(State::Created.can_transition_to(State::Rebalancing));
        assert!(State::Rebalancing.can_transition_to(State::Running));
        assert!(State::Running.can_transition_to(State::PendingShutdown));
        assert!(State::PendingShutdown.can_transition_to(State::NotRunning));
        assert!(!State::NotRunning.can_transition_to(State::Running));
        assert!(!State::Created.can_transition_to(State::Running));
    }

    #[test]
    fn listener_sees_changes_and_threads_drive_running() {
        let s = SharedState::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        s.set_listener(Box::new(move |new, old| {
            seen2.lock().unwrap().push((old, new));
        }));
        s.set_threads(2);
        assert!(s.transition(State::Rebalancing));
        s.thread_running(0, true);
        assert_eq!(s.get(), State::Rebalancing);
        s.thread_running(1, true);
        assert_eq!(s.get(), State::Running);
        s.thread_running(1, false);
        assert_eq!(s.get(), State::Rebalancing);
        assert!(!s.transition(State::Created));
        assert_eq!(seen.lock().unwrap().len(), 3);
    }
}
