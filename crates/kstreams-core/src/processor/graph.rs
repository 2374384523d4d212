//! The per-task processor graph: instantiated nodes of one sub-topology, their stores, the
//! punctuation queues and the record collector. The runtime's `StreamTask` and the test driver
//! both run records through this type.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kstreams_state::{CacheFlushEntry, SharedChangelogWriter, SharedThreadCache, StoreContext};

use super::handlers::{
    DefaultProductionExceptionHandler, DeserializationExceptionHandler,
    DeserializationHandlerResponse, ErrorHandlerContext, LogAndFailProcessingExceptionHandler,
    ProcessingExceptionHandler, ProcessingHandlerResponse, ProductionExceptionHandler,
    ProductionHandlerResponse, SerializationErrorContext,
};
use super::punctuation::{PunctuationQueue, PunctuationType};
use super::record_collector::RecordCollector;
use super::task_id::TaskId;
use super::task_stores::TaskStores;
use crate::error::{Result, StreamsError};
use crate::failure::{
    DeadLetterReason, FailureClass, FailureMetadata, FailureMetric, NodeMetrics, OriginalPosition,
    OutputId, ParkedRecord, ProductionDecisions, dead_letter_record, default_dead_letter_topic,
    failed_sink, output_original, production_failure_metadata,
};
use crate::record::{
    ConsumedRecord, Headers, OutputOrigin, ProducedRecord, Record, RecordMetadata,
};
use crate::serde::SerdeError;
use crate::state::TaskStore;
use crate::time::SharedClock;
use crate::topology::{ProcessorTopology, SubtopologyPlan};

/// A record on its way to a node, with its types erased: a slot holding an
/// `Option<Record<K, V>>` that the node takes the record out of. Slots live on the forwarding
/// node's stack (no allocation per hop); a queued input record owns its slot in a
/// [`BoxedRecord`].
pub(crate) type AnyRecord<'a> = &'a mut (dyn Any + Send);

/// An input record waiting in a task's queue: a boxed `Option<Record<K, V>>` slot.
pub(crate) type BoxedRecord = Box<dyn Any + Send>;

/// A node instance with its types erased.
pub(crate) trait ErasedNode: Send {
    fn init(&mut self, g: &mut GraphState, me: usize) -> Result<()>;
    fn process(&mut self, g: &mut GraphState, me: usize, record: AnyRecord<'_>) -> Result<()>;
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
    pub(crate) stores: TaskStores,
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
    /// Node names, shared into output records' origins.
    node_names: Vec<Arc<str>>,
    pub(crate) dead_letter_topic: String,
    /// Per-node counters of the instance: failure handling and processor counters.
    pub(crate) node_metrics: Arc<NodeMetrics>,
    production_handler: Arc<dyn ProductionExceptionHandler>,
    /// Handler decisions waiting for their output records to be produced again.
    production_decisions: Arc<ProductionDecisions>,
    max_record_bytes: Option<usize>,
    /// The bytes of the input record being processed, when a handler may dead-letter them.
    pub(crate) current_raw: Option<Box<ParkedRecord>>,
    /// The input record the last output was written for, and how many outputs it has had.
    /// The input record (by `input_seq`) the last sink output came from; 0 for none.
    origin_seq: u64,
    output_index: u32,
    /// Counts the input records processed: tells the outputs of one input record from the
    /// next's without comparing their metadata.
    input_seq: u64,
    /// The instance's global stores, readable by every processor.
    pub(crate) global: Option<GlobalStateStores>,
}

impl GraphState {
    /// The origin of the next output of sink `me`: the sink and the input record.
    pub(crate) fn output_origin(&mut self, me: usize) -> OutputOrigin {
        let source = match &self.metadata {
            Some(m) => {
                if self.origin_seq == self.input_seq {
                    self.output_index += 1;
                } else {
                    self.origin_seq = self.input_seq;
                    self.output_index = 0;
                }
                Some(m.clone())
            }
            None => {
                // Not an input record's output: the next one's index starts afresh.
                self.origin_seq = 0;
                self.output_index = 0;
                None
            }
        };
        OutputOrigin {
            sink: self.node_names[me].clone(),
            source,
            index: self.output_index,
        }
    }

    /// Sends a sink's output record: applies a production handler decision waiting for it
    /// (exactly-once reprocessing after a rejected send), and the production exception
    /// handler to records the producer would reject (above `max_record_bytes`).
    pub(crate) fn send_output(&mut self, record: ProducedRecord) -> Result<()> {
        if !self.production_decisions.is_empty()
            && let Some(id) = record
                .origin
                .as_ref()
                .and_then(|o| OutputId::of(o, &record.topic))
            && let Some(d) = self.production_decisions.take(&id)
        {
            tracing::info!(topic = %record.topic, source_offset = id.source_offset, cause = %d.cause,
                "applying the production handler's decision to a reprocessed output record");
            return self.apply_production_response(record, d.response, &d.cause, d.message);
        }
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
        const CAUSE: &str = "max-request-size";
        self.node_metrics
            .record(FailureMetric::ProductionError, &failed_sink(&record), CAUSE);
        match self.production_handler.handle(&record, &error) {
            ProductionHandlerResponse::Fail => Err(error),
            response => self.apply_production_response(record, response, CAUSE, error.to_string()),
        }
    }

    /// Carries out a production handler's continue or dead-letter for an output record.
    fn apply_production_response(
        &mut self,
        record: ProducedRecord,
        response: ProductionHandlerResponse,
        cause: &str,
        message: String,
    ) -> Result<()> {
        let node = failed_sink(&record);
        match response {
            ProductionHandlerResponse::Fail => Err(StreamsError::Fatal(message)),
            ProductionHandlerResponse::Continue => {
                self.dropped_records += 1;
                self.node_metrics
                    .record(FailureMetric::ProductionSkipped, &node, cause);
                Ok(())
            }
            ProductionHandlerResponse::DeadLetter => {
                let meta = production_failure_metadata(
                    node,
                    message,
                    &self.application_id,
                    self.clock.now_ms(),
                    output_original(&record),
                );
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

    /// Applies the production exception handler to a sink's key or value that did not
    /// serialize (KIP-1033). A dead-lettered record carries the input record's bytes when
    /// they were kept, else no key and no value (and the output's headers).
    pub(crate) fn handle_serialization_error(
        &mut self,
        me: usize,
        topic: &str,
        is_key: bool,
        timestamp: i64,
        headers: Headers,
        error: SerdeError,
    ) -> Result<()> {
        const CAUSE: &str = "serialization";
        let node = self.plan.names[me].clone();
        self.node_metrics
            .record(FailureMetric::ProductionError, &node, CAUSE);
        let ctx = SerializationErrorContext {
            node: &node,
            task_id: self.task_id,
            topic,
            is_key,
            metadata: self.metadata.as_ref(),
        };
        match self.production_handler.handle_serialization(&ctx, &error) {
            ProductionHandlerResponse::Fail => Err(error.into()),
            ProductionHandlerResponse::Continue => {
                self.dropped_records += 1;
                self.node_metrics
                    .record(FailureMetric::ProductionSkipped, &node, CAUSE);
                Ok(())
            }
            ProductionHandlerResponse::DeadLetter => {
                let parked = match self.current_raw.as_deref() {
                    Some(raw) => raw.clone(),
                    None => ParkedRecord {
                        timestamp,
                        key: None,
                        value: None,
                        headers,
                    },
                };
                let original = self.metadata.clone().map(|metadata| OriginalPosition {
                    metadata,
                    timestamp: parked.timestamp,
                });
                let meta = production_failure_metadata(
                    node,
                    error.to_string(),
                    &self.application_id,
                    self.clock.now_ms(),
                    original,
                );
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
        let reason = meta.dlq_reason.unwrap_or(DeadLetterReason::NonRetryable);
        let out = dead_letter_record(&self.dead_letter_topic, record, &meta);
        self.collector.send(out).map_err(|e| {
            StreamsError::Fatal(format!(
                "writing to the dead-letter topic '{}' failed: {e}",
                self.dead_letter_topic
            ))
        })?;
        tracing::warn!(node = %meta.failed_node, reason = reason.as_str(), attempt = meta.attempt,
            topic = %self.dead_letter_topic, "record sent to the dead-letter topic");
        self.node_metrics.record(
            FailureMetric::DeadLetter,
            &meta.failed_node,
            reason.as_str(),
        );
        Ok(())
    }

    /// Runs `record` through node `node` (and, through forwards, its descendants).
    pub(crate) fn dispatch(&mut self, node: usize, record: AnyRecord<'_>) -> Result<()> {
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
            self.dispatch(child, &mut Some(record.clone()))?;
        }
        let last = self.plan.children[from][n - 1];
        self.dispatch(last, &mut Some(record))
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
        self.dispatch(target, &mut Some(record))
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
        if self.flush_forwarders.is_empty() {
            // Only a registered forwarder's listener queues entries.
            return Ok(false);
        }
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
        for _ in 0..=self.stores.len() {
            for s in self.stores.iter_mut() {
                s.flush_cache()?;
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
    pub(crate) record: BoxedRecord,
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
            record: Box::new(None::<()>),
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
    /// Where per-node counters go (failure handling, dedup hits; shared by the instance's
    /// tasks).
    pub metrics: Arc<NodeMetrics>,
    /// Production handler decisions waiting for their records to be produced again (shared
    /// by a stream thread and its tasks; empty unless a send failed under exactly-once).
    pub production_decisions: Arc<ProductionDecisions>,
}

impl Default for FailureHandling {
    fn default() -> Self {
        FailureHandling {
            dead_letter_topic: None,
            processing_handler: Arc::new(LogAndFailProcessingExceptionHandler),
            production_handler: Arc::new(DefaultProductionExceptionHandler),
            max_record_bytes: None,
            metrics: Arc::default(),
            production_decisions: Arc::default(),
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
        let stores = TaskStores::build(&plan.store_builders, &store_ctx)?;
        let nodes = plan.factories.iter().map(|f| Some(f())).collect();
        Ok(ProcessorGraph {
            g: GraphState {
                plan: plan.clone(),
                nodes,
                stores,
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
                node_names: plan.names.iter().map(|n| Arc::from(n.as_str())).collect(),
                dead_letter_topic: env
                    .failure
                    .dead_letter_topic
                    .clone()
                    .unwrap_or_else(|| default_dead_letter_topic(&env.application_id)),
                node_metrics: env.failure.metrics.clone(),
                production_handler: env.failure.production_handler.clone(),
                production_decisions: env.failure.production_decisions.clone(),
                max_record_bytes: env.failure.max_record_bytes,
                current_raw: None,
                origin_seq: 0,
                output_index: 0,
                input_seq: 0,
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
        let source = self.source_of(&raw.topic)?;
        self.decode_from(source, raw, partition_time)
    }

    /// The source node reading `topic`, for [`ProcessorGraph::decode_from`] (looked up once
    /// per fetched batch).
    pub fn source_of(&self, topic: &str) -> Result<usize> {
        self.g
            .plan
            .source_topics
            .get(topic)
            .copied()
            .ok_or_else(|| {
                StreamsError::IllegalState(format!(
                    "task {} does not read topic '{topic}'",
                    self.g.task_id
                ))
            })
    }

    /// [`ProcessorGraph::decode`] of a record of `source`'s topic.
    pub fn decode_from(
        &mut self,
        source: usize,
        raw: ConsumedRecord,
        partition_time: i64,
    ) -> Result<Option<StampedRecord>> {
        let Some(decoder) = self.g.plan.decoders[source].as_ref() else {
            return Err(StreamsError::IllegalState(format!(
                "node '{}' is not a source",
                self.g.plan.names[source]
            )));
        };
        let keep = self.processing_handler.may_dead_letter()
            || self.g.production_handler.may_dead_letter();
        let kept = keep.then(|| {
            Box::new(ParkedRecord {
                timestamp: raw.timestamp,
                key: raw.key.as_deref().map(<[u8]>::to_vec),
                value: raw.value.as_deref().map(<[u8]>::to_vec),
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
                            key: raw.key.as_deref().map(<[u8]>::to_vec),
                            value: raw.value.as_deref().map(<[u8]>::to_vec),
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
        self.g.input_seq += 1;
        self.g.current_raw = record.raw;
        let mut slot = record.record;
        let r = self.g.dispatch(record.source, &mut *slot);
        let raw = self.g.current_raw.take();
        let r = match r {
            Err(e @ StreamsError::Processing { .. }) => self.handle_processing_error(e, raw),
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

    /// How long until the earliest wall-clock punctuator is due (zero if it is overdue), if any
    /// is scheduled: a stream thread waiting for records wakes up for it.
    pub fn wall_clock_punctuation_due_in(&self) -> Option<std::time::Duration> {
        let next = self.g.wall_puncts.next_due()?;
        let ms = next.saturating_sub(self.g.clock.now_ms()).max(0);
        Some(std::time::Duration::from_millis(ms as u64))
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
        for s in self.g.stores.iter_mut() {
            s.flush()?;
        }
        Ok(())
    }

    /// A store of this task.
    pub fn store(&self, name: &str) -> Option<&dyn TaskStore> {
        self.g.stores.get(name)
    }

    /// A store of this task, mutably (restoration).
    pub fn store_mut(&mut self, name: &str) -> Option<&mut (dyn TaskStore + 'static)> {
        self.g.stores.get_mut(name)
    }

    /// The names of this task's stores.
    pub fn store_names(&self) -> Vec<String> {
        let mut v = self.g.stores.names().to_vec();
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
        for s in self.g.stores.iter_mut() {
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
            for s in self.g.stores.iter_mut() {
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

#[cfg(test)]
mod output_origin_tests {
    use std::sync::Arc;

    use crate::processor::{ProcessorGraph, TaskEnv, VecRecordCollector};
    use crate::{
        ConsumedRecord, Headers, MockClock, Processor, ProcessorContext, Record, Result, Serdes,
        Topology,
    };

    /// Forwards every record twice.
    struct Twice;

    impl Processor<String, String, String, String> for Twice {
        fn process(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, String>,
            r: Record<String, String>,
        ) -> Result<()> {
            ctx.forward(r.clone())?;
            ctx.forward(r)
        }
    }

    /// Each sink output names its input record and its place among that record's outputs;
    /// the count restarts with every input record, also when the same record is processed
    /// again (reprocessing after an aborted transaction).
    #[test]
    fn outputs_are_numbered_per_input_record() {
        let mut t = Topology::new();
        t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
            .unwrap();
        t.add_processor("twice", || Twice, &["src"]).unwrap();
        t.add_sink::<String, String>(
            "to-out",
            "out",
            Serdes::string(),
            Serdes::string(),
            &["twice"],
        )
        .unwrap();
        let built = t.build(Some("app")).unwrap();
        let collector = VecRecordCollector::default();
        let env = TaskEnv {
            application_id: "app".into(),
            task_dir: None,
            changelog: None,
            clock: Arc::new(MockClock::new(0)),
            collector: Box::new(collector.clone()),
            deserialization_handler: Arc::new(crate::processor::LogAndFailExceptionHandler),
            cache: None,
            failure: Default::default(),
        };
        let mut g = ProcessorGraph::new(&built, 0, 0, env).unwrap();
        g.init().unwrap();
        for offset in [3, 4, 4] {
            let raw = ConsumedRecord {
                topic: "in".into(),
                partition: 0,
                offset,
                timestamp: 1,
                key: Some(b"k".to_vec().into()),
                value: Some(b"v".to_vec().into()),
                headers: Headers::new(),
            };
            let stamped = g.decode(raw, -1).unwrap().unwrap();
            g.process(stamped).unwrap();
        }
        let origins: Vec<(String, i64, u32)> = collector
            .records
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let o = r.origin.as_ref().expect("a sink output has an origin");
                let source = o.source.as_ref().expect("an input record");
                (o.sink.to_string(), source.offset, o.index)
            })
            .collect();
        let expected: Vec<(String, i64, u32)> = [(3, 0), (3, 1), (4, 0), (4, 1), (4, 0), (4, 1)]
            .into_iter()
            .map(|(offset, index)| ("to-out".to_string(), offset, index))
            .collect();
        assert_eq!(origins, expected);
    }
}
