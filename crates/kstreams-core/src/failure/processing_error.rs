//! [`ProcessingError`]: what fallible user code returns, and the classification deciding
//! whether a failed record is retried ([`FailureClass::Retryable`]) or dead-lettered.
//!
//! The error says what its author knows (`retryable` for a downstream timeout, a 5xx or a
//! 429; `non_retryable` for bad data or a bug). An [`ErrorClassifier`] has the last word: the
//! [`DefaultErrorClassifier`] keeps the declared class, except that an I/O timeout or a
//! refused/reset connection anywhere in the source chain counts as retryable; a user hook (any
//! `Fn(&ProcessingError) -> FailureClass`) can map library errors differently.

use super::FailureClass;
use crate::error::{BoxError, ErrorClass, StreamsError};

/// A failure of user processing code, with its class.
#[derive(Debug)]
pub struct ProcessingError {
    class: FailureClass,
    message: String,
    source: Option<BoxError>,
}

impl ProcessingError {
    /// A failure worth retrying later (a downstream timeout, a 5xx, a 429).
    pub fn retryable(message: impl Into<String>) -> Self {
        ProcessingError {
            class: FailureClass::Retryable,
            message: message.into(),
            source: None,
        }
    }

    /// A failure retrying cannot fix (bad data, a bug).
    pub fn non_retryable(message: impl Into<String>) -> Self {
        ProcessingError {
            class: FailureClass::NonRetryable,
            message: message.into(),
            source: None,
        }
    }

    /// The failure of an HTTP-style call: 408, 425, 429 and 5xx are retryable, the rest not.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let retryable = matches!(status, 408 | 425 | 429 | 500..=599);
        let message = format!("status {status}: {}", message.into());
        if retryable {
            Self::retryable(message)
        } else {
            Self::non_retryable(message)
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The class the code declared.
    pub fn class(&self) -> FailureClass {
        self.class
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ProcessingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(s) => write!(f, "{}: {s}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ProcessingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<StreamsError> for ProcessingError {
    /// Engine errors raised inside user code (a store access, a serde): retryable when the
    /// engine classifies them so.
    fn from(e: StreamsError) -> Self {
        let class = match e.class() {
            ErrorClass::Retriable => FailureClass::Retryable,
            _ => FailureClass::NonRetryable,
        };
        ProcessingError {
            class,
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

/// Decides the class of a processing error (the user hook).
pub trait ErrorClassifier: Send + Sync + 'static {
    /// The class of `error`.
    fn classify(&self, error: &ProcessingError) -> FailureClass;
}

impl<F> ErrorClassifier for F
where
    F: Fn(&ProcessingError) -> FailureClass + Send + Sync + 'static,
{
    fn classify(&self, error: &ProcessingError) -> FailureClass {
        self(error)
    }
}

/// The declared class, upgraded to retryable when an I/O timeout or a refused, reset or
/// aborted connection is anywhere in the source chain.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultErrorClassifier;

impl ErrorClassifier for DefaultErrorClassifier {
    fn classify(&self, error: &ProcessingError) -> FailureClass {
        if error.class == FailureClass::Retryable {
            return FailureClass::Retryable;
        }
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::Interrupted
                )
            {
                return FailureClass::Retryable;
            }
            cur = e.source();
        }
        FailureClass::NonRetryable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_classify() {
        for s in [408, 425, 429, 500, 503, 599] {
            assert_eq!(
                ProcessingError::from_status(s, "x").class(),
                FailureClass::Retryable,
                "{s}"
            );
        }
        for s in [400, 401, 404, 422] {
            assert_eq!(
                ProcessingError::from_status(s, "x").class(),
                FailureClass::NonRetryable,
                "{s}"
            );
        }
        assert_eq!(
            ProcessingError::from_status(503, "busy").to_string(),
            "status 503: busy"
        );
    }

    #[test]
    fn default_classifier_upgrades_io_timeouts_only() {
        let c = DefaultErrorClassifier;
        let timeout = ProcessingError::non_retryable("call failed")
            .with_source(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
        assert_eq!(c.classify(&timeout), FailureClass::Retryable);
        let bad = ProcessingError::non_retryable("bad json")
            .with_source(std::io::Error::new(std::io::ErrorKind::InvalidData, "x"));
        assert_eq!(c.classify(&bad), FailureClass::NonRetryable);
        assert_eq!(
            c.classify(&ProcessingError::retryable("429")),
            FailureClass::Retryable
        );
    }

    #[test]
    fn user_hook_and_engine_errors() {
        let hook = |e: &ProcessingError| {
            if e.message().contains("quota") {
                FailureClass::Retryable
            } else {
                e.class()
            }
        };
        assert_eq!(
            hook.classify(&ProcessingError::non_retryable("quota exceeded")),
            FailureClass::Retryable
        );
        let e: ProcessingError = StreamsError::retriable("store busy").into();
        assert_eq!(e.class(), FailureClass::Retryable);
        let e: ProcessingError = StreamsError::Fatal("boom".into()).into();
        assert_eq!(e.class(), FailureClass::NonRetryable);
        assert!(std::error::Error::source(&e).is_some());
    }
}
