//! Counters of failure handling per processor node and reason: retries scheduled, retries
//! re-delivered, dead-letter records. One [`FailureMetrics`] is shared by every task of an
//! application instance (the runtime exposes it in its metrics; the test driver directly).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureMetric {
    /// A failed record was written to its node's retry topic.
    RetryScheduled,
    /// A parked record became due and was handed to its node again.
    RetryRedelivered,
    /// A record was written to the dead-letter topic.
    DeadLetter,
}

impl FailureMetric {
    /// The metric name (Kafka Streams style).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMetric::RetryScheduled => "retries-scheduled-total",
            FailureMetric::RetryRedelivered => "retries-redelivered-total",
            FailureMetric::DeadLetter => "dead-letter-records-total",
        }
    }
}

/// The key of one counter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FailureMetricKey {
    /// The metric.
    pub metric: FailureMetric,
    /// The processor node.
    pub node: String,
    /// The reason: the error class for retries, the [`super::DeadLetterReason`] for DLQ
    /// records.
    pub reason: String,
}

/// Thread-safe failure counters.
#[derive(Debug, Default)]
pub struct FailureMetrics {
    counters: Mutex<BTreeMap<FailureMetricKey, u64>>,
}

impl FailureMetrics {
    /// Adds one to the counter of (`metric`, `node`, `reason`).
    pub fn record(&self, metric: FailureMetric, node: &str, reason: &str) {
        if let Ok(mut m) = self.counters.lock() {
            *m.entry(FailureMetricKey {
                metric,
                node: node.to_string(),
                reason: reason.to_string(),
            })
            .or_insert(0) += 1;
        }
    }

    /// One counter (0 when never incremented).
    pub fn get(&self, metric: FailureMetric, node: &str, reason: &str) -> u64 {
        self.counters
            .lock()
            .ok()
            .and_then(|m| {
                m.get(&FailureMetricKey {
                    metric,
                    node: node.to_string(),
                    reason: reason.to_string(),
                })
                .copied()
            })
            .unwrap_or(0)
    }

    /// The sum of a metric over nodes and reasons.
    pub fn total(&self, metric: FailureMetric) -> u64 {
        self.counters
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.metric == metric)
                    .map(|(_, v)| *v)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> BTreeMap<FailureMetricKey, u64> {
        self.counters.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_node_and_reason() {
        let m = FailureMetrics::default();
        m.record(FailureMetric::DeadLetter, "n1", "max-attempts");
        m.record(FailureMetric::DeadLetter, "n1", "max-attempts");
        m.record(FailureMetric::DeadLetter, "n2", "non-retryable");
        m.record(FailureMetric::RetryScheduled, "n1", "retryable");
        assert_eq!(m.get(FailureMetric::DeadLetter, "n1", "max-attempts"), 2);
        assert_eq!(m.get(FailureMetric::DeadLetter, "n1", "non-retryable"), 0);
        assert_eq!(m.total(FailureMetric::DeadLetter), 3);
        assert_eq!(m.snapshot().len(), 3);
    }
}
