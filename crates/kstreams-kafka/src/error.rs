//! The client's error type, classified by consequence.

/// How a caller should react to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Try again (after refreshing metadata or reconnecting, with backoff).
    Retriable,
    /// Another instance took over (producer fenced, member fenced, generation stale): close the
    /// affected work without committing and rejoin.
    Fenced,
    /// Cannot be fixed by retrying: configuration, authorization, protocol violations.
    Fatal,
}

/// Errors of the Kafka client.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// A network error talking to a broker.
    #[error("i/o error with broker {broker}: {source}")]
    Io {
        /// `host:port` of the broker.
        broker: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A request did not complete in time.
    #[error("timed out: {what}")]
    Timeout {
        /// What timed out.
        what: String,
    },
    /// A response could not be decoded or violated the protocol (never a panic).
    #[error("protocol error from broker {broker}: {message}")]
    Protocol {
        /// `host:port` of the broker.
        broker: String,
        /// What was wrong.
        message: String,
    },
    /// The broker answered with an error code.
    #[error("{api} failed with {name} ({code}){}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The API (e.g. "Produce", "EndTxn").
        api: &'static str,
        /// The Kafka error code.
        code: i16,
        /// The error code's name (e.g. "NOT_LEADER_OR_FOLLOWER").
        name: &'static str,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// The broker does not support an API or version the client needs.
    #[error("broker {broker} does not support {api} (needs version {min}..={max})")]
    UnsupportedVersion {
        /// `host:port` of the broker.
        broker: String,
        /// The API.
        api: &'static str,
        /// Lowest acceptable version.
        min: i16,
        /// Highest acceptable version.
        max: i16,
    },
    /// A consumer has no committed offset and `auto.offset.reset` is `none`.
    #[error("no offset for {topic}-{partition} and auto.offset.reset is none")]
    NoOffsetForPartition {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// The client was configured inconsistently.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An operation was called in a state that does not allow it (e.g. commit without begin).
    #[error("illegal state: {0}")]
    IllegalState(String),
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// A record the producer gave up on, handed back with the reason, so a caller can log,
    /// dead-letter or resend it without keeping its own copy of every record it sends.
    #[error("{error}")]
    Undelivered {
        /// Why the record was not delivered.
        error: Box<KafkaError>,
        /// The record as it was batched (partition and timestamp filled in).
        record: Box<crate::types::ProducerRecord>,
    },
}

/// Kafka error codes that mean "another instance took over".
const FENCED_CODES: &[i16] = &[
    90,  // PRODUCER_FENCED
    47,  // INVALID_PRODUCER_EPOCH
    82,  // FENCED_INSTANCE_ID
    22,  // ILLEGAL_GENERATION
    25,  // UNKNOWN_MEMBER_ID
    110, // FENCED_MEMBER_EPOCH (KIP-848)
];

impl KafkaError {
    /// The error's consequence for the caller.
    pub fn class(&self) -> ErrorClass {
        match self {
            KafkaError::Io { .. } | KafkaError::Timeout { .. } | KafkaError::Protocol { .. } => {
                ErrorClass::Retriable
            }
            KafkaError::Broker { code, .. } => {
                if FENCED_CODES.contains(code) {
                    ErrorClass::Fenced
                } else if is_retriable_code(*code) {
                    ErrorClass::Retriable
                } else {
                    ErrorClass::Fatal
                }
            }
            KafkaError::UnsupportedVersion { .. }
            | KafkaError::NoOffsetForPartition { .. }
            | KafkaError::Config(_)
            | KafkaError::IllegalState(_)
            | KafkaError::Closed => ErrorClass::Fatal,
            KafkaError::Undelivered { error, .. } => error.class(),
        }
    }

    /// The error itself, looking through a record handed back with it
    /// ([`KafkaError::Undelivered`]).
    pub fn cause(&self) -> &KafkaError {
        match self {
            KafkaError::Undelivered { error, .. } => error.cause(),
            other => other,
        }
    }

    /// The error and the record handed back with it, if any.
    pub fn into_undelivered(self) -> (KafkaError, Option<crate::types::ProducerRecord>) {
        match self {
            KafkaError::Undelivered { error, record } => {
                (error.into_undelivered().0, Some(*record))
            }
            other => (other, None),
        }
    }

    /// Shorthand for `class() == Retriable`.
    pub fn is_retriable(&self) -> bool {
        self.class() == ErrorClass::Retriable
    }

    /// Shorthand for `class() == Fenced`.
    pub fn is_fenced(&self) -> bool {
        self.class() == ErrorClass::Fenced
    }
}

/// Whether a Kafka error code is retriable, as the Java client's `RetriableException` subclasses.
pub fn is_retriable_code(code: i16) -> bool {
    matches!(
        code,
        2 // CORRUPT_MESSAGE
            | 3  // UNKNOWN_TOPIC_OR_PARTITION
            | 5  // LEADER_NOT_AVAILABLE
            | 6  // NOT_LEADER_OR_FOLLOWER
            | 7  // REQUEST_TIMED_OUT
            | 8  // BROKER_NOT_AVAILABLE
            | 9  // REPLICA_NOT_AVAILABLE
            | 13 // NETWORK_EXCEPTION
            | 14 // COORDINATOR_LOAD_IN_PROGRESS
            | 15 // COORDINATOR_NOT_AVAILABLE
            | 16 // NOT_COORDINATOR
            | 19 // NOT_ENOUGH_REPLICAS
            | 20 // NOT_ENOUGH_REPLICAS_AFTER_APPEND
            | 27 // REBALANCE_IN_PROGRESS
            | 51 // CONCURRENT_TRANSACTIONS
            | 56 // KAFKA_STORAGE_ERROR
            | 74 // FENCED_LEADER_EPOCH
            | 75 // UNKNOWN_LEADER_EPOCH
            | 78 // OFFSET_NOT_AVAILABLE
            | 79 // MEMBER_ID_REQUIRED is handled by the join state machine (rejoin with the id)
            | 89 // THROTTLING_QUOTA_EXCEEDED
            | 100 // UNKNOWN_TOPIC_ID
    )
}

/// Result alias of the client.
pub type Result<T, E = KafkaError> = std::result::Result<T, E>;

/// Builds a [`KafkaError::Broker`] from an error code.
pub fn broker_error(api: &'static str, code: i16, message: Option<String>) -> KafkaError {
    KafkaError::Broker {
        api,
        code,
        name: error_name(code),
        message,
    }
}

/// `Ok(())` for error code 0, else a [`KafkaError::Broker`].
pub fn check_code(api: &'static str, code: i16, message: Option<String>) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(broker_error(api, code, message))
    }
}

/// The name of a Kafka error code (as in the protocol guide).
pub fn error_name(code: i16) -> &'static str {
    match code {
        -1 => "UNKNOWN_SERVER_ERROR",
        0 => "NONE",
        1 => "OFFSET_OUT_OF_RANGE",
        2 => "CORRUPT_MESSAGE",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        4 => "INVALID_FETCH_SIZE",
        5 => "LEADER_NOT_AVAILABLE",
        6 => "NOT_LEADER_OR_FOLLOWER",
        7 => "REQUEST_TIMED_OUT",
        8 => "BROKER_NOT_AVAILABLE",
        9 => "REPLICA_NOT_AVAILABLE",
        10 => "MESSAGE_TOO_LARGE",
        12 => "OFFSET_METADATA_TOO_LARGE",
        13 => "NETWORK_EXCEPTION",
        14 => "COORDINATOR_LOAD_IN_PROGRESS",
        15 => "COORDINATOR_NOT_AVAILABLE",
        16 => "NOT_COORDINATOR",
        17 => "INVALID_TOPIC_EXCEPTION",
        18 => "RECORD_LIST_TOO_LARGE",
        19 => "NOT_ENOUGH_REPLICAS",
        20 => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        21 => "INVALID_REQUIRED_ACKS",
        22 => "ILLEGAL_GENERATION",
        23 => "INCONSISTENT_GROUP_PROTOCOL",
        24 => "INVALID_GROUP_ID",
        25 => "UNKNOWN_MEMBER_ID",
        26 => "INVALID_SESSION_TIMEOUT",
        27 => "REBALANCE_IN_PROGRESS",
        28 => "INVALID_COMMIT_OFFSET_SIZE",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        30 => "GROUP_AUTHORIZATION_FAILED",
        31 => "CLUSTER_AUTHORIZATION_FAILED",
        32 => "INVALID_TIMESTAMP",
        33 => "UNSUPPORTED_SASL_MECHANISM",
        35 => "UNSUPPORTED_VERSION",
        36 => "TOPIC_ALREADY_EXISTS",
        37 => "INVALID_PARTITIONS",
        38 => "INVALID_REPLICATION_FACTOR",
        39 => "INVALID_REPLICA_ASSIGNMENT",
        40 => "INVALID_CONFIG",
        41 => "NOT_CONTROLLER",
        42 => "INVALID_REQUEST",
        43 => "UNSUPPORTED_FOR_MESSAGE_FORMAT",
        44 => "POLICY_VIOLATION",
        45 => "OUT_OF_ORDER_SEQUENCE_NUMBER",
        46 => "DUPLICATE_SEQUENCE_NUMBER",
        47 => "INVALID_PRODUCER_EPOCH",
        48 => "INVALID_TXN_STATE",
        49 => "INVALID_PRODUCER_ID_MAPPING",
        50 => "INVALID_TRANSACTION_TIMEOUT",
        51 => "CONCURRENT_TRANSACTIONS",
        52 => "TRANSACTION_COORDINATOR_FENCED",
        53 => "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
        56 => "KAFKA_STORAGE_ERROR",
        59 => "UNKNOWN_PRODUCER_ID",
        68 => "NON_EMPTY_GROUP",
        69 => "GROUP_ID_NOT_FOUND",
        72 => "LISTENER_NOT_FOUND",
        73 => "TOPIC_DELETION_DISABLED",
        74 => "FENCED_LEADER_EPOCH",
        75 => "UNKNOWN_LEADER_EPOCH",
        76 => "UNSUPPORTED_COMPRESSION_TYPE",
        78 => "OFFSET_NOT_AVAILABLE",
        79 => "MEMBER_ID_REQUIRED",
        82 => "FENCED_INSTANCE_ID",
        87 => "INVALID_RECORD",
        89 => "THROTTLING_QUOTA_EXCEEDED",
        90 => "PRODUCER_FENCED",
        100 => "UNKNOWN_TOPIC_ID",
        110 => "FENCED_MEMBER_EPOCH",
        _ => "UNKNOWN_ERROR_CODE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_by_consequence() {
        let io = KafkaError::Io {
            broker: "b:1".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        };
        assert_eq!(io.class(), ErrorClass::Retriable);
        let timeout = KafkaError::Timeout { what: "x".into() };
        assert!(timeout.is_retriable());
        let protocol = KafkaError::Protocol {
            broker: "b:1".into(),
            message: "truncated".into(),
        };
        assert!(protocol.is_retriable());

        // Fencing: another instance took over.
        for code in [90, 47, 82, 22, 25, 110] {
            let e = broker_error("X", code, None);
            assert_eq!(e.class(), ErrorClass::Fenced, "{e}");
            assert!(e.is_fenced() && !e.is_retriable());
        }
        // Retriable broker errors, incl. the transaction coordinator's.
        for code in [3, 5, 6, 7, 13, 14, 15, 16, 27, 51, 74, 75, 89] {
            let e = broker_error("X", code, None);
            assert_eq!(e.class(), ErrorClass::Retriable, "{e}");
        }
        // Fatal: retrying cannot help.
        for code in [10, 29, 30, 36, 40, 45, 48, 53, 59, -1] {
            assert_eq!(
                broker_error("X", code, None).class(),
                ErrorClass::Fatal,
                "{code}"
            );
        }
        for e in [
            KafkaError::Config("c".into()),
            KafkaError::IllegalState("s".into()),
            KafkaError::Closed,
            KafkaError::NoOffsetForPartition {
                topic: "t".into(),
                partition: 0,
            },
            KafkaError::UnsupportedVersion {
                broker: "b".into(),
                api: "Fetch",
                min: 4,
                max: 12,
            },
        ] {
            assert_eq!(e.class(), ErrorClass::Fatal, "{e}");
        }
    }

    #[test]
    fn names_and_messages() {
        assert_eq!(error_name(51), "CONCURRENT_TRANSACTIONS");
        assert_eq!(error_name(12345), "UNKNOWN_ERROR_CODE");
        assert!(check_code("EndTxn", 0, None).is_ok());
        let e = check_code("EndTxn", 90, Some("fenced by epoch 3".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "EndTxn failed with PRODUCER_FENCED (90): fenced by epoch 3"
        );
    }
}
