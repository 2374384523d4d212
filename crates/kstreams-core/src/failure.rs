//! Failure metadata carried in record headers by retry and dead-letter topics.
//!
//! Every record that leaves the pipeline because of a failure (to a retry topic or to the dead
//! letter topic) carries the same headers, so operators, the replay tool and other clients read
//! one format. Values are UTF-8 text (numbers in decimal) so any client can read them.
//!
//! Around the headers: [`ProcessingError`] and [`ErrorClassifier`] (is a failure worth a
//! retry?), [`RetryPolicy`] (the pure backoff and retry-or-dead-letter decision),
//! [`ParkedRecord`]/[`SchedulerKey`] (the retry scheduler store's formats) and
//! [`NodeMetrics`] (counters per node, metric and reason). The design is explained in
//! `docs/failure-handling.md`.

mod failure_metrics;
mod parked_record;
mod processing_error;
mod production_failure;
mod retry_policy;

pub use failure_metrics::{FailureMetric, NodeMetricKey, NodeMetrics, sum as sum_node_metrics};
pub use parked_record::{ParkedRecord, ParkedRecordError, SchedulerKey};
pub use processing_error::{DefaultErrorClassifier, ErrorClassifier, ProcessingError};
pub use production_failure::{
    OutputId, ProductionDecision, ProductionDecisions, dead_letter_record, failed_sink,
    output_original, production_failure_metadata,
};
pub use retry_policy::{
    JitterSource, RetryDecision, RetryPolicy, RetryPolicyError, SplitMixJitter,
};

use crate::record::{Headers, RecordMetadata};

/// Header names used by retry and dead-letter records.
pub mod header {
    /// Attempts made so far (1 after the first failure).
    pub const ATTEMPT: &str = "kstreams.attempt";
    /// Wall-clock time (ms) of the first failure.
    pub const FIRST_FAILURE_MS: &str = "kstreams.first-failure-ms";
    /// Wall-clock time (ms) at which the next attempt is due (retry records only).
    pub const DUE_MS: &str = "kstreams.due-ms";
    /// Error class: see [`super::FailureClass::as_str`].
    pub const ERROR_CLASS: &str = "kstreams.error-class";
    /// The error's message (the last one for dead-letter records).
    pub const ERROR_MESSAGE: &str = "kstreams.error-message";
    /// Why the record is in the dead-letter topic: see [`super::DeadLetterReason::as_str`].
    pub const DLQ_REASON: &str = "kstreams.dlq-reason";
    /// The topology node whose processing failed.
    pub const FAILED_NODE: &str = "kstreams.failed-node";
    /// The application id that produced this failure record.
    pub const APPLICATION_ID: &str = "kstreams.application-id";
    /// The topic the record was originally read from.
    pub const ORIGINAL_TOPIC: &str = "kstreams.original-topic";
    /// Its partition there.
    pub const ORIGINAL_PARTITION: &str = "kstreams.original-partition";
    /// Its offset there.
    pub const ORIGINAL_OFFSET: &str = "kstreams.original-offset";
    /// Its record timestamp (ms).
    pub const ORIGINAL_TIMESTAMP: &str = "kstreams.original-timestamp";
    /// How many times this record was replayed from the dead-letter topic.
    pub const REPLAYED: &str = "kstreams.replayed";

    /// Every header of the failure metadata (not [`REPLAYED`], which survives a replay).
    pub const ALL: [&str; 12] = [
        ATTEMPT,
        FIRST_FAILURE_MS,
        DUE_MS,
        ERROR_CLASS,
        ERROR_MESSAGE,
        DLQ_REASON,
        FAILED_NODE,
        APPLICATION_ID,
        ORIGINAL_TOPIC,
        ORIGINAL_PARTITION,
        ORIGINAL_OFFSET,
        ORIGINAL_TIMESTAMP,
    ];
}

/// The default dead-letter topic of an application: `<application.id>-dlq`.
pub fn default_dead_letter_topic(application_id: &str) -> String {
    format!("{application_id}-dlq")
}

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// A downstream timeout, a 5xx, a 429: worth retrying later.
    Retryable,
    /// Bad data or a bug: retrying cannot help.
    NonRetryable,
}

impl FailureClass {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Retryable => "retryable",
            FailureClass::NonRetryable => "non-retryable",
        }
    }

    /// Parses a header value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "retryable" => Some(FailureClass::Retryable),
            "non-retryable" => Some(FailureClass::NonRetryable),
            _ => None,
        }
    }
}

/// Why a record ended in the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterReason {
    /// Processing failed with a non-retryable error.
    NonRetryable,
    /// Processing kept failing with retryable errors until the maximum attempts.
    MaxAttempts,
    /// The key or value could not be deserialized.
    Deserialization,
    /// A processing exception handler chose the dead-letter topic.
    Processing,
    /// The producer could not write an output record and the handler chose the DLQ.
    Production,
}

impl DeadLetterReason {
    /// The header value, also the `reason` label of the DLQ metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::NonRetryable => "non-retryable",
            DeadLetterReason::MaxAttempts => "max-attempts",
            DeadLetterReason::Deserialization => "deserialization",
            DeadLetterReason::Processing => "processing",
            DeadLetterReason::Production => "production",
        }
    }

    /// Parses a header value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "non-retryable" => DeadLetterReason::NonRetryable,
            "max-attempts" => DeadLetterReason::MaxAttempts,
            "deserialization" => DeadLetterReason::Deserialization,
            "processing" => DeadLetterReason::Processing,
            "production" => DeadLetterReason::Production,
            _ => return None,
        })
    }
}

/// Where a failed record was first read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalPosition {
    /// Topic, partition and offset.
    pub metadata: RecordMetadata,
    /// The record timestamp (ms).
    pub timestamp: i64,
}

/// Everything a retry or dead-letter record says about its failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureMetadata {
    /// Attempts made so far (1 after the first failure).
    pub attempt: u32,
    /// Wall-clock ms of the first failure.
    pub first_failure_ms: i64,
    /// When the next attempt is due (retry records); `None` for dead-letter records.
    pub due_ms: Option<i64>,
    /// The last error's class.
    pub error_class: FailureClass,
    /// The last error's message.
    pub error_message: String,
    /// Set on dead-letter records.
    pub dlq_reason: Option<DeadLetterReason>,
    /// The node whose processing failed.
    pub failed_node: String,
    /// The application that wrote the record.
    pub application_id: String,
    /// Where the record was first read, when known.
    pub original: Option<OriginalPosition>,
}

/// A failure header that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failure header '{header}': {problem}")]
pub struct FailureHeaderError {
    /// The header.
    pub header: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl FailureMetadata {
    /// Replaces any failure headers in `headers` by this metadata (other headers are kept).
    pub fn write_to(&self, headers: &mut Headers) {
        for name in header::ALL {
            headers.remove(name);
        }
        let mut put = |k: &str, v: String| {
            headers.add(k, Some(v.into_bytes()));
        };
        put(header::ATTEMPT, self.attempt.to_string());
        put(header::FIRST_FAILURE_MS, self.first_failure_ms.to_string());
        if let Some(due) = self.due_ms {
            put(header::DUE_MS, due.to_string());
        }
        put(header::ERROR_CLASS, self.error_class.as_str().to_string());
        put(header::ERROR_MESSAGE, self.error_message.clone());
        if let Some(reason) = self.dlq_reason {
            put(header::DLQ_REASON, reason.as_str().to_string());
        }
        put(header::FAILED_NODE, self.failed_node.clone());
        put(header::APPLICATION_ID, self.application_id.clone());
        if let Some(o) = &self.original {
            put(header::ORIGINAL_TOPIC, o.metadata.topic.to_string());
            put(header::ORIGINAL_PARTITION, o.metadata.partition.to_string());
            put(header::ORIGINAL_OFFSET, o.metadata.offset.to_string());
            put(header::ORIGINAL_TIMESTAMP, o.timestamp.to_string());
        }
    }

    /// Reads the metadata back; `Ok(None)` when the record carries no failure headers at all.
    pub fn read_from(headers: &Headers) -> Result<Option<Self>, FailureHeaderError> {
        if headers.last_header(header::ATTEMPT).is_none() {
            return Ok(None);
        }
        let attempt = parse_num::<u32>(headers, header::ATTEMPT)?;
        let first_failure_ms = parse_num::<i64>(headers, header::FIRST_FAILURE_MS)?;
        let due_ms = optional(headers, header::DUE_MS)
            .map(|_| parse_num::<i64>(headers, header::DUE_MS))
            .transpose()?;
        let class_text = text(headers, header::ERROR_CLASS)?;
        let error_class = FailureClass::parse(&class_text).ok_or(FailureHeaderError {
            header: header::ERROR_CLASS,
            problem: format!("unknown class '{class_text}'"),
        })?;
        let dlq_reason = match optional(headers, header::DLQ_REASON) {
            None => None,
            Some(s) => Some(DeadLetterReason::parse(&s).ok_or(FailureHeaderError {
                header: header::DLQ_REASON,
                problem: format!("unknown reason '{s}'"),
            })?),
        };
        let original = match optional(headers, header::ORIGINAL_TOPIC) {
            None => None,
            Some(topic) => Some(OriginalPosition {
                metadata: RecordMetadata {
                    topic: topic.into(),
                    partition: parse_num(headers, header::ORIGINAL_PARTITION)?,
                    offset: parse_num(headers, header::ORIGINAL_OFFSET)?,
                },
                timestamp: parse_num(headers, header::ORIGINAL_TIMESTAMP)?,
            }),
        };
        Ok(Some(FailureMetadata {
            attempt,
            first_failure_ms,
            due_ms,
            error_class,
            error_message: optional(headers, header::ERROR_MESSAGE).unwrap_or_default(),
            dlq_reason,
            failed_node: optional(headers, header::FAILED_NODE).unwrap_or_default(),
            application_id: optional(headers, header::APPLICATION_ID).unwrap_or_default(),
            original,
        }))
    }
}

/// How many times a record was replayed from the dead-letter topic (0 when never).
pub fn replay_count(headers: &Headers) -> u32 {
    optional(headers, header::REPLAYED)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn optional(headers: &Headers, name: &str) -> Option<String> {
    headers
        .last_value(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn text(headers: &Headers, name: &'static str) -> Result<String, FailureHeaderError> {
    optional(headers, name).ok_or(FailureHeaderError {
        header: name,
        problem: "missing".to_string(),
    })
}

fn parse_num<T: std::str::FromStr>(
    headers: &Headers,
    name: &'static str,
) -> Result<T, FailureHeaderError> {
    let s = text(headers, name)?;
    s.trim().parse().map_err(|_| FailureHeaderError {
        header: name,
        problem: format!("not a number: '{s}'"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FailureMetadata {
        FailureMetadata {
            attempt: 3,
            first_failure_ms: 1_000,
            due_ms: Some(9_000),
            error_class: FailureClass::Retryable,
            error_message: "downstream 503".into(),
            dlq_reason: None,
            failed_node: "KSTREAM-MAPVALUES-0000000001".into(),
            application_id: "app".into(),
            original: Some(OriginalPosition {
                metadata: RecordMetadata {
                    topic: "in".into(),
                    partition: 2,
                    offset: 41,
                },
                timestamp: 500,
            }),
        }
    }

    #[test]
    fn round_trips_and_keeps_other_headers() {
        let mut h = Headers::new().with("trace", "abc");
        sample().write_to(&mut h);
        assert_eq!(FailureMetadata::read_from(&h).unwrap(), Some(sample()));
        assert_eq!(h.last_value("trace"), Some(&b"abc"[..]));
    }

    #[test]
    fn rewriting_replaces_instead_of_duplicating() {
        let mut h = Headers::new();
        sample().write_to(&mut h);
        let mut next = sample();
        next.attempt = 4;
        next.due_ms = None;
        next.dlq_reason = Some(DeadLetterReason::MaxAttempts);
        next.write_to(&mut h);
        assert_eq!(h.headers(header::ATTEMPT).count(), 1);
        assert_eq!(h.last_value(header::DUE_MS), None);
        assert_eq!(FailureMetadata::read_from(&h).unwrap(), Some(next));
    }

    #[test]
    fn absent_and_malformed_headers() {
        assert_eq!(FailureMetadata::read_from(&Headers::new()).unwrap(), None);
        let h = Headers::new().with(header::ATTEMPT, "x");
        let err = FailureMetadata::read_from(&h).unwrap_err();
        assert_eq!(err.header, header::ATTEMPT);
        assert_eq!(replay_count(&Headers::new().with(header::REPLAYED, "2")), 2);
        assert_eq!(replay_count(&Headers::new()), 0);
    }

    #[test]
    fn names_parse_back() {
        for r in [
            DeadLetterReason::NonRetryable,
            DeadLetterReason::MaxAttempts,
            DeadLetterReason::Deserialization,
            DeadLetterReason::Processing,
            DeadLetterReason::Production,
        ] {
            assert_eq!(DeadLetterReason::parse(r.as_str()), Some(r));
        }
        for c in [FailureClass::Retryable, FailureClass::NonRetryable] {
            assert_eq!(FailureClass::parse(c.as_str()), Some(c));
        }
        assert_eq!(default_dead_letter_topic("app"), "app-dlq");
    }
}
