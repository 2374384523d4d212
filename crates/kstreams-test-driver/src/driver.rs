//! The driver: one task per sub-topology on partition 0, in-memory topics, a mock clock.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kstreams_core::processor::{
    DeserializationExceptionHandler, LogAndFailExceptionHandler, ProcessorGraph, RecordCollector,
    TaskEnv,
};
use kstreams_core::serde::DefaultSerde;
use kstreams_core::{
    Clock, ConsumedRecord, MockClock, ProcessorTopology, ProducedRecord, Result, SharedSerde,
    StreamTask, StreamsError, TaskStore, TopicPartition, Topology, TopologyDescription,
};
use kstreams_state::ChangelogWriter;

use crate::input_topic::TestInputTopic;
use crate::output_topic::TestOutputTopic;
use crate::store_view::KeyValueStoreView;

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
        }
    }
}

type Outbox = Arc<Mutex<Vec<ProducedRecord>>>;

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
    topics: HashMap<String, String>,
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
            });
        }
    }
}

pub(crate) struct Inner {
    topology: ProcessorTopology,
    tasks: Vec<StreamTask>,
    /// Which task reads a topic.
    readers: HashMap<String, usize>,
    outbox: Outbox,
    /// Everything written to each topic, not yet read by an output topic.
    pub(crate) outputs: HashMap<String, VecDeque<ProducedRecord>>,
    /// Next offset per topic (partition 0).
    offsets: HashMap<String, i64>,
    /// Partition 0 of each input topic, built once.
    partitions: HashMap<String, TopicPartition>,
    pub(crate) clock: MockClock,
    closed: bool,
    _temp_dir: Option<tempfile::TempDir>,
}

impl Inner {
    fn enqueue(&mut self, topic: &str, mut raw: ConsumedRecord) -> Result<()> {
        let Some(&task) = self.readers.get(topic) else {
            return Err(StreamsError::IllegalState(format!(
                "unknown topic '{topic}': no source of the topology reads it"
            )));
        };
        // No allocation per record once the topic was seen.
        if !self.partitions.contains_key(topic) {
            self.offsets.insert(topic.to_string(), 0);
            self.partitions
                .insert(topic.to_string(), TopicPartition::new(topic, 0));
        }
        if let Some(offset) = self.offsets.get_mut(topic) {
            raw.offset = *offset;
            *offset += 1;
        }
        let tp = self.partitions.get(topic).ok_or_else(|| {
            StreamsError::IllegalState(format!("no partition known for '{topic}'"))
        })?;
        self.tasks[task].add_records(tp, [raw])?;
        Ok(())
    }

    /// Moves everything the tasks wrote into the topics, feeding topics the topology reads back
    /// into their tasks. Returns whether anything was fed back.
    fn drain_outbox(&mut self) -> Result<bool> {
        let produced = std::mem::take(
            &mut *self
                .outbox
                .lock()
                .map_err(|_| StreamsError::Fatal("outbox poisoned".into()))?,
        );
        let mut fed = false;
        for r in produced {
            if self.readers.contains_key(&r.topic) {
                let raw = ConsumedRecord {
                    topic: r.topic.clone(),
                    partition: 0,
                    offset: 0,
                    timestamp: r.timestamp,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                };
                self.enqueue(&r.topic, raw)?;
                fed = true;
            }
            match self.outputs.get_mut(&r.topic) {
                Some(q) => q.push_back(r),
                None => self
                    .outputs
                    .entry(r.topic.clone())
                    .or_default()
                    .push_back(r),
            }
        }
        Ok(fed)
    }

    /// Processes until no task has buffered input and nothing is fed back, then commits every
    /// task (which may flush caches and produce more), repeating until quiet.
    pub(crate) fn run_to_quiescence(&mut self) -> Result<()> {
        loop {
            loop {
                for t in &mut self.tasks {
                    while t.process()? {}
                }
                if !self.drain_outbox()? {
                    break;
                }
            }
            for t in &mut self.tasks {
                if t.commit_needed() {
                    t.prepare_commit()?;
                    t.post_commit();
                }
            }
            if !self.drain_outbox()? {
                return Ok(());
            }
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

    pub(crate) fn store(&self, name: &str) -> Option<&dyn TaskStore> {
        self.tasks.iter().find_map(|t| t.graph().store(name))
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
        let clock = MockClock::new(config.initial_wall_clock_ms);
        let outbox: Outbox = Arc::default();
        let changelog = Arc::new(DriverChangelog {
            outbox: outbox.clone(),
            topics: topology
                .changelog_topics()
                .iter()
                .map(|c| (c.store.clone(), c.topic.clone()))
                .collect(),
            clock: clock.clone(),
        });
        let mut tasks = Vec::new();
        let mut readers = HashMap::new();
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
            };
            let graph = ProcessorGraph::new(&topology, sub, 0, env)?;
            let topics = topology.source_topics(sub);
            for t in &topics {
                readers.insert(t.clone(), tasks.len());
            }
            let mut task =
                StreamTask::new(graph, topics.into_iter().map(|t| TopicPartition::new(t, 0)));
            task.initialize()?;
            tasks.push(task);
        }
        let mut inner = Inner {
            topology,
            tasks,
            readers,
            outbox,
            outputs: HashMap::new(),
            offsets: HashMap::new(),
            partitions: HashMap::new(),
            clock,
            closed: false,
            _temp_dir: temp_dir,
        };
        // Processors may forward from init.
        inner.run_to_quiescence()?;
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

    /// The mock wall-clock time (ms).
    pub fn wall_clock_time_ms(&self) -> i64 {
        self.inner.borrow().clock.now_ms()
    }

    /// A read-only view of the key-value store `name` with key/value types `K`/`V`.
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<KeyValueStoreView<K, V>> {
        KeyValueStoreView::open(self.inner.clone(), name)
    }

    /// Runs `f` with the store `name`, type-erased (custom stores downcast through
    /// `as_any`).
    pub fn with_state_store<R>(
        &self,
        name: &str,
        f: impl FnOnce(&dyn TaskStore) -> R,
    ) -> Option<R> {
        let inner = self.inner.borrow();
        inner.store(name).map(f)
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

    /// The names of every store of the topology.
    pub fn state_store_names(&self) -> Vec<String> {
        let inner = self.inner.borrow();
        let mut v: Vec<String> = inner
            .tasks
            .iter()
            .flat_map(|t| t.graph().store_names())
            .collect();
        v.sort();
        v
    }

    /// The names of every topic written so far (including changelogs and repartition topics).
    pub fn produced_topic_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.borrow().outputs.keys().cloned().collect();
        v.sort();
        v
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
