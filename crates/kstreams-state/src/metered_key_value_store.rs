//! [`MeteredKeyValueStore`]: counts and times the operations of the inner store.

use std::any::Any;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::error::Result;
use crate::store::{CacheFlushListener, KeyValue, KeyValueIter, KeyValueStore, StateStore};
use crate::store_metrics::{OperationMetrics, StoreMetrics, StoreOperation};

/// The per-record operations (get, put, put-if-absent, delete, restore) are timed once every
/// this many calls, starting with the first; the others are always timed. Reading the clock
/// twice and locking the histograms on every call cost about a tenth of a counting
/// topology's time, and a sample of one call in sixteen gives the same distribution.
pub const LATENCY_SAMPLE_EVERY: u64 = 16;

#[derive(Debug)]
struct Recorder {
    counts: [AtomicU64; StoreOperation::ALL.len()],
    /// Latency histograms in microseconds; `None` if one could not be created.
    latencies: Mutex<Vec<Option<Histogram<u64>>>>,
}

impl Recorder {
    fn new() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            latencies: Mutex::new(
                StoreOperation::ALL
                    .iter()
                    .map(|_| Histogram::new(3).ok())
                    .collect(),
            ),
        }
    }

    /// Counts a call; returns whether to time it.
    fn count(&self, operation: StoreOperation) -> bool {
        let Some(count) = self.counts.get(operation.index()) else {
            return false;
        };
        let before = count.fetch_add(1, Ordering::Relaxed);
        !sampled(operation) || before % LATENCY_SAMPLE_EVERY == 0
    }

    fn count_of(&self, operation: StoreOperation) -> u64 {
        self.counts
            .get(operation.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn record(&self, store: &str, operation: StoreOperation, started: Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::trace!(store = %store, operation = operation.as_str(), micros, "store operation");
        let mut latencies = self
            .latencies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(Some(histogram)) = latencies.get_mut(operation.index()) {
            histogram.saturating_record(micros);
        }
    }
}

/// Whether an operation's latency is sampled (see [`LATENCY_SAMPLE_EVERY`]).
fn sampled(operation: StoreOperation) -> bool {
    matches!(
        operation,
        StoreOperation::Get
            | StoreOperation::Put
            | StoreOperation::PutIfAbsent
            | StoreOperation::Delete
            | StoreOperation::Restore
    )
}

/// The outermost store wrapper: counts every operation and records a latency histogram
/// (microseconds) per operation, readable as a [`StoreMetrics`] snapshot. Per-record
/// operations are timed on a sample of calls ([`LATENCY_SAMPLE_EVERY`]); each timed call
/// emits a `trace` event.
pub struct MeteredKeyValueStore<S> {
    inner: S,
    recorder: Recorder,
}

impl<S: KeyValueStore> MeteredKeyValueStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            recorder: Recorder::new(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// A snapshot of the metrics recorded so far.
    pub fn metrics(&self) -> StoreMetrics {
        let latencies = self
            .recorder
            .latencies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let op = |operation: StoreOperation| {
            OperationMetrics::from_histogram(
                self.recorder.count_of(operation),
                latencies.get(operation.index()).and_then(Option::as_ref),
            )
        };
        StoreMetrics {
            store: self.inner.name().to_string(),
            get: op(StoreOperation::Get),
            put: op(StoreOperation::Put),
            put_if_absent: op(StoreOperation::PutIfAbsent),
            put_all: op(StoreOperation::PutAll),
            delete: op(StoreOperation::Delete),
            range: op(StoreOperation::Range),
            flush: op(StoreOperation::Flush),
            restore: op(StoreOperation::Restore),
        }
    }

    fn timed<T>(&self, operation: StoreOperation, call: impl FnOnce(&S) -> T) -> T {
        if !self.recorder.count(operation) {
            return call(&self.inner);
        }
        let started = Instant::now();
        let result = call(&self.inner);
        self.recorder.record(self.inner.name(), operation, started);
        result
    }

    fn timed_mut<T>(&mut self, operation: StoreOperation, call: impl FnOnce(&mut S) -> T) -> T {
        if !self.recorder.count(operation) {
            return call(&mut self.inner);
        }
        let started = Instant::now();
        let result = call(&mut self.inner);
        self.recorder.record(self.inner.name(), operation, started);
        result
    }

    fn timed_scan<'a>(
        &'a self,
        call: impl FnOnce(&'a S) -> Result<KeyValueIter<'a>>,
    ) -> Result<KeyValueIter<'a>> {
        self.recorder.count(StoreOperation::Range);
        let started = Instant::now();
        match call(&self.inner) {
            Ok(iter) => Ok(Box::new(MeteredIter {
                iter,
                recorder: &self.recorder,
                store: self.inner.name(),
                started,
            })),
            Err(error) => {
                self.recorder
                    .record(self.inner.name(), StoreOperation::Range, started);
                Err(error)
            }
        }
    }
}

/// A scan iterator that records the scan's latency when dropped.
struct MeteredIter<'a> {
    iter: KeyValueIter<'a>,
    recorder: &'a Recorder,
    store: &'a str,
    started: Instant,
}

impl Iterator for MeteredIter<'_> {
    type Item = Result<KeyValue>;

    fn next(&mut self) -> Option<Self::Item> {
        self.iter.next()
    }
}

impl Drop for MeteredIter<'_> {
    fn drop(&mut self) {
        self.recorder
            .record(self.store, StoreOperation::Range, self.started);
    }
}

impl<S: KeyValueStore> StateStore for MeteredKeyValueStore<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn is_open(&self) -> bool {
        self.inner.is_open()
    }

    fn flush(&mut self) -> Result<()> {
        self.timed_mut(StoreOperation::Flush, |s| s.flush())
    }

    fn flush_cache(&mut self) -> Result<()> {
        self.inner.flush_cache()
    }

    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.timed_mut(StoreOperation::Restore, |s| s.restore(key, value))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<S: KeyValueStore> KeyValueStore for MeteredKeyValueStore<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.timed(StoreOperation::Get, |s| s.get(key))
    }

    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<()> {
        self.timed(StoreOperation::Get, |s| s.get_with(key, read))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.timed_mut(StoreOperation::Put, |s| s.put(key, value))
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        self.timed_mut(StoreOperation::PutIfAbsent, |s| s.put_if_absent(key, value))
    }

    fn put_all(&mut self, entries: &[KeyValue]) -> Result<()> {
        self.timed_mut(StoreOperation::PutAll, |s| s.put_all(entries))
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.timed_mut(StoreOperation::Delete, |s| s.delete(key))
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.timed_scan(|s| s.range(from, to))
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.timed_scan(|s| s.reverse_range(from, to))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        self.timed_scan(|s| s.prefix_scan(prefix))
    }

    fn all(&self) -> Result<KeyValueIter<'_>> {
        self.timed_scan(|s| s.all())
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.inner.approximate_num_entries()
    }

    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        self.inner.set_flush_listener(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::in_memory_key_value_store::InMemoryKeyValueStore;
    use crate::test_support::{SuiteOptions, key_value_store_suite};

    #[test]
    fn key_value_semantics() {
        key_value_store_suite(
            || MeteredKeyValueStore::new(InMemoryKeyValueStore::new("kv")),
            SuiteOptions::exact(),
        );
    }

    #[test]
    fn counts_every_operation() {
        let mut store = MeteredKeyValueStore::new(InMemoryKeyValueStore::new("kv"));
        store.put(b"a", b"1").unwrap();
        store.put(b"b", b"2").unwrap();
        store.get(b"a").unwrap();
        store.get(b"zz").unwrap();
        store.get(b"b").unwrap();
        store.put_if_absent(b"a", b"3").unwrap();
        store.put_all(&[(b"c".to_vec(), b"3".to_vec())]).unwrap();
        store.delete(b"c").unwrap();
        assert_eq!(store.range(None, None).unwrap().count(), 2);
        drop(store.prefix_scan(b"a").unwrap());
        store.flush().unwrap();
        store.restore(b"d", Some(b"4")).unwrap();
        let metrics = store.metrics();
        assert_eq!(metrics.store, "kv");
        assert_eq!(metrics.put.count, 2);
        assert_eq!(metrics.get.count, 3);
        assert_eq!(metrics.put_if_absent.count, 1);
        assert_eq!(metrics.put_all.count, 1);
        assert_eq!(metrics.delete.count, 1);
        assert_eq!(metrics.range.count, 2);
        assert_eq!(metrics.flush.count, 1);
        assert_eq!(metrics.restore.count, 1);
        assert_eq!(metrics.operation(StoreOperation::Get).count, 3);
        assert!(metrics.get.max_micros >= metrics.get.p50_micros);
    }

    #[test]
    fn per_record_operations_are_timed_on_a_sample() {
        let mut store = MeteredKeyValueStore::new(InMemoryKeyValueStore::new("kv"));
        for _ in 0..(2 * LATENCY_SAMPLE_EVERY + 1) {
            store.get(b"a").unwrap();
        }
        store.flush().unwrap();
        store.flush().unwrap();
        let timed = |op: StoreOperation| {
            store.recorder.latencies.lock().unwrap()[op.index()]
                .as_ref()
                .unwrap()
                .len()
        };
        assert_eq!(timed(StoreOperation::Get), 3, "calls 1, 17 and 33");
        assert_eq!(timed(StoreOperation::Flush), 2, "flushes are always timed");
        assert_eq!(store.metrics().get.count, 2 * LATENCY_SAMPLE_EVERY + 1);
    }

    #[test]
    fn failed_calls_are_counted() {
        let mut store = MeteredKeyValueStore::new(InMemoryKeyValueStore::new("kv"));
        store.close().unwrap();
        assert!(store.get(b"a").is_err());
        assert!(store.all().is_err());
        assert_eq!(store.metrics().get.count, 1);
        assert_eq!(store.metrics().range.count, 1);
    }
}
