//! A stream thread: one consumer in the application's group, the tasks of its assignment, one
//! producer (transactional under exactly_once_v2), and the poll → process → send → commit loop.
//!
//! Each stream thread is an OS thread driving a current-thread tokio runtime, so tasks (which
//! are not `Send`) never leave it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kstreams_core::failure::ProductionDecisions;
use kstreams_core::processor::{GlobalStateStores, ProcessorGraph};
use kstreams_core::{
    ConsumedRecord, Headers, ProcessorTopology, SharedClock, StreamTask, SystemClock, TaskId,
    TaskState,
};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig, ConsumerRebalanceListener};
use kstreams_kafka::fetcher::{ConsumerRecord, OffsetResetStrategy};
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{Client, ClientConfig, IsolationLevel, OffsetAndMetadata, TopicPartition};
use kstreams_state::{SharedThreadCache, ThreadCache};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::assignor::StreamsPartitionAssignor;
use crate::checkpoint;
use crate::collector::{Outbox, drain};
use crate::config::StreamsConfig;
use crate::error::{Result, RuntimeError};
use crate::interactive_queries::{QueryInboxes, StoreQuery};
use crate::metrics::{LocalLatency, Metrics};
use crate::restore_listener::StateRestoreListener;
use crate::send_failure::PendingSends;
use crate::state::SharedState;
use crate::streams_metadata::ClusterMetadata;
use crate::thread_metadata::{TaskMetadata, ThreadMetadata, ThreadRegistry};

mod output;
mod pacing;
mod queries;
mod tasks;

/// What every stream thread of an instance shares.
#[derive(Clone)]
pub(crate) struct ThreadShared {
    pub(crate) config: StreamsConfig,
    pub(crate) topology: Arc<ProcessorTopology>,
    pub(crate) process_id: String,
    pub(crate) shutdown: Arc<AtomicBool>,
    /// Stop at once as in a crash: no commit, no checkpoint, no LeaveGroup.
    pub(crate) crash: Arc<AtomicBool>,
    pub(crate) state: SharedState,
    pub(crate) metrics: Arc<Metrics>,
    /// Partition counts of the topics tasks write (for partitioners).
    pub(crate) partitions: Arc<HashMap<String, i32>>,
    /// The instance's global stores, restored before the stream threads start.
    pub(crate) global: Option<GlobalStateStores>,
    /// Ends the threads' polls when the instance stops, or when a query waits.
    pub(crate) wakeups: PollWakeups,
    /// Where interactive queries reach the threads.
    pub(crate) queries: QueryInboxes,
    /// Processing is paused (`KafkaStreams::pause`).
    pub(crate) paused: Arc<AtomicBool>,
    /// What each thread runs, for `KafkaStreams::metadata_for_local_threads`.
    pub(crate) threads: ThreadRegistry,
    /// The threads' shares of `statestore.cache.max.bytes`.
    pub(crate) caches: ThreadCaches,
    /// The group's endpoints and their tasks, as the latest assignment told them.
    pub(crate) cluster: ClusterMetadata,
    /// Hears how restoring the stores goes.
    pub(crate) restore_listener: Option<Arc<dyn StateRestoreListener>>,
}

/// The consumer wakeups of the stream threads, by thread index, and of the global stream
/// thread: stopping the instance ends every poll at once instead of after up to `poll.ms`.
#[derive(Clone, Default)]
pub(crate) struct PollWakeups(Arc<Mutex<HashMap<usize, kstreams_kafka::consumer::ConsumerWakeup>>>);

/// The cache budgets of the live stream threads: `statestore.cache.max.bytes` split evenly,
/// split again whenever a thread comes or goes (Kafka Streams resizes its thread caches the
/// same way).
#[derive(Clone, Default)]
pub(crate) struct ThreadCaches {
    total: usize,
    caches: Arc<Mutex<BTreeMap<usize, SharedThreadCache>>>,
}

impl ThreadCaches {
    pub(crate) fn new(total: usize) -> Self {
        ThreadCaches {
            total,
            caches: Arc::default(),
        }
    }

    /// The budget of thread `index`, joining the split.
    fn register(&self, index: usize) -> SharedThreadCache {
        let cache = ThreadCache::shared(0);
        if let Ok(mut m) = self.caches.lock() {
            m.insert(index, cache.clone());
            self.split(&m);
        }
        cache
    }

    /// Thread `index` stopped: the others share its budget.
    fn unregister(&self, index: usize) {
        if let Ok(mut m) = self.caches.lock() {
            m.remove(&index);
            self.split(&m);
        }
    }

    fn split(&self, caches: &BTreeMap<usize, SharedThreadCache>) {
        let each = self.total / caches.len().max(1);
        for c in caches.values() {
            c.set_max_bytes(each);
        }
    }
}

/// The global stream thread's key among the [`PollWakeups`] (stream threads use their index).
pub(crate) const GLOBAL_THREAD_WAKEUP: usize = usize::MAX;

impl PollWakeups {
    pub(crate) fn register(&self, index: usize, wakeup: kstreams_kafka::consumer::ConsumerWakeup) {
        if let Ok(mut w) = self.0.lock() {
            w.insert(index, wakeup);
        }
    }

    /// Ends thread `index`'s poll in progress (or its next one).
    pub(crate) fn wake(&self, index: usize) {
        if let Ok(w) = self.0.lock()
            && let Some(wakeup) = w.get(&index)
        {
            wakeup.wakeup();
        }
    }

    /// Ends every thread's poll in progress (or its next one).
    pub(crate) fn wake_all(&self) {
        if let Ok(w) = self.0.lock() {
            for wakeup in w.values() {
                wakeup.wakeup();
            }
        }
    }
}

/// The runtime stream thread `index` runs on. With [`StreamsConfig::network_thread`], a runtime
/// with one worker thread: the stream thread's own future runs on the stream thread (in
/// `block_on`), and every task the clients spawn (connections, the producer's sender, fetches
/// and their decoding, heartbeats) on the worker, the thread's network thread. Without, a
/// single-threaded runtime that runs both on the stream thread.
fn runtime(index: usize, config: &StreamsConfig) -> std::io::Result<tokio::runtime::Runtime> {
    if config.network_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!(
                "{}-StreamThread-{index}-network",
                config.application_id
            ))
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}

/// Runs stream thread `index` until shutdown or a fatal error.
pub(crate) fn run(index: usize, shared: ThreadShared, stop: Arc<AtomicBool>) -> Result<()> {
    let rt = runtime(index, &shared.config)?;
    let span = info_span!("stream_thread", thread = index);
    let threads = shared.threads.clone();
    let caches = shared.caches.clone();
    let r = rt.block_on(
        async move {
            let mut t = StreamThread::start(index, shared, stop).await?;
            t.publish_metadata();
            let r = t.run().await;
            if let Err(e) = &r {
                warn!(error = %e, "stream thread failed");
                t.close_dirty_all();
                // A failed thread leaves the group like a closing one (nothing is committed):
                // its partitions move on without waiting for the session timeout.
                if let Err(e) = t.close_clients().await {
                    warn!(error = %e, "closing the failed thread's clients failed");
                }
            }
            r
        }
        .instrument(span),
    );
    threads.remove(index);
    caches.unregister(index);
    r
}

#[derive(Default)]
struct RebalanceEvents {
    revoked: bool,
    assigned: Option<Vec<TopicPartition>>,
}

struct Listener(Arc<Mutex<RebalanceEvents>>);

impl ConsumerRebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, _partitions: &[TopicPartition]) {
        if let Ok(mut e) = self.0.lock() {
            e.revoked = true;
        }
    }
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        if let Ok(mut e) = self.0.lock() {
            e.assigned = Some(partitions.to_vec());
        }
    }
}

/// Where a changelog partition's records go during restoration.
#[derive(Clone)]
struct ChangelogTarget {
    task: TaskId,
    store: String,
}

struct StreamThread {
    index: usize,
    shared: ThreadShared,
    eos: bool,
    client: Client,
    producer: Producer,
    consumer: Consumer,
    restore_consumer: Consumer,
    events: Arc<Mutex<RebalanceEvents>>,
    tasks: BTreeMap<TaskId, StreamTask>,
    /// Standby tasks assigned by the latest rebalance (written by the assignor).
    standby_assignment: Arc<Mutex<Vec<TaskId>>>,
    /// Standby tasks: their stores, kept warm by tailing the changelogs.
    standbys: BTreeMap<TaskId, ProcessorGraph>,
    standby_consumer: Consumer,
    standby_targets: HashMap<TopicPartition, ChangelogTarget>,
    task_of: HashMap<TopicPartition, TaskId>,
    outbox: Outbox,
    /// The outbox's other buffer (see `swap_out`), kept empty between sends for its
    /// capacity.
    outbox_spare: Vec<kstreams_core::ProducedRecord>,
    /// Processing stopped at its time bound with records still processable: the next poll
    /// does not wait.
    work_left: bool,
    /// Producer calls not yet answered; changelog records carry their partition, sink
    /// output its origin (for the production exception handler).
    pending: PendingSends,
    /// Production handler decisions waiting for their records to be reprocessed
    /// (exactly-once), shared with the tasks.
    production_decisions: Arc<ProductionDecisions>,
    /// Next offset of each changelog partition the local stores reflect.
    changelog_offsets: HashMap<(Arc<str>, i32), i64>,
    changelog_topics: HashSet<String>,
    in_txn: bool,
    clock: SharedClock,
    last_commit: Instant,
    /// This thread's share of `statestore.cache.max.bytes`, charged by its tasks' caching
    /// stores.
    cache: SharedThreadCache,
    /// Process latencies since the last merge into the shared metrics.
    process_latency: LocalLatency,
    /// Interactive queries waiting to be run against this thread's stores.
    queries: std::sync::mpsc::Receiver<StoreQuery>,
    /// This thread alone stops (`KafkaStreams::remove_stream_thread`).
    stop: Arc<AtomicBool>,
}

impl StreamThread {
    async fn start(index: usize, shared: ThreadShared, stop: Arc<AtomicBool>) -> Result<Self> {
        let cfg = &shared.config;
        let eos = cfg.is_exactly_once();
        let client_id = Self::client_id_prefix(&shared, index);
        let client = Self::connect(&shared, format!("{client_id}-consumer")).await?;
        let producer = Self::new_producer(&shared, index).await?;
        let isolation = if eos {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        };
        let mut consumer_cfg = ConsumerConfig::new(cfg.bootstrap_servers.clone())
            .with_group_id(cfg.application_id.clone())
            .with_auto_commit(false)
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_isolation_level(isolation)
            .with_group_timeouts(cfg.session_timeout, cfg.max_poll_interval);
        consumer_cfg.client_id = format!("{client_id}-consumer");
        if let Some(id) = &cfg.group_instance_id {
            consumer_cfg.group_instance_id = Some(format!("{id}-{index}"));
        }
        consumer_cfg.request_timeout = cfg.request_timeout;
        consumer_cfg.fetch_max_wait = cfg.fetch_max_wait;
        consumer_cfg.max_poll_records = cfg.max_poll_records;
        let mut consumer = Consumer::with_client(client.clone(), consumer_cfg)?;
        shared.wakeups.register(index, consumer.wakeup_handle());
        let (query_inbox, queries) = std::sync::mpsc::channel();
        shared.queries.register(index, query_inbox);
        // Commit before a rebalance revokes the partitions (see `step`).
        consumer.set_return_before_rejoin(true);
        let mut restore_cfg = ConsumerConfig::new(cfg.bootstrap_servers.clone())
            .with_auto_commit(false)
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_isolation_level(isolation);
        restore_cfg.client_id = format!("{client_id}-restore-consumer");
        restore_cfg.fetch_max_wait = Duration::from_millis(100);
        restore_cfg.max_poll_records = 10_000;
        let restore_consumer = Consumer::with_client(
            Self::connect(&shared, restore_cfg.client_id.clone()).await?,
            restore_cfg,
        )?;

        let topology = &shared.topology;
        let sources: Vec<Vec<String>> = topology
            .subtopology_ids()
            .map(|s| topology.source_topics(s))
            .collect();
        let mut topics: Vec<String> = sources.iter().flatten().cloned().collect();
        topics.sort();
        topics.dedup();
        let events = Arc::new(Mutex::new(RebalanceEvents::default()));
        let standby_assignment = Arc::new(Mutex::new(Vec::new()));
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(
            &topic_refs,
            Box::new(Listener(events.clone())),
            vec![Self::assignor(&shared, sources, &standby_assignment)],
        )?;
        let mut standby_cfg = ConsumerConfig::new(cfg.bootstrap_servers.clone())
            .with_auto_commit(false)
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_isolation_level(isolation);
        standby_cfg.client_id = format!("{client_id}-standby-consumer");
        standby_cfg.fetch_max_wait = Duration::from_millis(100);
        let standby_consumer = Consumer::with_client(
            Self::connect(&shared, standby_cfg.client_id.clone()).await?,
            standby_cfg,
        )?;
        let changelog_topics = topology
            .changelog_topics()
            .iter()
            .map(|c| c.topic.clone())
            .collect();
        info!(eos, "stream thread started");
        Ok(StreamThread {
            index,
            eos,
            client,
            producer,
            consumer,
            restore_consumer,
            events,
            tasks: BTreeMap::new(),
            standby_assignment,
            standbys: BTreeMap::new(),
            standby_consumer,
            standby_targets: HashMap::new(),
            task_of: HashMap::new(),
            outbox: Outbox::default(),
            outbox_spare: Vec::new(),
            work_left: false,
            pending: PendingSends::default(),
            production_decisions: Arc::default(),
            changelog_offsets: HashMap::new(),
            changelog_topics,
            in_txn: false,
            clock: Arc::new(SystemClock),
            last_commit: Instant::now(),
            cache: shared.caches.register(index),
            stop,
            process_latency: LocalLatency::new(),
            queries,
            shared,
        })
    }

    /// The thread's group assignor: tasks over sub-topologies reading `sources`, standbys,
    /// and the instance's endpoint announced to the group.
    fn assignor(
        shared: &ThreadShared,
        sources: Vec<Vec<String>>,
        standbys: &Arc<Mutex<Vec<TaskId>>>,
    ) -> Arc<StreamsPartitionAssignor> {
        Arc::new(
            StreamsPartitionAssignor::with_standbys(
                sources,
                shared.process_id.clone(),
                shared.config.num_standby_replicas,
                standbys.clone(),
            )
            .with_endpoint(shared.config.application_server.clone())
            .with_cluster_metadata(shared.cluster.clone()),
        )
    }

    /// `<application.id>-<process id>-StreamThread-<index>`: the client ids of the thread's
    /// consumers and producer add their role to it.
    fn client_id_prefix(shared: &ThreadShared, index: usize) -> String {
        format!(
            "{}-{}-StreamThread-{index}",
            shared.config.application_id, shared.process_id
        )
    }

    /// A client with connections of its own. The main consumer, the producer and the restore
    /// and standby consumers each get one, as in Kafka Streams: a broker answers a
    /// connection's requests in order, so a shared connection would hold produce and
    /// transaction requests (and the other consumers' fetches) behind a fetch that waits for
    /// data for up to `fetch.max.wait.ms`.
    async fn connect(shared: &ThreadShared, client_id: String) -> Result<Client> {
        let cfg = &shared.config;
        Ok(Client::connect(
            ClientConfig::new(&cfg.bootstrap_servers)
                .with_client_id(client_id)
                .with_request_timeout(cfg.request_timeout),
        )
        .await?)
    }

    async fn new_producer(shared: &ThreadShared, index: usize) -> Result<Producer> {
        let cfg = &shared.config;
        let mut pc = if cfg.is_exactly_once() {
            let mut pc = ProducerConfig::transactional(format!(
                "{}-{}-{index}",
                cfg.application_id, shared.process_id
            ));
            pc.transaction_timeout = cfg.transaction_timeout;
            pc
        } else {
            ProducerConfig::default()
        };
        pc.request_timeout = cfg.request_timeout;
        pc.linger = cfg.linger;
        let client_id = format!("{}-producer", Self::client_id_prefix(shared, index));
        let producer = Producer::new(Self::connect(shared, client_id).await?, pc).await?;
        if cfg.is_exactly_once() {
            producer.init_transactions().await?;
        }
        Ok(producer)
    }

    fn shutting_down(&self) -> bool {
        self.shared.shutdown.load(Ordering::SeqCst)
            || self.stop.load(Ordering::SeqCst)
            || self.crashing()
    }

    fn crashing(&self) -> bool {
        self.shared.crash.load(Ordering::SeqCst)
    }

    async fn run(&mut self) -> Result<()> {
        let commit_interval = self.shared.config.effective_commit_interval();
        let poll = self.shared.config.poll_interval;
        while !self.shutting_down() {
            let step = self.step(poll, commit_interval).await;
            match step {
                Ok(()) => {}
                Err(e) if self.recoverable(&e) => {
                    warn!(error = %e, "tasks migrated or transaction failed: closing tasks dirty and rejoining");
                    self.reset().await?;
                }
                Err(e) => return Err(e),
            }
        }
        if self.crashing() {
            warn!("stream thread killed: nothing committed, no checkpoint, the group not left");
            return Ok(());
        }
        self.shutdown().await
    }

    fn recoverable(&self, e: &RuntimeError) -> bool {
        match e {
            RuntimeError::Kafka(k) => {
                k.class() != kstreams_kafka::ErrorClass::Fatal
                    || (self.eos
                        && matches!(k.cause(), kstreams_kafka::KafkaError::IllegalState(_)))
            }
            _ => false,
        }
    }

    async fn step(&mut self, poll: Duration, commit_interval: Duration) -> Result<()> {
        if (!self.tasks.is_empty() || !self.standbys.is_empty()) && self.consumer.rejoin_pending() {
            // The next poll revokes every partition (eager protocol): commit first and close
            // every task clean (with checkpoints) before joining, so the next owner starts
            // where they stopped and no store is still open here when another thread of this
            // instance opens it in the next generation (the join completes only once every
            // member, this thread included, has rejoined).
            debug!("rebalance pending: committing and closing tasks before the join");
            self.commit().await?;
            self.last_commit = Instant::now();
            self.shared.state.thread_running(self.index, false);
            self.close_standbys()?;
            self.close_all_clean()?;
        }
        let uncommitted = self.uncommitted(commit_interval);
        let punctuation_due_in = self
            .tasks
            .values()
            .filter_map(|t| t.wall_clock_punctuation_due_in())
            .min();
        let wait = pacing::poll_timeout(
            poll,
            self.shared.config.fetch_max_wait,
            uncommitted,
            punctuation_due_in,
            self.work_left,
        );
        let records = self.consumer.poll(wait).await?;
        // A query ends the poll (waking it): answer it before the records' processing.
        self.serve_queries();
        self.handle_rebalance().await?;
        self.add_records(records)?;
        if self.shared.paused.load(Ordering::SeqCst) {
            // Paused (`KafkaStreams::pause`): no processing, no punctuation, no fetching;
            // the thread still polls (staying in the group), commits and updates standbys.
            self.pause_all()?;
        } else {
            self.backpressure()?;
            self.process()?;
            // Partitions drained by processing resume before the next poll.
            self.backpressure()?;
        }
        self.poll_standbys().await?;
        let sent = self.send_outbox().await?;
        if sent > 0
            && !self.consumer.has_buffered()
            && self.tasks.values().all(|t| t.buffered() == 0)
        {
            // Everything fetched is processed: nothing would join these batches before the
            // next fetch returns, so lingering only adds latency.
            self.producer.send_now()?;
        }
        let requested = self.tasks.values_mut().any(|t| t.commit_requested());
        if pacing::commit_now(self.last_commit.elapsed(), commit_interval, requested) {
            // The interval runs from commit start to commit start, as Kafka Streams' does:
            // counted from the end, every commit would also wait out the one before it.
            let started = Instant::now();
            self.commit().await?;
            self.last_commit = started;
        }
        Ok(())
    }

    fn add_records(&mut self, records: Vec<ConsumerRecord>) -> Result<()> {
        // The consumer returns each partition's records together and in order: hand every run
        // of one partition to its task at once, without a key per record.
        let mut it = records.into_iter().peekable();
        while let Some(first) = it.next() {
            let partition = first.partition;
            let tp = TopicPartition::new(&*first.topic, partition);
            let mut run = vec![to_consumed(first)];
            while let Some(r) = it.next_if(|r| r.partition == partition && *r.topic == *tp.topic) {
                run.push(to_consumed(r));
            }
            let Some(id) = self.task_of.get(&tp) else {
                debug!(%tp, "records for a partition without task dropped");
                continue;
            };
            if let Some(task) = self.tasks.get_mut(id) {
                let ctp = kstreams_core::TopicPartition::new(tp.topic, tp.partition);
                task.add_records(&ctp, run)?;
            }
        }
        Ok(())
    }

    /// Pauses fetching from every assigned partition (the instance is paused); the next
    /// [`Self::backpressure`] resumes those with room once it runs again.
    fn pause_all(&mut self) -> Result<()> {
        let paused = self.consumer.paused();
        let pause: Vec<TopicPartition> = self
            .task_of
            .keys()
            .filter(|tp| !paused.contains(tp))
            .cloned()
            .collect();
        if !pause.is_empty() {
            self.consumer.pause(&pause)?;
        }
        Ok(())
    }

    /// Pauses partitions whose task queue is full, resumes those drained to half
    /// ([`pacing::flow`]).
    fn backpressure(&mut self) -> Result<()> {
        let max = self.shared.config.buffered_records_per_partition;
        let paused = self.consumer.paused();
        let mut pause = Vec::new();
        let mut resume = Vec::new();
        for (tp, id) in &self.task_of {
            let Some(task) = self.tasks.get(id) else {
                continue;
            };
            let ctp = kstreams_core::TopicPartition::new(tp.topic.clone(), tp.partition);
            match pacing::flow(task.buffered_in(&ctp), max, paused.contains(tp)) {
                pacing::Flow::Pause => pause.push(tp.clone()),
                pacing::Flow::Resume => resume.push(tp.clone()),
                pacing::Flow::Keep => {}
            }
        }
        if !pause.is_empty() {
            self.shared
                .metrics
                .paused
                .fetch_add(pause.len() as u64, Ordering::Relaxed);
            self.consumer.pause(&pause)?;
        }
        if !resume.is_empty() {
            self.consumer.resume(&resume)?;
        }
        Ok(())
    }

    /// Processes buffered records round-robin over the tasks for a bounded time, then runs
    /// due wall-clock punctuators.
    fn process(&mut self) -> Result<usize> {
        let deadline = Instant::now() + Duration::from_millis(100);
        let mut n = 0;
        self.work_left = false;
        loop {
            let mut any = false;
            for (id, task) in self.tasks.iter_mut() {
                let _span = tracing::trace_span!("task", task = %id).entered();
                for _ in 0..100 {
                    let started = self.process_latency.start();
                    if !task.process()? {
                        break;
                    }
                    // Into the thread's own histogram: no lock per record.
                    self.process_latency.processed(started);
                    any = true;
                    n += 1;
                }
            }
            if !any {
                break;
            }
            if Instant::now() >= deadline {
                self.work_left = true;
                break;
            }
            // A query waits at most one round (up to 100 records per task), not the whole
            // processing slice.
            self.serve_queries();
        }
        for task in self.tasks.values_mut() {
            task.maybe_punctuate_wall_clock()?;
        }
        let now = Instant::now();
        if self.process_latency.merge_due(now) {
            self.shared
                .metrics
                .merge_process_latency(&mut self.process_latency, now);
        }
        self.shared
            .metrics
            .processed
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// Opens the tasks of `partitions` (stores restored from their changelogs) and the
    /// standbys, and publishes them as this thread's active tasks. Returns the task ids.
    async fn open_tasks(&mut self, partitions: &[TopicPartition]) -> Result<Vec<String>> {
        self.create_tasks(partitions)?;
        self.restore().await?;
        for task in self.tasks.values_mut() {
            task.initialize()?;
        }
        self.close_standbys()?;
        self.create_standbys().await?;
        let ids: Vec<String> = self.tasks.keys().map(ToString::to_string).collect();
        self.shared
            .metrics
            .set_active_tasks(self.index, ids.clone());
        self.publish_metadata();
        self.last_commit = Instant::now();
        Ok(ids)
    }

    /// Publishes what this thread runs now ([`ThreadMetadata`]).
    fn publish_metadata(&self) {
        let mut partitions: BTreeMap<TaskId, Vec<TopicPartition>> = BTreeMap::new();
        for (tp, id) in &self.task_of {
            partitions.entry(*id).or_default().push(tp.clone());
        }
        let active_tasks = self
            .tasks
            .keys()
            .map(|id| {
                let mut topic_partitions = partitions.remove(id).unwrap_or_default();
                topic_partitions.sort();
                TaskMetadata {
                    task_id: *id,
                    topic_partitions,
                }
            })
            .collect();
        let prefix = Self::client_id_prefix(&self.shared, self.index);
        self.shared.threads.publish(
            self.index,
            ThreadMetadata {
                thread_name: format!(
                    "{}-StreamThread-{}",
                    self.shared.config.application_id, self.index
                ),
                running: false,
                active_tasks,
                standby_tasks: self.standbys.keys().copied().collect(),
                consumer_client_id: format!("{prefix}-consumer"),
                producer_client_id: format!("{prefix}-producer"),
            },
        );
    }

    /// Commits every task that needs it: ALOS flushes the producer, then commits the offsets;
    /// EOS commits output, changelog writes and offsets in the thread's transaction.
    async fn commit(&mut self) -> Result<()> {
        let started = Instant::now();
        let mut offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
        let mut committed = Vec::new();
        for (id, task) in self.tasks.iter_mut() {
            if task.state() != TaskState::Running || !task.commit_needed() {
                continue;
            }
            for (tp, o) in task.prepare_commit()? {
                offsets.insert(
                    TopicPartition::new(tp.topic.clone(), tp.partition),
                    OffsetAndMetadata::new(o),
                );
            }
            committed.push(*id);
        }
        let prepared = started.elapsed();
        self.send_outbox().await?;
        if offsets.is_empty() && !self.in_txn && self.pending.is_empty() {
            // Nothing of these tasks to make durable (no offsets, nothing sent): they are
            // committed as they are, and a processor's request is answered.
            self.post_commit(&committed);
            return Ok(());
        }
        let outbox_sent = started.elapsed();
        if self.eos {
            if !self.in_txn {
                self.producer.begin_transaction()?;
                self.in_txn = true;
            }
            // A rejected output record poisons the transaction: find out before committing.
            if self.handle_known_rejections().await? {
                return Ok(());
            }
            if !offsets.is_empty() {
                let group = self.consumer.group_metadata()?;
                let list: Vec<(TopicPartition, OffsetAndMetadata)> = offsets.into_iter().collect();
                self.producer
                    .send_offsets_to_transaction(&list, &group)
                    .await?;
            }
            let offsets_sent = started.elapsed();
            if let Err(e) = self.producer.commit_transaction().await {
                // The rejection of a record sent late in the transaction shows only now.
                if self.handle_known_rejections().await? {
                    return Ok(());
                }
                return Err(e.into());
            }
            self.in_txn = false;
            self.await_pending().await?;
            debug!(
                prepare_us = prepared.as_micros() as u64,
                send_us = (outbox_sent - prepared).as_micros() as u64,
                offsets_us = (offsets_sent - outbox_sent).as_micros() as u64,
                commit_txn_us = (started.elapsed() - offsets_sent).as_micros() as u64,
                "transaction committed"
            );
        } else {
            self.producer.flush().await?;
            self.await_pending().await?;
            if !offsets.is_empty() {
                self.consumer.commit_offsets_sync(&offsets).await?;
            }
        }
        self.post_commit(&committed);
        if !self.eos {
            // At-least-once keeps a checkpoint of every commit, so a crash restores only the
            // changelog's tail (replaying it over newer local writes is idempotent). Under
            // EOS the local state may hold uncommitted writes, so a crash wipes it instead.
            for id in committed {
                let Some(t) = self.tasks.get_mut(&id) else {
                    continue;
                };
                t.flush_state()?;
                let offsets = self.checkpoint_offsets(id);
                if !offsets.is_empty() {
                    checkpoint::write(&self.task_dir(id), &offsets)?;
                }
            }
        }
        let m = &self.shared.metrics;
        m.commits.fetch_add(1, Ordering::Relaxed);
        m.record_commit_latency(started.elapsed());
        self.update_lag();
        Ok(())
    }

    /// Lag per input partition: the high watermark minus the next offset to process.
    fn update_lag(&mut self) {
        for (tp, id) in &self.task_of {
            let Some(task) = self.tasks.get(id) else {
                continue;
            };
            let Ok((hw, _)) = self.consumer.watermarks(tp) else {
                continue;
            };
            if hw < 0 {
                continue;
            }
            let ctp = kstreams_core::TopicPartition::new(tp.topic.clone(), tp.partition);
            // Records returned by the consumer but still queued in the task count as lag.
            let buffered = task.buffered_in(&ctp) as i64;
            let Some(pos) = self.consumer.current_position(tp) else {
                continue;
            };
            let lag = (hw - pos + buffered).max(0);
            self.shared.metrics.set_lag(tp.to_string(), lag);
        }
    }

    async fn handle_rebalance(&mut self) -> Result<()> {
        let (revoked, assigned) = {
            let mut e = self
                .events
                .lock()
                .map_err(|_| RuntimeError::IllegalState("rebalance events poisoned".into()))?;
            (std::mem::take(&mut e.revoked), e.assigned.take())
        };
        if revoked {
            // Eager protocol: every partition was revoked and positions restart from the
            // committed offsets. Normally the thread committed just before (see `step`) and the
            // tasks close clean with a checkpoint; otherwise the uncommitted work is dropped and
            // the tasks close dirty (their state is wiped and restored when they reopen).
            info!(tasks = self.tasks.len(), "partitions revoked");
            self.shared.state.thread_running(self.index, false);
            self.close_standbys()?;
            if self.has_uncommitted_work() {
                self.abort_and_close_dirty().await;
            } else {
                self.close_all_clean()?;
            }
        }
        if let Some(partitions) = assigned {
            self.shared.state.thread_running(self.index, false);
            if !self.tasks.is_empty() {
                self.abort_and_close_dirty().await;
            }
            let ids = self.open_tasks(&partitions).await?;
            info!(tasks = ?ids, "tasks running");
            self.shared
                .metrics
                .assignments
                .fetch_add(1, Ordering::Relaxed);
            self.shared.state.thread_running(self.index, true);
        }
        Ok(())
    }

    async fn abort_and_close_dirty(&mut self) {
        if self.eos && self.in_txn {
            if let Err(e) = self.producer.abort_transaction().await {
                warn!(error = %e, "abort failed");
            }
            self.in_txn = false;
        }
        self.close_dirty_all();
    }

    /// Drops the lag and active-task metrics of this thread's tasks (they are being closed).
    fn forget_lag(&self) {
        for tp in self.task_of.keys() {
            self.shared.metrics.remove_lag(&tp.to_string());
        }
        self.shared.metrics.set_active_tasks(self.index, Vec::new());
    }

    fn close_dirty_all(&mut self) {
        self.forget_lag();
        for (_, mut g) in std::mem::take(&mut self.standbys) {
            let _ = g.close();
        }
        self.standby_targets.clear();
        let _ = self.standby_consumer.assign(&[]);
        for (_, mut t) in std::mem::take(&mut self.tasks) {
            t.close_dirty();
        }
        self.task_of.clear();
        self.pending.clear();
        drain(&self.outbox);
        self.changelog_offsets.clear();
        self.publish_metadata();
    }

    /// After fencing or a failed transaction: closes the tasks dirty, replaces the producer
    /// and rejoins the group (positions restart from the committed offsets).
    async fn reset(&mut self) -> Result<()> {
        self.shared.state.thread_running(self.index, false);
        self.abort_and_close_dirty().await;
        if self.eos {
            let _ = self.producer.close().await;
            self.producer = Self::new_producer(&self.shared, self.index).await?;
        }
        let topics = self.consumer.subscription();
        if let Err(e) = self.consumer.unsubscribe().await {
            warn!(error = %e, "leaving the group failed");
        }
        let topology = &self.shared.topology;
        let sources: Vec<Vec<String>> = topology
            .subtopology_ids()
            .map(|s| topology.source_topics(s))
            .collect();
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer.subscribe(
            &refs,
            Box::new(Listener(self.events.clone())),
            vec![Self::assignor(
                &self.shared,
                sources,
                &self.standby_assignment,
            )],
        )?;
        Ok(())
    }

    /// Marks the tasks committed (their processed records and punctuations, and any commit a
    /// processor asked for).
    fn post_commit(&mut self, committed: &[TaskId]) {
        for id in committed {
            if let Some(t) = self.tasks.get_mut(id) {
                t.post_commit();
            }
        }
    }

    /// What is waiting for a commit, for the poll's timeout.
    fn uncommitted(&mut self, commit_interval: Duration) -> pacing::Uncommitted {
        if self.tasks.values_mut().any(|t| t.commit_requested()) {
            pacing::Uncommitted::Requested
        } else if self.has_uncommitted_work() {
            pacing::Uncommitted::Work {
                commit_due_in: commit_interval.saturating_sub(self.last_commit.elapsed()),
            }
        } else {
            pacing::Uncommitted::Nothing
        }
    }

    /// Whether anything was processed or written since the last commit.
    fn has_uncommitted_work(&mut self) -> bool {
        self.in_txn
            || !self.pending.is_empty()
            || self.tasks.values_mut().any(|t| t.commit_needed())
    }

    /// Closes every task clean (after a commit): stores flushed and closed, a checkpoint of
    /// their changelog offsets written.
    fn close_all_clean(&mut self) -> Result<()> {
        self.forget_lag();
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        for id in ids {
            let dir = self.task_dir(id);
            let Some(mut task) = self.tasks.remove(&id) else {
                continue;
            };
            if task.state() != TaskState::Running {
                task.close_dirty();
                continue;
            }
            let r = task.flush_state().and_then(|_| task.close_clean());
            if let Err(e) = r {
                warn!(task = %id, error = %e, "closing task failed");
                continue;
            }
            checkpoint::write(&dir, &self.checkpoint_offsets(id))?;
        }
        if !drain(&self.outbox).is_empty() {
            warn!("records written while closing tasks were dropped");
        }
        self.task_of.clear();
        self.changelog_offsets.clear();
        self.publish_metadata();
        Ok(())
    }

    /// Clean shutdown: a last commit, checkpoints of the changelog offsets, tasks closed,
    /// the group left.
    async fn shutdown(&mut self) -> Result<()> {
        info!("stream thread shutting down");
        self.shared
            .metrics
            .merge_process_latency(&mut self.process_latency, Instant::now());
        let committed = self.commit().await;
        self.close_standbys()?;
        match &committed {
            Ok(()) => self.close_all_clean()?,
            Err(e) => {
                warn!(error = %e, "final commit failed: closing tasks dirty");
                self.abort_and_close_dirty().await;
            }
        }
        self.task_of.clear();
        self.close_clients().await?;
        committed
    }

    /// Closes the main consumer (leaving the group, so the others rebalance at once instead of
    /// after the session timeout) and the producer.
    async fn close_clients(&mut self) -> Result<()> {
        let consumer = std::mem::replace(
            &mut self.consumer,
            Consumer::with_client(
                self.client.clone(),
                ConsumerConfig::new(self.shared.config.bootstrap_servers.clone()),
            )?,
        );
        if let Err(e) = consumer.close().await {
            warn!(error = %e, "consumer close failed");
        }
        if let Err(e) = self.producer.close().await {
            warn!(error = %e, "producer close failed");
        }
        Ok(())
    }
}

pub(crate) fn to_consumed(r: ConsumerRecord) -> ConsumedRecord {
    let mut headers = Headers::new();
    for (k, v) in r.headers {
        headers.add(k, v.map(|b| b.to_vec()));
    }
    ConsumedRecord {
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the thread a task spawned on `rt` runs on, and of the one `block_on` runs
    /// its future on.
    fn thread_names(rt: &tokio::runtime::Runtime) -> (Option<String>, Option<String>) {
        let name = || std::thread::current().name().map(str::to_string);
        rt.block_on(async move {
            let spawned = tokio::spawn(async move { name() }).await.unwrap();
            (spawned, name())
        })
    }

    #[test]
    fn client_tasks_run_on_the_network_thread_and_processing_on_the_stream_thread() {
        let config = StreamsConfig::new("app", "localhost:9092");
        assert!(config.network_thread, "on by default");
        let here = std::thread::current().name().map(str::to_string);
        let (spawned, own) = thread_names(&runtime(3, &config).unwrap());
        assert_eq!(spawned.as_deref(), Some("app-StreamThread-3-network"));
        assert_eq!(
            own, here,
            "the thread's own future stays on the calling thread"
        );

        let config = StreamsConfig {
            network_thread: false,
            ..config
        };
        let (spawned, own) = thread_names(&runtime(3, &config).unwrap());
        assert_eq!((&spawned, &own), (&here, &here), "everything on one thread");
    }
}

#[cfg(test)]
mod thread_cache_tests {
    use super::ThreadCaches;

    #[test]
    fn the_budget_is_split_again_as_threads_come_and_go() {
        let caches = ThreadCaches::new(900);
        let a = caches.register(0);
        assert_eq!(a.max_bytes(), 900);
        let b = caches.register(1);
        let c = caches.register(2);
        assert_eq!(
            (a.max_bytes(), b.max_bytes(), c.max_bytes()),
            (300, 300, 300)
        );
        caches.unregister(1);
        assert_eq!((a.max_bytes(), c.max_bytes()), (450, 450));
    }
}
