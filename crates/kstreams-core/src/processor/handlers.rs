//! Exception handlers consulted by the task when input cannot be deserialized.

use crate::record::ConsumedRecord;
use crate::serde::SerdeError;

/// What to do with a record that failed deserialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeserializationHandlerResponse {
    /// Skip the record and go on.
    Continue,
    /// Stop processing with an error.
    Fail,
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
