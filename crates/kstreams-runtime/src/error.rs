//! The runtime's error type.

use kstreams_kafka::{ErrorClass, KafkaError};

use crate::config::ConfigError;

/// Errors of [`crate::KafkaStreams`] and its stream threads.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The topology is invalid.
    #[error("invalid topology: {0}")]
    Topology(#[from] kstreams_core::TopologyError),
    /// Topics that must be co-partitioned have different partition counts.
    #[error("co-partitioning violated: topics {topics:?} have partition counts {counts:?}")]
    CoPartitioning {
        /// The co-partitioned topics.
        topics: Vec<String>,
        /// Their partition counts, in the same order.
        counts: Vec<usize>,
    },
    /// A source topic does not exist.
    #[error("source topic '{0}' does not exist")]
    MissingSourceTopic(String),
    /// A Kafka client error.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// An error in processing or in a store.
    #[error("processing: {0}")]
    Streams(#[from] kstreams_core::StreamsError),
    /// A state directory error.
    #[error("state directory: {0}")]
    Io(#[from] std::io::Error),
    /// The instance is not in a state that allows the call.
    #[error("illegal state: {0}")]
    IllegalState(String),
    /// A state store cannot be queried ([`crate::KafkaStreams::store`]); `reason` says
    /// whether a retry may succeed.
    #[error("state store '{store}' cannot be queried: {reason}")]
    InvalidStateStore {
        /// The store.
        store: String,
        /// Why.
        reason: crate::interactive_queries::StoreUnavailable,
    },
}

impl RuntimeError {
    /// Whether the error means another instance owns the tasks now (close them dirty and
    /// rejoin).
    pub fn is_fenced(&self) -> bool {
        matches!(self, RuntimeError::Kafka(e) if e.class() == ErrorClass::Fenced)
    }
}

/// Result with a [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
