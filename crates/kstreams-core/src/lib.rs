//! Records, serdes, the Processor API, `Topology` and typed state stores of kstreams.
//!
//! A topology is built with the Processor API ([`topology::Topology`]) or the DSL, validated
//! and split into sub-topologies; each task instantiates one sub-topology as a
//! [`processor::ProcessorGraph`], which the runtime and the `TopologyTestDriver` both run.

pub mod error;
pub mod failure;
pub mod processor;
pub mod record;
pub mod serde;
pub mod state;
pub mod task;
pub mod time;
pub mod topology;

pub use error::{ErrorClass, Result, StreamsError, TopologyError, WindowError};
pub use processor::{
    Cancellable, Processor, ProcessorContext, ProcessorSupplier, PunctuationType, RecordCollector,
    TaskId,
};
pub use record::{
    ConsumedRecord, Header, Headers, OutputOrigin, ProducedRecord, Record, RecordMetadata,
};
pub use serde::{DefaultSerde, Serde, SerdeError, Serdes, SharedSerde};
pub use state::{
    KeyValueStore, KeyValueStoreBuilder, SessionStore, SessionStoreBuilder, StoreBuilder, Stores,
    TaskStore, WindowStore, WindowStoreBuilder,
};
pub use task::{StreamTask, TaskState, TopicPartition};
pub use time::{Clock, MockClock, SharedClock, SystemClock};
pub use topology::{ProcessorTopology, Topology, TopologyDescription};
