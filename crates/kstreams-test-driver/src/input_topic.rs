//! `TestInputTopic`: pipes typed records into a driver's topic.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use kstreams_core::{ConsumedRecord, Headers, Record, Result, SharedSerde};

use crate::driver::Inner;

/// Pipes records into one topic of a [`TopologyTestDriver`](crate::TopologyTestDriver).
///
/// Records piped without a timestamp get the topic's current time, which then advances by the
/// topic's auto-advance step. The `pipe_*` methods panic if processing fails (this is test
/// tooling); the `try_pipe_*` forms return the error.
pub struct TestInputTopic<K, V> {
    inner: Rc<RefCell<Inner>>,
    topic: std::sync::Arc<str>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    current_time: Cell<i64>,
    advance_ms: i64,
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    pub(crate) fn new(
        inner: Rc<RefCell<Inner>>,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        start_ms: i64,
        advance: Duration,
    ) -> Self {
        TestInputTopic {
            inner,
            topic: topic.into(),
            key_serde,
            value_serde,
            current_time: Cell::new(start_ms),
            advance_ms: i64::try_from(advance.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn next_time(&self) -> i64 {
        let t = self.current_time.get();
        self.current_time.set(t.saturating_add(self.advance_ms));
        t
    }

    /// Moves the topic's current time forward.
    pub fn advance_time(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.current_time
            .set(self.current_time.get().saturating_add(ms));
    }

    /// Pipes a full record (its timestamp and headers are kept).
    pub fn try_pipe_record(&self, record: Record<K, V>) -> Result<()> {
        let key = self.key_serde.serialize(&self.topic, &record.key)?;
        let value = self.value_serde.serialize(&self.topic, &record.value)?;
        self.try_pipe_raw(key, value, record.timestamp, record.headers)
    }

    /// Pipes already serialized bytes (e.g. to test malformed input).
    pub fn try_pipe_raw(
        &self,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()> {
        let raw = ConsumedRecord {
            topic: self.topic.clone(),
            partition: 0,
            offset: 0,
            timestamp,
            key: key.map(Into::into),
            value: value.map(Into::into),
            headers,
        };
        self.inner.borrow_mut().pipe(raw)
    }

    /// Pipes a full record; panics if processing fails.
    pub fn pipe_record(&self, record: Record<K, V>) {
        if let Err(e) = self.try_pipe_record(record) {
            panic!("piping into '{}' failed: {e}", self.topic);
        }
    }

    /// Pipes a key and value at the topic's current time.
    pub fn pipe_input(&self, key: K, value: V) {
        let ts = self.next_time();
        self.pipe_record(Record::new(key, value, ts));
    }

    /// Pipes a key and value at the current time, returning any processing error.
    pub fn try_pipe_input(&self, key: K, value: V) -> Result<()> {
        let ts = self.next_time();
        self.try_pipe_record(Record::new(key, value, ts))
    }

    /// Pipes a key and value with an explicit timestamp.
    pub fn pipe_input_with_timestamp(&self, key: K, value: V, timestamp: i64) {
        self.pipe_record(Record::new(key, value, timestamp));
    }

    /// Pipes key-value pairs in order at the topic's (advancing) time.
    pub fn pipe_key_value_list(&self, entries: impl IntoIterator<Item = (K, V)>) {
        for (k, v) in entries {
            self.pipe_input(k, v);
        }
    }

    /// Pipes key-value pairs, the first at `start_ms` and each next one `step` later.
    pub fn pipe_key_value_list_with_time(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
        start_ms: i64,
        step: Duration,
    ) {
        let step = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
        let mut ts = start_ms;
        for (k, v) in entries {
            self.pipe_input_with_timestamp(k, v, ts);
            ts = ts.saturating_add(step);
        }
    }

    /// Pipes records in order.
    pub fn pipe_record_list(&self, records: impl IntoIterator<Item = Record<K, V>>) {
        for r in records {
            self.pipe_record(r);
        }
    }
}

impl<K: Default + 'static, V: 'static> TestInputTopic<K, V> {
    /// Pipes a value with the key type's default key (`None` for an `Option` key: a null key).
    pub fn pipe_value(&self, value: V) {
        self.pipe_input(K::default(), value);
    }

    /// Pipes values in order with default keys.
    pub fn pipe_value_list(&self, values: impl IntoIterator<Item = V>) {
        for v in values {
            self.pipe_value(v);
        }
    }
}
