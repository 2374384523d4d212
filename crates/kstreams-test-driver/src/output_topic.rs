//! `TestOutputTopic`: reads typed records a driver's topology wrote to a topic.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

use kstreams_core::{ProducedRecord, Record, Result, SharedSerde};

use crate::driver::Inner;

/// Reads one topic written by a [`TopologyTestDriver`](crate::TopologyTestDriver)'s topology,
/// in the order written. Reading consumes. The non-`try_` read methods panic when the topic is
/// empty or a record does not deserialize (this is test tooling).
pub struct TestOutputTopic<K, V> {
    inner: Rc<RefCell<Inner>>,
    topic: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    pub(crate) fn new(
        inner: Rc<RefCell<Inner>>,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        TestOutputTopic {
            inner,
            topic: topic.to_string(),
            key_serde,
            value_serde,
        }
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn pop(&self) -> Option<ProducedRecord> {
        self.inner
            .borrow_mut()
            .outputs
            .get_mut(&self.topic)
            .and_then(|q| q.pop_front())
    }

    fn decode(&self, r: ProducedRecord) -> Result<Record<K, V>> {
        let key = self.key_serde.deserialize(&self.topic, r.key.as_deref())?;
        let value = self
            .value_serde
            .deserialize(&self.topic, r.value.as_deref())?;
        Ok(Record {
            key,
            value,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }

    /// Reads the next record; `Ok(None)` when the topic is empty.
    pub fn try_read_record(&self) -> Result<Option<Record<K, V>>> {
        self.pop().map(|r| self.decode(r)).transpose()
    }

    /// Reads the next record.
    pub fn read_record(&self) -> Record<K, V> {
        match self.try_read_record() {
            Ok(Some(r)) => r,
            Ok(None) => panic!("output topic '{}' is empty", self.topic),
            Err(e) => panic!("reading '{}' failed: {e}", self.topic),
        }
    }

    /// Reads the next record's value.
    pub fn read_value(&self) -> V {
        self.read_record().value
    }

    /// Reads the next record's key and value.
    pub fn read_key_value(&self) -> (K, V) {
        let r = self.read_record();
        (r.key, r.value)
    }

    /// Reads every remaining record.
    pub fn read_records_to_list(&self) -> Vec<Record<K, V>> {
        std::iter::from_fn(|| (!self.is_empty()).then(|| self.read_record())).collect()
    }

    /// Reads every remaining value.
    pub fn read_values_to_list(&self) -> Vec<V> {
        self.read_records_to_list()
            .into_iter()
            .map(|r| r.value)
            .collect()
    }

    /// Reads every remaining key and value.
    pub fn read_key_values_to_list(&self) -> Vec<(K, V)> {
        self.read_records_to_list()
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect()
    }

    /// Reads every remaining record into a map of the latest value per key.
    pub fn read_key_values_to_map(&self) -> HashMap<K, V>
    where
        K: Hash + Eq,
    {
        self.read_records_to_list()
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect()
    }

    /// Whether no record is left to read.
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }

    /// How many records are left to read.
    pub fn queue_size(&self) -> usize {
        self.inner
            .borrow()
            .outputs
            .get(&self.topic)
            .map_or(0, |q| q.len())
    }
}
