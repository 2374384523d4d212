//! The processor behind the `try_*` operators: runs fallible user code, moves failed records
//! to the node's retry topic or to the dead-letter topic, parks records read back from the
//! retry topic in a change-logged scheduler store keyed by due time, and re-delivers them from
//! a wall-clock punctuator.
//!
//! Data flow of one failing record (every write goes through the task's record collector, so
//! under exactly_once_v2 it commits atomically with the input offsets and the store's
//! changelog):
//!
//! 1. input record → user code fails → retry decision (pure, [`RetryPolicy::decide`]) →
//!    record (its serialized key, value and headers, plus the failure headers) to
//!    `<application.id>-<node>-retry` at the task's partition, or to the dead-letter topic;
//! 2. the retry source (a parent of this node) reads it back → parked in
//!    `<node>-retry-store` under (due time, retry offset);
//! 3. the punctuator, every `poll_interval` of wall-clock time, removes the due records and
//!    runs the user code again (tracing field `attempt`); a new failure goes back to step 1
//!    with the attempt count incremented, until `max_attempts`.
//!
//! The partition is never blocked: later records keep flowing while one waits.

use std::sync::{Arc, Mutex};

use kstreams_core::failure::{
    ErrorClassifier, FailureMetadata, FailureMetric, JitterSource, OriginalPosition, ParkedRecord,
    ProcessingError, RetryDecision, RetryPolicy, SchedulerKey, header,
};
use kstreams_core::{
    Headers, Processor, ProcessorContext, ProducedRecord, PunctuationType, Record, RecordMetadata,
    Result, SharedSerde, StreamsError,
};

/// Fallible user code: the output values of one input record, given where the record first
/// came from (the same on every re-delivery of it; `None` for output of a punctuator).
pub(crate) type TryFn<K, V, VO> = Arc<
    dyn Fn(&K, &V, Option<&RecordMetadata>) -> std::result::Result<Vec<VO>, ProcessingError>
        + Send
        + Sync,
>;

/// What every task's processor of one operator shares.
pub(crate) struct RetryingSpec<K, V, VO> {
    pub(crate) f: TryFn<K, V, VO>,
    pub(crate) policy: RetryPolicy,
    pub(crate) classifier: Arc<dyn ErrorClassifier>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    /// The retry topic as named in the topology (without the application id).
    pub(crate) retry_topic: String,
    pub(crate) store: String,
}

type Jitter = Arc<Mutex<Box<dyn JitterSource>>>;

/// One task's processor.
pub(crate) struct RetryingProcessor<K, V, VO> {
    spec: Arc<RetryingSpec<K, V, VO>>,
    jitter: Jitter,
    /// The retry topic with the application id (known from `init`).
    retry_topic: String,
}

impl<K, V, VO> RetryingProcessor<K, V, VO> {
    pub(crate) fn new(spec: Arc<RetryingSpec<K, V, VO>>, jitter: Box<dyn JitterSource>) -> Self {
        RetryingProcessor {
            spec,
            jitter: Arc::new(Mutex::new(jitter)),
            retry_topic: String::new(),
        }
    }
}

fn resolved_retry_topic<K, V, VO>(spec: &RetryingSpec<K, V, VO>, app: &str) -> String {
    format!("{app}-{}", spec.retry_topic)
}

/// The headers an output record carries: the input's, without failure metadata.
fn clean_headers(mut headers: Headers) -> Headers {
    for h in header::ALL {
        headers.remove(h);
    }
    headers
}

/// A typed record on its way through one attempt.
struct Attempt<K, V> {
    key: K,
    value: V,
    timestamp: i64,
    headers: Headers,
    /// The failure metadata of the previous attempt (`None` for the first).
    prior: Option<FailureMetadata>,
}

fn run_attempt<K, V, VO>(
    spec: &RetryingSpec<K, V, VO>,
    jitter: &Jitter,
    ctx: &mut ProcessorContext<'_, K, VO>,
    a: Attempt<K, V>,
) -> Result<()>
where
    K: Clone + Send + 'static,
    V: 'static,
    VO: Clone + Send + 'static,
{
    // A re-delivered record carries its first position in its failure metadata.
    let origin = match a.prior.as_ref().and_then(|p| p.original.as_ref()) {
        Some(o) => Some(o.metadata.clone()),
        None => ctx.record_metadata().cloned(),
    };
    match (spec.f)(&a.key, &a.value, origin.as_ref()) {
        Ok(values) => {
            let headers = clean_headers(a.headers);
            for v in values {
                ctx.forward(Record {
                    key: a.key.clone(),
                    value: v,
                    timestamp: a.timestamp,
                    headers: headers.clone(),
                })?;
            }
            Ok(())
        }
        Err(error) => fail(spec, jitter, ctx, a, error),
    }
}

fn fail<K: 'static, V: 'static, VO>(
    spec: &RetryingSpec<K, V, VO>,
    jitter: &Jitter,
    ctx: &mut ProcessorContext<'_, K, VO>,
    a: Attempt<K, V>,
    error: ProcessingError,
) -> Result<()> {
    let class = spec.classifier.classify(&error);
    let attempt = a.prior.as_ref().map_or(0, |p| p.attempt).saturating_add(1);
    let now = ctx.current_system_time_ms();
    let decision = {
        let mut j = jitter
            .lock()
            .map_err(|_| StreamsError::Fatal("retry jitter source poisoned".into()))?;
        spec.policy.decide(class, attempt, now, j.as_mut())
    };
    let retry_topic = resolved_retry_topic(spec, ctx.application_id());
    let original = match a.prior.as_ref().and_then(|p| p.original.clone()) {
        Some(o) => Some(o),
        None => ctx.record_metadata().map(|m| OriginalPosition {
            metadata: m.clone(),
            timestamp: a.timestamp,
        }),
    };
    let (due_ms, dlq_reason) = match decision {
        RetryDecision::Retry { due_ms } => (Some(due_ms), None),
        RetryDecision::DeadLetter(r) => (None, Some(r)),
    };
    let meta = FailureMetadata {
        attempt,
        first_failure_ms: a.prior.as_ref().map_or(now, |p| p.first_failure_ms),
        due_ms,
        error_class: class,
        error_message: error.to_string(),
        dlq_reason,
        failed_node: ctx.node_name().to_string(),
        application_id: ctx.application_id().to_string(),
        original,
    };
    let key = spec.key_serde.serialize(&retry_topic, &a.key)?;
    let value = spec.value_serde.serialize(&retry_topic, &a.value)?;
    match decision {
        RetryDecision::Retry { due_ms } => {
            let mut headers = a.headers;
            meta.write_to(&mut headers);
            tracing::debug!(node = %meta.failed_node, attempt, due_ms, error = %error,
                "retryable failure; record sent to the retry topic");
            let partition = ctx.task_id().partition;
            ctx.send_serialized(ProducedRecord {
                topic: retry_topic.into(),
                partition: Some(partition),
                key,
                value,
                timestamp: a.timestamp,
                headers,
                origin: None,
            })?;
            ctx.node_metrics().record(
                FailureMetric::RetryScheduled,
                &meta.failed_node,
                class.as_str(),
            );
            Ok(())
        }
        RetryDecision::DeadLetter(_) => ctx.send_to_dead_letter_topic(
            ParkedRecord {
                timestamp: a.timestamp,
                key,
                value,
                headers: a.headers,
            },
            meta,
        ),
    }
}

/// Parks a record read from the retry topic until it is due.
fn park<K: 'static, V: 'static, VO>(
    spec: &RetryingSpec<K, V, VO>,
    ctx: &mut ProcessorContext<'_, K, VO>,
    record: Record<K, V>,
) -> Result<()> {
    let retry_topic = resolved_retry_topic(spec, ctx.application_id());
    let position = ctx.record_metadata().cloned();
    let meta = FailureMetadata::read_from(&record.headers);
    let key = spec.key_serde.serialize(&retry_topic, &record.key)?;
    let value = spec.value_serde.serialize(&retry_topic, &record.value)?;
    let parked = ParkedRecord {
        timestamp: record.timestamp,
        key,
        value,
        headers: record.headers,
    };
    let (meta, position) = match (meta, position) {
        (Ok(Some(m)), Some(p)) if m.due_ms.is_some() => (m, p),
        (problem, position) => {
            // Someone else wrote to this node's retry topic: the record cannot be retried, and
            // it must not be lost either.
            let why = match problem {
                Err(e) => e.to_string(),
                _ => "no due time in the failure headers".to_string(),
            };
            let now = ctx.current_system_time_ms();
            let meta = FailureMetadata {
                attempt: 1,
                first_failure_ms: now,
                due_ms: None,
                error_class: kstreams_core::failure::FailureClass::NonRetryable,
                error_message: format!("malformed retry record: {why}"),
                dlq_reason: Some(kstreams_core::failure::DeadLetterReason::NonRetryable),
                failed_node: ctx.node_name().to_string(),
                application_id: ctx.application_id().to_string(),
                original: position.map(|metadata| OriginalPosition {
                    metadata,
                    timestamp: parked.timestamp,
                }),
            };
            return ctx.send_to_dead_letter_topic(parked, meta);
        }
    };
    let key = SchedulerKey {
        due_ms: meta.due_ms.unwrap_or(0),
        partition: position.partition,
        offset: position.offset,
    };
    ctx.key_value_store::<Vec<u8>, Vec<u8>>(&spec.store)?
        .put(&key.encode(), &parked.encode())
}

/// Re-delivers the parked records due at `now`, in due-time order.
fn redeliver_due<K, V, VO>(
    spec: &RetryingSpec<K, V, VO>,
    jitter: &Jitter,
    ctx: &mut ProcessorContext<'_, K, VO>,
    now: i64,
) -> Result<()>
where
    K: Clone + Send + 'static,
    V: 'static,
    VO: Clone + Send + 'static,
{
    let retry_topic = resolved_retry_topic(spec, ctx.application_id());
    let upper = SchedulerKey::last_due_at(now).encode();
    let due = ctx
        .key_value_store::<Vec<u8>, Vec<u8>>(&spec.store)?
        .range(None, Some(&upper))?;
    for (k, v) in due {
        ctx.key_value_store::<Vec<u8>, Vec<u8>>(&spec.store)?
            .delete(&k)?;
        let corrupt = |e: String| {
            StreamsError::Fatal(format!(
                "retry scheduler store '{}' holds a corrupt entry: {e}",
                spec.store
            ))
        };
        let parked = ParkedRecord::decode(&v).map_err(|e| corrupt(e.to_string()))?;
        let prior = FailureMetadata::read_from(&parked.headers)
            .map_err(|e| corrupt(e.to_string()))?
            .ok_or_else(|| corrupt("no failure headers".into()))?;
        let key = spec
            .key_serde
            .deserialize(&retry_topic, parked.key.as_deref())?;
        let value = spec
            .value_serde
            .deserialize(&retry_topic, parked.value.as_deref())?;
        let attempt = prior.attempt + 1;
        let node = ctx.node_name().to_string();
        ctx.node_metrics()
            .record(FailureMetric::RetryRedelivered, &node, "due");
        let span = tracing::info_span!("retry", node = %node, attempt);
        let _entered = span.enter();
        tracing::debug!(
            attempt,
            due_ms = prior.due_ms,
            now,
            "re-delivering a parked record"
        );
        run_attempt(
            spec,
            jitter,
            ctx,
            Attempt {
                key,
                value,
                timestamp: parked.timestamp,
                headers: parked.headers,
                prior: Some(prior),
            },
        )?;
    }
    Ok(())
}

impl<K, V, VO> Processor<K, V, K, VO> for RetryingProcessor<K, V, VO>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    VO: Clone + Send + Sync + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VO>) -> Result<()> {
        self.retry_topic = resolved_retry_topic(&self.spec, ctx.application_id());
        let spec = self.spec.clone();
        let jitter = self.jitter.clone();
        ctx.schedule(
            self.spec.policy.poll_interval,
            PunctuationType::WallClockTime,
            move |ctx, now| redeliver_due(&spec, &jitter, ctx, now),
        )?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VO>,
        record: Record<K, V>,
    ) -> Result<()> {
        if ctx
            .record_metadata()
            .is_some_and(|m| *m.topic == *self.retry_topic)
        {
            return park(&self.spec, ctx, record);
        }
        run_attempt(
            &self.spec,
            &self.jitter,
            ctx,
            Attempt {
                key: record.key,
                value: record.value,
                timestamp: record.timestamp,
                headers: record.headers,
                prior: None,
            },
        )
    }
}
