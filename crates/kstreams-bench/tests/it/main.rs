//! The benchmark workloads through the TopologyTestDriver, and the bench and load binaries against
//! tansu. One test binary for the crate, so the suite links once.

mod binaries;
mod workloads;
