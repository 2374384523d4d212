//! The driver: one task per sub-topology on partition 0, in-memory topics, a mock clock.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kstreams_core::failure::{NodeMetrics, default_dead_letter_topic};
use kstreams_core::processor::{
    DefaultProductionExceptionHandler, DeserializationExceptionHandler, FailureHandling,
    GlobalStateStores, LogAndFailExceptionHandler, LogAndFailProcessingExceptionHandler,
    ProcessingExceptionHandler, ProcessorGraph, ProductionExceptionHandler, RecordCollector,
    TaskEnv,
};
use kstreams_core::serde::DefaultSerde;
use kstreams_core::{
    Clock, ConsumedRecord, MockClock, ProcessorTopology, ProducedRecord, Result, SharedSerde,
    StreamTask, StreamsError, TaskStore, TopicPartition, Topology, TopologyDescription,
};
use kstreams_state::{ChangelogWriter, ThreadCache};

use crate::input_topic::TestInputTopic;
use crate::output_topic::TestOutputTopic;
use crate::store_view::{KeyValueStoreView, SessionStoreView, WindowStoreView};

/// Settings of a [`TopologyTestDriver`].
#[derive(Clone)]
pub struct DriverConfig {
    /// The application id: prefix of repartition and changelog topics.
    pub application_id: String,
    /// Initial mock wall-clock time (ms since the epoch).
    pub initial_wall_clock_ms: i64,
    /// Where persistent stores live; `None` uses a temporary directory removed on close.
    pub state_dir: Option<PathBuf>,
    /// What to do with input that does not deserialize (default: fail).
    pub deserialization_handler: Arc<dyn DeserializationExceptionHandler>,
    /// `statestore.cache.max.bytes`: the budget shared by every caching store of the
    /// topology (the driver runs all tasks as one thread). Default 10 MiB, Kafka's; 0 makes
    /// cached KTables forward every update at once. The driver commits after each piped
    /// record, so caches also flush then.
    pub cache_max_bytes: usize,
    /// Whether every task commits after each piped record and each wall-clock advance, as
    /// Kafka's driver does (the default). With `false` the driver commits only in
    /// [`TopologyTestDriver::commit`] and on close, so cached tables show what they forward
    /// when updates of a key pile up between commits.
    pub commit_after_each_record: bool,
    /// What to do when a processor fails (default: fail).
    pub processing_handler: Arc<dyn ProcessingExceptionHandler>,
    /// What to do with output records a sink cannot serialize or above `max_record_bytes`
    /// (default: fail).
    pub production_handler: Arc<dyn ProductionExceptionHandler>,
    /// The largest output record "the producer" accepts (`max.request.size`; default: no
    /// limit), to exercise the production exception handler.
    pub max_record_bytes: Option<usize>,
    /// The dead-letter topic (default `<application_id>-dlq`).
    pub dead_letter_topic: Option<String>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            application_id: "topology-test-driver".into(),
            initial_wall_clock_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            state_dir: None,
            deserialization_handler: Arc::new(LogAndFailExceptionHandler),
            cache_max_bytes: 10 * 1024 * 1024,
            commit_after_each_record: true,
            processing_handler: Arc::new(LogAndFailProcessingExceptionHandler),
            production_handler: Arc::new(DefaultProductionExceptionHandler),
            max_record_bytes: None,
            dead_letter_topic: None,
        }
    }
}

type Outbox = Arc<Mutex<Vec<ProducedRecord>>>;

/// The hasher of the maps the driver looks topics up in for every record.
type FastHash = foldhash::fast::RandomState;

struct DriverCollector(Outbox);

impl RecordCollector for DriverCollector {
    fn send(&mut self, record: ProducedRecord) -> Result<()> {
        self.0
            .lock()
            .map_err(|_| StreamsError::Fatal("driver outbox poisoned".into()))?
            .push(record);
        Ok(())
    }
    fn partitions_for(&self, _topic: &str) -> Option<i32> {
        Some(1)
    }
}

/// Sends change-logged store writes to the store's changelog topic, like the runtime does.
struct DriverChangelog {
    outbox: Outbox,
    topics: HashMap<String, Arc<str>>,
    clock: MockClock,
}

impl ChangelogWriter for DriverChangelog {
    fn log_change(&self, store: &str, key: &[u8], value: Option<&[u8]>) {
        let Some(topic) = self.topics.get(store) else {
            return;
        };
        if let Ok(mut o) = self.outbox.lock() {
            o.push(ProducedRecord {
                topic: topic.clone(),
                partition: Some(0),
                key: Some(key.to_vec()),
                value: value.map(<[u8]>::to_vec),
                timestamp: self.clock.now_ms(),
                headers: Default::default(),
                origin: None,
            });
        }
    }
}

/// A topic a task reads (partition 0) and the offset its next piped record gets.
struct InputTopic {
    task: usize,
    partition: TopicPartition,
    next_offset: i64,
}

pub(crate) struct Inner {
    topology: ProcessorTopology,
    tasks: Vec<StreamTask>,
    /// The topics the tasks read: one lookup per piped record.
    inputs: HashMap<String, InputTopic, FastHash>,
    /// The global stores and the topics that feed them.
    global: Option<(GlobalStateStores, Vec<String>)>,
    outbox: Outbox,
    /// The outbox's previous vector, empty, for the next swap.
    outbox_spare: Vec<ProducedRecord>,
    /// Everything written to each topic, not yet read by an output topic.
    pub(crate) outputs: HashMap<String, VecDeque<ProducedRecord>, FastHash>,
    /// Next offset of each global topic (partition 0).
    global_offsets: HashMap<String, i64>,
    pub(crate) clock: MockClock,
    auto_commit: bool,
    dead_letter_topic: String,
    node_metrics: Arc<NodeMetrics>,
    closed: bool,
    _temp_dir: Option<tempfile::TempDir>,
}

impl Inner {
    fn is_global_topic(&self, topic: &str) -> bool {
        self.global
            .as_ref()
            .is_some_and(|(_, topics)| topics.iter().any(|t| t == topic))
    }

    /// Updates the global stores at once with a record of a global topic.
    fn update_global(&mut self, raw: ConsumedRecord) -> Result<()> {
        let Some((global, _)) = &self.global else {
            return Ok(());
        };
        let mut g = global.lock()?;
        let partition_time = g.stream_time();
        if let Some(stamped) = g.decode(raw, partition_time)? {
            g.process(stamped)?;
        }
        Ok(())
    }

    fn enqueue(&mut self, topic: &str, mut raw: ConsumedRecord) -> Result<()> {
        if self.is_global_topic(topic) {
            let offset = self.global_offsets.entry(topic.to_string()).or_insert(0);
            raw.offset = *offset;
            *offset += 1;
            return self.update_global(raw);
        }
        let Some(input) = self.inputs.get_mut(topic) else {
            return Err(StreamsError::IllegalState(format!(
                "unknown topic '{topic}': no source of the topology reads it"
            )));
        };
        raw.offset = input.next_offset;
        input.next_offset += 1;
        self.tasks[input.task].add_records(&input.partition, [raw])?;
        Ok(())
    }

    /// Moves everything the tasks wrote into the topics, feeding topics the topology reads back
    /// into their tasks. Returns whether anything was fed back.
    fn drain_outbox(&mut self) -> Result<bool> {
        // Swapped with a spare vector, so the outbox keeps an allocation between records.
        let mut produced = std::mem::take(&mut self.outbox_spare);
        std::mem::swap(
            &mut produced,
            &mut *self
                .outbox
                .lock()
                .map_err(|_| StreamsError::Fatal("outbox poisoned".into()))?,
        );
        let mut fed = false;
        for r in produced.drain(..) {
            if self.inputs.contains_key(&*r.topic) || self.is_global_topic(&r.topic) {
                let raw = ConsumedRecord {
                    topic: r.topic.clone(),
                    partition: 0,
                    offset: 0,
                    timestamp: r.timestamp,
                    key: r.key.clone().map(Into::into),
                    value: r.value.clone().map(Into::into),
                    headers: r.headers.clone(),
                };
                self.enqueue(&r.topic, raw)?;
                fed = true;
            }
            match self.outputs.get_mut(&*r.topic) {
                Some(q) => q.push_back(r),
                None => self
                    .outputs
                    .entry(r.topic.to_string())
                    .or_default()
                    .push_back(r),
            }
        }
        self.outbox_spare = produced;
        Ok(fed)
    }

    /// Processes until no task has buffered input and nothing is fed back, then (when the
    /// driver commits after each record) commits every task (which may flush caches and
    /// produce more), repeating until quiet.
    pub(crate) fn run_to_quiescence(&mut self) -> Result<()> {
        self.process_all()?;
        if self.auto_commit {
            self.commit_all()?;
        }
        Ok(())
    }

    fn process_all(&mut self) -> Result<()> {
        loop {
            for t in &mut self.tasks {
                while t.process()? {}
            }
            if !self.drain_outbox()? {
                return Ok(());
            }
        }
    }

    /// Commits every task that needs it until committing produces nothing more to process.
    fn commit_all(&mut self) -> Result<()> {
        loop {
            for t in &mut self.tasks {
                if t.commit_needed() {
                    t.prepare_commit()?;
                    t.post_commit();
                }
            }
            if !self.drain_outbox()? {
                return Ok(());
            }
            self.process_all()?;
        }
    }

    pub(crate) fn pipe(&mut self, raw: ConsumedRecord) -> Result<()> {
        if self.closed {
            return Err(StreamsError::IllegalState("the driver is closed".into()));
        }
        let topic = raw.topic.clone();
        self.enqueue(&topic, raw)?;
        self.run_to_quiescence()
    }

    fn advance_wall_clock(&mut self, ms: i64) -> Result<()> {
        if self.closed {
            return Err(StreamsError::IllegalState("the driver is closed".into()));
        }
        self.clock.advance(ms);
        for t in &mut self.tasks {
            t.maybe_punctuate_wall_clock()?;
        }
        self.run_to_quiescence()
    }

    /// Runs `f` with the store `name` of a task or, failing that, the global store `name`.
    pub(crate) fn with_store<R>(
        &self,
        name: &str,
        f: impl FnOnce(&dyn TaskStore) -> R,
    ) -> Option<R> {
        if let Some(s) = self.tasks.iter().find_map(|t| t.graph().store(name)) {
            return Some(f(s));
        }
        let (global, _) = self.global.as_ref()?;
        let g = global.lock().ok()?;
        g.store(name).map(f)
    }

    fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut first = None;
        for t in &mut self.tasks {
            let r = t.prepare_commit().and_then(|_| t.close_clean());
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        if let Some((global, _)) = &self.global
            && let Err(e) = global
                .lock()
                .and_then(|mut g| g.flush().and_then(|_| g.close()))
        {
            first.get_or_insert(e);
        }
        self.drain_outbox().ok();
        self.closed = true;
        first.map_or(Ok(()), Err)
    }
}

/// Runs a topology in process; see the crate documentation.
pub struct TopologyTestDriver {
    inner: Rc<RefCell<Inner>>,
}

impl TopologyTestDriver {
    /// A driver with the default configuration.
    pub fn new(topology: Topology) -> Result<Self> {
        Self::with_config(topology, DriverConfig::default())
    }

    /// A driver with `config`.
    pub fn with_config(topology: Topology, config: DriverConfig) -> Result<Self> {
        let topology = topology.build(Some(&config.application_id))?;
        let (temp_dir, state_dir) = match &config.state_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("kstreams-test-driver-")
                    .tempdir()
                    .map_err(|e| {
                        StreamsError::Fatal(format!("cannot create a state directory: {e}"))
                    })?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let dead_letter_topic = config
            .dead_letter_topic
            .clone()
            .unwrap_or_else(|| default_dead_letter_topic(&config.application_id));
        if let Some(sub) = topology.subtopology_for_topic(&dead_letter_topic) {
            return Err(StreamsError::IllegalState(format!(
                "sub-topology {sub} reads the dead-letter topic '{dead_letter_topic}': records must not flow back from it automatically (replay them instead)"
            )));
        }
        let node_metrics = Arc::new(NodeMetrics::default());
        let clock = MockClock::new(config.initial_wall_clock_ms);
        let outbox: Outbox = Arc::default();
        let changelog = Arc::new(DriverChangelog {
            outbox: outbox.clone(),
            topics: topology
                .changelog_topics()
                .iter()
                .map(|c| (c.store.clone(), c.topic.as_str().into()))
                .collect(),
            clock: clock.clone(),
        });
        let cache = ThreadCache::shared(config.cache_max_bytes);
        let global_env = TaskEnv {
            application_id: config.application_id.as_str().into(),
            task_dir: Some(state_dir.join(&config.application_id).join("global")),
            changelog: None,
            clock: Arc::new(clock.clone()),
            collector: Box::new(DriverCollector(outbox.clone())),
            deserialization_handler: config.deserialization_handler.clone(),
            cache: None,
            failure: FailureHandling::default(),
        };
        let global = match ProcessorGraph::new_global(&topology, global_env)? {
            Some(mut g) => {
                g.init()?;
                Some((GlobalStateStores::new(g), topology.global_source_topics()))
            }
            None => None,
        };
        let mut tasks = Vec::new();
        let mut inputs = HashMap::default();
        for sub in topology.subtopology_ids() {
            let task_dir = state_dir
                .join(&config.application_id)
                .join(format!("{sub}_0"));
            let env = TaskEnv {
                application_id: config.application_id.as_str().into(),
                task_dir: Some(task_dir),
                changelog: Some(changelog.clone()),
                clock: Arc::new(clock.clone()),
                collector: Box::new(DriverCollector(outbox.clone())),
                deserialization_handler: config.deserialization_handler.clone(),
                cache: Some(cache.clone()),
                failure: FailureHandling {
                    dead_letter_topic: Some(dead_letter_topic.clone()),
                    processing_handler: config.processing_handler.clone(),
                    production_handler: config.production_handler.clone(),
                    max_record_bytes: config.max_record_bytes,
                    metrics: node_metrics.clone(),
                    production_decisions: Default::default(),
                },
            };
            let mut graph = ProcessorGraph::new(&topology, sub, 0, env)?;
            if let Some((g, _)) = &global {
                graph.set_global_stores(g.clone());
            }
            let topics = topology.source_topics(sub);
            for t in &topics {
                let input = InputTopic {
                    task: tasks.len(),
                    partition: TopicPartition::new(t.clone(), 0),
                    next_offset: 0,
                };
                inputs.insert(t.clone(), input);
            }
            let mut task =
                StreamTask::new(graph, topics.into_iter().map(|t| TopicPartition::new(t, 0)));
            task.initialize()?;
            tasks.push(task);
        }
        let mut inner = Inner {
            topology,
            tasks,
            inputs,
            global,
            outbox,
            outbox_spare: Vec::new(),
            outputs: HashMap::default(),
            global_offsets: HashMap::new(),
            clock,
            auto_commit: true,
            dead_letter_topic,
            node_metrics,
            closed: false,
            _temp_dir: temp_dir,
        };
        // Processors may forward from init.
        inner.run_to_quiescence()?;
        inner.auto_commit = config.commit_after_each_record;
        Ok(TopologyTestDriver {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// An input topic with explicit serdes; records default to the driver's current wall-clock
    /// time and do not auto-advance.
    pub fn create_input_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> TestInputTopic<K, V> {
        let now = self.inner.borrow().clock.now_ms();
        TestInputTopic::new(
            self.inner.clone(),
            topic,
            key_serde,
            value_serde,
            now,
            Duration::ZERO,
        )
    }

    /// An input topic whose records start at `start_ms` and advance by `auto_advance` after
    /// each record piped without an explicit timestamp.
    pub fn create_input_topic_with_time<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        start_ms: i64,
        auto_advance: Duration,
    ) -> TestInputTopic<K, V> {
        TestInputTopic::new(
            self.inner.clone(),
            topic,
            key_serde,
            value_serde,
            start_ms,
            auto_advance,
        )
    }

    /// An input topic with the types' default serdes.
    pub fn input_topic<K: DefaultSerde, V: DefaultSerde>(
        &self,
        topic: &str,
    ) -> TestInputTopic<K, V> {
        self.create_input_topic(topic, K::default_serde(), V::default_serde())
    }

    /// An output topic with explicit serdes.
    pub fn create_output_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic::new(self.inner.clone(), topic, key_serde, value_serde)
    }

    /// An output topic with the types' default serdes.
    pub fn output_topic<K: DefaultSerde, V: DefaultSerde>(
        &self,
        topic: &str,
    ) -> TestOutputTopic<K, V> {
        self.create_output_topic(topic, K::default_serde(), V::default_serde())
    }

    /// Advances the mock wall clock and runs the wall-clock punctuators that became due.
    pub fn advance_wall_clock_time(&self, by: Duration) {
        if let Err(e) = self.try_advance_wall_clock_time(by) {
            panic!("advancing wall-clock time failed: {e}");
        }
    }

    /// [`advance_wall_clock_time`](Self::advance_wall_clock_time) returning the error.
    pub fn try_advance_wall_clock_time(&self, by: Duration) -> Result<()> {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.inner.borrow_mut().advance_wall_clock(ms)
    }

    /// Commits every task now: caches flush (cached tables forward their latest updates) and
    /// everything that causes is processed. Needed only with
    /// [`DriverConfig::commit_after_each_record`] off.
    pub fn commit(&self) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        if inner.closed {
            return Err(StreamsError::IllegalState("the driver is closed".into()));
        }
        inner.commit_all()
    }

    /// The mock wall-clock time (ms).
    pub fn wall_clock_time_ms(&self) -> i64 {
        self.inner.borrow().clock.now_ms()
    }

    /// A read-only view of the key-value store `name` with key/value types `K`/`V` (`None`
    /// when there is no such store of these types). A DSL store, which keeps
    /// `ValueAndTimestamp<V>`, reads as `V` or as `ValueAndTimestamp<V>`.
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<KeyValueStoreView<K, V>> {
        KeyValueStoreView::open(self.inner.clone(), name)
    }

    /// A read-only view of the window store `name` with key/value types `K`/`V` (DSL stores
    /// read as `V` or `ValueAndTimestamp<V>`).
    pub fn window_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<WindowStoreView<K, V>> {
        WindowStoreView::open(self.inner.clone(), name)
    }

    /// A read-only view of the session store `name` with key/value types `K`/`V`.
    pub fn session_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<SessionStoreView<K, V>> {
        SessionStoreView::open(self.inner.clone(), name)
    }

    /// Runs `f` with the store `name`, type-erased (custom stores downcast through
    /// `as_any`).
    pub fn with_state_store<R>(
        &self,
        name: &str,
        f: impl FnOnce(&dyn TaskStore) -> R,
    ) -> Option<R> {
        let inner = self.inner.borrow();
        inner.with_store(name, f)
    }

    /// Records the topology's processors dropped on purpose (late records for closed
    /// windows, ...), over every task.
    pub fn dropped_records(&self) -> u64 {
        let inner = self.inner.borrow();
        inner
            .tasks
            .iter()
            .map(|t| t.graph().dropped_records())
            .sum()
    }

    /// The value of processor `node`'s counter `metric` (for instance `dedup-hits`), summed
    /// over every task; 0 when it was never incremented.
    pub fn node_counter(&self, node: &str, metric: &str) -> u64 {
        self.inner.borrow().node_metrics.node_counter(node, metric)
    }

    /// Applies changelog records (`(key, value)`, `None` a tombstone, in the store's changelog
    /// format) to store `name` as a restoring task does: bypassing change-logging and caches.
    /// With the records a previous driver wrote to `<application.id>-<store>-changelog`, this
    /// rebuilds that driver's state in a fresh one (restore tests).
    pub fn restore_state_store(
        &self,
        name: &str,
        records: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        let store = inner
            .tasks
            .iter_mut()
            .find_map(|t| t.graph_mut().store_mut(name))
            .ok_or_else(|| StreamsError::IllegalState(format!("no store named '{name}'")))?;
        for (key, value) in records {
            store.restore(&key, value.as_deref())?;
        }
        Ok(())
    }

    /// The names of every store of the topology (global stores included).
    pub fn state_store_names(&self) -> Vec<String> {
        let inner = self.inner.borrow();
        let mut v: Vec<String> = inner
            .tasks
            .iter()
            .flat_map(|t| t.graph().store_names())
            .collect();
        v.extend(inner.topology.global_store_names());
        v.sort();
        v
    }

    /// The names of every topic written so far (including changelogs and repartition topics).
    pub fn produced_topic_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.borrow().outputs.keys().cloned().collect();
        v.sort();
        v
    }

    /// The dead-letter topic's name.
    pub fn dead_letter_topic_name(&self) -> String {
        self.inner.borrow().dead_letter_topic.clone()
    }

    /// The dead-letter topic as an output topic, read with `K`'s and `V`'s default serdes
    /// (failure metadata is in each record's headers, see `kstreams_core::failure`).
    pub fn dead_letter_topic<K: DefaultSerde, V: DefaultSerde>(&self) -> TestOutputTopic<K, V> {
        let name = self.dead_letter_topic_name();
        self.output_topic(&name)
    }

    /// Every per-node counter (retries, dead-letter records, production errors, dedup hits)
    /// per node, metric and reason: the same mechanism as the runtime's metrics snapshot.
    pub fn node_metrics(&self) -> Arc<NodeMetrics> {
        self.inner.borrow().node_metrics.clone()
    }

    /// The topology's description.
    pub fn describe(&self) -> TopologyDescription {
        self.inner.borrow().topology.description().clone()
    }

    /// Closes every task (processors close, stores flush and close) and removes the temporary
    /// state directory.
    pub fn close(self) -> Result<()> {
        self.inner.borrow_mut().close()
    }
}

impl Drop for TopologyTestDriver {
    fn drop(&mut self) {
        if let Ok(mut i) = self.inner.try_borrow_mut() {
            let _ = i.close();
        }
    }
}
