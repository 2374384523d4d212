//! Exception handlers, configured per application as in Kafka Streams:
//!
//! - [`DeserializationExceptionHandler`]: input whose key or value does not deserialize
//!   (fail, log and continue, or send the raw record to the dead-letter topic);
//! - [`ProcessingExceptionHandler`] (KIP-1033): a processing error raised by a processor's
//!   code (fail, continue, or send the source record to the dead-letter topic); the
//!   `try_*` DSL operators handle their own failures with retries and never reach it;
//! - [`ProductionExceptionHandler`]: an output record a sink cannot serialize (KIP-1033), or
//!   one the producer or the broker rejects, e.g. above `max.request.size` or
//!   `MESSAGE_TOO_LARGE` (fail, continue, or send it to the dead-letter topic).
//!
//! A dead-letter write that fails is fatal: it is never handed to a handler again, so a record
//! cannot loop into the dead-letter topic.

use crate::error::StreamsError;
use crate::processor::TaskId;
use crate::record::{ConsumedRecord, ProducedRecord, RecordMetadata};
use crate::serde::SerdeError;

/// What to do with a record that failed deserialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeserializationHandlerResponse {
    /// Skip the record and go on.
    Continue,
    /// Stop processing with an error.
    Fail,
    /// Write the raw record to the dead-letter topic and go on.
    DeadLetter,
}

/// Decides what happens to a record whose key or value cannot be deserialized.
pub trait DeserializationExceptionHandler: Send + Sync + 'static {
    /// The decision for this record.
    fn handle(&self, record: &ConsumedRecord, error: &SerdeError)
    -> DeserializationHandlerResponse;
}

/// Logs and fails (Kafka Streams' default).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndFailExceptionHandler;

impl DeserializationExceptionHandler for LogAndFailExceptionHandler {
    fn handle(
        &self,
        record: &ConsumedRecord,
        error: &SerdeError,
    ) -> DeserializationHandlerResponse {
        tracing::error!(topic = %record.topic, partition = record.partition, offset = record.offset, %error,
            "deserialization failed; stopping");
        DeserializationHandlerResponse::Fail
    }
}

/// Logs, skips the record and continues.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndContinueExceptionHandler;

impl DeserializationExceptionHandler for LogAndContinueExceptionHandler {
    fn handle(
        &self,
        record: &ConsumedRecord,
        error: &SerdeError,
    ) -> DeserializationHandlerResponse {
        tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset, %error,
            "deserialization failed; skipping record");
        DeserializationHandlerResponse::Continue
    }
}

/// Writes the raw record to the dead-letter topic (reason `deserialization`) and continues.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendToDeadLetterExceptionHandler;

impl DeserializationExceptionHandler for SendToDeadLetterExceptionHandler {
    fn handle(
        &self,
        record: &ConsumedRecord,
        error: &SerdeError,
    ) -> DeserializationHandlerResponse {
        tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset, %error,
            "deserialization failed; sending the record to the dead-letter topic");
        DeserializationHandlerResponse::DeadLetter
    }
}

/// What to do after a processor failed on a record (or in a punctuator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingHandlerResponse {
    /// Stop processing with the error.
    Fail,
    /// Drop the record and go on.
    Continue,
    /// Write the source record to the dead-letter topic (reason `processing`) and go on.
    DeadLetter,
}

/// Where a processing error happened.
#[derive(Debug, Clone, Copy)]
pub struct ErrorHandlerContext<'a> {
    /// The node whose code failed.
    pub node: &'a str,
    /// The task.
    pub task_id: TaskId,
    /// The source record's position (`None` in a punctuator).
    pub metadata: Option<&'a RecordMetadata>,
}

/// Decides what happens after a processor failed (Kafka Streams' KIP-1033 handler). Only
/// [`StreamsError::Processing`] errors (raised by user code) reach it; engine errors (state,
/// fencing) always fail the task.
pub trait ProcessingExceptionHandler: Send + Sync + 'static {
    /// The decision for this failure.
    fn handle(
        &self,
        ctx: &ErrorHandlerContext<'_>,
        error: &StreamsError,
    ) -> ProcessingHandlerResponse;

    /// Whether the handler may answer [`ProcessingHandlerResponse::DeadLetter`]: the task then
    /// keeps each input record's bytes until it is processed.
    fn may_dead_letter(&self) -> bool {
        false
    }
}

/// Logs and fails (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndFailProcessingExceptionHandler;

impl ProcessingExceptionHandler for LogAndFailProcessingExceptionHandler {
    fn handle(
        &self,
        ctx: &ErrorHandlerContext<'_>,
        error: &StreamsError,
    ) -> ProcessingHandlerResponse {
        tracing::error!(node = ctx.node, task = %ctx.task_id, %error, "processing failed; stopping");
        ProcessingHandlerResponse::Fail
    }
}

/// Logs, drops the record and continues.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndContinueProcessingExceptionHandler;

impl ProcessingExceptionHandler for LogAndContinueProcessingExceptionHandler {
    fn handle(
        &self,
        ctx: &ErrorHandlerContext<'_>,
        error: &StreamsError,
    ) -> ProcessingHandlerResponse {
        tracing::warn!(node = ctx.node, task = %ctx.task_id, %error, "processing failed; skipping record");
        ProcessingHandlerResponse::Continue
    }
}

/// Sends the source record to the dead-letter topic and continues. In a punctuator there is
/// no source record: it fails there.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadLetterProcessingExceptionHandler;

impl ProcessingExceptionHandler for DeadLetterProcessingExceptionHandler {
    fn handle(
        &self,
        ctx: &ErrorHandlerContext<'_>,
        error: &StreamsError,
    ) -> ProcessingHandlerResponse {
        if ctx.metadata.is_none() {
            tracing::error!(node = ctx.node, task = %ctx.task_id, %error, "punctuation failed; stopping");
            return ProcessingHandlerResponse::Fail;
        }
        tracing::warn!(node = ctx.node, task = %ctx.task_id, %error,
            "processing failed; sending the record to the dead-letter topic");
        ProcessingHandlerResponse::DeadLetter
    }

    fn may_dead_letter(&self) -> bool {
        true
    }
}

/// What to do with an output record that could not be serialized or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductionHandlerResponse {
    /// Stop processing with the error.
    Fail,
    /// Drop the output record and go on.
    Continue,
    /// Write the output record to the dead-letter topic (reason `production`) and go on.
    DeadLetter,
}

/// Where a sink failed to serialize its output record.
#[derive(Debug, Clone, Copy)]
pub struct SerializationErrorContext<'a> {
    /// The sink node.
    pub node: &'a str,
    /// The task.
    pub task_id: TaskId,
    /// The topic the record was bound for.
    pub topic: &'a str,
    /// Whether the key (else the value) failed to serialize.
    pub is_key: bool,
    /// The input record being processed (`None` in a punctuator or a cache flush).
    pub metadata: Option<&'a RecordMetadata>,
}

/// Decides what happens to an output record the producer or the broker rejects (Kafka
/// Streams' `ProductionExceptionHandler`), and, as in KIP-1033, to one a sink cannot
/// serialize. Only errors about the record itself reach it: fencing and fatal producer
/// errors always fail (or migrate) the task, and retriable errors are retried by the producer.
pub trait ProductionExceptionHandler: Send + Sync + 'static {
    /// The decision for this record.
    fn handle(&self, record: &ProducedRecord, error: &StreamsError) -> ProductionHandlerResponse;

    /// The decision for an output record whose key or value did not serialize (default:
    /// fail). A dead-lettered one carries the input record's bytes when the task kept them
    /// (see [`ProductionExceptionHandler::may_dead_letter`]), else no key and no value.
    fn handle_serialization(
        &self,
        ctx: &SerializationErrorContext<'_>,
        error: &SerdeError,
    ) -> ProductionHandlerResponse {
        tracing::error!(node = ctx.node, topic = ctx.topic, %error, "serializing an output record failed; stopping");
        ProductionHandlerResponse::Fail
    }

    /// Whether the handler may answer [`ProductionHandlerResponse::DeadLetter`]: the task then
    /// keeps each input record's bytes until it is processed (for serialization errors).
    fn may_dead_letter(&self) -> bool {
        false
    }
}

/// Fails (Kafka Streams' `DefaultProductionExceptionHandler`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultProductionExceptionHandler;

impl ProductionExceptionHandler for DefaultProductionExceptionHandler {
    fn handle(&self, record: &ProducedRecord, error: &StreamsError) -> ProductionHandlerResponse {
        tracing::error!(topic = %record.topic, %error, "producing an output record failed; stopping");
        ProductionHandlerResponse::Fail
    }
}

/// Logs, drops the output record and continues.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndContinueProductionExceptionHandler;

impl ProductionExceptionHandler for LogAndContinueProductionExceptionHandler {
    fn handle(&self, record: &ProducedRecord, error: &StreamsError) -> ProductionHandlerResponse {
        tracing::warn!(topic = %record.topic, %error, "producing an output record failed; dropping it");
        ProductionHandlerResponse::Continue
    }

    fn handle_serialization(
        &self,
        ctx: &SerializationErrorContext<'_>,
        error: &SerdeError,
    ) -> ProductionHandlerResponse {
        tracing::warn!(node = ctx.node, topic = ctx.topic, %error, "serializing an output record failed; dropping it");
        ProductionHandlerResponse::Continue
    }
}

/// Sends the rejected output record to the dead-letter topic and continues.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadLetterProductionExceptionHandler;

impl ProductionExceptionHandler for DeadLetterProductionExceptionHandler {
    fn handle(&self, record: &ProducedRecord, error: &StreamsError) -> ProductionHandlerResponse {
        tracing::warn!(topic = %record.topic, %error,
            "producing an output record failed; sending it to the dead-letter topic");
        ProductionHandlerResponse::DeadLetter
    }

    fn handle_serialization(
        &self,
        ctx: &SerializationErrorContext<'_>,
        error: &SerdeError,
    ) -> ProductionHandlerResponse {
        tracing::warn!(node = ctx.node, topic = ctx.topic, %error,
            "serializing an output record failed; sending the input record to the dead-letter topic");
        ProductionHandlerResponse::DeadLetter
    }

    fn may_dead_letter(&self) -> bool {
        true
    }
}
