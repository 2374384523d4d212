//! The core error type, classified by consequence.

use crate::serde::SerdeError;
use kstreams_state::StateError;

/// A boxed error from user code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What the runtime does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The operation may succeed if tried again later (a downstream timeout, a 5xx, a 429).
    Retriable,
    /// The task moved to another instance (fenced producer, lost partitions): close it dirty.
    TaskMigrated,
    /// Retrying cannot help (bad data, a bug, misconfiguration).
    Fatal,
}

/// A topology that cannot be built or run as described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Two nodes (or two stores) share a name.
    #[error("duplicate name '{0}': node and store names must be unique in a topology")]
    DuplicateName(String),
    /// A node names a parent that is not in the topology.
    #[error("node '{node}' has unknown parent '{parent}'")]
    UnknownParent {
        /// The child.
        node: String,
        /// The missing parent.
        parent: String,
    },
    /// A node cannot be a parent (a sink has no children).
    #[error("node '{parent}' cannot be the parent of '{node}': {reason}")]
    InvalidParent {
        /// The child.
        node: String,
        /// The parent.
        parent: String,
        /// Why not.
        reason: String,
    },
    /// A processor or sink was added without parents.
    #[error("node '{0}' has no parents")]
    NoParents(String),
    /// The parent edges form a cycle.
    #[error("the topology has a cycle through: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A topic is read by two sources.
    #[error("topic '{topic}' is already read by source '{source_node}'")]
    TopicAlreadyRegistered {
        /// The topic.
        topic: String,
        /// The source that reads it already.
        source_node: String,
    },
    /// A source without topics, an empty name, and the like.
    #[error("invalid node '{node}': {reason}")]
    InvalidNode {
        /// The node.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// A store is connected to a processor that does not exist.
    #[error("store '{store}' is connected to unknown processor '{processor}'")]
    UnknownProcessorForStore {
        /// The store.
        store: String,
        /// The missing processor.
        processor: String,
    },
    /// A store is connected to no processor at all.
    #[error("store '{0}' is not connected to any processor")]
    StoreNotConnected(String),
    /// A store named in a connection does not exist.
    #[error("unknown store '{store}' (connected to '{processor}')")]
    UnknownStore {
        /// The store.
        store: String,
        /// The processor.
        processor: String,
    },
    /// A node receives records of another type than its parent forwards.
    #[error("type mismatch: '{parent}' forwards {parent_type} but '{node}' expects {node_type}")]
    TypeMismatch {
        /// The parent.
        parent: String,
        /// What the parent forwards.
        parent_type: String,
        /// The child.
        node: String,
        /// What the child expects.
        node_type: String,
    },
    /// Topics that must be co-partitioned have different partition counts.
    #[error("topics are not co-partitioned: {}", .0.iter().map(|(t, n)| format!("{t} has {n}")).collect::<Vec<_>>().join(", "))]
    NotCopartitioned(Vec<(String, i32)>),
    /// Anything else wrong with the topology.
    #[error("{0}")]
    Invalid(String),
    /// A windowed operator was given invalid window settings.
    #[error("invalid windows for '{node}': {error}")]
    InvalidWindows {
        /// The node (stream or grouping) the windows were applied to.
        node: String,
        /// What is wrong with them.
        error: WindowError,
    },
}

/// Invalid window settings (`TimeWindows`, `SlidingWindows`, `SessionWindows`,
/// `JoinWindows`), as Kafka Streams rejects them with `IllegalArgumentException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A window size of zero.
    #[error("window size must be at least 1 ms, got {size_ms} ms")]
    SizeNotPositive {
        /// The size given.
        size_ms: i64,
    },
    /// A hopping window advance of zero or larger than the window size.
    #[error("window advance must be in (0, size] = (0, {size_ms}] ms, got {advance_ms} ms")]
    AdvanceOutOfRange {
        /// The advance given.
        advance_ms: i64,
        /// The window size.
        size_ms: i64,
    },
    /// A session inactivity gap of zero.
    #[error("session inactivity gap must be at least 1 ms, got {gap_ms} ms")]
    GapNotPositive {
        /// The gap given.
        gap_ms: i64,
    },
    /// A setting (or a window bound derived from it, such as size + grace) does not fit in
    /// i64 milliseconds.
    #[error("{setting} is too large: window bounds must fit in i64 milliseconds")]
    OutOfRange {
        /// Which setting.
        setting: &'static str,
    },
}

/// Errors raised while building or running a topology.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The topology is invalid.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A key or value could not be (de)serialized.
    #[error(transparent)]
    Serde(#[from] SerdeError),
    /// A state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A processor asked for a store it may not use or with the wrong types.
    #[error("state store access from '{processor}' to '{store}': {reason}")]
    StoreAccess {
        /// The processor.
        processor: String,
        /// The store.
        store: String,
        /// What is wrong.
        reason: String,
    },
    /// User processing code failed.
    #[error("processing failed in '{node}': {source}")]
    Processing {
        /// The node whose code failed (filled in by the runtime when user code leaves it empty).
        node: String,
        /// Whether trying again later may succeed.
        retriable: bool,
        /// The user's error.
        #[source]
        source: BoxError,
    },
    /// An operation was used where it is not allowed (forward to a non-child, etc.).
    #[error("illegal state: {0}")]
    IllegalState(String),
    /// The task's partitions moved to another instance (fenced or lost).
    #[error("task {task} migrated: {reason}")]
    TaskMigrated {
        /// The task.
        task: String,
        /// Why.
        reason: String,
    },
    /// An error that ends the application (after logging).
    #[error("fatal: {0}")]
    Fatal(String),
}

impl StreamsError {
    /// A non-retriable processing error from user code (bad data, a bug).
    pub fn processing(err: impl Into<BoxError>) -> Self {
        StreamsError::Processing {
            node: String::new(),
            retriable: false,
            source: err.into(),
        }
    }

    /// A retriable processing error from user code (a downstream timeout, a 5xx, a 429).
    pub fn retriable(err: impl Into<BoxError>) -> Self {
        StreamsError::Processing {
            node: String::new(),
            retriable: true,
            source: err.into(),
        }
    }

    /// The error's consequence.
    pub fn class(&self) -> ErrorClass {
        match self {
            StreamsError::Processing {
                retriable: true, ..
            } => ErrorClass::Retriable,
            StreamsError::TaskMigrated { .. } => ErrorClass::TaskMigrated,
            _ => ErrorClass::Fatal,
        }
    }

    /// Fills in the node name of a processing error raised by user code.
    pub(crate) fn in_node(self, name: &str) -> Self {
        match self {
            StreamsError::Processing {
                node,
                retriable,
                source,
            } if node.is_empty() => StreamsError::Processing {
                node: name.to_string(),
                retriable,
                source,
            },
            other => other,
        }
    }
}

/// Result alias of the core crate.
pub type Result<T, E = StreamsError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            StreamsError::retriable("timeout").class(),
            ErrorClass::Retriable
        );
        assert_eq!(StreamsError::processing("bad").class(), ErrorClass::Fatal);
        let e = StreamsError::TaskMigrated {
            task: "0_1".into(),
            reason: "fenced".into(),
        };
        assert_eq!(e.class(), ErrorClass::TaskMigrated);
        let named = StreamsError::processing("bad").in_node("p1");
        assert!(named.to_string().contains("'p1'"), "{named}");
    }

    #[test]
    fn copartition_message_names_topics() {
        let e = TopologyError::NotCopartitioned(vec![("a".into(), 2), ("b".into(), 3)]);
        assert_eq!(
            e.to_string(),
            "topics are not co-partitioned: a has 2, b has 3"
        );
    }
}
