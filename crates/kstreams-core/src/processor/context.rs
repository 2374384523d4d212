//! What a processor sees while it runs.

use std::marker::PhantomData;
use std::time::Duration;

use kstreams_state::{CacheFlushEntry, CacheFlushListener};

use super::graph::{FlushFn, FlushForwarder, GraphState, Punct};
use super::punctuation::{Cancellable, PunctuationType};
use super::task_id::TaskId;
use crate::error::{Result, StreamsError};
use crate::failure::{FailureMetadata, NodeMetrics, ParkedRecord};
use crate::record::{ProducedRecord, Record, RecordMetadata};
use crate::state::{KeyValueStore, TaskStore};

/// The context of one processor in one task: forwarding to children, record metadata, time,
/// punctuation and state stores. `K`/`V` are the types the processor forwards.
pub struct ProcessorContext<'a, K, V> {
    g: &'a mut GraphState,
    node: usize,
    _types: PhantomData<fn(K, V)>,
}

impl<'a, K, V> ProcessorContext<'a, K, V> {
    pub(crate) fn new(g: &'a mut GraphState, node: usize) -> Self {
        ProcessorContext {
            g,
            node,
            _types: PhantomData,
        }
    }

    /// Forwards a record to every child.
    pub fn forward(&mut self, record: Record<K, V>) -> Result<()>
    where
        K: Clone + Send + 'static,
        V: Clone + Send + 'static,
    {
        self.g.forward(self.node, record)
    }

    /// Forwards a record to the child named `child` only.
    pub fn forward_to(&mut self, child: &str, record: Record<K, V>) -> Result<()>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        self.g.forward_to(self.node, child, record)
    }

    /// Topic, partition and offset of the input record being processed; `None` inside a
    /// punctuator.
    pub fn record_metadata(&self) -> Option<&RecordMetadata> {
        self.g.metadata.as_ref()
    }

    /// The task running this processor.
    pub fn task_id(&self) -> TaskId {
        self.g.task_id
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.g.application_id
    }

    /// This processor's node name.
    pub fn node_name(&self) -> &str {
        &self.g.plan.names[self.node]
    }

    /// The names of this node's children, in forwarding order.
    pub fn child_names(&self) -> Vec<&str> {
        self.g.plan.children[self.node]
            .iter()
            .map(|&c| self.g.plan.names[c].as_str())
            .collect()
    }

    /// The task's stream time (highest record timestamp processed; -1 before the first).
    pub fn current_stream_time_ms(&self) -> i64 {
        self.g.stream_time
    }

    /// Wall-clock time from the task's clock.
    pub fn current_system_time_ms(&self) -> i64 {
        self.g.clock.now_ms()
    }

    /// Counts a record this processor drops on purpose (a late record for a closed window,
    /// for instance) in the task's dropped-records total.
    pub fn record_dropped(&mut self) {
        self.g.dropped_records += 1;
    }

    /// Adds `n` to this processor's counter `metric` (for instance `dedup-hits`) in the
    /// instance's [`NodeMetrics`] (reason `""`), which the test driver and the runtime's
    /// metrics snapshot report per processor name.
    pub fn increment_node_counter(&mut self, metric: &str, n: u64) {
        let node = &self.g.plan.names[self.node];
        self.g.node_metrics.add(metric, node, "", n);
    }

    /// The application's dead-letter topic (`<application.id>-dlq` unless configured).
    pub fn dead_letter_topic(&self) -> &str {
        &self.g.dead_letter_topic
    }

    /// Writes `record`, with `metadata` in its failure headers, to the dead-letter topic,
    /// through the task's record collector (in the task's transaction under exactly-once).
    /// Failing to write it is a fatal error: it is never retried nor dead-lettered again.
    pub fn send_to_dead_letter_topic(
        &mut self,
        record: ParkedRecord,
        metadata: FailureMetadata,
    ) -> Result<()> {
        self.g.send_dead_letter(record, metadata)
    }

    /// Hands an already serialized record to the task's record collector, bypassing sinks
    /// and the production exception handler (retry topics use it; it commits with the task).
    pub fn send_serialized(&mut self, record: ProducedRecord) -> Result<()> {
        self.g.collector.send(record)
    }

    /// The instance's per-node counters (retries, dead-letter records, dedup hits, ...).
    pub fn node_metrics(&self) -> &NodeMetrics {
        &self.g.node_metrics
    }

    /// Asks the runtime to commit the task soon: the stream thread commits after this loop
    /// iteration, without waiting for `commit.interval.ms` (under exactly-once that commits the
    /// thread's transaction, so the output so far becomes visible). The TopologyTestDriver
    /// commits after every record anyway.
    pub fn commit(&mut self) {
        self.g.commit_requested = true;
    }

    /// Schedules `punctuator` every `interval`. Stream-time punctuators fire as record
    /// timestamps advance stream time past each multiple of the interval; wall-clock ones fire
    /// one interval from now and then every interval. Missed intervals are skipped. The
    /// punctuator gets the context (to forward and reach stores) and the current time.
    pub fn schedule<F>(
        &mut self,
        interval: Duration,
        kind: PunctuationType,
        mut punctuator: F,
    ) -> Result<Cancellable>
    where
        F: FnMut(&mut ProcessorContext<'_, K, V>, i64) -> Result<()> + Send + 'static,
        K: 'static,
        V: 'static,
    {
        let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        if interval_ms < 1 {
            return Err(StreamsError::IllegalState(format!(
                "punctuation interval of '{}' must be at least 1 ms",
                self.node_name()
            )));
        }
        let f = Box::new(move |g: &mut GraphState, node: usize, ts: i64| {
            let mut ctx = ProcessorContext::<K, V>::new(g, node);
            punctuator(&mut ctx, ts)
        });
        let p = Punct { node: self.node, f };
        Ok(match kind {
            PunctuationType::StreamTime => self.g.stream_puncts.schedule(0, interval_ms, p),
            PunctuationType::WallClockTime => {
                let first = self.g.clock.now_ms().saturating_add(interval_ms);
                self.g.wall_puncts.schedule(first, interval_ms, p)
            }
        })
    }

    /// Makes this processor forward what the cache of store `name` writes down: on every
    /// commit (flush) and when the cache evicts a dirty entry (its budget, or the thread's
    /// `statestore.cache.max.bytes`, is exceeded), `forwarder` runs with this processor's
    /// context and the entry (key, new value, value before it), in the cache's write order.
    /// Returns `false` when the store has no cache: the processor then forwards each update
    /// itself. Call it from `init`.
    pub fn set_cache_flush_forwarder<F>(&mut self, name: &str, mut forwarder: F) -> Result<bool>
    where
        F: FnMut(&mut ProcessorContext<'_, K, V>, CacheFlushEntry) -> Result<()> + Send + 'static,
        K: 'static,
        V: 'static,
    {
        let queue = self.g.flushed.clone();
        let store = name.to_string();
        let listener: CacheFlushListener = Box::new(move |entry| {
            if let Ok(mut q) = queue.lock() {
                q.push_back((store.clone(), entry));
            }
        });
        let cached = self.state_store(name)?.set_flush_listener(listener);
        if cached {
            let f: FlushFn = Box::new(move |g, node, entry| {
                let mut ctx = ProcessorContext::<K, V>::new(g, node);
                forwarder(&mut ctx, entry)
            });
            self.g.flush_forwarders.insert(
                name.to_string(),
                FlushForwarder {
                    node: self.node,
                    f: Some(f),
                },
            );
        }
        Ok(cached)
    }

    /// The position among the task's stores of the store `name` connected to this
    /// processor.
    fn connected_store(&self, name: &str) -> Result<usize> {
        let plan = &self.g.plan;
        let error = |reason: &str| StreamsError::StoreAccess {
            processor: plan.names[self.node].clone(),
            store: name.to_string(),
            reason: reason.into(),
        };
        let slot = plan.node_stores[self.node]
            .iter()
            .position(|s| s == name)
            .ok_or_else(|| {
                error("the store is not connected to this processor (connect it when adding the store)")
            })?;
        plan.node_store_positions[self.node][slot]
            .ok_or_else(|| error("no such store in this task"))
    }

    /// A state store connected to this processor, type-erased (custom stores downcast it).
    pub fn state_store(&mut self, name: &str) -> Result<&mut dyn TaskStore> {
        let position = self.connected_store(name)?;
        self.g
            .stores
            .at_mut(position)
            .ok_or_else(|| StreamsError::IllegalState(format!("no store at position {position}")))
    }

    /// A key-value store connected to this processor, with its key and value types.
    pub fn key_value_store<SK: 'static, SV: 'static>(
        &mut self,
        name: &str,
    ) -> Result<&mut KeyValueStore<SK, SV>> {
        self.typed_store(name)
    }

    /// Runs `f` with the global store `name` (read access, Kafka Streams' global stores:
    /// every processor can read them without connecting them), downcast to `S`.
    pub fn with_global_store<S: TaskStore, R>(
        &self,
        name: &str,
        f: impl FnOnce(&S) -> Result<R>,
    ) -> Result<R> {
        let access_error = |reason: String| StreamsError::StoreAccess {
            processor: self.node_name().to_string(),
            store: name.to_string(),
            reason,
        };
        let global = self
            .g
            .global
            .as_ref()
            .ok_or_else(|| access_error("this task has no global stores".into()))?;
        global
            .with_store(name, |s| match s.as_any().downcast_ref::<S>() {
                Some(s) => f(s),
                None => Err(access_error(format!(
                    "the global store is not a {}",
                    std::any::type_name::<S>()
                ))),
            })
            .map_err(|e| match e {
                StreamsError::IllegalState(m) => access_error(m),
                e => e,
            })?
    }

    /// A store connected to this processor, downcast to its concrete type `S`.
    pub fn typed_store<S: TaskStore>(&mut self, name: &str) -> Result<&mut S> {
        let position = self.connected_store(name)?;
        let is_s = self
            .g
            .stores
            .at_mut(position)
            .is_some_and(|s| s.as_any_mut().is::<S>());
        if !is_s {
            return Err(StreamsError::StoreAccess {
                processor: self.node_name().to_string(),
                store: name.to_string(),
                reason: format!("the store is not a {}", std::any::type_name::<S>()),
            });
        }
        self.g
            .stores
            .at_mut(position)
            .and_then(|s| s.as_any_mut().downcast_mut::<S>())
            .ok_or_else(|| StreamsError::IllegalState(format!("no store at position {position}")))
    }
}
