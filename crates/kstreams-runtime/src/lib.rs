//! The kstreams runtime: [`KafkaStreams`] runs a topology against Kafka.
//!
//! An instance creates the internal topics (repartition, compacted changelogs) and starts
//! `num.stream.threads` stream threads. Each thread is a member of the consumer group
//! `application.id`; the [`assignor::StreamsPartitionAssignor`] hands out tasks (a
//! sub-topology × a partition) so co-partitioned partitions stay together. A thread restores
//! its tasks' stores from their changelogs (from a checkpoint after a clean shutdown), feeds
//! them records, sends their output and changelog writes through its producer and commits
//! every `commit.interval.ms`: at-least-once flushes then commits offsets; exactly-once v2
//! commits output, changelogs and offsets in one transaction of the thread's producer.
//!
//! The group uses the eager protocol: before a rebalance a thread commits and closes its tasks
//! clean (checkpointing their changelog offsets), then reopens its new tasks, restoring only
//! the changelog tail past the checkpoint. Standby tasks (`num.standby.replicas`) keep warm
//! copies of other instances' stores by tailing their changelogs. A task dir without a
//! checkpoint (a crash) is wiped and restored from the changelog.
//!
//! Global stores (`GlobalKTable`s, `Topology::add_global_store`) are kept by one global
//! thread per instance, outside the group: it reads every partition of their topics
//! (read_committed under exactly-once), restores them before the stream threads start (so the
//! instance is Running only with complete global tables), then tails the topics, with a
//! checkpoint of its offsets in `<state.dir>/<application.id>/global`.
//!
//! Each instance needs its own `state.dir`: the instance's process id, which names the
//! transactional ids under exactly-once, is kept there.

pub mod assignment_info;
pub mod assignor;
pub mod checkpoint;
pub mod collector;
pub mod config;
mod config_properties;
pub mod error;
pub mod exception_handlers;
mod global_stream_thread;
pub mod interactive_queries;
pub mod internal_topics;
pub mod kafka_streams;
pub mod metrics;
mod metrics_export;
pub mod restore_listener;
pub mod send_failure;
pub mod state;
mod stream_thread;
pub mod streams_metadata;
pub mod thread_metadata;

pub use config::{ConfigError, ProcessingGuarantee, StreamsConfig};
pub use error::{Result, RuntimeError};
pub use exception_handlers::{
    ExceptionHandlers, StreamThreadExceptionResponse, StreamsUncaughtExceptionHandler,
};
pub use interactive_queries::{
    InteractiveQueries, ReadOnlyKeyValueStore, ReadOnlySessionStore, ReadOnlyWindowStore,
    StoreQueryParameters, StoreUnavailable,
};
pub use kafka_streams::KafkaStreams;
pub use metrics::MetricsSnapshot;
pub use metrics_export::MetricsReader;
pub use restore_listener::StateRestoreListener;
pub use state::{State, StateListener};
pub use streams_metadata::{HostInfo, KeyQueryMetadata, StreamsMetadata};
pub use thread_metadata::{TaskMetadata, ThreadMetadata};
