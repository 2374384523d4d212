//! The application's failure settings: exception handlers (Kafka Streams'
//! `default.deserialization.exception.handler`, `processing.exception.handler`,
//! `default.production.exception.handler`) and the dead-letter topic they, and the `try_*`
//! operators, write to.

use std::sync::Arc;

use kstreams_core::processor::{
    DefaultProductionExceptionHandler, DeserializationExceptionHandler, LogAndFailExceptionHandler,
    LogAndFailProcessingExceptionHandler, ProcessingExceptionHandler, ProductionExceptionHandler,
};

/// The three exception handlers of an application (all "log and fail" by default).
#[derive(Clone)]
pub struct ExceptionHandlers {
    /// Input that does not deserialize.
    pub deserialization: Arc<dyn DeserializationExceptionHandler>,
    /// Errors raised by processors (not the `try_*` operators, which retry).
    pub processing: Arc<dyn ProcessingExceptionHandler>,
    /// Output records the producer rejects (above `max.request.size`).
    pub production: Arc<dyn ProductionExceptionHandler>,
}

impl Default for ExceptionHandlers {
    fn default() -> Self {
        ExceptionHandlers {
            deserialization: Arc::new(LogAndFailExceptionHandler),
            processing: Arc::new(LogAndFailProcessingExceptionHandler),
            production: Arc::new(DefaultProductionExceptionHandler),
        }
    }
}

impl std::fmt::Debug for ExceptionHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExceptionHandlers").finish_non_exhaustive()
    }
}
