//! [`KafkaStreams`]: one instance of a streams application.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kstreams_core::{ProcessorTopology, Serde, Topology};
use kstreams_kafka::{Admin, ClientConfig};
use tracing::{error, info, warn};

use crate::config::StreamsConfig;
use crate::error::{Result, RuntimeError};
use crate::exception_handlers::StreamThreadExceptionResponse;
use crate::global_stream_thread;
use crate::interactive_queries::{
    InteractiveQueries, ReadOnlyKeyValueStore, ReadOnlySessionStore, ReadOnlyWindowStore,
    StoreQueryParameters,
};
use crate::internal_topics::{
    PartitionCounts, TopicLayout, create_dead_letter_topic, create_internal_topics,
};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::metrics_export::MetricsReader;
use crate::restore_listener::StateRestoreListener;
use crate::state::{SharedState, State, StateListener};
use crate::stream_thread::{self, PollWakeups, ThreadCaches, ThreadShared};
use crate::streams_metadata::{KeyQueryMetadata, StreamsMetadata};
use crate::thread_metadata::{ThreadMetadata, ThreadRegistry};

/// Runs a topology against Kafka as one instance of the application `application.id`;
/// instances with the same id share the tasks through the consumer group.
///
/// ```no_run
/// # fn topology() -> kstreams_core::Topology { unimplemented!() }
/// use kstreams_runtime::{KafkaStreams, StreamsConfig};
/// let mut streams = KafkaStreams::new(topology(), StreamsConfig::new("app", "localhost:9092"))?;
/// streams.start()?;
/// // ... until shutdown is requested:
/// streams.close()?;
/// # Ok::<(), kstreams_runtime::RuntimeError>(())
/// ```
pub struct KafkaStreams {
    config: StreamsConfig,
    topology: Arc<ProcessorTopology>,
    state: SharedState,
    shutdown: Arc<AtomicBool>,
    crash: Arc<AtomicBool>,
    threads: Vec<StreamThreadHandle>,
    /// What every stream thread shares, once started (for threads added later).
    thread_shared: Option<ThreadShared>,
    global_thread: Option<JoinHandle<Result<()>>>,
    metrics: Arc<Metrics>,
    wakeups: PollWakeups,
    queries: InteractiveQueries,
    restore_listener: Option<Arc<dyn StateRestoreListener>>,
    paused: Arc<AtomicBool>,
    thread_registry: ThreadRegistry,
}

/// A running stream thread: its index, its own stop flag and its OS thread.
struct StreamThreadHandle {
    index: usize,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<()>>,
}

impl std::fmt::Debug for KafkaStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStreams")
            .field("application_id", &self.config.application_id)
            .field("state", &self.state.get())
            .finish()
    }
}

impl KafkaStreams {
    /// Validates the configuration and the topology (resolved with the application id).
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self> {
        config.validate()?;
        let built = topology.build(Some(&config.application_id))?;
        let dlq = config.effective_dead_letter_topic();
        if built.subtopology_for_topic(&dlq).is_some() {
            return Err(RuntimeError::IllegalState(format!(
                "the topology reads the dead-letter topic '{dlq}': records must not flow back from it automatically (replay them instead)"
            )));
        }
        let topology = Arc::new(built);
        let state = SharedState::new();
        let wakeups = PollWakeups::default();
        let queries = InteractiveQueries::new(
            topology.clone(),
            config.application_server.clone(),
            state.clone(),
            wakeups.clone(),
        );
        Ok(KafkaStreams {
            config,
            topology,
            state,
            shutdown: Arc::new(AtomicBool::new(false)),
            crash: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            thread_shared: None,
            global_thread: None,
            metrics: Arc::default(),
            wakeups,
            queries,
            restore_listener: None,
            paused: Arc::default(),
            thread_registry: ThreadRegistry::default(),
        })
    }

    /// The instance's state.
    pub fn state(&self) -> State {
        self.state.get()
    }

    /// Sets the listener called with `(new, old)` on every state change.
    pub fn set_state_listener(&mut self, listener: StateListener) {
        self.state.set_listener(listener);
    }

    /// Pauses processing (Kafka Streams' `pause`): the stream threads stop processing records
    /// and punctuating, and stop fetching; they stay in the group (polling, committing what
    /// was processed) and standby tasks keep up with their changelogs. The state stays as it
    /// is (`Running` when it was). Also before [`Self::start`]: the instance then starts
    /// paused.
    pub fn pause(&self) {
        info!("pausing processing");
        self.paused.store(true, Ordering::SeqCst);
        self.wakeups.wake_all();
    }

    /// Resumes processing after [`Self::pause`].
    pub fn resume(&self) {
        info!("resuming processing");
        self.paused.store(false, Ordering::SeqCst);
        self.wakeups.wake_all();
    }

    /// Whether processing is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Sets the listener that hears how restoring the stores goes, the stream threads' stores
    /// from their changelogs and the global stores from their topics (Kafka Streams'
    /// `setGlobalStateRestoreListener`). Only before [`Self::start`].
    pub fn set_global_state_restore_listener(
        &mut self,
        listener: impl StateRestoreListener,
    ) -> Result<()> {
        if self.state.get() != State::Created {
            return Err(RuntimeError::IllegalState(
                "the restore listener is set before start()".into(),
            ));
        }
        self.restore_listener = Some(Arc::new(listener));
        Ok(())
    }

    /// The instance's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// The instance's live metrics for another thread, e.g. to serve them in the Prometheus
    /// text format.
    pub fn metrics_reader(&self) -> MetricsReader {
        MetricsReader::new(
            self.config.application_id.clone(),
            self.metrics.clone(),
            self.state.clone(),
        )
    }

    /// What each live stream thread of this instance runs: its active tasks with their
    /// partitions, its standby tasks, its clients (Kafka Streams' `metadataForLocalThreads`).
    pub fn metadata_for_local_threads(&self) -> Vec<ThreadMetadata> {
        self.thread_registry
            .all(|i| self.state.is_thread_running(i))
    }

    /// The partition counts of the topology's topics, known after [`KafkaStreams::start`].
    pub fn partition_counts(&self) -> Option<&PartitionCounts> {
        self.queries.partition_counts()
    }

    /// Creates the internal topics (checking co-partitioning) and starts the stream threads.
    /// How many of the instance's stream threads are running (a replaced thread counts once;
    /// threads stopped by a shutdown or a failure do not count).
    pub fn alive_stream_threads(&self) -> usize {
        self.threads
            .iter()
            .filter(|t| !t.handle.is_finished())
            .count()
    }

    /// Returns once the threads run; the instance is Rebalancing until every thread has its
    /// tasks restored, then Running.
    pub fn start(&mut self) -> Result<()> {
        if self.state.get() != State::Created {
            return Err(RuntimeError::IllegalState(format!(
                "start() in state {:?}",
                self.state.get()
            )));
        }
        let layout = TopicLayout::of(&self.topology);
        let config = self.config.clone();
        let sinks: Vec<String> = layout.sinks.iter().flatten().cloned().collect();
        let setup =
            std::thread::spawn(move || -> Result<(PartitionCounts, HashMap<String, i32>)> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    let admin = Admin::connect(
                        ClientConfig::new(&config.bootstrap_servers)
                            .with_client_id(format!("{}-admin", config.application_id))
                            .with_request_timeout(config.request_timeout),
                    )
                    .await?;
                    let counts =
                        create_internal_topics(&admin, &layout, config.replication_factor).await?;
                    create_dead_letter_topic(
                        &admin,
                        &config.effective_dead_letter_topic(),
                        config.replication_factor,
                    )
                    .await?;
                    let mut partitions: HashMap<String, i32> = counts
                        .topics
                        .iter()
                        .map(|(t, c)| (t.clone(), *c as i32))
                        .collect();
                    let sink_counts = admin.describe_partition_counts(&sinks).await?;
                    for (t, c) in sink_counts {
                        partitions.insert(t, c as i32);
                    }
                    Ok((counts, partitions))
                })
            });
        let (counts, partitions) = setup
            .join()
            .map_err(|_| RuntimeError::IllegalState("start-up thread panicked".into()))??;
        self.queries.set_partition_counts(counts);
        std::fs::create_dir_all(self.config.state_dir.join(&self.config.application_id))?;
        let process_id = self.process_id()?;
        info!(application_id = %self.config.application_id, %process_id, "starting");
        self.state.transition(State::Rebalancing);
        // Global stores are restored before any stream thread starts, so the instance only
        // reaches Running with complete global tables.
        let global = match global_stream_thread::start(
            &self.config,
            &self.topology,
            self.shutdown.clone(),
            self.crash.clone(),
            self.state.clone(),
            self.wakeups.clone(),
            self.restore_listener.clone(),
        ) {
            Ok(g) => g,
            Err(e) => {
                error!(error = %e, "global stream thread failed to restore");
                self.state.transition(State::Error);
                return Err(e);
            }
        };
        let global_stores = global.as_ref().map(|g| g.stores.clone());
        if let Some(g) = &global_stores {
            self.queries.set_global_stores(g.clone());
        }
        self.global_thread = global.map(|g| g.handle);
        let shared = ThreadShared {
            config: self.config.clone(),
            topology: self.topology.clone(),
            process_id,
            shutdown: self.shutdown.clone(),
            crash: self.crash.clone(),
            state: self.state.clone(),
            metrics: self.metrics.clone(),
            partitions: Arc::new(partitions),
            global: global_stores,
            wakeups: self.wakeups.clone(),
            queries: self.queries.inboxes().clone(),
            paused: self.paused.clone(),
            threads: self.thread_registry.clone(),
            cluster: self.queries.cluster().clone(),
            restore_listener: self.restore_listener.clone(),
            caches: ThreadCaches::new(self.config.cache_max_bytes),
        };
        self.state.set_threads(self.config.num_stream_threads);
        self.thread_shared = Some(shared);
        for i in 0..self.config.num_stream_threads {
            self.spawn_stream_thread(i)?;
        }
        Ok(())
    }

    /// Whether every stream thread and the global thread have ended.
    fn all_threads_finished(&self) -> bool {
        self.threads
            .iter()
            .map(|t| &t.handle)
            .chain(&self.global_thread)
            .all(JoinHandle::is_finished)
    }

    /// The stream threads' and the global thread's handles, taken to be joined.
    fn take_thread_handles(&mut self) -> Vec<JoinHandle<Result<()>>> {
        self.threads
            .drain(..)
            .map(|t| t.handle)
            .chain(self.global_thread.take())
            .collect()
    }

    fn thread_name(&self, index: usize) -> String {
        format!("{}-StreamThread-{index}", self.config.application_id)
    }

    fn spawn_stream_thread(&mut self, index: usize) -> Result<()> {
        let shared = self
            .thread_shared
            .clone()
            .ok_or_else(|| RuntimeError::IllegalState("the instance has not started".into()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(self.thread_name(index))
            .spawn(move || run_replacing(index, shared, flag))?;
        self.threads.push(StreamThreadHandle {
            index,
            stop,
            handle,
        });
        Ok(())
    }

    fn can_resize(&self, what: &str) -> Result<()> {
        match self.state.get() {
            State::Running | State::Rebalancing => Ok(()),
            s => Err(RuntimeError::IllegalState(format!(
                "{what} needs a running or rebalancing instance, not one in state {s:?}"
            ))),
        }
    }

    /// Starts one more stream thread (Kafka Streams' `addStreamThread`): it joins the group,
    /// the group rebalances the tasks over one more member, and the cache budget is split
    /// again. Returns the new thread's name.
    pub fn add_stream_thread(&mut self) -> Result<String> {
        self.can_resize("add_stream_thread")?;
        let taken: std::collections::BTreeSet<usize> =
            self.threads.iter().map(|t| t.index).collect();
        let index = (0..).find(|i| !taken.contains(i)).unwrap_or(taken.len());
        self.state.add_thread(index);
        self.spawn_stream_thread(index)?;
        info!(thread = index, "stream thread added");
        Ok(self.thread_name(index))
    }

    /// Stops one stream thread, the one with the highest index (Kafka Streams'
    /// `removeStreamThread`): it commits, closes its tasks clean and leaves the group, whose
    /// other members take its tasks; the cache budget is split again. Returns the removed
    /// thread's name, or `None` when one thread is left (the instance keeps it).
    pub fn remove_stream_thread(&mut self) -> Result<Option<String>> {
        self.can_resize("remove_stream_thread")?;
        if self.threads.len() <= 1 {
            return Ok(None);
        }
        let Some(pos) = self
            .threads
            .iter()
            .enumerate()
            .max_by_key(|(_, t)| t.index)
            .map(|(pos, _)| pos)
        else {
            return Ok(None);
        };
        let t = self.threads.remove(pos);
        t.stop.store(true, Ordering::SeqCst);
        self.wakeups.wake(t.index);
        let joined = t.handle.join();
        self.state.remove_thread(t.index);
        info!(thread = t.index, "stream thread removed");
        match joined {
            Ok(Ok(())) => Ok(Some(self.thread_name(t.index))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(RuntimeError::IllegalState(
                "the removed stream thread panicked".into(),
            )),
        }
    }

    /// A cloneable, thread-safe handle for interactive queries on this instance: store views
    /// and where-is-my-key metadata, for an application's query server.
    pub fn interactive_queries(&self) -> InteractiveQueries {
        self.queries.clone()
    }

    /// A read-only view of the key-value store `params` names, over this instance's tasks
    /// (Kafka Streams' `store(...)` with `QueryableStoreTypes.keyValueStore()`); see
    /// [`InteractiveQueries::key_value_store`].
    pub fn key_value_store<K, V>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlyKeyValueStore<K, V>>
    where
        K: Clone + Send + Sync + 'static,
        V: Send + 'static,
    {
        self.queries.key_value_store(params)
    }

    /// A read-only view of the window store `params` names, over this instance's tasks.
    pub fn window_store<K, V>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlyWindowStore<K, V>>
    where
        K: Clone + Send + Sync + 'static,
        V: Send + 'static,
    {
        self.queries.window_store(params)
    }

    /// A read-only view of the session store `params` names, over this instance's tasks.
    pub fn session_store<K, V>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlySessionStore<K, V>>
    where
        K: Clone + Send + Sync + 'static,
        V: Send + 'static,
    {
        self.queries.session_store(params)
    }

    /// Every instance of the group with an `application.server` and what it hosts; see
    /// [`InteractiveQueries::metadata_for_all_streams_clients`].
    pub fn metadata_for_all_streams_clients(&self) -> Vec<StreamsMetadata> {
        self.queries.metadata_for_all_streams_clients()
    }

    /// The instances hosting store `store`.
    pub fn streams_metadata_for_store(&self, store: &str) -> Vec<StreamsMetadata> {
        self.queries.streams_metadata_for_store(store)
    }

    /// Which instance to ask for `key` of store `store`; see
    /// [`InteractiveQueries::query_metadata_for_key`].
    pub fn query_metadata_for_key<K: 'static>(
        &self,
        store: &str,
        key: &K,
        key_serde: &dyn Serde<K>,
    ) -> Result<Option<KeyQueryMetadata>> {
        self.queries.query_metadata_for_key(store, key, key_serde)
    }

    /// [`Self::query_metadata_for_key`] with the store's own partitioner.
    pub fn query_metadata_for_key_with_partitioner<K>(
        &self,
        store: &str,
        key: &K,
        partitioner: impl FnOnce(&K, i32) -> i32,
    ) -> Result<Option<KeyQueryMetadata>> {
        self.queries
            .query_metadata_for_key_with_partitioner(store, key, partitioner)
    }

    /// Deletes this instance's local state, `<state.dir>/<application.id>`: every task's
    /// stores and checkpoints, the global stores and the process id (Kafka Streams'
    /// `cleanUp`). Only while no thread runs: before [`Self::start`] or after
    /// [`Self::close`]. The next start restores every store from its changelog.
    pub fn clean_up(&self) -> Result<()> {
        let state = self.state.get();
        let stopped = match state {
            State::Created | State::NotRunning => true,
            State::Error => self.all_threads_finished(),
            _ => false,
        };
        if !stopped {
            return Err(RuntimeError::IllegalState(format!(
                "clean_up() needs a stopped instance, not one in state {state:?}"
            )));
        }
        let dir = self.config.state_dir.join(&self.config.application_id);
        info!(dir = %dir.display(), "deleting the local state");
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The instance's process id, kept in the state directory so a restarted instance uses the
    /// same transactional ids (fencing its previous incarnation).
    fn process_id(&self) -> Result<String> {
        let path = self
            .config
            .state_dir
            .join(&self.config.application_id)
            .join("kstreams.process-id");
        if let Ok(s) = std::fs::read_to_string(&path) {
            let s = s.trim();
            if !s.is_empty() {
                return Ok(s.to_string());
            }
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!("{:x}{:x}", nanos, std::process::id());
        std::fs::write(&path, &id)?;
        Ok(id)
    }

    /// Stops the stream threads: each commits, checkpoints its stores and leaves the group.
    /// Returns the first error a thread ended with.
    pub fn close(&mut self) -> Result<()> {
        self.close_within(None).map(|_| ())
    }

    /// [`Self::close`], waiting at most `timeout` for the threads (Kafka Streams'
    /// `close(Duration)`): `Ok(false)` when some thread is still busy then (a long commit, a
    /// processor that blocks), in which case the threads go on shutting down in the
    /// background and the instance stays `PendingShutdown`; call `close` again to wait for
    /// them.
    pub fn close_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.close_within(Some(Instant::now() + timeout))
    }

    fn close_within(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let before = self.state.get();
        if matches!(before, State::NotRunning) {
            return Ok(true);
        }
        self.state.transition(State::PendingShutdown);
        self.shutdown.store(true, Ordering::SeqCst);
        self.wakeups.wake_all();
        if let Some(deadline) = deadline {
            while !self.all_threads_finished() {
                if Instant::now() >= deadline {
                    warn!("close timed out: stream threads still shutting down");
                    return Ok(false);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let mut first = None;
        for h in self.take_thread_handles() {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first.get_or_insert(e);
                }
                Err(_) => {
                    first
                        .get_or_insert(RuntimeError::IllegalState("stream thread panicked".into()));
                }
            }
        }
        if first.is_some() || before == State::Error {
            self.state.transition(State::Error);
        } else {
            self.state.transition(State::NotRunning);
        }
        first.map_or(Ok(true), Err)
    }
}

/// Runs stream thread `index`; when it fails, the uncaught exception handler decides: a new
/// thread in its place, or the instance shuts down (the other threads commit and close).
fn run_replacing(index: usize, shared: ThreadShared, stop: Arc<AtomicBool>) -> Result<()> {
    let handler = shared.config.exception_handlers.uncaught.clone();
    loop {
        let e = match stream_thread::run(index, shared.clone(), stop.clone()) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if stop.load(Ordering::SeqCst) {
            // Removed (`remove_stream_thread`): it fails alone, the instance goes on.
            error!(thread = index, error = %e, "removed stream thread failed while stopping");
            return Err(e);
        }
        if shared.shutdown.load(Ordering::SeqCst) {
            error!(thread = index, error = %e, "stream thread failed while shutting down");
            shared.state.transition(State::Error);
            return Err(e);
        }
        match handler.handle(&e) {
            StreamThreadExceptionResponse::ReplaceThread => {
                warn!(thread = index, error = %e, "stream thread failed: replacing it");
                shared.state.thread_running(index, false);
                shared
                    .metrics
                    .replaced_threads
                    .fetch_add(1, Ordering::Relaxed);
            }
            StreamThreadExceptionResponse::ShutdownClient => {
                error!(thread = index, error = %e, "stream thread failed: shutting the instance down");
                shared.state.transition(State::Error);
                shared.shutdown.store(true, Ordering::SeqCst);
                shared.wakeups.wake_all();
                return Err(e);
            }
        }
    }
}

impl KafkaStreams {
    /// Stops the stream threads at once, as a crash (`SIGKILL`) would: nothing is committed,
    /// no checkpoint is written (local state is wiped and restored on restart), the group is
    /// not left (the coordinator evicts the members after the session timeout) and open
    /// transactions stay open until the next instance with the same transactional ids fences
    /// them or they time out. For failover tests.
    pub fn kill(&mut self) {
        self.state.transition(State::PendingShutdown);
        self.crash.store(true, Ordering::SeqCst);
        self.wakeups.wake_all();
        for h in self.take_thread_handles() {
            let _ = h.join();
        }
        self.state.transition(State::NotRunning);
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            let _ = self.close();
        }
    }
}
