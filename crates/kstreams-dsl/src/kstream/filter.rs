//! `filter` and `filter_not`: keep the records a predicate accepts (or rejects).

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Keeps the records for which `predicate` is true.
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, i64>("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .filter(|_k, v| *v > 0)
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.input_topic::<String, i64>("in");
    /// input.pipe_input_with_timestamp("a".into(), -1, 1);
    /// input.pipe_input_with_timestamp("b".into(), 2, 2);
    /// let out = driver.output_topic::<String, i64>("out").read_records_to_list();
    /// assert_eq!((out[0].key.as_str(), out[0].value, out[0].timestamp), ("b", 2, 2));
    /// assert_eq!(out.len(), 1);
    /// ```
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter_named(predicate, Named::generated())
    }

    /// [`filter`](Self::filter) with a node name.
    pub fn filter_named(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        named: Named,
    ) -> Self {
        let name = self.name(&named, "KSTREAM-FILTER-");
        self.stateless(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
            move |ctx, r| {
                if predicate(&r.key, &r.value) {
                    ctx.forward(r)?;
                }
                Ok(())
            },
        )
    }

    /// Drops the records for which `predicate` is true.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter_not_named(predicate, Named::generated())
    }

    /// [`filter_not`](Self::filter_not) with a node name.
    pub fn filter_not_named(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        named: Named,
    ) -> Self {
        self.filter_named(move |k, v| !predicate(k, v), named)
    }
}
