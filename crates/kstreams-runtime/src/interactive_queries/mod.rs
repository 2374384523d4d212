//! Interactive queries: reading an instance's state stores from outside its stream threads
//! (Kafka Streams' `KafkaStreams#store`).
//!
//! A stream thread owns its tasks and their stores, caches included, and never shares them
//! behind a lock. A query therefore travels to the stores instead: [`QueryRouter`] hands it
//! to every stream thread's inbox and wakes the thread's poll; the thread runs it between two
//! steps of its loop against the stores of its running tasks (and of its standby tasks, when
//! the query accepts stale stores) and sends the answer back. The caller waits for every
//! thread's answer, up to the query timeout. Global stores, shared by all threads behind
//! their own lock, are read on the caller's thread.
//!
//! Reads see what processing has written, cached or not, committed or not (as in Kafka
//! Streams, also under exactly-once). A key lives in one task, so a point lookup asks every
//! local store and takes the answer found; scans concatenate the local stores' results, task
//! by task.

mod handle;
mod key_value;
mod session;
mod window;

use std::marker::PhantomData;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kstreams_core::TaskId;
use kstreams_core::TaskStore;
use kstreams_core::processor::GlobalStateStores;

use crate::error::{Result, RuntimeError};
use crate::state::{SharedState, State};
use crate::stream_thread::PollWakeups;

pub use handle::InteractiveQueries;
pub use key_value::{KeyValueKind, ReadOnlyKeyValueStore};
pub use session::{ReadOnlySessionStore, SessionKind};
pub use window::{ReadOnlyWindowStore, WindowKind};

/// The default time a query waits for the stream threads' answers.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Which store to query and how (Kafka Streams' `StoreQueryParameters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreQueryParameters {
    store: String,
    partition: Option<i32>,
    stale_stores: bool,
    timeout: Duration,
}

impl StoreQueryParameters {
    /// Queries store `name` over every local active task, waiting up to
    /// [`DEFAULT_QUERY_TIMEOUT`].
    pub fn from_name(name: impl Into<String>) -> Self {
        StoreQueryParameters {
            store: name.into(),
            partition: None,
            stale_stores: false,
            timeout: DEFAULT_QUERY_TIMEOUT,
        }
    }

    /// Queries only the task of partition `partition`.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Also reads the stores of standby tasks (replicas that may lag behind the active task)
    /// and answers while the instance rebalances.
    pub fn enable_stale_stores(mut self) -> Self {
        self.stale_stores = true;
        self
    }

    /// How long a query waits for the stream threads' answers.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The store's name.
    pub fn store_name(&self) -> &str {
        &self.store
    }

    /// The partition the query is limited to, if any.
    pub fn partition(&self) -> Option<i32> {
        self.partition
    }

    /// Whether standby stores are read too.
    pub fn stale_stores_enabled(&self) -> bool {
        self.stale_stores
    }
}

/// Why a store cannot be queried (Kafka Streams' `InvalidStateStoreException` and its
/// subclasses), classified by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUnavailable {
    /// The topology has no store of that name: a programming error.
    #[error("the topology has no store of that name")]
    UnknownStore,
    /// The store is not a store of the kind and key/value types asked for: a programming
    /// error.
    #[error("the store is not a {0}")]
    WrongType(String),
    /// The instance is not running (not started yet, rebalancing without stale stores
    /// enabled, or stopped). Retry once it runs.
    #[error("the instance is {0:?}")]
    NotRunning(State),
    /// A stream thread did not answer in time (busy restoring or committing). Retry.
    #[error("a stream thread did not answer within {0:?}")]
    Timeout(Duration),
    /// A stream thread stopped before answering (it failed or the instance closes). Retry.
    #[error("a stream thread stopped before answering")]
    ThreadStopped,
}

impl StoreUnavailable {
    /// Whether the same query may succeed later (the store migrates, restores or the instance
    /// starts), as opposed to a call that can never succeed.
    pub fn is_retriable(&self) -> bool {
        !matches!(
            self,
            StoreUnavailable::UnknownStore | StoreUnavailable::WrongType(_)
        )
    }
}

/// The kind of store a [`ReadOnlyStore`] reads: [`KeyValueKind`], [`WindowKind`] or
/// [`SessionKind`].
pub trait StoreKind {
    /// The view's name (in `Debug`).
    const VIEW: &'static str;
    /// What a store of the kind is, for [`StoreUnavailable::WrongType`].
    const DESCRIPTION: &'static str;
}

/// The types a view is for, without owning any (so a view is `Send` and `Sync` whatever they
/// are).
type ViewTypes<S, K, V> = fn() -> (S, K, V);

/// A read-only view of the local instances of one store of a running
/// [`crate::KafkaStreams`]: a [`ReadOnlyKeyValueStore`], [`ReadOnlyWindowStore`] or
/// [`ReadOnlySessionStore`], by its kind `S`. Cheap to clone, usable from any thread.
pub struct ReadOnlyStore<S, K, V> {
    router: QueryRouter,
    params: StoreQueryParameters,
    _types: PhantomData<ViewTypes<S, K, V>>,
}

impl<S, K, V> Clone for ReadOnlyStore<S, K, V> {
    fn clone(&self) -> Self {
        ReadOnlyStore {
            router: self.router.clone(),
            params: self.params.clone(),
            _types: PhantomData,
        }
    }
}

impl<S: StoreKind, K, V> std::fmt::Debug for ReadOnlyStore<S, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(S::VIEW)
            .field("params", &self.params)
            .finish()
    }
}

impl<S, K, V> ReadOnlyStore<S, K, V> {
    pub(crate) fn new(router: QueryRouter, params: StoreQueryParameters) -> Self {
        ReadOnlyStore {
            router,
            params,
            _types: PhantomData,
        }
    }

    /// The query's parameters.
    pub fn parameters(&self) -> &StoreQueryParameters {
        &self.params
    }
}

/// One local instance of the queried store, as a stream thread shows it to a query.
pub(crate) struct LocalStore<'a> {
    pub(crate) task: TaskId,
    pub(crate) store: &'a dyn TaskStore,
}

/// The type-erased query a stream thread runs: it is given the thread's instances of the
/// store (or why the thread cannot answer) and sends its answer back itself.
pub(crate) type QueryFn =
    Box<dyn FnOnce(std::result::Result<&[LocalStore<'_>], StoreUnavailable>) + Send>;

/// A query on its way to a stream thread.
pub(crate) struct StoreQuery {
    pub(crate) store: Arc<str>,
    pub(crate) partition: Option<i32>,
    pub(crate) stale_stores: bool,
    pub(crate) run: QueryFn,
}

/// A stream thread's inbox, with the thread's index.
type Inbox = (usize, Sender<StoreQuery>);

/// The stream threads' query inboxes, by thread index.
#[derive(Clone, Default)]
pub(crate) struct QueryInboxes(Arc<Mutex<Vec<Inbox>>>);

impl QueryInboxes {
    /// Registers thread `index`'s inbox (a replacement thread takes its predecessor's place).
    pub(crate) fn register(&self, index: usize, inbox: Sender<StoreQuery>) {
        if let Ok(mut v) = self.0.lock() {
            v.retain(|(i, _)| *i != index);
            v.push((index, inbox));
        }
    }

    fn snapshot(&self) -> Vec<Inbox> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// What the store handles share: where to send queries, and the instance they query.
#[derive(Clone)]
pub(crate) struct QueryRouter {
    pub(crate) inboxes: QueryInboxes,
    pub(crate) wakeups: PollWakeups,
    pub(crate) state: SharedState,
    /// The instance's global stores, once started.
    pub(crate) global: Arc<OnceLock<GlobalStateStores>>,
    /// Whether the queried store is one of the global stores.
    pub(crate) store_is_global: bool,
}

/// Answers per thread: the results of the thread's stores, task by task.
type Answer<R> = Result<Vec<(TaskId, R)>>;

impl QueryRouter {
    fn unavailable(params: &StoreQueryParameters, reason: StoreUnavailable) -> RuntimeError {
        RuntimeError::InvalidStateStore {
            store: params.store.clone(),
            reason,
        }
    }

    /// Runs `f` on every local instance of the store `params` names, returning each
    /// instance's result in task order. `f` answers `None` for a store not of the `kind` it
    /// reads.
    pub(crate) fn query<R, F>(
        &self,
        params: &StoreQueryParameters,
        kind: &str,
        f: F,
    ) -> Result<Vec<R>>
    where
        R: Send + 'static,
        F: Fn(&dyn TaskStore) -> Option<kstreams_core::Result<R>> + Send + Sync + 'static,
    {
        let state = self.state.get();
        // A global store is whole on every instance, whatever the group does.
        let allowed = match state {
            State::Running => true,
            State::Rebalancing => params.stale_stores || self.store_is_global,
            _ => false,
        };
        if !allowed {
            return Err(Self::unavailable(
                params,
                StoreUnavailable::NotRunning(state),
            ));
        }
        let wrong_type = || Self::unavailable(params, StoreUnavailable::WrongType(kind.into()));
        if self.store_is_global {
            let global = self
                .global
                .get()
                .ok_or_else(|| Self::unavailable(params, StoreUnavailable::NotRunning(state)))?;
            let r = global.with_store(&params.store, &f)?;
            return Ok(vec![r.ok_or_else(wrong_type)??]);
        }
        let f = Arc::new(f);
        let (tx, rx) = mpsc::channel::<Answer<Option<R>>>();
        let mut expected = 0;
        let store: Arc<str> = params.store.as_str().into();
        for (index, inbox) in self.inboxes.snapshot() {
            let f = f.clone();
            let tx = tx.clone();
            let name = params.store.clone();
            let run: QueryFn = Box::new(move |stores| {
                let answer: Answer<Option<R>> = match stores {
                    Ok(stores) => stores
                        .iter()
                        .map(|l| Ok((l.task, f(l.store).transpose()?)))
                        .collect(),
                    Err(reason) => Err(RuntimeError::InvalidStateStore {
                        store: name,
                        reason,
                    }),
                };
                let _ = tx.send(answer);
            });
            let query = StoreQuery {
                store: store.clone(),
                partition: params.partition,
                stale_stores: params.stale_stores,
                run,
            };
            if inbox.send(query).is_ok() {
                expected += 1;
                self.wakeups.wake(index);
            }
        }
        drop(tx);
        let deadline = Instant::now() + params.timeout;
        let mut results: Vec<(TaskId, Option<R>)> = Vec::new();
        for _ in 0..expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(answer) => results.extend(answer?),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Self::unavailable(
                        params,
                        StoreUnavailable::Timeout(params.timeout),
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Self::unavailable(params, StoreUnavailable::ThreadStopped));
                }
            }
        }
        if results.iter().any(|(_, r)| r.is_none()) {
            return Err(wrong_type());
        }
        results.sort_by_key(|(task, _)| *task);
        Ok(results.into_iter().filter_map(|(_, r)| r).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::Receiver;
    use std::thread::JoinHandle;

    use kstreams_core::state::{ValueAndTimestamp, ValueAndTimestampSerde};
    use kstreams_core::{KeyValueStore, Serdes, StoreBuilder, Stores};
    use kstreams_state::StoreContext;

    use super::*;

    fn store(name: &str, entries: &[(&str, i64)]) -> Box<dyn TaskStore> {
        let mut s = Stores::in_memory_key_value_store_builder::<String, i64>(name)
            .with_logging_enabled(false)
            .build(&StoreContext::default())
            .unwrap();
        let kv = s
            .as_any_mut()
            .downcast_mut::<KeyValueStore<String, i64>>()
            .unwrap();
        for (k, v) in entries {
            kv.put(&k.to_string(), v).unwrap();
        }
        s
    }

    /// A stand-in for a stream thread: answers every query with its tasks' stores until its
    /// inbox closes.
    fn serve(
        inbox: Receiver<StoreQuery>,
        tasks: Vec<(TaskId, Box<dyn TaskStore>)>,
    ) -> JoinHandle<()> {
        std::thread::spawn(move || {
            for q in inbox {
                let local: Vec<LocalStore<'_>> = tasks
                    .iter()
                    .filter(|(id, s)| {
                        s.name() == &*q.store && q.partition.is_none_or(|p| p == id.partition)
                    })
                    .map(|(id, s)| LocalStore {
                        task: *id,
                        store: s.as_ref(),
                    })
                    .collect();
                (q.run)(Ok(&local));
            }
        })
    }

    fn router(state: State) -> QueryRouter {
        let shared = SharedState::new();
        if state != State::Created {
            shared.transition(State::Rebalancing);
            shared.transition(state);
        }
        QueryRouter {
            inboxes: QueryInboxes::default(),
            wakeups: PollWakeups::default(),
            state: shared,
            global: Arc::default(),
            store_is_global: false,
        }
    }

    fn counts(r: &QueryRouter, params: StoreQueryParameters) -> ReadOnlyKeyValueStore<String, i64> {
        ReadOnlyKeyValueStore::new(r.clone(), params)
    }

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<InteractiveQueries>();
        send_sync::<ReadOnlyKeyValueStore<String, i64>>();
        send_sync::<ReadOnlyWindowStore<String, i64>>();
        send_sync::<ReadOnlySessionStore<String, i64>>();
    }

    #[test]
    fn queries_reach_every_thread_and_merge_in_task_order() {
        let r = router(State::Running);
        let (tx1, rx1) = mpsc::channel();
        let (tx2, rx2) = mpsc::channel();
        r.inboxes.register(0, tx1);
        r.inboxes.register(1, tx2);
        let t = |p| TaskId::new(0, p);
        let h1 = serve(
            rx1,
            vec![
                (t(2), store("c", &[("x", 3)])),
                (t(0), store("c", &[("a", 1)])),
            ],
        );
        let h2 = serve(rx2, vec![(t(1), store("c", &[("b", 2), ("d", 4)]))]);
        let c = counts(&r, StoreQueryParameters::from_name("c"));
        assert_eq!(c.get(&"b".into()).unwrap(), Some(2));
        assert_eq!(c.get(&"x".into()).unwrap(), Some(3));
        assert_eq!(c.get(&"nope".into()).unwrap(), None);
        let all: Vec<(String, i64)> = c.all().unwrap();
        let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "d", "x"], "task 0_0, 0_1, 0_2");
        assert_eq!(
            c.range(Some(&"b".into()), Some(&"c".into())).unwrap(),
            vec![("b".to_string(), 2)]
        );
        assert_eq!(c.approximate_num_entries().unwrap(), 4);
        let reversed: Vec<String> = c
            .reverse_range(None, None)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            reversed,
            ["a", "d", "b", "x"],
            "each task's part descending"
        );
        assert_eq!(
            c.prefix_scan(&"d".to_string(), Serdes::string()).unwrap(),
            vec![("d".to_string(), 4)]
        );
        let only_p1 = counts(&r, StoreQueryParameters::from_name("c").with_partition(1));
        assert_eq!(only_p1.all().unwrap().len(), 2);
        assert_eq!(only_p1.get(&"a".into()).unwrap(), None);
        // A store of other types answers with a programming error, not with nothing.
        let wrong: ReadOnlyKeyValueStore<String, String> =
            ReadOnlyKeyValueStore::new(r.clone(), StoreQueryParameters::from_name("c"));
        match wrong.get(&"a".into()) {
            Err(RuntimeError::InvalidStateStore {
                reason: reason @ StoreUnavailable::WrongType(_),
                ..
            }) => assert!(!reason.is_retriable()),
            other => panic!("{other:?}"),
        }
        drop(r);
        drop(c);
        drop(only_p1);
        drop(wrong);
        h1.join().unwrap();
        h2.join().unwrap();
    }

    #[test]
    fn timestamped_stores_answer_with_or_without_their_timestamps() {
        let r = router(State::Running);
        let (tx, rx) = mpsc::channel();
        r.inboxes.register(0, tx);
        let mut ts = Stores::key_value_store_builder_with(
            "ts",
            Serdes::string(),
            Arc::new(ValueAndTimestampSerde::new(Serdes::i64())),
        )
        .in_memory()
        .with_logging_enabled(false)
        .build(&StoreContext::default())
        .unwrap();
        ts.as_any_mut()
            .downcast_mut::<KeyValueStore<String, ValueAndTimestamp<i64>>>()
            .unwrap()
            .put(&"k".into(), &ValueAndTimestamp::make(7, 1_000))
            .unwrap();
        let h = serve(rx, vec![(TaskId::new(0, 0), ts)]);
        let plain = counts(&r, StoreQueryParameters::from_name("ts"));
        assert_eq!(plain.get(&"k".into()).unwrap(), Some(7));
        assert_eq!(plain.all().unwrap(), vec![("k".to_string(), 7)]);
        let stamped: ReadOnlyKeyValueStore<String, ValueAndTimestamp<i64>> =
            ReadOnlyKeyValueStore::new(r.clone(), StoreQueryParameters::from_name("ts"));
        assert_eq!(
            stamped.get(&"k".into()).unwrap(),
            Some(ValueAndTimestamp::make(7, 1_000))
        );
        drop((r, plain, stamped));
        h.join().unwrap();
    }

    fn reason(e: RuntimeError) -> StoreUnavailable {
        match e {
            RuntimeError::InvalidStateStore { reason, .. } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_instance_not_running_answers_with_its_state() {
        let c = counts(
            &router(State::Created),
            StoreQueryParameters::from_name("c"),
        );
        assert_eq!(
            reason(c.get(&"a".into()).unwrap_err()),
            StoreUnavailable::NotRunning(State::Created)
        );
        let r = router(State::Rebalancing);
        let c = counts(&r, StoreQueryParameters::from_name("c"));
        let e = reason(c.all().unwrap_err());
        assert_eq!(e, StoreUnavailable::NotRunning(State::Rebalancing));
        assert!(e.is_retriable());
        // Stale stores answer while the instance rebalances (here: no thread, no store).
        let stale = counts(
            &r,
            StoreQueryParameters::from_name("c").enable_stale_stores(),
        );
        assert_eq!(stale.all().unwrap(), vec![]);
    }

    #[test]
    fn a_thread_between_assignments_answers_that_it_rebalances() {
        let r = router(State::Running);
        let (tx, rx) = mpsc::channel::<StoreQuery>();
        r.inboxes.register(0, tx);
        let thread = std::thread::spawn(move || {
            for q in rx {
                (q.run)(Err(StoreUnavailable::NotRunning(State::Rebalancing)));
            }
        });
        let c = counts(&r, StoreQueryParameters::from_name("c"));
        let e = reason(c.get(&"a".into()).unwrap_err());
        assert_eq!(e, StoreUnavailable::NotRunning(State::Rebalancing));
        assert!(e.is_retriable());
        drop((r, c));
        thread.join().unwrap();
    }

    #[test]
    fn a_silent_thread_times_out_and_a_stopped_one_is_reported() {
        let r = router(State::Running);
        let (tx, rx) = mpsc::channel();
        r.inboxes.register(0, tx);
        let params = StoreQueryParameters::from_name("c").with_timeout(Duration::from_millis(50));
        let c = counts(&r, params.clone());
        // The inbox is open but nobody answers.
        assert_eq!(
            reason(c.get(&"a".into()).unwrap_err()),
            StoreUnavailable::Timeout(Duration::from_millis(50))
        );
        // The thread takes the waiting queries and stops without running them.
        drop(rx.try_iter().collect::<Vec<_>>());
        let (tx, rx) = mpsc::channel::<StoreQuery>();
        r.inboxes.register(0, tx);
        let stopping = std::thread::spawn(move || {
            let q = rx.recv().unwrap();
            drop(q);
        });
        assert_eq!(
            reason(c.get(&"a".into()).unwrap_err()),
            StoreUnavailable::ThreadStopped
        );
        stopping.join().unwrap();
        // A thread gone altogether (its inbox closed) is not waited for.
        let (tx, rx) = mpsc::channel::<StoreQuery>();
        drop(rx);
        r.inboxes.register(0, tx);
        assert_eq!(c.all().unwrap(), vec![]);
    }
}
