//! `group_by_key` and `group_by`: group a stream for aggregation.

use crate::kgrouped_stream::KGroupedStream;
use crate::{Data, Grouped, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Groups by the current key. If a key-changing operator ran before, the aggregation
    /// reads through a repartition topic.
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), grouped)
    }

    /// Groups by a new key from `selector` (a `KSTREAM-KEY-SELECT` node); the aggregation
    /// always reads through a repartition topic.
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by(|_k, v| v.clone(), Grouped::as_("by-value"))
    ///     .count(Materialized::as_("counts"))
    ///     .to_stream()
    ///     .to("out", Produced::default());
    /// let topology = builder.build().unwrap();
    /// assert!(format!("{}", topology.describe().unwrap()).contains("by-value-repartition"));
    /// let driver = TopologyTestDriver::new(topology).unwrap();
    /// let input = driver.input_topic::<String, String>("in");
    /// input.pipe_input_with_timestamp("1".into(), "x".into(), 1);
    /// input.pipe_input_with_timestamp("2".into(), "x".into(), 2);
    /// let out = driver.output_topic::<String, Option<i64>>("out").read_values_to_list();
    /// assert_eq!(out, vec![Some(1), Some(2)]);
    /// ```
    pub fn group_by<KR: Data>(
        &self,
        selector: impl Fn(&K, &V) -> KR + Send + Sync + 'static,
        grouped: Grouped<KR, V>,
    ) -> KGroupedStream<KR, V> {
        let rekeyed = self.select_key_named(selector, Named::generated());
        KGroupedStream::new(rekeyed, grouped)
    }
}
