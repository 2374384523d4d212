//! Instance-wide metrics, shared by the stream threads: counters, process and commit latency
//! histograms (hdrhistogram), consumer lag per partition and restoration progress.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kstreams_core::failure::{FailureMetric, NodeMetricKey, NodeMetrics, sum_node_metrics};

/// Metrics of one [`crate::KafkaStreams`] instance.
#[derive(Debug)]
pub struct Metrics {
    /// Records processed.
    pub processed: AtomicU64,
    /// Commits done.
    pub commits: AtomicU64,
    /// Changelog records applied during restoration.
    pub restored: AtomicU64,
    /// Changelog partitions still restoring.
    pub restoring_partitions: AtomicU64,
    /// Times a partition was paused because its task's buffer was full.
    pub paused: AtomicU64,
    /// Changelog records applied to standby tasks.
    pub standby_updates: AtomicU64,
    /// Assignments received (one per stream thread and rebalance).
    pub assignments: AtomicU64,
    /// Stream threads replaced after they failed (`StreamThreadExceptionResponse::ReplaceThread`).
    pub replaced_threads: AtomicU64,
    /// Per-node counters shared with every task, per metric, node and reason: retries
    /// scheduled and re-delivered, dead-letter records, production errors, and processor
    /// counters such as `dedup-hits`.
    pub node_metrics: Arc<NodeMetrics>,
    process_latency_us: Mutex<Option<Histogram<u64>>>,
    commit_latency_us: Mutex<Option<Histogram<u64>>>,
    lag: Mutex<BTreeMap<String, i64>>,
    active_tasks: Mutex<BTreeMap<usize, Vec<String>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            processed: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            restored: AtomicU64::new(0),
            restoring_partitions: AtomicU64::new(0),
            paused: AtomicU64::new(0),
            standby_updates: AtomicU64::new(0),
            assignments: AtomicU64::new(0),
            replaced_threads: AtomicU64::new(0),
            node_metrics: Arc::default(),
            process_latency_us: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).ok()),
            commit_latency_us: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).ok()),
            lag: Mutex::new(BTreeMap::new()),
            active_tasks: Mutex::new(BTreeMap::new()),
        }
    }
}

fn record(h: &Mutex<Option<Histogram<u64>>>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    if let Ok(mut h) = h.lock()
        && let Some(h) = h.as_mut()
    {
        h.saturating_record(us);
    }
}

fn quantiles(h: &Mutex<Option<Histogram<u64>>>) -> LatencySummary {
    match h.lock() {
        Ok(h) => match h.as_ref() {
            Some(h) if !h.is_empty() => LatencySummary {
                count: h.len(),
                p50_us: h.value_at_quantile(0.5),
                p99_us: h.value_at_quantile(0.99),
                max_us: h.max(),
            },
            _ => LatencySummary::default(),
        },
        Err(_) => LatencySummary::default(),
    }
}

/// Records are timed once every this many, starting with the first: two clock reads per
/// record were a few percent of a counting topology's time, and a sample of one in sixteen
/// gives the same distribution.
pub const PROCESS_LATENCY_SAMPLE_EVERY: u64 = 16;

/// How often at most a thread's latencies are merged into the shared histogram: the merge
/// walks and then clears every bucket of the thread's histogram.
pub(crate) const PROCESS_LATENCY_MERGE_EVERY: Duration = Duration::from_secs(1);

/// A stream thread's own latency histogram, merged into the shared one in batches so the
/// per-record path takes no lock.
#[derive(Debug)]
pub(crate) struct LocalLatency {
    histogram: Option<Histogram<u64>>,
    /// Records processed, timed or not (picks the sample).
    records: u64,
    /// When this thread last merged; `None` before its first merge.
    merged_at: Option<Instant>,
}

impl LocalLatency {
    pub(crate) fn new() -> Self {
        LocalLatency {
            histogram: Histogram::new_with_bounds(1, 600_000_000, 3).ok(),
            records: 0,
            merged_at: None,
        }
    }

    /// When to start the clock for the next record: now if it is one of the sample, else
    /// `None`. Pass the result to [`LocalLatency::processed`] once the record is processed.
    pub(crate) fn start(&self) -> Option<Instant> {
        self.records
            .is_multiple_of(PROCESS_LATENCY_SAMPLE_EVERY)
            .then(Instant::now)
    }

    /// A record was processed; `started` is what [`LocalLatency::start`] returned for it.
    pub(crate) fn processed(&mut self, started: Option<Instant>) {
        self.records += 1;
        if let Some(started) = started {
            self.record(started.elapsed());
        }
    }

    pub(crate) fn record(&mut self, d: Duration) {
        if let Some(h) = self.histogram.as_mut() {
            h.saturating_record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1));
        }
    }

    /// Whether a merge is due at `now`: the first one, then once per
    /// [`PROCESS_LATENCY_MERGE_EVERY`].
    pub(crate) fn merge_due(&self, now: Instant) -> bool {
        self.merged_at
            .is_none_or(|at| now.duration_since(at) >= PROCESS_LATENCY_MERGE_EVERY)
    }
}

impl Metrics {
    #[cfg(test)]
    pub(crate) fn record_process_latency(&self, d: Duration) {
        record(&self.process_latency_us, d);
    }

    /// Adds a thread's latencies to the shared histogram and empties them.
    pub(crate) fn merge_process_latency(&self, local: &mut LocalLatency, now: Instant) {
        local.merged_at = Some(now);
        let Some(l) = local.histogram.as_mut() else {
            return;
        };
        if l.is_empty() {
            return;
        }
        if let Ok(mut h) = self.process_latency_us.lock()
            && let Some(h) = h.as_mut()
        {
            // Same bounds on both sides: adding cannot fail.
            let _ = h.add(&*l);
        }
        l.reset();
    }

    pub(crate) fn record_commit_latency(&self, d: Duration) {
        record(&self.commit_latency_us, d);
    }

    /// Sets the lag (high watermark minus the next offset to process) of `topic-partition`.
    pub(crate) fn set_lag(&self, tp: String, lag: i64) {
        if let Ok(mut m) = self.lag.lock() {
            m.insert(tp, lag);
        }
    }

    pub(crate) fn remove_lag(&self, tp: &str) {
        if let Ok(mut m) = self.lag.lock() {
            m.remove(tp);
        }
    }

    /// Sets the active tasks of stream thread `thread` (empty when it has none).
    pub(crate) fn set_active_tasks(&self, thread: usize, tasks: Vec<String>) {
        if let Ok(mut m) = self.active_tasks.lock() {
            m.insert(thread, tasks);
        }
    }

    /// A copy of the metrics.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            processed: self.processed.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            restored: self.restored.load(Ordering::Relaxed),
            restoring_partitions: self.restoring_partitions.load(Ordering::Relaxed),
            paused: self.paused.load(Ordering::Relaxed),
            standby_updates: self.standby_updates.load(Ordering::Relaxed),
            assignments: self.assignments.load(Ordering::Relaxed),
            replaced_threads: self.replaced_threads.load(Ordering::Relaxed),
            active_tasks: self
                .active_tasks
                .lock()
                .map(|m| {
                    let mut v: Vec<String> = m.values().flatten().cloned().collect();
                    v.sort();
                    v
                })
                .unwrap_or_default(),
            process_latency: quantiles(&self.process_latency_us),
            commit_latency: quantiles(&self.commit_latency_us),
            lag: self.lag.lock().map(|m| m.clone()).unwrap_or_default(),
            node_metrics: self.node_metrics.snapshot(),
        }
    }
}

/// Quantiles of a latency histogram (microseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Maximum.
    pub max_us: u64,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Records processed.
    pub processed: u64,
    /// Commits done.
    pub commits: u64,
    /// Changelog records applied during restoration.
    pub restored: u64,
    /// Changelog partitions still restoring.
    pub restoring_partitions: u64,
    /// Times a partition was paused (backpressure).
    pub paused: u64,
    /// Changelog records applied to standby tasks.
    pub standby_updates: u64,
    /// Assignments received (one per stream thread and rebalance).
    pub assignments: u64,
    /// Stream threads replaced after they failed.
    pub replaced_threads: u64,
    /// Active tasks of the instance (`<subtopology>_<partition>`), sorted.
    pub active_tasks: Vec<String>,
    /// Latency of processing one record (through the task's processors), timed on one record
    /// in [`PROCESS_LATENCY_SAMPLE_EVERY`] (so its count is about `processed` / 16) and merged
    /// from each stream thread at most once a second.
    pub process_latency: LatencySummary,
    /// Latency of a commit (flush + offsets, or the transaction commit).
    pub commit_latency: LatencySummary,
    /// Lag per input partition (`topic-partition`), updated at each commit.
    pub lag: BTreeMap<String, i64>,
    /// Per-node counters over every task of the instance, (metric, node, reason) → total:
    /// the failure-handling metrics ([`FailureMetric`]) and processor counters such as
    /// `dedup-hits` of a `deduplicate` node (reason `""`).
    pub node_metrics: BTreeMap<NodeMetricKey, u64>,
}

impl MetricsSnapshot {
    /// The total of processor `node`'s counter `metric` over reasons (0 when never
    /// incremented).
    pub fn node_counter(&self, node: &str, metric: &str) -> u64 {
        sum_node_metrics(&self.node_metrics, |k| k.node == node && k.metric == metric)
    }

    /// A failure counter of `node` for `reason` (0 when never incremented).
    pub fn failure(&self, metric: FailureMetric, node: &str, reason: &str) -> u64 {
        sum_node_metrics(&self.node_metrics, |k| {
            k.metric == metric.as_str() && k.node == node && k.reason == reason
        })
    }

    /// A failure metric summed over nodes and reasons.
    pub fn failure_total(&self, metric: FailureMetric) -> u64 {
        sum_node_metrics(&self.node_metrics, |k| k.metric == metric.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_latencies_merge_in_batches() {
        let m = Metrics::default();
        let mut local = LocalLatency::new();
        local.record(Duration::from_micros(5));
        local.record(Duration::from_micros(7));
        assert_eq!(m.snapshot().process_latency.count, 0, "not merged yet");
        let t0 = Instant::now();
        assert!(local.merge_due(t0), "the first merge is due at once");
        m.merge_process_latency(&mut local, t0);
        let s = m.snapshot().process_latency;
        assert_eq!((s.count, s.max_us), (2, 7));
        assert!(!local.merge_due(t0 + PROCESS_LATENCY_MERGE_EVERY / 2));
        assert!(local.merge_due(t0 + PROCESS_LATENCY_MERGE_EVERY));
        m.merge_process_latency(&mut local, t0 + PROCESS_LATENCY_MERGE_EVERY);
        assert_eq!(m.snapshot().process_latency.count, 2, "merged once");
    }

    #[test]
    fn one_record_in_a_sample_is_timed_starting_with_the_first() {
        let mut local = LocalLatency::new();
        let mut timed = Vec::new();
        for i in 0..(2 * PROCESS_LATENCY_SAMPLE_EVERY + 1) {
            let started = local.start();
            if started.is_some() {
                timed.push(i);
            }
            local.processed(started);
        }
        assert_eq!(
            timed,
            vec![
                0,
                PROCESS_LATENCY_SAMPLE_EVERY,
                2 * PROCESS_LATENCY_SAMPLE_EVERY
            ]
        );
        let m = Metrics::default();
        m.merge_process_latency(&mut local, Instant::now());
        assert_eq!(m.snapshot().process_latency.count, 3);
    }

    #[test]
    fn latencies_and_lag_show_in_snapshots() {
        let m = Metrics::default();
        m.record_process_latency(Duration::from_micros(10));
        m.record_process_latency(Duration::from_micros(30));
        m.record_commit_latency(Duration::from_micros(1));
        m.record_commit_latency(Duration::from_millis(2));
        m.set_lag("t-0".into(), 5);
        let s = m.snapshot();
        assert_eq!(s.process_latency.count, 2);
        assert!(s.process_latency.max_us >= 30);
        assert_eq!(s.commit_latency.count, 2);
        assert!(s.commit_latency.max_us >= 1990, "{s:?}");
        assert_eq!(s.lag["t-0"], 5);
        m.node_metrics.add("dedup-hits", "dedup", "", 2);
        m.node_metrics.add("dedup-hits", "dedup", "", 3);
        m.node_metrics
            .record(FailureMetric::DeadLetter, "to-out", "production");
        m.node_metrics
            .record(FailureMetric::DeadLetter, "try", "max-attempts");
        m.node_metrics.record(
            FailureMetric::ProductionError,
            "to-out",
            "MESSAGE_TOO_LARGE",
        );
        let s = m.snapshot();
        assert_eq!(s.node_counter("dedup", "dedup-hits"), 5);
        assert_eq!(s.node_counter("other", "dedup-hits"), 0);
        assert_eq!(
            s.failure(FailureMetric::DeadLetter, "to-out", "production"),
            1
        );
        assert_eq!(
            s.failure(FailureMetric::DeadLetter, "to-out", "max-attempts"),
            0
        );
        assert_eq!(s.failure_total(FailureMetric::DeadLetter), 2);
        assert_eq!(s.node_counter("to-out", "dead-letter-records-total"), 1);
        assert_eq!(
            s.node_counter("to-out", "production-errors-total"),
            1,
            "dedup hits and failure counters in one snapshot"
        );
        assert_eq!(s.node_metrics.len(), 4);
        m.remove_lag("t-0");
        assert!(m.snapshot().lag.is_empty());
        m.set_active_tasks(1, vec!["1_0".into()]);
        m.set_active_tasks(0, vec!["0_1".into(), "0_0".into()]);
        assert_eq!(m.snapshot().active_tasks, ["0_0", "0_1", "1_0"]);
        m.set_active_tasks(0, Vec::new());
        assert_eq!(m.snapshot().active_tasks, ["1_0"]);
    }
}
