//! The runtime end to end against tansu, one module per scenario: each test starts its own broker
//! on a free port and uses random topic names. One test binary for the crate, so the suite links
//! once.

mod caching;
mod close_timeout;
mod commit_pacing;
mod common;
mod deduplicate;
mod foreign_key_join;
mod global_table;
mod idempotent_sink;
mod idle_send;
mod interactive_queries;
mod pause_resume;
mod production_errors;
mod punctuation;
mod resize_threads;
mod retry_eos;
mod scale_out;
mod static_membership;
mod thread_failure;
mod windowed_caching;
mod word_count;
