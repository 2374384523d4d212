//! The per-task processor graph: instantiated nodes of one sub-topology, their stores, the
//! punctuation queues and the record collector. The runtime's `StreamTask` and the test driver
//! both run records through this type.

use std::any::Any;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use kstreams_state::{SharedChangelogWriter, StoreContext};

use super::handlers::{DeserializationExceptionHandler, DeserializationHandlerResponse};
use super::punctuation::{PunctuationQueue, PunctuationType};
use super::record_collector::RecordCollector;
use super::task_id::TaskId;
use crate::error::{Result, StreamsError};
use crate::record::{ConsumedRecord, Record, RecordMetadata};
use crate::state::TaskStore;
use crate::time::SharedClock;
use crate::topology::{ProcessorTopology, SubtopologyPlan};

/// A typed `Record<K, V>` behind `dyn Any`, as it travels between nodes.
pub(crate) type AnyRecord = Box<dyn Any + Send>;

/// A node instance with its types erased.
pub(crate) trait ErasedNode: Send {
    fn init(&mut self, g: &mut GraphState, me: usize) -> Result<()>;
    fn process(&mut self, g: &mut GraphState, me: usize, record: AnyRecord) -> Result<()>;
    fn close(&mut self, g: &mut GraphState, me: usize) -> Result<()>;
}

/// A punctuator with its types erased: called with the graph, its node and the time.
pub(crate) type PunctuateFn = Box<dyn FnMut(&mut GraphState, usize, i64) -> Result<()> + Send>;

pub(crate) struct Punct {
    pub(crate) node: usize,
    pub(crate) f: PunctuateFn,
}

/// Everything a node can reach while it runs.
pub(crate) struct GraphState {
    pub(crate) plan: Arc<SubtopologyPlan>,
    nodes: Vec<Option<Box<dyn ErasedNode>>>,
    pub(crate) stores: HashMap<String, Box<dyn TaskStore>>,
    pub(crate) collector: Box<dyn RecordCollector>,
    pub(crate) metadata: Option<RecordMetadata>,
    pub(crate) stream_time: i64,
    pub(crate) clock: SharedClock,
    pub(crate) task_id: TaskId,
    pub(crate) application_id: Arc<str>,
    pub(crate) stream_puncts: PunctuationQueue<Punct>,
    pub(crate) wall_puncts: PunctuationQueue<Punct>,
    pub(crate) commit_requested: bool,
    /// Records processors dropped on purpose (late for a closed window, ...).
    pub(crate) dropped_records: u64,
    /// The instance's global stores, readable by every processor.
    pub(crate) global: Option<GlobalStateStores>,
}

impl GraphState {
    /// Runs `record` through node `node` (and, through forwards, its descendants).
    pub(crate) fn dispatch(&mut self, node: usize, record: AnyRecord) -> Result<()> {
        let mut n = self.nodes[node].take().ok_or_else(|| {
            StreamsError::IllegalState(format!(
                "node '{}' was re-entered while processing",
                self.plan.names[node]
            ))
        })?;
        let result = n.process(self, node, record);
        self.nodes[node] = Some(n);
        result.map_err(|e| e.in_node(&self.plan.names[node]))
    }

    /// Forwards a record to every child of `from`, depth first, in the order the children
    /// were added.
    pub(crate) fn forward<K, V>(&mut self, from: usize, record: Record<K, V>) -> Result<()>
    where
        K: Clone + Send + 'static,
        V: Clone + Send + 'static,
    {
        let n = self.plan.children[from].len();
        if n == 0 {
            return Ok(());
        }
        for i in 0..n - 1 {
            let child = self.plan.children[from][i];
            self.dispatch(child, Box::new(record.clone()))?;
        }
        let last = self.plan.children[from][n - 1];
        self.dispatch(last, Box::new(record))
    }

    /// Forwards to the child of `from` named `child`.
    pub(crate) fn forward_to<K, V>(
        &mut self,
        from: usize,
        child: &str,
        record: Record<K, V>,
    ) -> Result<()>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        let target = self.plan.children[from]
            .iter()
            .copied()
            .find(|&c| self.plan.names[c] == child)
            .ok_or_else(|| {
                StreamsError::IllegalState(format!(
                    "'{child}' is not a child of '{}'",
                    self.plan.names[from]
                ))
            })?;
        self.dispatch(target, Box::new(record))
    }

    fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<bool> {
        let mut fired = false;
        loop {
            let due = match kind {
                PunctuationType::StreamTime => self.stream_puncts.pop_due(now),
                PunctuationType::WallClockTime => self.wall_puncts.pop_due(now),
            };
            let Some(mut s) = due else { break };
            fired = true;
            self.metadata = None;
            let node = s.payload.node;
            let result =
                (s.payload.f)(self, node, now).map_err(|e| e.in_node(&self.plan.names[node]));
            match kind {
                PunctuationType::StreamTime => self.stream_puncts.reschedule(s, now),
                PunctuationType::WallClockTime => self.wall_puncts.reschedule(s, now),
            }
            result?;
        }
        Ok(fired)
    }

    fn for_each_node(
        &mut self,
        mut f: impl FnMut(&mut dyn ErasedNode, &mut GraphState, usize) -> Result<()>,
    ) -> Result<()> {
        for i in 0..self.nodes.len() {
            let Some(mut n) = self.nodes[i].take() else {
                continue;
            };
            let r = f(n.as_mut(), self, i);
            self.nodes[i] = Some(n);
            r.map_err(|e| e.in_node(&self.plan.names[i]))?;
        }
        Ok(())
    }
}

/// A deserialized input record, ready to be processed by its source node.
pub struct StampedRecord {
    pub(crate) source: usize,
    pub(crate) record: AnyRecord,
    /// The record's event time (after the timestamp extractor).
    pub timestamp: i64,
    /// Where the record came from.
    pub metadata: RecordMetadata,
}

impl StampedRecord {
    /// A record carrying no typed payload (queue tests).
    #[cfg(test)]
    pub(crate) fn untyped(timestamp: i64, metadata: RecordMetadata) -> Self {
        StampedRecord {
            source: 0,
            record: Box::new(()),
            timestamp,
            metadata,
        }
    }
}

impl std::fmt::Debug for StampedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StampedRecord")
            .field("timestamp", &self.timestamp)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// What a task's graph needs from its environment.
pub struct TaskEnv {
    /// The application id (prefix of internal topics).
    pub application_id: Arc<str>,
    /// The task's state directory (required for persistent stores).
    pub task_dir: Option<PathBuf>,
    /// Where change-logged stores send their writes.
    pub changelog: Option<SharedChangelogWriter>,
    /// Wall-clock time.
    pub clock: SharedClock,
    /// Where sinks send their output.
    pub collector: Box<dyn RecordCollector>,
    /// What to do with input that cannot be deserialized.
    pub deserialization_handler: Arc<dyn DeserializationExceptionHandler>,
}

/// The instantiated processors, stores and punctuators of one task.
pub struct ProcessorGraph {
    g: GraphState,
    handler: Arc<dyn DeserializationExceptionHandler>,
    initialized: bool,
    closed: bool,
}

impl ProcessorGraph {
    /// Instantiates sub-topology `subtopology` of `topology` for `partition`: one fresh
    /// processor per node and one store per connected store builder.
    pub fn new(
        topology: &ProcessorTopology,
        subtopology: u32,
        partition: i32,
        env: TaskEnv,
    ) -> Result<Self> {
        let plan = topology.subtopology(subtopology).ok_or_else(|| {
            StreamsError::IllegalState(format!("topology has no sub-topology {subtopology}"))
        })?;
        Self::from_plan(plan, subtopology, partition, env)
    }

    /// Instantiates the global sub-topology (the sources, processors and stores of the global
    /// stores) once for the instance; `None` when the topology has no global stores. Its
    /// task id is `(number of sub-topologies, -1)`.
    pub fn new_global(topology: &ProcessorTopology, env: TaskEnv) -> Result<Option<Self>> {
        let Some(plan) = topology.global_plan() else {
            return Ok(None);
        };
        let id = topology.subtopology_ids().count() as u32;
        Self::from_plan(plan, id, -1, env).map(Some)
    }

    /// Gives this task's processors read access to the instance's global stores.
    pub fn set_global_stores(&mut self, global: GlobalStateStores) {
        self.g.global = Some(global);
    }

    fn from_plan(
        plan: &Arc<SubtopologyPlan>,
        subtopology: u32,
        partition: i32,
        env: TaskEnv,
    ) -> Result<Self> {
        let store_ctx = StoreContext {
            task_dir: env.task_dir.clone(),
            changelog: env.changelog.clone(),
        };
        let mut stores = HashMap::new();
        for b in &plan.store_builders {
            stores.insert(b.name().to_string(), b.build(&store_ctx)?);
        }
        let nodes = plan.factories.iter().map(|f| Some(f())).collect();
        Ok(ProcessorGraph {
            g: GraphState {
                plan: plan.clone(),
                nodes,
                stores,
                collector: env.collector,
                metadata: None,
                stream_time: -1,
                clock: env.clock,
                task_id: TaskId::new(subtopology, partition),
                application_id: env.application_id,
                stream_puncts: PunctuationQueue::default(),
                wall_puncts: PunctuationQueue::default(),
                commit_requested: false,
                dropped_records: 0,
                global: None,
            },
            handler: env.deserialization_handler,
            initialized: false,
            closed: false,
        })
    }

    /// The task this graph belongs to.
    pub fn task_id(&self) -> TaskId {
        self.g.task_id
    }

    /// Initializes every node in topological order (processors schedule punctuators here).
    pub fn init(&mut self) -> Result<()> {
        if self.initialized {
            return Ok(());
        }
        self.g.for_each_node(|n, g, i| n.init(g, i))?;
        self.initialized = true;
        Ok(())
    }

    /// The (resolved) topics this task reads.
    pub fn source_topics(&self) -> impl Iterator<Item = &str> {
        self.g.plan.source_topics.keys().map(String::as_str)
    }

    /// Deserializes a consumed record and extracts its timestamp. `Ok(None)`: the record is
    /// skipped (the exception handler said continue, or the extractor gave a negative time).
    pub fn decode(
        &self,
        raw: ConsumedRecord,
        partition_time: i64,
    ) -> Result<Option<StampedRecord>> {
        let &source = self.g.plan.source_topics.get(&raw.topic).ok_or_else(|| {
            StreamsError::IllegalState(format!(
                "task {} does not read topic '{}'",
                self.g.task_id, raw.topic
            ))
        })?;
        let Some(decoder) = self.g.plan.decoders[source].as_ref() else {
            return Err(StreamsError::IllegalState(format!(
                "node '{}' is not a source",
                self.g.plan.names[source]
            )));
        };
        match decoder.decode(raw, partition_time) {
            Ok((record, timestamp, metadata)) => {
                if timestamp < 0 {
                    tracing::warn!(topic = %metadata.topic, partition = metadata.partition, offset = metadata.offset,
                        timestamp, "skipping record with negative timestamp");
                    return Ok(None);
                }
                Ok(Some(StampedRecord {
                    source,
                    record,
                    timestamp,
                    metadata,
                }))
            }
            Err(super::nodes::DecodeError::Serde(boxed)) => {
                let (raw, err) = *boxed;
                match self.handler.handle(&raw, &err) {
                    DeserializationHandlerResponse::Continue => Ok(None),
                    DeserializationHandlerResponse::Fail => Err(err.into()),
                }
            }
            Err(super::nodes::DecodeError::Other(e)) => Err(e),
        }
    }

    /// Processes one record: advances stream time and runs the record through its source's
    /// descendants.
    pub fn process(&mut self, record: StampedRecord) -> Result<()> {
        if self.closed {
            return Err(StreamsError::IllegalState(format!(
                "task {} is closed",
                self.g.task_id
            )));
        }
        self.init()?;
        self.g.stream_time = self.g.stream_time.max(record.timestamp);
        self.g.metadata = Some(record.metadata);
        let r = self.g.dispatch(record.source, record.record);
        self.g.metadata = None;
        r
    }

    /// Runs the stream-time punctuators due at the current stream time.
    pub fn maybe_punctuate_stream_time(&mut self) -> Result<bool> {
        let now = self.g.stream_time;
        if now < 0 {
            return Ok(false);
        }
        self.g.punctuate(PunctuationType::StreamTime, now)
    }

    /// Runs the wall-clock punctuators due now.
    pub fn maybe_punctuate_wall_clock(&mut self) -> Result<bool> {
        let now = self.g.clock.now_ms();
        self.g.punctuate(PunctuationType::WallClockTime, now)
    }

    /// The task's stream time (-1 before the first record).
    pub fn stream_time(&self) -> i64 {
        self.g.stream_time
    }

    /// Sets stream time (after restoring a task's committed time).
    pub fn set_stream_time(&mut self, t: i64) {
        self.g.stream_time = self.g.stream_time.max(t);
    }

    /// Records the processors of this task dropped on purpose (Kafka Streams'
    /// `dropped-records-total`): late records for closed windows and the like.
    pub fn dropped_records(&self) -> u64 {
        self.g.dropped_records
    }

    /// Whether a processor asked for a commit since the last call; resets the flag.
    pub fn take_commit_request(&mut self) -> bool {
        std::mem::take(&mut self.g.commit_requested)
    }

    /// Writes every store's cache down (KTables forward): what each commit does.
    pub fn flush_cache(&mut self) -> Result<()> {
        for s in self.g.stores.values_mut() {
            s.flush_cache()?;
        }
        Ok(())
    }

    /// Flushes every store completely, caches and storage (before a checkpoint).
    pub fn flush(&mut self) -> Result<()> {
        for s in self.g.stores.values_mut() {
            s.flush()?;
        }
        Ok(())
    }

    /// A store of this task.
    pub fn store(&self, name: &str) -> Option<&dyn TaskStore> {
        self.g.stores.get(name).map(|s| s.as_ref())
    }

    /// A store of this task, mutably (restoration).
    pub fn store_mut(&mut self, name: &str) -> Option<&mut (dyn TaskStore + 'static)> {
        self.g.stores.get_mut(name).map(|s| s.as_mut())
    }

    /// The names of this task's stores.
    pub fn store_names(&self) -> Vec<String> {
        let mut v: Vec<_> = self.g.stores.keys().cloned().collect();
        v.sort();
        v
    }

    /// Closes processors (in topological order) and then the stores, flushing them.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut first_err = None;
        if self.initialized
            && let Err(e) = self.g.for_each_node(|n, g, i| n.close(g, i))
        {
            first_err = Some(e);
        }
        for s in self.g.stores.values_mut() {
            if let Err(e) = s.close() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// The global stores of one instance: the global sub-topology's graph behind a lock, shared by
/// the thread that keeps it up to date and every task that reads it.
#[derive(Clone)]
pub struct GlobalStateStores {
    graph: Arc<std::sync::Mutex<ProcessorGraph>>,
}

impl GlobalStateStores {
    /// Shares `graph` (made by [`ProcessorGraph::new_global`]).
    pub fn new(graph: ProcessorGraph) -> Self {
        GlobalStateStores {
            graph: Arc::new(std::sync::Mutex::new(graph)),
        }
    }

    /// Locks the global graph (to process global records, flush, close or read stores).
    pub fn lock(&self) -> Result<std::sync::MutexGuard<'_, ProcessorGraph>> {
        self.graph
            .lock()
            .map_err(|_| StreamsError::Fatal("the global state lock is poisoned".into()))
    }

    /// Runs `f` with the global store `name`.
    pub fn with_store<R>(&self, name: &str, f: impl FnOnce(&dyn TaskStore) -> R) -> Result<R> {
        let g = self.lock()?;
        let s = g.store(name).ok_or_else(|| {
            StreamsError::IllegalState(format!("there is no global store '{name}'"))
        })?;
        Ok(f(s))
    }
}

impl Drop for ProcessorGraph {
    fn drop(&mut self) {
        if !self.closed {
            for s in self.g.stores.values_mut() {
                let _ = s.close();
            }
        }
    }
}

#[cfg(test)]
mod global_state_tests {
    #[test]
    fn global_state_stores_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::GlobalStateStores>();
    }
}
