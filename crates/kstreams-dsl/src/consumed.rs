//! `Consumed`: how a source topic is read.

use std::sync::Arc;

use kstreams_core::processor::{FailOnInvalidTimestamp, TimestampExtractor};
use kstreams_core::{DefaultSerde, Record, SharedSerde};

use crate::Data;
use crate::streams_builder::Shared;

/// Serdes, timestamp extractor and processor name of a source.
pub struct Consumed<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) extractor: Arc<dyn TimestampExtractor<K, V>>,
    pub(crate) name: Option<String>,
}

struct SharedExtractor<K, V>(Arc<dyn TimestampExtractor<K, V>>);

impl<K: 'static, V: 'static> TimestampExtractor<K, V> for SharedExtractor<K, V> {
    fn extract(&self, record: &Record<K, V>, partition_time: i64) -> kstreams_core::Result<i64> {
        self.0.extract(record, partition_time)
    }
}

impl<K: Data, V: Data> Consumed<K, V> {
    /// Reads with these serdes.
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Consumed {
            key_serde,
            value_serde,
            extractor: Arc::new(FailOnInvalidTimestamp),
            name: None,
        }
    }

    /// Uses this timestamp extractor instead of the record timestamps.
    pub fn with_timestamp_extractor(mut self, e: impl TimestampExtractor<K, V>) -> Self {
        self.extractor = Arc::new(e);
        self
    }

    /// Names the source node.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn add_source(&self, b: &Shared, name: &str, topics: &[&str]) {
        let mut s = b.borrow_mut();
        let r = s
            .topology
            .add_source_with_extractor(
                name,
                topics,
                self.key_serde.clone(),
                self.value_serde.clone(),
                SharedExtractor(self.extractor.clone()),
            )
            .map(|_| ());
        s.check(r);
    }

    /// The extractor of a table's topic: it sees non-null values, tombstones keep their
    /// record timestamp.
    pub(crate) fn table_extractor(&self) -> impl TimestampExtractor<K, Option<V>> + use<K, V> {
        let inner = self.extractor.clone();
        move |r: &Record<K, Option<V>>, pt: i64| match &r.value {
            Some(v) => inner.extract(&Record::new(r.key.clone(), v.clone(), r.timestamp), pt),
            None => Ok(r.timestamp),
        }
    }

    /// Adds a source of nullable values (a table's topic) with the table extractor.
    pub(crate) fn add_table_source(&self, b: &Shared, name: &str, topic: &str) {
        let extractor = self.table_extractor();
        let mut s = b.borrow_mut();
        let r = s
            .topology
            .add_source_with_extractor(
                name,
                &[topic],
                self.key_serde.clone(),
                kstreams_core::Serdes::option(self.value_serde.clone()),
                extractor,
            )
            .map(|_| ());
        s.check(r);
    }
}

impl<K: Data + DefaultSerde, V: Data + DefaultSerde> Default for Consumed<K, V> {
    fn default() -> Self {
        Consumed::with(K::default_serde(), V::default_serde())
    }
}
