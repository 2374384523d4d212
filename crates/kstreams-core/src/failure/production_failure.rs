//! Output records that could not be written (serialization errors in sinks, records the
//! producer or the broker rejected) and the production exception handler's decisions about
//! them.
//!
//! Under exactly-once a send the broker rejects poisons the whole transaction: the runtime
//! aborts it, asks the handler once, notes the decision here under the record's
//! [`OutputId`] and reprocesses from the committed offsets; when the sink produces that record
//! again the decision is applied instead of sending it (see `docs/failure-handling.md`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{DeadLetterReason, FailureClass, FailureMetadata, OriginalPosition, ParkedRecord};
use crate::processor::ProductionHandlerResponse;
use crate::record::{OutputOrigin, ProducedRecord};

/// Identifies one sink output record across reprocessing: the input record it was produced
/// for, the topic it goes to and its index among the input record's outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutputId {
    /// The input record's topic.
    pub source_topic: String,
    /// Its partition.
    pub source_partition: i32,
    /// Its offset.
    pub source_offset: i64,
    /// The output record's topic.
    pub sink_topic: String,
    /// See [`OutputOrigin::index`].
    pub index: u32,
}

impl OutputId {
    /// The identity of an output record; `None` when it has no input record (punctuators,
    /// cache flushes), which makes it impossible to recognize when reprocessed.
    pub fn of(origin: &OutputOrigin, sink_topic: &str) -> Option<OutputId> {
        let source = origin.source.as_ref()?;
        Some(OutputId {
            source_topic: source.topic.to_string(),
            source_partition: source.partition,
            source_offset: source.offset,
            sink_topic: sink_topic.to_string(),
            index: origin.index,
        })
    }
}

/// A decision of the production exception handler waiting for its record to be produced again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionDecision {
    /// Continue (drop the record) or dead-letter it.
    pub response: ProductionHandlerResponse,
    /// The cause, as a metric reason (e.g. `MESSAGE_TOO_LARGE`).
    pub cause: String,
    /// The error's message (for the dead-letter headers).
    pub message: String,
}

/// Decisions waiting for their output records, shared by a stream thread and its tasks.
#[derive(Debug, Default)]
pub struct ProductionDecisions {
    len: AtomicUsize,
    map: Mutex<HashMap<OutputId, ProductionDecision>>,
}

impl ProductionDecisions {
    /// Notes `decision` for the record `id` (replacing an older one).
    pub fn insert(&self, id: OutputId, decision: ProductionDecision) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(id, decision);
            self.len.store(m.len(), Ordering::Release);
        }
    }

    /// Takes the decision for `id`, if any: each decision is applied once.
    pub fn take(&self, id: &OutputId) -> Option<ProductionDecision> {
        let mut m = self.map.lock().ok()?;
        let d = m.remove(id);
        self.len.store(m.len(), Ordering::Release);
        d
    }

    /// Whether no decision is waiting (checked without a lock on every output record).
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// Forgets every decision (when the tasks they belong to leave this thread).
    pub fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
            self.len.store(0, Ordering::Release);
        }
    }
}

/// The node a failed output record is attributed to: its sink, else `sink:<topic>`.
pub fn failed_sink(record: &ProducedRecord) -> String {
    match &record.origin {
        Some(o) => o.sink.to_string(),
        None => format!("sink:{}", record.topic),
    }
}

/// The failure metadata of an output record dead-lettered by the production exception handler
/// (reason `production`, non-retryable, one attempt).
pub fn production_failure_metadata(
    failed_node: String,
    error_message: String,
    application_id: &str,
    now_ms: i64,
    original: Option<OriginalPosition>,
) -> FailureMetadata {
    FailureMetadata {
        attempt: 1,
        first_failure_ms: now_ms,
        due_ms: None,
        error_class: FailureClass::NonRetryable,
        error_message,
        dlq_reason: Some(DeadLetterReason::Production),
        failed_node,
        application_id: application_id.to_string(),
        original,
    }
}

/// Where an output record came from, for its dead-letter headers (the output's timestamp
/// stands for the input's, which sinks keep unless a processor changed it).
pub fn output_original(record: &ProducedRecord) -> Option<OriginalPosition> {
    let source = record.origin.as_ref()?.source.as_ref()?;
    Some(OriginalPosition {
        metadata: source.clone(),
        timestamp: record.timestamp,
    })
}

/// The dead-letter record for `record` with `meta` in its headers, bound for `topic`.
pub fn dead_letter_record(
    topic: &str,
    record: ParkedRecord,
    meta: &FailureMetadata,
) -> ProducedRecord {
    let mut headers = record.headers;
    meta.write_to(&mut headers);
    ProducedRecord {
        topic: topic.into(),
        partition: None,
        key: record.key,
        value: record.value,
        timestamp: record.timestamp,
        headers,
        origin: None,
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::record::RecordMetadata;

    fn origin(offset: Option<i64>, index: u32) -> OutputOrigin {
        OutputOrigin {
            sink: "to-out".into(),
            source: offset.map(|offset| RecordMetadata {
                topic: "in".into(),
                partition: 2,
                offset,
            }),
            index,
        }
    }

    #[test]
    fn output_ids_need_an_input_record() {
        let id = OutputId::of(&origin(Some(7), 1), "out").unwrap();
        assert_eq!(
            (
                id.source_topic.as_str(),
                id.source_partition,
                id.source_offset
            ),
            ("in", 2, 7)
        );
        assert_eq!((id.sink_topic.as_str(), id.index), ("out", 1));
        assert_ne!(Some(&id), OutputId::of(&origin(Some(7), 0), "out").as_ref());
        assert_ne!(
            Some(&id),
            OutputId::of(&origin(Some(7), 1), "other").as_ref()
        );
        assert!(OutputId::of(&origin(None, 0), "out").is_none());
    }

    #[test]
    fn decisions_are_taken_once() {
        let d = ProductionDecisions::default();
        assert!(d.is_empty());
        let id = OutputId::of(&origin(Some(1), 0), "out").unwrap();
        let decision = ProductionDecision {
            response: ProductionHandlerResponse::DeadLetter,
            cause: "MESSAGE_TOO_LARGE".into(),
            message: "too large".into(),
        };
        d.insert(id.clone(), decision.clone());
        assert!(!d.is_empty());
        let other = OutputId::of(&origin(Some(2), 0), "out").unwrap();
        assert_eq!(d.take(&other), None);
        assert_eq!(d.take(&id), Some(decision.clone()));
        assert_eq!(d.take(&id), None);
        assert!(d.is_empty());
        d.insert(id, decision);
        d.clear();
        assert!(d.is_empty());
    }

    #[test]
    fn dead_letter_records_carry_the_production_metadata() {
        let out = ProducedRecord {
            topic: "out".into(),
            partition: Some(0),
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            timestamp: 42,
            headers: Default::default(),
            origin: Some(origin(Some(9), 0)),
        };
        assert_eq!(failed_sink(&out), "to-out");
        let original = output_original(&out).unwrap();
        assert_eq!((original.metadata.offset, original.timestamp), (9, 42));
        let meta =
            production_failure_metadata(failed_sink(&out), "boom".into(), "app", 5, Some(original));
        let parked = ParkedRecord {
            timestamp: out.timestamp,
            key: out.key.clone(),
            value: out.value.clone(),
            headers: out.headers.clone(),
        };
        let dlq = dead_letter_record("app-dlq", parked, &meta);
        assert_eq!(&*dlq.topic, "app-dlq");
        assert_eq!(
            (dlq.key.as_deref(), dlq.value.as_deref()),
            (Some(&b"k"[..]), Some(&b"v"[..]))
        );
        assert_eq!(
            dlq.origin, None,
            "a dead-letter record never reaches the handler again"
        );
        let back = FailureMetadata::read_from(&dlq.headers).unwrap().unwrap();
        assert_eq!(back, meta);
        assert_eq!(back.dlq_reason, Some(DeadLetterReason::Production));
        let no_origin = ProducedRecord {
            origin: None,
            ..out
        };
        assert_eq!(failed_sink(&no_origin), "sink:out");
        assert!(output_original(&no_origin).is_none());
    }
}
