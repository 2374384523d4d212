//! kstreams benchmarks against a broker: the `kstreams-bench` binary runs workload w1
//! (stateless), w2 (count per key in RocksDB) or w3 (windowed count per page) on
//! [`kstreams::KafkaStreams`], or the consume-then-produce [`baseline`] they are compared with;
//! the `kstreams-load` binary preloads input, produces at a fixed rate with the send time in a
//! header and measures end-to-end latency and throughput from the output.
//!
//! `scripts/bench.sh` runs them all against a local tansu broker; the figures are in
//! BENCHMARKS.md.

pub mod baseline;
pub mod cli;
pub mod event;
pub mod latency;
pub mod load;
pub mod queries;
pub mod workload;

/// Waits for SIGTERM or SIGINT.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
