//! Sends of output records that the producer reports as failed: which failures go to the
//! production exception handler (a pure classification of the Kafka error), what is kept of a
//! sent record to hand it over, and the fault-injection seam tests use to make the "broker"
//! reject chosen records (tansu accepts records of any size and content).
//!
//! The stream thread applies the handler's response: at-least-once at once (drop, or write
//! to the dead-letter topic before the offsets commit); under exactly-once it aborts the
//! poisoned transaction, notes the response for the record's [`OutputId`] and reprocesses
//! from the committed offsets (see `docs/failure-handling.md`).

use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use kstreams_core::failure::{OutputId, ProductionDecision};
use kstreams_core::processor::{ProductionExceptionHandler, ProductionHandlerResponse};
use kstreams_core::{Headers, OutputOrigin, ProducedRecord, StreamsError};
use kstreams_kafka::{Delivered, ErrorClass, KafkaError, ProducerRecord, SendAllDelivery};

/// What a failed send means for the record and the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailureClass {
    /// The broker rejected this record (or the batch carrying it) for what it is: too large,
    /// invalid, corrupt, or a topic the application may not write. Retrying cannot help;
    /// the production exception handler decides (fail, drop, dead-letter).
    RecordRejected,
    /// Another producer took over or the producer's sequence state is lost (fenced,
    /// epoch, out-of-order sequence): the tasks migrate, never the handler.
    Fenced,
    /// A failure that is not about one record (transactional id or cluster authorization,
    /// configuration, protocol): the thread fails, never the handler.
    Fatal,
    /// Still retriable after the producer's own retries (timeouts, leadership): handled as
    /// today (the tasks are closed dirty and rejoin), never the handler.
    Retriable,
}

/// The class of a Produce error code.
pub fn classify_produce_code(code: i16) -> SendFailureClass {
    match code {
        // CORRUPT_MESSAGE (after the producer's retries), MESSAGE_TOO_LARGE,
        // INVALID_TOPIC_EXCEPTION, RECORD_LIST_TOO_LARGE, TOPIC_AUTHORIZATION_FAILED,
        // INVALID_TIMESTAMP, UNSUPPORTED_FOR_MESSAGE_FORMAT, POLICY_VIOLATION, INVALID_RECORD.
        2 | 10 | 17 | 18 | 29 | 32 | 43 | 44 | 87 => SendFailureClass::RecordRejected,
        // PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER,
        // UNKNOWN_PRODUCER_ID, TRANSACTION_COORDINATOR_FENCED.
        90 | 47 | 45 | 59 | 52 => SendFailureClass::Fenced,
        c if kstreams_kafka::error::is_retriable_code(c) => SendFailureClass::Retriable,
        // TRANSACTIONAL_ID_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED,
        // INVALID_REQUIRED_ACKS, INVALID_TXN_STATE, UNSUPPORTED_COMPRESSION_TYPE, unknown...
        _ => SendFailureClass::Fatal,
    }
}

/// The class of a failed send's error.
pub fn classify_send_error(e: &KafkaError) -> SendFailureClass {
    match e.cause() {
        KafkaError::Broker { code, .. } => classify_produce_code(*code),
        other => match other.class() {
            ErrorClass::Retriable => SendFailureClass::Retriable,
            ErrorClass::Fenced => SendFailureClass::Fenced,
            ErrorClass::Fatal => SendFailureClass::Fatal,
        },
    }
}

/// The metric reason of a rejected send: the error code's name, else the error's kind.
pub fn failure_cause(e: &KafkaError) -> String {
    match e.cause() {
        KafkaError::Broker { name, .. } => (*name).to_string(),
        other => format!("{:?}", other.class()).to_lowercase(),
    }
}

/// A sink output record the broker rejected, as the producer handed it back, with its
/// origin: what the production exception handler is given.
#[derive(Debug, Clone)]
pub(crate) struct SentOutput {
    pub(crate) topic: std::sync::Arc<str>,
    pub(crate) partition: Option<i32>,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) timestamp: i64,
    pub(crate) headers: Vec<(String, Option<Bytes>)>,
    pub(crate) origin: OutputOrigin,
}

impl SentOutput {
    /// `pr` (in the producer's form) with its origin.
    pub(crate) fn of(pr: ProducerRecord, origin: OutputOrigin) -> Self {
        SentOutput {
            topic: pr.topic,
            partition: pr.partition,
            key: pr.key,
            value: pr.value,
            timestamp: pr.timestamp.unwrap_or(-1),
            headers: pr.headers,
            origin,
        }
    }

    /// Back to the form the handler sees.
    pub(crate) fn to_produced(&self) -> ProducedRecord {
        let mut headers = Headers::new();
        for (k, v) in &self.headers {
            headers.add(k.clone(), v.as_ref().map(|b| b.to_vec()));
        }
        ProducedRecord {
            topic: self.topic.clone(),
            partition: self.partition,
            key: self.key.as_ref().map(|b| b.to_vec()),
            value: self.value.as_ref().map(|b| b.to_vec()),
            timestamp: self.timestamp,
            headers,
            origin: Some(self.origin.clone()),
        }
    }
}

/// One record of an outbox on its way out, until its outcome is noted.
pub(crate) struct StagedSend {
    /// The changelog partition, for changelog records (their offsets are checkpointed).
    pub(crate) changelog: Option<(Arc<str>, i32)>,
    /// Where a sink output record came from (the production handler identifies a rejected
    /// record by it); the record itself comes back with a rejection
    /// ([`KafkaError::Undelivered`]), so no copy is kept here.
    pub(crate) origin: Option<OutputOrigin>,
    pub(crate) fate: Fate,
}

/// Where a staged record's outcome comes from.
pub(crate) enum Fate {
    /// Handed to the producer: the answer to this index of the call.
    Sent(usize),
    /// Rejected by the fault injector (tests) as the broker would have (boxed: every staged
    /// record carries a fate).
    Rejected(Box<KafkaError>),
    /// The outcome was noted.
    Noted,
}

/// The records of one producer call (an outbox, or a dead-letter write) the stream thread
/// has not seen answered yet: the stream thread keeps one handle per call, not a future per
/// record.
pub(crate) struct PendingOutbox {
    /// Every record of the outbox, in order.
    pub(crate) staged: Vec<StagedSend>,
    /// The answers to the records handed to the producer.
    pub(crate) delivery: SendAllDelivery,
}

impl PendingOutbox {
    /// Whether every record's outcome is noted.
    pub(crate) fn all_noted(&self) -> bool {
        self.staged.iter().all(|s| matches!(s.fate, Fate::Noted))
    }

    /// Hands each outcome known now to `note`, in order, each once (its record is then
    /// noted), with the record's changelog partition and origin; stops where `note` breaks
    /// (the outcomes after stay for later). The answers are read in place, under the call's
    /// lock: nothing is collected per record.
    pub(crate) fn note_known(
        &mut self,
        mut note: impl FnMut(
            Option<(Arc<str>, i32)>,
            Option<OutputOrigin>,
            kstreams_kafka::Result<Delivered>,
        ) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let staged = &mut self.staged;
        self.delivery.with_answers(|answers| {
            for s in staged.iter_mut() {
                let outcome = match &s.fate {
                    Fate::Sent(index) => match answers.take(*index) {
                        Some(r) => r,
                        None => continue,
                    },
                    Fate::Rejected(_) => match std::mem::replace(&mut s.fate, Fate::Noted) {
                        Fate::Rejected(e) => Err(*e),
                        _ => continue,
                    },
                    Fate::Noted => continue,
                };
                s.fate = Fate::Noted;
                note(s.changelog.take(), s.origin.take(), outcome)?;
            }
            ControlFlow::Continue(())
        })
    }
}

/// The producer calls of a stream thread not seen answered yet, oldest first.
#[derive(Default)]
pub(crate) struct PendingSends {
    calls: std::collections::VecDeque<PendingOutbox>,
    /// Records of these calls (counted when they are sent).
    records: usize,
}

impl PendingSends {
    pub(crate) fn push(&mut self, call: PendingOutbox) {
        self.records += call.staged.len();
        self.calls.push_back(call);
    }

    /// The oldest call, if every record of it is answered.
    pub(crate) fn pop_settled(&mut self) -> Option<PendingOutbox> {
        if self.calls.front()?.delivery.is_settled() {
            self.pop()
        } else {
            None
        }
    }

    /// The oldest call.
    pub(crate) fn pop(&mut self) -> Option<PendingOutbox> {
        let call = self.calls.pop_front()?;
        self.records -= call.staged.len();
        Some(call)
    }

    /// Records sent and not seen answered (some may be by now).
    pub(crate) fn records(&self) -> usize {
        self.records
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.calls.clear();
        self.records = 0;
    }
}

/// A sink output record the broker rejected for what it is.
pub(crate) struct RejectedSend {
    pub(crate) output: Box<SentOutput>,
    pub(crate) error: KafkaError,
}

/// What the stream thread does about one rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectionPlan {
    /// Fail the thread with this error.
    Fail(String),
    /// Drop the record (at-least-once, or exactly-once without a transaction to redo).
    Skip,
    /// Write the record to the dead-letter topic now (at-least-once).
    DeadLetter,
    /// Exactly-once: abort, note `decision` for `id` and reprocess.
    Reprocess {
        /// The record's identity when it is produced again.
        id: OutputId,
        /// What to do with it then.
        decision: ProductionDecision,
    },
}

/// Decides what happens to a rejected output record: the handler's response, adapted to the
/// processing guarantee. Under exactly-once a record that cannot be recognized when reprocessed
/// (no input record: punctuator or cache-flush output) fails, whatever the handler says.
pub fn plan_rejection(
    response: ProductionHandlerResponse,
    eos: bool,
    id: Option<OutputId>,
    cause: String,
    message: String,
) -> RejectionPlan {
    match (response, eos, id) {
        (ProductionHandlerResponse::Fail, _, _) => RejectionPlan::Fail(message),
        (ProductionHandlerResponse::Continue, false, _) => RejectionPlan::Skip,
        (ProductionHandlerResponse::DeadLetter, false, _) => RejectionPlan::DeadLetter,
        (response, true, Some(id)) => RejectionPlan::Reprocess {
            id,
            decision: ProductionDecision {
                response,
                cause,
                message,
            },
        },
        (_, true, None) => RejectionPlan::Fail(format!(
            "{message} (the record has no input record, so exactly-once cannot redo its transaction without it)"
        )),
    }
}

/// The error the production handler sees for a rejected record.
pub(crate) fn rejection_error(rejected: &RejectedSend) -> StreamsError {
    StreamsError::Fatal(format!(
        "the broker rejected the record for {}: {}",
        rejected.output.topic, rejected.error
    ))
}

/// Asks `handler` about a rejected record and plans the consequence.
pub(crate) fn decide(
    handler: &dyn ProductionExceptionHandler,
    rejected: &RejectedSend,
    eos: bool,
) -> RejectionPlan {
    let record = rejected.output.to_produced();
    let error = rejection_error(rejected);
    let response = handler.handle(&record, &error);
    plan_rejection(
        response,
        eos,
        OutputId::of(&rejected.output.origin, &rejected.output.topic),
        failure_cause(&rejected.error),
        error.to_string(),
    )
}

/// The producer's form of a record.
pub(crate) fn to_producer_record(r: ProducedRecord) -> ProducerRecord {
    ProducerRecord {
        topic: r.topic,
        partition: r.partition,
        key: r.key.map(Bytes::from),
        value: r.value.map(Bytes::from),
        headers: r
            .headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone().map(Bytes::from)))
            .collect(),
        timestamp: Some(r.timestamp),
    }
}

/// Test seam: decides, for each sink output record about to be sent, whether "the broker"
/// rejects it with a Kafka error code (the record then never reaches the producer; its send
/// fails with that code). `None` in production.
pub trait SendFaultInjector: Send + Sync + 'static {
    /// The error code to reject `record` with, or `None` to send it.
    fn reject(&self, record: &ProducedRecord) -> Option<i16>;
}

/// An optional [`SendFaultInjector`] (part of `StreamsConfig`).
#[derive(Clone, Default)]
pub struct FaultInjection(pub Option<Arc<dyn SendFaultInjector>>);

impl std::fmt::Debug for FaultInjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "FaultInjection(on)"
        } else {
            "FaultInjection(off)"
        })
    }
}

#[cfg(test)]
mod tests {
    fn meta(offset: i64) -> kstreams_kafka::Delivered {
        kstreams_kafka::Delivered {
            partition: 1,
            offset,
            timestamp: 0,
        }
    }

    /// Records the injector rejected sit between sent ones: each record's outcome comes out
    /// once, in outbox order, with its own changelog partition and origin.
    #[test]
    fn an_outbox_notes_each_outcome_once_in_order() {
        let origin = OutputOrigin {
            sink: "sink".into(),
            source: None,
            index: 0,
        };
        let staged = vec![
            StagedSend {
                changelog: Some(("changelog".into(), 1)),
                origin: None,
                fate: Fate::Sent(0),
            },
            StagedSend {
                changelog: None,
                origin: Some(origin.clone()),
                fate: Fate::Rejected(Box::new(KafkaError::Closed)),
            },
            StagedSend {
                changelog: None,
                origin: Some(origin),
                fate: Fate::Sent(1),
            },
        ];
        let mut call = PendingOutbox {
            staged,
            delivery: SendAllDelivery::answered(vec![Ok(meta(7)), Ok(meta(8))]),
        };
        let mut known = Vec::new();
        let all = call.note_known(|changelog, origin, r| {
            known.push((changelog, origin, r));
            ControlFlow::Continue(())
        });
        assert!(all.is_continue());
        assert_eq!(known.len(), 3);
        assert!(
            matches!(&known[0], (Some((t, 1)), None, Ok(m)) if &**t == "changelog" && m.offset == 7)
        );
        assert!(
            matches!(&known[1], (None, Some(o), Err(KafkaError::Closed)) if &*o.sink == "sink")
        );
        assert!(matches!(&known[2], (None, Some(_), Ok(m)) if m.offset == 8));
        assert!(call.all_noted());
        let again = call.note_known(|_, _, _| panic!("noted once"));
        assert!(again.is_continue());
    }

    /// Noting stops where the caller breaks (exactly-once stops at a rejection); the
    /// outcomes after it are noted later.
    #[test]
    fn noting_stops_at_a_break_and_resumes_later() {
        let staged = (0..3)
            .map(|i| StagedSend {
                changelog: Some(("changelog".into(), 0)),
                origin: None,
                fate: Fate::Sent(i),
            })
            .collect();
        let mut call = PendingOutbox {
            staged,
            delivery: SendAllDelivery::answered(vec![Ok(meta(1)), Ok(meta(2)), Ok(meta(3))]),
        };
        let mut seen = Vec::new();
        let stopped = call.note_known(|_, _, r| {
            seen.push(r.unwrap().offset);
            ControlFlow::Break(())
        });
        assert!(stopped.is_break());
        assert_eq!(seen, [1]);
        assert!(!call.all_noted());
        let rest = call.note_known(|_, _, r| {
            seen.push(r.unwrap().offset);
            ControlFlow::Continue(())
        });
        assert!(rest.is_continue());
        assert_eq!(seen, [1, 2, 3]);
        assert!(call.all_noted());
    }

    use super::*;
    use kstreams_core::RecordMetadata;
    use kstreams_kafka::error::broker_error;

    #[test]
    fn record_specific_codes_go_to_the_handler() {
        for code in [2, 10, 17, 18, 29, 32, 43, 44, 87] {
            let e = broker_error("Produce", code, None);
            assert_eq!(
                classify_send_error(&e),
                SendFailureClass::RecordRejected,
                "{e}"
            );
        }
        assert_eq!(
            failure_cause(&broker_error("Produce", 10, None)),
            "MESSAGE_TOO_LARGE"
        );
        assert_eq!(
            failure_cause(&broker_error("Produce", 87, None)),
            "INVALID_RECORD"
        );
    }

    #[test]
    fn fencing_and_fatal_errors_never_reach_the_handler() {
        for code in [90, 47, 45, 59, 52] {
            let e = broker_error("Produce", code, None);
            assert_eq!(classify_send_error(&e), SendFailureClass::Fenced, "{e}");
        }
        // TRANSACTIONAL_ID_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED,
        // INVALID_REQUIRED_ACKS, INVALID_TXN_STATE, UNSUPPORTED_COMPRESSION_TYPE, UNKNOWN.
        for code in [53, 31, 21, 48, 76, -1] {
            let e = broker_error("Produce", code, None);
            assert_eq!(classify_send_error(&e), SendFailureClass::Fatal, "{e}");
        }
        for code in [3, 5, 6, 7, 19, 20, 51, 56] {
            let e = broker_error("Produce", code, None);
            assert_eq!(classify_send_error(&e), SendFailureClass::Retriable, "{e}");
        }
        let timeout = KafkaError::Timeout {
            what: "produce".into(),
        };
        assert_eq!(classify_send_error(&timeout), SendFailureClass::Retriable);
        let illegal = KafkaError::IllegalState("transaction must be aborted".into());
        assert_eq!(classify_send_error(&illegal), SendFailureClass::Fatal);
        assert_eq!(
            classify_send_error(&KafkaError::Closed),
            SendFailureClass::Fatal
        );
    }

    fn id() -> OutputId {
        OutputId {
            source_topic: "in".into(),
            source_partition: 0,
            source_offset: 3,
            sink_topic: "out".into(),
            index: 0,
        }
    }

    #[test]
    fn plans_follow_the_response_and_the_guarantee() {
        use ProductionHandlerResponse::*;
        let plan = |r, eos, id| plan_rejection(r, eos, id, "MESSAGE_TOO_LARGE".into(), "m".into());
        assert_eq!(
            plan(Fail, false, Some(id())),
            RejectionPlan::Fail("m".into())
        );
        assert_eq!(
            plan(Fail, true, Some(id())),
            RejectionPlan::Fail("m".into())
        );
        assert_eq!(plan(Continue, false, None), RejectionPlan::Skip);
        assert_eq!(
            plan(DeadLetter, false, Some(id())),
            RejectionPlan::DeadLetter
        );
        for r in [Continue, DeadLetter] {
            assert_eq!(
                plan(r, true, Some(id())),
                RejectionPlan::Reprocess {
                    id: id(),
                    decision: ProductionDecision {
                        response: r,
                        cause: "MESSAGE_TOO_LARGE".into(),
                        message: "m".into()
                    }
                }
            );
            assert!(matches!(plan(r, true, None), RejectionPlan::Fail(_)));
        }
    }

    #[test]
    fn the_handler_sees_the_record_as_sent() {
        struct Check;
        impl ProductionExceptionHandler for Check {
            fn handle(&self, r: &ProducedRecord, e: &StreamsError) -> ProductionHandlerResponse {
                assert_eq!((&*r.topic, r.value.as_deref()), ("out", Some(&b"v"[..])));
                assert_eq!(r.headers.last_value("h"), Some(&b"1"[..]));
                assert!(e.to_string().contains("MESSAGE_TOO_LARGE"), "{e}");
                ProductionHandlerResponse::DeadLetter
            }
        }
        let pr = ProducerRecord {
            topic: "out".into(),
            partition: Some(1),
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: vec![("h".into(), Some(Bytes::from_static(b"1")))],
            timestamp: Some(5),
        };
        let origin = OutputOrigin {
            sink: "to-out".into(),
            source: Some(RecordMetadata {
                topic: "in".into(),
                partition: 0,
                offset: 3,
            }),
            index: 0,
        };
        let rejected = RejectedSend {
            output: Box::new(SentOutput::of(pr, origin)),
            error: broker_error("Produce", 10, None),
        };
        assert_eq!(rejected.output.to_produced().timestamp, 5);
        assert_eq!(decide(&Check, &rejected, false), RejectionPlan::DeadLetter);
        match decide(&Check, &rejected, true) {
            RejectionPlan::Reprocess { id: got, decision } => {
                assert_eq!(got, id());
                assert_eq!(decision.cause, "MESSAGE_TOO_LARGE");
            }
            other => panic!("{other:?}"),
        }
    }
}
