//! The TopologyTestDriver's Processor API semantics and failure handlers. One test binary for the
//! crate, so the suite links once.

mod failure_handlers;
mod processor_api;
mod sink_serialization_errors;
