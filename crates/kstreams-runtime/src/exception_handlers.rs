//! The application's failure settings: exception handlers (Kafka Streams'
//! `default.deserialization.exception.handler`, `processing.exception.handler`,
//! `default.production.exception.handler`, and the `StreamsUncaughtExceptionHandler` for a
//! stream thread that fails) and the dead-letter topic they, and the `try_*` operators, write
//! to.

use std::sync::Arc;

use crate::error::RuntimeError;

use kstreams_core::processor::{
    DefaultProductionExceptionHandler, DeserializationExceptionHandler, LogAndFailExceptionHandler,
    LogAndFailProcessingExceptionHandler, ProcessingExceptionHandler, ProductionExceptionHandler,
};

/// What an instance does when one of its stream threads fails with an error that no other
/// handler took (Kafka Streams' `StreamThreadExceptionResponse`; shutting down every instance
/// of the application is not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamThreadExceptionResponse {
    /// A new stream thread takes the failed one's place: it rejoins the group and gets tasks
    /// again, from the last committed offsets. A record that fails every time fails the new
    /// thread too.
    ReplaceThread,
    /// The instance stops: the other stream threads commit, close and leave the group, and the
    /// instance ends in `Error`. The default, as in Kafka Streams.
    ShutdownClient,
}

/// Decides what happens when a stream thread fails (Kafka Streams'
/// `StreamsUncaughtExceptionHandler`). Any `Fn(&RuntimeError) -> StreamThreadExceptionResponse`
/// is one.
pub trait StreamsUncaughtExceptionHandler: Send + Sync + 'static {
    /// The response to the error the thread failed with.
    fn handle(&self, error: &RuntimeError) -> StreamThreadExceptionResponse;
}

impl<F> StreamsUncaughtExceptionHandler for F
where
    F: Fn(&RuntimeError) -> StreamThreadExceptionResponse + Send + Sync + 'static,
{
    fn handle(&self, error: &RuntimeError) -> StreamThreadExceptionResponse {
        self(error)
    }
}

/// The default: stop the instance.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShutdownClientOnError;

impl StreamsUncaughtExceptionHandler for ShutdownClientOnError {
    fn handle(&self, _error: &RuntimeError) -> StreamThreadExceptionResponse {
        StreamThreadExceptionResponse::ShutdownClient
    }
}

/// The exception handlers of an application (all "log and fail" by default, and a failed
/// stream thread stops the instance).
#[derive(Clone)]
pub struct ExceptionHandlers {
    /// Input that does not deserialize.
    pub deserialization: Arc<dyn DeserializationExceptionHandler>,
    /// Errors raised by processors (not the `try_*` operators, which retry).
    pub processing: Arc<dyn ProcessingExceptionHandler>,
    /// Output records the producer rejects (above `max.request.size`).
    pub production: Arc<dyn ProductionExceptionHandler>,
    /// A stream thread that failed.
    pub uncaught: Arc<dyn StreamsUncaughtExceptionHandler>,
}

impl Default for ExceptionHandlers {
    fn default() -> Self {
        ExceptionHandlers {
            deserialization: Arc::new(LogAndFailExceptionHandler),
            processing: Arc::new(LogAndFailProcessingExceptionHandler),
            production: Arc::new(DefaultProductionExceptionHandler),
            uncaught: Arc::new(ShutdownClientOnError),
        }
    }
}

impl std::fmt::Debug for ExceptionHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExceptionHandlers").finish_non_exhaustive()
    }
}
