//! [`StoreMetrics`]: a snapshot of a metered store's operation counts and latencies.

use hdrhistogram::Histogram;

/// The operations a [`crate::MeteredKeyValueStore`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOperation {
    /// `get`.
    Get,
    /// `put`.
    Put,
    /// `put_if_absent`.
    PutIfAbsent,
    /// `put_all`.
    PutAll,
    /// `delete`.
    Delete,
    /// `range`, `reverse_range`, `prefix_scan` and `all`, from the call until the iterator is dropped.
    Range,
    /// `flush`.
    Flush,
    /// `restore`.
    Restore,
}

impl StoreOperation {
    /// Every operation, in declaration order.
    pub const ALL: [StoreOperation; 8] = [
        StoreOperation::Get,
        StoreOperation::Put,
        StoreOperation::PutIfAbsent,
        StoreOperation::PutAll,
        StoreOperation::Delete,
        StoreOperation::Range,
        StoreOperation::Flush,
        StoreOperation::Restore,
    ];

    /// The Kafka Streams-style metric name stem (`get`, `put-if-absent`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            StoreOperation::Get => "get",
            StoreOperation::Put => "put",
            StoreOperation::PutIfAbsent => "put-if-absent",
            StoreOperation::PutAll => "put-all",
            StoreOperation::Delete => "delete",
            StoreOperation::Range => "range",
            StoreOperation::Flush => "flush",
            StoreOperation::Restore => "restore",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Count and latency summary of one operation, latencies in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OperationMetrics {
    /// Number of calls (including failed ones).
    pub count: u64,
    /// Mean latency.
    pub mean_micros: f64,
    /// Median latency.
    pub p50_micros: u64,
    /// 99th percentile latency.
    pub p99_micros: u64,
    /// Maximum latency.
    pub max_micros: u64,
}

impl OperationMetrics {
    pub(crate) fn from_histogram(count: u64, histogram: Option<&Histogram<u64>>) -> Self {
        match histogram {
            Some(h) if !h.is_empty() => Self {
                count,
                mean_micros: h.mean(),
                p50_micros: h.value_at_quantile(0.5),
                p99_micros: h.value_at_quantile(0.99),
                max_micros: h.max(),
            },
            _ => Self {
                count,
                ..Self::default()
            },
        }
    }
}

/// A snapshot of a metered store's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreMetrics {
    /// The store's name.
    pub store: String,
    /// `get` calls.
    pub get: OperationMetrics,
    /// `put` calls.
    pub put: OperationMetrics,
    /// `put_if_absent` calls.
    pub put_if_absent: OperationMetrics,
    /// `put_all` calls.
    pub put_all: OperationMetrics,
    /// `delete` calls.
    pub delete: OperationMetrics,
    /// Scans: `range`, `reverse_range`, `prefix_scan`, `all`.
    pub range: OperationMetrics,
    /// `flush` calls.
    pub flush: OperationMetrics,
    /// `restore` calls.
    pub restore: OperationMetrics,
}

impl StoreMetrics {
    /// The metrics of one operation.
    pub fn operation(&self, operation: StoreOperation) -> &OperationMetrics {
        match operation {
            StoreOperation::Get => &self.get,
            StoreOperation::Put => &self.put,
            StoreOperation::PutIfAbsent => &self.put_if_absent,
            StoreOperation::PutAll => &self.put_all,
            StoreOperation::Delete => &self.delete,
            StoreOperation::Range => &self.range,
            StoreOperation::Flush => &self.flush,
            StoreOperation::Restore => &self.restore,
        }
    }
}
