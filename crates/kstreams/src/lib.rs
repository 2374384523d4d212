//! kstreams: a Kafka Streams-style, stateful stream-processing library.
//!
//! Write a [`Topology`] with the Processor API, test it with the `TopologyTestDriver`
//! (crate `kstreams-test-driver`, usually a dev-dependency) and run it against Kafka.
//!
//! This crate re-exports the public API of the workspace's crates; [`prelude`] holds what a
//! topology usually needs.

pub use kstreams_core::{
    Clock, ConsumedRecord, ErrorClass, Header, Headers, KeyValueStore, KeyValueStoreBuilder,
    MockClock, ProcessorTopology, ProducedRecord, Record, RecordMetadata, Result, Serde,
    SerdeError, Serdes, StreamsError, SystemClock, Topology, TopologyDescription, TopologyError,
};
pub use kstreams_core::{error, failure, processor, record, serde, state, task, time, topology};

/// The runtime: run a topology against Kafka.
pub use kstreams_runtime::{
    KafkaStreams, MetricsReader, MetricsSnapshot, ProcessingGuarantee, RuntimeError,
    State as KafkaStreamsState, StateRestoreListener, StreamThreadExceptionResponse, StreamsConfig,
    StreamsUncaughtExceptionHandler,
};

/// Interactive queries: read a running instance's stores, find the instance holding a key.
pub use kstreams_runtime::{
    HostInfo, InteractiveQueries, KeyQueryMetadata, ReadOnlyKeyValueStore, ReadOnlySessionStore,
    ReadOnlyWindowStore, StoreQueryParameters, StoreUnavailable, StreamsMetadata,
};

/// The runtime's modules (config, assignor, internal topics, metrics).
pub mod runtime {
    pub use kstreams_runtime::*;
}

/// The DSL: `StreamsBuilder`, `KStream`, `KTable`, grouped and windowed aggregations, joins.
pub mod dsl {
    pub use kstreams_dsl::*;
}

pub use kstreams_dsl::StreamsBuilder;

/// The byte-level state stores, their wrappers and builders.
pub mod stores {
    pub use kstreams_state::*;
}

/// What topology code usually needs.
pub mod prelude {
    pub use kstreams_core::processor::{
        Cancellable, Processor, ProcessorContext, ProcessorSupplier, PunctuationType,
        StreamPartitioner, TimestampExtractor, TopicNameExtractor,
    };
    pub use kstreams_core::serde::DefaultSerde;
    pub use kstreams_core::{
        Headers, KeyValueStore, Record, RecordMetadata, Result, Serde, Serdes, StoreBuilder,
        Stores, StreamsError, Topology,
    };
    pub use kstreams_dsl::Deduplicated;
    pub use kstreams_dsl::Retried;
    pub use kstreams_dsl::{
        Consumed, GlobalKTable, Grouped, JoinWindows, KStream, KTable, Materialized, Named,
        Produced, Repartitioned, SessionWindows, SlidingWindows, StreamsBuilder, Suppressed,
        TimeWindows, WindowError,
    };
    pub use kstreams_dsl::{IdempotentSink, WriteId};
}
