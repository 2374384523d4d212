//! Instance-wide counters, shared by the stream threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of one [`crate::KafkaStreams`] instance.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Records processed.
    pub processed: AtomicU64,
    /// Commits done.
    pub commits: AtomicU64,
    /// Changelog records applied during restoration.
    pub restored: AtomicU64,
    /// Times a partition was paused because its task's buffer was full.
    pub paused: AtomicU64,
    /// Sum of commit latencies (µs).
    pub commit_latency_us_total: AtomicU64,
    /// Highest commit latency (µs).
    pub commit_latency_us_max: AtomicU64,
}

impl Metrics {
    pub(crate) fn record_commit_latency(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.commit_latency_us_total
            .fetch_add(us, Ordering::Relaxed);
        self.commit_latency_us_max.fetch_max(us, Ordering::Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            processed: self.processed.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            restored: self.restored.load(Ordering::Relaxed),
            paused: self.paused.load(Ordering::Relaxed),
            commit_latency_us_max: self.commit_latency_us_max.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy of [`Metrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Records processed.
    pub processed: u64,
    /// Commits done.
    pub commits: u64,
    /// Changelog records applied during restoration.
    pub restored: u64,
    /// Times a partition was paused (backpressure).
    pub paused: u64,
    /// Highest commit latency (µs).
    pub commit_latency_us_max: u64,
}
