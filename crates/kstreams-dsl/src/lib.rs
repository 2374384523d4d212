//! The kstreams DSL: [`StreamsBuilder`], [`KStream`], [`KTable`], grouped aggregations and
//! joins, each operator a thin lowering to Processor API nodes of a
//! [`Topology`](kstreams_core::Topology).
//!
//! Node names follow Kafka Streams (`KSTREAM-SOURCE-0000000000`,
//! `KSTREAM-MAPVALUES-0000000001`, ...) and can be overridden with [`Named`]; internal topics
//! (repartition topics, changelogs) are named from the operator names so that they stay stable.
//!
//! Nullability is part of the types: a KTable's tombstones are `None` values on the topic
//! (read with an option serde), and a table's updates flow internally as [`Change`]s of
//! `(new, old)` values. Where an operator changes a key or value type and no serde is passed,
//! the serde registered for the type is used ([`StreamsBuilder::with_serde`]; strings,
//! numbers, bytes and their options are registered from the start); otherwise `build`
//! reports which node lacks one.
//!
//! Operators (one file each):
//! - [`KStream`]: `filter`, `filter_not`, `map`, `map_values`, `flat_map`,
//!   `flat_map_values`, `select_key`, `peek`, `foreach`, `split` ([`BranchedKStream`]),
//!   `merge`, `to`, `to_dynamic`, `process`, `repartition`, `to_table`, `group_by_key`,
//!   `group_by`, `join`/`left_join` (with a table), `join_stream`/`left_join_stream`/
//!   `outer_join_stream` (windowed, [`JoinWindows`]), `deduplicate`/
//!   `deduplicate_by_value_hash` ([`Deduplicated`]), `try_map_values`/`try_flat_map_values`
//!   (fallible code with retry topics and a dead-letter topic, [`Retried`]), `join_global`/`left_join_global`
//!   (with a [`GlobalKTable`] from `StreamsBuilder::global_table`).
//! - [`KGroupedStream`]: `count`, `reduce`, `aggregate`, `windowed_by` ([`TimeWindows`],
//!   tumbling or hopping), `windowed_by_session` ([`SessionWindows`]),
//!   `windowed_by_sliding` ([`SlidingWindows`]).
//! - [`KTable`]: `filter`, `filter_not`, `map_values` (optionally materialized), `to_stream`,
//!   `group_by` ([`KGroupedTable`]: `count`, `reduce`, `aggregate` with adder/subtractor),
//!   `join`/`left_join`/`outer_join` (table-table), `suppress` ([`Suppressed`]) of windowed
//!   tables, `join_foreign_key`/`left_join_foreign_key` (KIP-213 foreign-key joins).
//!
//! A key-changing operator followed by a grouping or a join inserts a repartition topic
//! `<application.id>-<name>-repartition`, named after the `Grouped`/`StreamJoined`/`Named`
//! name or the aggregation's store name, so that adding operators does not rename it.
//!
//! ```
//! use kstreams_core::Serdes;
//! use kstreams_dsl::{Consumed, Produced, StreamsBuilder};
//! use kstreams_test_driver::TopologyTestDriver;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
//!     .filter(|_k, v| !v.is_empty())
//!     .map_values(|v| v.to_uppercase())
//!     .to("out", Produced::default());
//! let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
//! let input = driver.input_topic::<String, String>("in");
//! let output = driver.output_topic::<String, String>("out");
//! input.pipe_input_with_timestamp("k".into(), "hi".into(), 5);
//! input.pipe_input_with_timestamp("k".into(), "".into(), 6);
//! let r = output.read_record();
//! assert_eq!((r.value.as_str(), r.timestamp), ("HI", 5));
//! assert!(output.is_empty());
//! ```

mod branched;
mod change;
mod cogrouped_kstream;
mod consumed;
mod deduplicated;
mod global_ktable;
mod grouped;
mod join_windows;
pub mod kgrouped_stream;
pub mod kgrouped_table;
pub mod kstream;
pub mod ktable;
mod materialized;
mod named;
mod produced;
mod repartition_topic;
mod repartitioned;
mod retried;
mod retrying_processor;
pub mod session_windowed_kstream;
mod session_windowed_serde;
mod session_windows;
pub mod sliding_windowed_kstream;
mod sliding_windows;
mod stateless;
mod stream_joined;
mod streams_builder;
mod suppressed;
pub mod time_windowed_kstream;
mod time_windowed_serde;
mod time_windows;
mod window_ms;
mod windowed;

pub use branched::{Branched, BranchedKStream};
pub use change::{Change, ChangeSerde};
pub use cogrouped_kstream::CogroupedKStream;
pub use consumed::Consumed;
pub use deduplicated::Deduplicated;
pub use global_ktable::GlobalKTable;
pub use grouped::Grouped;
pub use join_windows::JoinWindows;
pub use kgrouped_stream::KGroupedStream;
pub use kgrouped_table::KGroupedTable;
pub use kstream::{DEDUP_HITS, IdempotentSink, KStream, WriteId, value_hash};
pub use kstreams_core::WindowError;
pub use kstreams_core::state::{ValueAndTimestamp, ValueAndTimestampSerde};
pub use ktable::KTable;
pub use materialized::{Materialized, StoreType};
pub use named::Named;
pub use produced::Produced;
pub use repartitioned::Repartitioned;
pub use retried::{JitterFactory, Retried};
pub use session_windowed_kstream::SessionWindowedKStream;
pub use session_windowed_serde::SessionWindowedSerde;
pub use session_windows::SessionWindows;
pub use sliding_windowed_kstream::SlidingWindowedKStream;
pub use sliding_windows::SlidingWindows;
pub use stream_joined::StreamJoined;
pub use streams_builder::StreamsBuilder;
pub use suppressed::{BufferConfig, Suppressed};
pub use time_windowed_kstream::TimeWindowedKStream;
pub use time_windowed_serde::TimeWindowedSerde;
pub use time_windows::TimeWindows;
pub use windowed::{Window, Windowed, WindowedSerde};

/// What keys and values flowing through the DSL must be: cloneable and shareable across
/// threads.
pub trait Data: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> Data for T {}
