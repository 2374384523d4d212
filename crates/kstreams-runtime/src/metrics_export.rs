//! [`MetricsSnapshot`] in the Prometheus text exposition format (version 0.0.4), for an
//! application's `/metrics` endpoint: counters, latency quantiles, lag per partition and the
//! per-node counters (retries, dead-letter records by reason, dedup hits), each labelled
//! with the application id.

use std::fmt::Write;
use std::sync::Arc;

use crate::metrics::{LatencySummary, Metrics, MetricsSnapshot};
use crate::state::{SharedState, State};

/// The live metrics of one instance for another thread (a `/metrics` endpoint's): cheap to
/// clone, `Send` and `Sync` ([`crate::KafkaStreams::metrics_reader`]).
#[derive(Clone)]
pub struct MetricsReader {
    application_id: String,
    metrics: Arc<Metrics>,
    state: SharedState,
}

impl std::fmt::Debug for MetricsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsReader")
            .field("application_id", &self.application_id)
            .finish()
    }
}

impl MetricsReader {
    pub(crate) fn new(application_id: String, metrics: Arc<Metrics>, state: SharedState) -> Self {
        MetricsReader {
            application_id,
            metrics,
            state,
        }
    }

    /// A copy of the metrics now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// The instance's state now.
    pub fn state(&self) -> State {
        self.state.get()
    }

    /// The metrics now in the Prometheus text format, with the instance's state.
    pub fn to_prometheus(&self) -> String {
        self.snapshot()
            .to_prometheus(&self.application_id, Some(self.state()))
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders metrics one family at a time, each with its HELP and TYPE lines.
struct Exposition {
    out: String,
    app: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}{{application_id=\"{}\"", self.app);
        for (k, v) in labels {
            let _ = write!(self.out, ",{k}=\"{}\"", escape(v));
        }
        let _ = writeln!(self.out, "}} {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn latency(&mut self, name: &str, help: &str, l: &LatencySummary) {
        self.family(name, "summary", help);
        let seconds = |us: u64| us as f64 / 1e6;
        self.sample(name, &[("quantile", "0.5")], seconds(l.p50_us));
        self.sample(name, &[("quantile", "0.99")], seconds(l.p99_us));
        self.sample(name, &[("quantile", "1")], seconds(l.max_us));
        self.sample(&format!("{name}_count"), &[], l.count);
    }
}

impl MetricsSnapshot {
    /// The metrics in the Prometheus text format, labelled `application_id`; `state` adds the
    /// instance's state as `kstreams_state{state="Running"} 1`.
    pub fn to_prometheus(&self, application_id: &str, state: Option<State>) -> String {
        let mut e = Exposition {
            out: String::new(),
            app: escape(application_id),
        };
        if let Some(state) = state {
            e.family(
                "kstreams_state",
                "gauge",
                "The instance's state (1 for the current one).",
            );
            e.sample("kstreams_state", &[("state", &format!("{state:?}"))], 1);
        }
        e.single(
            "kstreams_records_processed_total",
            "counter",
            "Records processed.",
            self.processed,
        );
        e.single(
            "kstreams_commits_total",
            "counter",
            "Commits done.",
            self.commits,
        );
        e.single(
            "kstreams_restored_records_total",
            "counter",
            "Changelog records applied while restoring.",
            self.restored,
        );
        e.single(
            "kstreams_restoring_partitions",
            "gauge",
            "Changelog partitions still restoring.",
            self.restoring_partitions,
        );
        e.single(
            "kstreams_partition_pauses_total",
            "counter",
            "Times a partition's fetching was paused because its buffer was full.",
            self.paused,
        );
        e.single(
            "kstreams_standby_updates_total",
            "counter",
            "Changelog records applied to standby tasks.",
            self.standby_updates,
        );
        e.single(
            "kstreams_assignments_total",
            "counter",
            "Assignments received (one per stream thread and rebalance).",
            self.assignments,
        );
        e.single(
            "kstreams_replaced_threads_total",
            "counter",
            "Stream threads replaced after a failure.",
            self.replaced_threads,
        );
        e.single(
            "kstreams_active_tasks",
            "gauge",
            "Active tasks of the instance.",
            self.active_tasks.len() as u64,
        );
        e.latency(
            "kstreams_process_latency_seconds",
            "Time to process one record through its task (sampled).",
            &self.process_latency,
        );
        e.latency(
            "kstreams_commit_latency_seconds",
            "Time of a commit (flush and offsets, or the transaction).",
            &self.commit_latency,
        );
        e.family(
            "kstreams_consumer_lag",
            "gauge",
            "Records of an input partition not processed yet (at the last commit).",
        );
        for (tp, lag) in &self.lag {
            let (topic, partition) = tp.rsplit_once('-').unwrap_or((tp.as_str(), ""));
            e.sample(
                "kstreams_consumer_lag",
                &[("topic", topic), ("partition", partition)],
                lag,
            );
        }
        e.family(
            "kstreams_node_events_total",
            "counter",
            "Per-node counters: retries scheduled and re-delivered, dead-letter records and production errors by reason, dedup hits.",
        );
        for (k, v) in &self.node_metrics {
            e.sample(
                "kstreams_node_events_total",
                &[
                    ("metric", &k.metric),
                    ("node", &k.node),
                    ("reason", &k.reason),
                ],
                v,
            );
        }
        e.out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kstreams_core::failure::NodeMetricKey;

    use super::*;

    #[test]
    fn every_metric_renders_with_its_labels() {
        let m = MetricsSnapshot {
            processed: 10,
            commits: 2,
            active_tasks: vec!["0_0".into(), "0_1".into()],
            commit_latency: LatencySummary {
                count: 2,
                p50_us: 1_500,
                p99_us: 9_000,
                max_us: 9_000,
            },
            lag: BTreeMap::from([("orders-in-3".to_string(), 7)]),
            node_metrics: BTreeMap::from([(
                NodeMetricKey {
                    metric: "dead-letter-records-total".into(),
                    node: "call\"api".into(),
                    reason: "timeout".into(),
                },
                4,
            )]),
            ..Default::default()
        };
        let text = m.to_prometheus("app-1", Some(State::Running));
        for line in [
            "# TYPE kstreams_records_processed_total counter",
            "kstreams_state{application_id=\"app-1\",state=\"Running\"} 1",
            "kstreams_records_processed_total{application_id=\"app-1\"} 10",
            "kstreams_active_tasks{application_id=\"app-1\"} 2",
            "kstreams_commit_latency_seconds{application_id=\"app-1\",quantile=\"0.5\"} 0.0015",
            "kstreams_commit_latency_seconds_count{application_id=\"app-1\"} 2",
            "kstreams_consumer_lag{application_id=\"app-1\",topic=\"orders-in\",partition=\"3\"} 7",
            "kstreams_node_events_total{application_id=\"app-1\",metric=\"dead-letter-records-total\",node=\"call\\\"api\",reason=\"timeout\"} 4",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        // Every sample line is `name{labels} value` with a number for the value.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
        }
    }
}
