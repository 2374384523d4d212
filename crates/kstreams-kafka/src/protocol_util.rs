//! Small helpers to build `kafka-protocol` messages (crate-internal).

use kafka_protocol::messages::{TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;

/// A `StrBytes` from a `&str`.
pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A `TopicName` from a `&str`.
pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// A `TransactionalId` from a `&str`.
pub(crate) fn transactional_id(s: &str) -> TransactionalId {
    TransactionalId(str_bytes(s))
}

/// Whether an error code means the cached leader is stale (refresh metadata and retry).
pub(crate) fn is_leader_error(code: i16) -> bool {
    matches!(code, 3 | 5 | 6 | 74 | 75 | 100)
}
