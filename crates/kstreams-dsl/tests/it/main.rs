//! DSL operators through the TopologyTestDriver, one module per operator family. One test binary
//! for the crate, so the suite links once.

mod aggregations;
mod caching;
mod cogroup;
mod deduplicate;
mod foreign_key_join;
mod global_table;
mod idempotent_sink;
mod joins_and_process;
mod kstream_stateless;
mod ktable;
mod page_views;
mod session_windows;
mod sliding_windows;
mod stream_joins;
mod suppress_time_limit;
mod table_joins;
mod try_map_values;
mod window_errors;
mod windowed;
mod windowed_keys;
mod word_count;
