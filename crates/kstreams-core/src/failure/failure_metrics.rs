//! Per-node counters of an application instance, in one mechanism: failure handling (retries
//! scheduled and re-delivered, dead-letter records, production errors) and processor counters
//! such as a `deduplicate` node's `dedup-hits`. One [`NodeMetrics`] is shared by every task of
//! an instance (the runtime exposes it in its metrics snapshot; the test driver directly).
//! Each counter is keyed by metric name, processor node and reason (`""` when a metric has
//! no reason).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The failure-handling metrics (their names are stable: dashboards and tests use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureMetric {
    /// A failed record was written to its node's retry topic (reason: error class).
    RetryScheduled,
    /// A parked record became due and was handed to its node again (reason: `""`).
    RetryRedelivered,
    /// A record was written to the dead-letter topic (reason: the dead-letter reason).
    DeadLetter,
    /// An output record could not be serialized or written and went through the production
    /// exception handler (node: the sink; reason: the cause, e.g. `serialization`,
    /// `max-request-size` or the broker's error name such as `MESSAGE_TOO_LARGE`).
    ProductionError,
    /// The production exception handler answered continue: the output record was dropped
    /// (node: the sink; reason: the cause, as for [`FailureMetric::ProductionError`]).
    ProductionSkipped,
}

impl FailureMetric {
    /// The metric name (Kafka Streams style).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMetric::RetryScheduled => "retries-scheduled-total",
            FailureMetric::RetryRedelivered => "retries-redelivered-total",
            FailureMetric::DeadLetter => "dead-letter-records-total",
            FailureMetric::ProductionError => "production-errors-total",
            FailureMetric::ProductionSkipped => "production-records-skipped-total",
        }
    }
}

/// The key of one counter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeMetricKey {
    /// The metric name (e.g. `dead-letter-records-total`, `dedup-hits`).
    pub metric: String,
    /// The processor node.
    pub node: String,
    /// The reason (`""` for metrics without one).
    pub reason: String,
}

/// Thread-safe per-node counters.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    counters: Mutex<BTreeMap<NodeMetricKey, u64>>,
}

impl NodeMetrics {
    /// Adds `n` to the counter of (`metric`, `node`, `reason`).
    pub fn add(&self, metric: &str, node: &str, reason: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Ok(mut m) = self.counters.lock() {
            *m.entry(NodeMetricKey {
                metric: metric.to_string(),
                node: node.to_string(),
                reason: reason.to_string(),
            })
            .or_insert(0) += n;
        }
    }

    /// Adds one to the failure counter of (`metric`, `node`, `reason`).
    pub fn record(&self, metric: FailureMetric, node: &str, reason: &str) {
        self.add(metric.as_str(), node, reason, 1);
    }

    /// One failure counter (0 when never incremented).
    pub fn get(&self, metric: FailureMetric, node: &str, reason: &str) -> u64 {
        self.counters
            .lock()
            .ok()
            .and_then(|m| {
                m.get(&NodeMetricKey {
                    metric: metric.as_str().to_string(),
                    node: node.to_string(),
                    reason: reason.to_string(),
                })
                .copied()
            })
            .unwrap_or(0)
    }

    /// Node `node`'s counter `metric`, summed over reasons (0 when never incremented).
    pub fn node_counter(&self, node: &str, metric: &str) -> u64 {
        sum(&self.snapshot(), |k| k.node == node && k.metric == metric)
    }

    /// The sum of a failure metric over nodes and reasons.
    pub fn total(&self, metric: FailureMetric) -> u64 {
        sum(&self.snapshot(), |k| k.metric == metric.as_str())
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> BTreeMap<NodeMetricKey, u64> {
        self.counters.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The sum of the counters of `snapshot` whose key matches.
pub fn sum(snapshot: &BTreeMap<NodeMetricKey, u64>, f: impl Fn(&NodeMetricKey) -> bool) -> u64 {
    snapshot.iter().filter(|(k, _)| f(k)).map(|(_, v)| *v).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_and_processor_counters_share_one_mechanism() {
        let m = NodeMetrics::default();
        m.record(FailureMetric::DeadLetter, "n1", "max-attempts");
        m.record(FailureMetric::DeadLetter, "n1", "max-attempts");
        m.record(FailureMetric::DeadLetter, "n2", "non-retryable");
        m.record(FailureMetric::RetryScheduled, "n1", "retryable");
        m.add("dedup-hits", "dedup", "", 2);
        m.add("dedup-hits", "dedup", "", 3);
        m.add("dedup-hits", "dedup", "", 0);
        m.record(FailureMetric::ProductionError, "sink", "MESSAGE_TOO_LARGE");
        m.record(FailureMetric::ProductionError, "sink", "serialization");
        assert_eq!(m.get(FailureMetric::DeadLetter, "n1", "max-attempts"), 2);
        assert_eq!(m.get(FailureMetric::DeadLetter, "n1", "non-retryable"), 0);
        assert_eq!(m.total(FailureMetric::DeadLetter), 3);
        assert_eq!(m.node_counter("dedup", "dedup-hits"), 5);
        assert_eq!(m.node_counter("other", "dedup-hits"), 0);
        assert_eq!(m.node_counter("sink", "production-errors-total"), 2);
        assert_eq!(m.node_counter("n1", "dead-letter-records-total"), 2);
        let s = m.snapshot();
        assert_eq!(s.len(), 6, "zero increments create no counter: {s:?}");
        assert_eq!(
            s[&NodeMetricKey {
                metric: "dedup-hits".into(),
                node: "dedup".into(),
                reason: String::new()
            }],
            5
        );
    }

    #[test]
    fn metric_names_are_stable() {
        let names: Vec<&str> = [
            FailureMetric::RetryScheduled,
            FailureMetric::RetryRedelivered,
            FailureMetric::DeadLetter,
            FailureMetric::ProductionError,
            FailureMetric::ProductionSkipped,
        ]
        .iter()
        .map(|m| m.as_str())
        .collect();
        assert_eq!(
            names,
            [
                "retries-scheduled-total",
                "retries-redelivered-total",
                "dead-letter-records-total",
                "production-errors-total",
                "production-records-skipped-total"
            ]
        );
    }
}
