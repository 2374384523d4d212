//! The per-task processor graph: instantiated nodes of one sub-topology, their stores, the
//! punctuation queues and the record collector. The runtime's `StreamTask` and the test driver
//! both run records through this type.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kstreams_state::{CacheFlushEntry, SharedChangelogWriter, SharedThreadCache, StoreContext};

use super::handlers::{
    DefaultProductionExceptionHandler, DeserializationExceptionHandler,
    DeserializationHandlerResponse, ErrorHandlerContext, LogAndFailProcessingExceptionHandler,
    ProcessingExceptionHandler, ProcessingHandlerResponse, ProductionExceptionHandler,
    ProductionHandlerResponse,
};
use super::punctuation::{PunctuationQueue, PunctuationType};
use super::record_collector::RecordCollector;
use super::task_id::TaskId;
use crate::error::{Result, StreamsError};
use crate::failure::{
    DeadLetterReason, FailureClass, FailureMetadata, FailureMetric, FailureMetrics,
    OriginalPosition, ParkedRecord, default_dead_letter_topic,
};
use crate::record::{ConsumedRecord, ProducedRecord, Record, RecordMetadata};
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

/// Forwards one entry a store's cache wrote down, as its processor (`node`).
pub(crate) type FlushFn =
    Box<dyn FnMut(&mut GraphState, usize, CacheFlushEntry) -> Result<()> + Send>;

/// The processor forwarding a cached store's written-down entries.
pub(crate) struct FlushForwarder {
    pub(crate) node: usize,
    /// Taken out while it runs.
    pub(crate) f: Option<FlushFn>,
}

/// Entries caching stores wrote down (on flush or eviction), per store, not yet forwarded.
pub(crate) type FlushedQueue = Arc<Mutex<VecDeque<(String, CacheFlushEntry)>>>;

/// Everything a node can reach while it runs.
pub(crate) struct GraphState {
    pub(crate) plan: Arc<SubtopologyPlan>,
    nodes: Vec<Option<Box<dyn ErasedNode>>>,
    pub(crate) stores: HashMap<String, Box<dyn TaskStore>>,
    /// Store names in the order the topology added them (upstream stores first): the order
    /// in which caches are flushed.
    store_order: Vec<String>,
    pub(crate) flushed: FlushedQueue,
    pub(crate) flush_forwarders: HashMap<String, FlushForwarder>,
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
    /// Per-node counters (`(node index, metric)`), e.g. dedup hits.
    pub(crate) node_counters: BTreeMap<(usize, String), u64>,
    pub(crate) dead_letter_topic: String,
    pub(crate) failure_metrics: Arc<FailureMetrics>,
    production_handler: Arc<dyn ProductionExceptionHandler>,
    max_record_bytes: Option<usize>,
    /// The instance's global stores, readable by every processor.
    pub(crate) global: Option<GlobalStateStores>,
}

impl GraphState {
    /// Sends a sink's output record, applying the production exception handler to records the
    /// producer would reject (above `max_record_bytes`).
    pub(crate) fn send_output(&mut self, record: ProducedRecord) -> Result<()> {
        let Some(max) = self.max_record_bytes else {
            return self.collector.send(record);
        };
        let size = record_size(&record);
        if size <= max {
            return self.collector.send(record);
        }
        let error = StreamsError::Fatal(format!(
            "the record for topic '{}' is {size} bytes, more than max.request.size ({max})",
            record.topic
        ));
        match self.production_handler.handle(&record, &error) {
            ProductionHandlerResponse::Fail => Err(error),
            ProductionHandlerResponse::Continue => {
                self.dropped_records += 1;
                Ok(())
            }
            ProductionHandlerResponse::DeadLetter => {
                let meta = FailureMetadata {
                    attempt: 1,
                    first_failure_ms: self.clock.now_ms(),
                    due_ms: None,
                    error_class: FailureClass::NonRetryable,
                    error_message: error.to_string(),
                    dlq_reason: Some(DeadLetterReason::Production),
                    failed_node: format!("sink:{}", record.topic),
                    application_id: self.application_id.to_string(),
                    original: self.metadata.clone().map(|metadata| OriginalPosition {
                        metadata,
                        timestamp: record.timestamp,
                    }),
                };
                let parked = ParkedRecord {
                    timestamp: record.timestamp,
                    key: record.key,
                    value: record.value,
                    headers: record.headers,
                };
                self.send_dead_letter(parked, meta)
            }
        }
    }

    /// Writes `record` with `meta` in its headers to the dead-letter topic. A failure here is
    /// fatal and never goes through a handler again: nothing loops into the DLQ. The
    /// `max_record_bytes` check of sink output does not apply (a DLQ topic is expected to
    /// accept what the application could not write elsewhere; a broker that still rejects it
    /// fails the task).
    pub(crate) fn send_dead_letter(
        &mut self,
        record: ParkedRecord,
        meta: FailureMetadata,
    ) -> Result<()> {
        let mut headers = record.headers;
        meta.write_to(&mut headers);
        let reason = meta.dlq_reason.unwrap_or(DeadLetterReason::NonRetryable);
        let out = ProducedRecord {
            topic: self.dead_letter_topic.clone(),
            partition: None,
            key: record.key,
            value: record.value,
            timestamp: record.timestamp,
            headers,
        };
        self.collector.send(out).map_err(|e| {
            StreamsError::Fatal(format!(
                "writing to the dead-letter topic '{}' failed: {e}",
                self.dead_letter_topic
            ))
        })?;
        tracing::warn!(node = %meta.failed_node, reason = reason.as_str(), attempt = meta.attempt,
            topic = %self.dead_letter_topic, "record sent to the dead-letter topic");
        self.failure_metrics.record(
            FailureMetric::DeadLetter,
            &meta.failed_node,
            reason.as_str(),
        );
        Ok(())
    }

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
        if fired {
            self.forward_flushed()?;
        }
        Ok(fired)
    }

    /// Forwards the entries caching stores wrote down since the last call, through the
    /// processors that registered for them, until none is left (forwarding may evict more).
    /// Returns whether anything was written down.
    pub(crate) fn forward_flushed(&mut self) -> Result<bool> {
        let mut any = false;
        loop {
            let next = self
                .flushed
                .lock()
                .map_err(|_| StreamsError::Fatal("cache flush queue poisoned".into()))?
                .pop_front();
            let Some((store, entry)) = next else {
                return Ok(any);
            };
            any = true;
            let Some(fw) = self.flush_forwarders.get_mut(&store) else {
                continue;
            };
            let node = fw.node;
            let mut f = fw.f.take().ok_or_else(|| {
                StreamsError::IllegalState(format!("cache forwarding of '{store}' re-entered"))
            })?;
            let saved = self.metadata.take();
            let r = f(self, node, entry).map_err(|e| e.in_node(&self.plan.names[node]));
            self.metadata = saved;
            if let Some(fw) = self.flush_forwarders.get_mut(&store) {
                fw.f = Some(f);
            }
            r?;
        }
    }

    /// Writes every store's cache down in topology order and forwards what was written,
    /// repeating while forwarding dirtied caches again (a cached table downstream of another).
    fn flush_caches(&mut self) -> Result<()> {
        for _ in 0..=self.store_order.len() {
            for name in &self.store_order {
                if let Some(s) = self.stores.get_mut(name) {
                    s.flush_cache()?;
                }
            }
            if !self.forward_flushed()? {
                break;
            }
        }
        Ok(())
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

/// The size a record has for `max.request.size`: key, value and headers.
fn record_size(r: &ProducedRecord) -> usize {
    r.key.as_ref().map_or(0, Vec::len)
        + r.value.as_ref().map_or(0, Vec::len)
        + r.headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
}

/// A deserialized input record, ready to be processed by its source node.
pub struct StampedRecord {
    pub(crate) source: usize,
    pub(crate) record: AnyRecord,
    /// The record's bytes, kept when the processing handler may dead-letter it.
    pub(crate) raw: Option<Box<ParkedRecord>>,
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
            raw: None,
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
    /// The stream thread's shared cache budget (`statestore.cache.max.bytes`) for the task's
    /// caching stores; `None`: each store's own limit only.
    pub cache: Option<SharedThreadCache>,
    /// What to do with input that cannot be deserialized.
    pub deserialization_handler: Arc<dyn DeserializationExceptionHandler>,
    /// The dead-letter topic, processing and production handlers, failure metrics.
    pub failure: FailureHandling,
}

/// How a task handles failures besides deserialization: see
/// [`crate::processor::ProcessingExceptionHandler`] and
/// [`crate::processor::ProductionExceptionHandler`].
#[derive(Clone)]
pub struct FailureHandling {
    /// The dead-letter topic; `None` is `<application.id>-dlq`.
    pub dead_letter_topic: Option<String>,
    /// What to do when a processor fails (default: fail).
    pub processing_handler: Arc<dyn ProcessingExceptionHandler>,
    /// What to do with output the producer rejects (default: fail).
    pub production_handler: Arc<dyn ProductionExceptionHandler>,
    /// `max.request.size`: larger output records are rejected before they reach the
    /// producer (`None`: no limit).
    pub max_record_bytes: Option<usize>,
    /// Where retry and dead-letter counters go (shared by the instance's tasks).
    pub metrics: Arc<FailureMetrics>,
}

impl Default for FailureHandling {
    fn default() -> Self {
        FailureHandling {
            dead_letter_topic: None,
            processing_handler: Arc::new(LogAndFailProcessingExceptionHandler),
            production_handler: Arc::new(DefaultProductionExceptionHandler),
            max_record_bytes: None,
            metrics: Arc::default(),
        }
    }
}

impl std::fmt::Debug for FailureHandling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureHandling")
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("max_record_bytes", &self.max_record_bytes)
            .finish_non_exhaustive()
    }
}

/// The instantiated processors, stores and punctuators of one task.
pub struct ProcessorGraph {
    g: GraphState,
    handler: Arc<dyn DeserializationExceptionHandler>,
    processing_handler: Arc<dyn ProcessingExceptionHandler>,
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
            cache: env.cache.clone(),
        };
        let mut stores = HashMap::new();
        let mut store_order = Vec::new();
        for b in &plan.store_builders {
            stores.insert(b.name().to_string(), b.build(&store_ctx)?);
            store_order.push(b.name().to_string());
        }
        let nodes = plan.factories.iter().map(|f| Some(f())).collect();
        Ok(ProcessorGraph {
            g: GraphState {
                plan: plan.clone(),
                nodes,
                stores,
                store_order,
                flushed: FlushedQueue::default(),
                flush_forwarders: HashMap::new(),
                collector: env.collector,
                metadata: None,
                stream_time: -1,
                clock: env.clock,
                task_id: TaskId::new(subtopology, partition),
                application_id: env.application_id.clone(),
                stream_puncts: PunctuationQueue::default(),
                wall_puncts: PunctuationQueue::default(),
                commit_requested: false,
                dropped_records: 0,
                node_counters: BTreeMap::new(),
                dead_letter_topic: env
                    .failure
                    .dead_letter_topic
                    .clone()
                    .unwrap_or_else(|| default_dead_letter_topic(&env.application_id)),
                failure_metrics: env.failure.metrics.clone(),
                production_handler: env.failure.production_handler.clone(),
                max_record_bytes: env.failure.max_record_bytes,
                global: None,
            },
            handler: env.deserialization_handler,
            processing_handler: env.failure.processing_handler,
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
        &mut self,
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
        let kept = self.processing_handler.may_dead_letter().then(|| {
            Box::new(ParkedRecord {
                timestamp: raw.timestamp,
                key: raw.key.clone(),
                value: raw.value.clone(),
                headers: raw.headers.clone(),
            })
        });
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
                    raw: kept,
                    timestamp,
                    metadata,
                }))
            }
            Err(super::nodes::DecodeError::Serde(boxed)) => {
                let (raw, err) = *boxed;
                match self.handler.handle(&raw, &err) {
                    DeserializationHandlerResponse::Continue => Ok(None),
                    DeserializationHandlerResponse::Fail => Err(err.into()),
                    DeserializationHandlerResponse::DeadLetter => {
                        let node = self.g.plan.names[source].clone();
                        let meta = FailureMetadata {
                            attempt: 1,
                            first_failure_ms: self.g.clock.now_ms(),
                            due_ms: None,
                            error_class: FailureClass::NonRetryable,
                            error_message: err.to_string(),
                            dlq_reason: Some(DeadLetterReason::Deserialization),
                            failed_node: node,
                            application_id: self.g.application_id.to_string(),
                            original: Some(OriginalPosition {
                                metadata: RecordMetadata {
                                    topic: raw.topic.clone(),
                                    partition: raw.partition,
                                    offset: raw.offset,
                                },
                                timestamp: raw.timestamp,
                            }),
                        };
                        let parked = ParkedRecord {
                            timestamp: raw.timestamp,
                            key: raw.key,
                            value: raw.value,
                            headers: raw.headers,
                        };
                        self.g.send_dead_letter(parked, meta)?;
                        Ok(None)
                    }
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
        let r = match r {
            Err(e @ StreamsError::Processing { .. }) => self.handle_processing_error(e, record.raw),
            other => other,
        };
        self.g.metadata = None;
        r?;
        // Entries a cache evicted while the record was processed.
        self.g.forward_flushed()?;
        Ok(())
    }

    /// Applies the processing exception handler to a processing error of user code.
    fn handle_processing_error(
        &mut self,
        error: StreamsError,
        raw: Option<Box<ParkedRecord>>,
    ) -> Result<()> {
        let node = match &error {
            StreamsError::Processing { node, .. } => node.clone(),
            _ => String::new(),
        };
        let ctx = ErrorHandlerContext {
            node: &node,
            task_id: self.g.task_id,
            metadata: self.g.metadata.as_ref(),
        };
        match self.processing_handler.handle(&ctx, &error) {
            ProcessingHandlerResponse::Fail => Err(error),
            ProcessingHandlerResponse::Continue => {
                if self.g.metadata.is_some() {
                    self.g.dropped_records += 1;
                }
                Ok(())
            }
            ProcessingHandlerResponse::DeadLetter => {
                let (Some(raw), Some(metadata)) = (raw, self.g.metadata.clone()) else {
                    return Err(error);
                };
                let retriable = matches!(
                    error,
                    StreamsError::Processing {
                        retriable: true,
                        ..
                    }
                );
                let meta = FailureMetadata {
                    attempt: 1,
                    first_failure_ms: self.g.clock.now_ms(),
                    due_ms: None,
                    error_class: if retriable {
                        FailureClass::Retryable
                    } else {
                        FailureClass::NonRetryable
                    },
                    error_message: error.to_string(),
                    dlq_reason: Some(DeadLetterReason::Processing),
                    failed_node: node,
                    application_id: self.g.application_id.to_string(),
                    original: Some(OriginalPosition {
                        metadata,
                        timestamp: raw.timestamp,
                    }),
                };
                self.g.send_dead_letter(*raw, meta)
            }
        }
    }

    /// The topic dead-letter records go to.
    pub fn dead_letter_topic(&self) -> &str {
        &self.g.dead_letter_topic
    }

    /// Runs the stream-time punctuators due at the current stream time.
    pub fn maybe_punctuate_stream_time(&mut self) -> Result<bool> {
        let now = self.g.stream_time;
        if now < 0 {
            return Ok(false);
        }
        let r = self.g.punctuate(PunctuationType::StreamTime, now);
        self.handle_punctuation_result(r)
    }

    /// Runs the wall-clock punctuators due now.
    pub fn maybe_punctuate_wall_clock(&mut self) -> Result<bool> {
        let now = self.g.clock.now_ms();
        let r = self.g.punctuate(PunctuationType::WallClockTime, now);
        self.handle_punctuation_result(r)
    }

    /// A punctuator's processing error goes to the processing exception handler too (with no
    /// source record: it can continue or fail, not dead-letter).
    fn handle_punctuation_result(&mut self, r: Result<bool>) -> Result<bool> {
        match r {
            Err(e @ StreamsError::Processing { .. }) => {
                self.handle_processing_error(e, None).map(|()| true)
            }
            other => other,
        }
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

    /// The per-processor counters of this task since it was created, as
    /// `(node name, metric name) -> count` (see [`ProcessorContext::increment_node_counter`]).
    ///
    /// [`ProcessorContext::increment_node_counter`]: super::ProcessorContext::increment_node_counter
    pub fn node_counters(&self) -> BTreeMap<(String, String), u64> {
        self.g
            .node_counters
            .iter()
            .map(|((node, metric), n)| ((self.g.plan.names[*node].clone(), metric.clone()), *n))
            .collect()
    }

    /// As [`ProcessorGraph::node_counters`], resetting them: the runtime adds the deltas to
    /// its instance-wide totals at each commit.
    pub fn take_node_counters(&mut self) -> BTreeMap<(String, String), u64> {
        let counters = self.node_counters();
        self.g.node_counters.clear();
        counters
    }

    /// Whether a processor asked for a commit since the last call; resets the flag.
    pub fn take_commit_request(&mut self) -> bool {
        std::mem::take(&mut self.g.commit_requested)
    }

    /// Writes every store's cache down, forwarding what cached KTables wrote down: what each
    /// commit does.
    pub fn flush_cache(&mut self) -> Result<()> {
        self.g.flush_caches()
    }

    /// Flushes every store completely, caches and storage (before a checkpoint).
    pub fn flush(&mut self) -> Result<()> {
        self.g.flush_caches()?;
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
