//! `map_values`: a new value per record, same key (no repartitioning).

use kstreams_core::Record;

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record's value.
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .map_values(|v| v.len() as i64)
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// driver
    ///     .input_topic::<String, String>("in")
    ///     .pipe_input_with_timestamp("k".into(), "abc".into(), 7);
    /// let r = driver.output_topic::<String, i64>("out").read_record();
    /// assert_eq!((r.key.as_str(), r.value, r.timestamp), ("k", 3, 7));
    /// ```
    pub fn map_values<VO: Data>(
        &self,
        mapper: impl Fn(&V) -> VO + Send + Sync + 'static,
    ) -> KStream<K, VO> {
        self.map_values_with_key(move |_k, v| mapper(v))
    }

    /// Replaces each record's value, computed from key and value.
    pub fn map_values_with_key<VO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> VO + Send + Sync + 'static,
    ) -> KStream<K, VO> {
        self.map_values_named(mapper, Named::generated())
    }

    /// [`map_values_with_key`](Self::map_values_with_key) with a node name.
    pub fn map_values_named<VO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> VO + Send + Sync + 'static,
        named: Named,
    ) -> KStream<K, VO> {
        let name = self.name(&named, "KSTREAM-MAPVALUES-");
        self.stateless(
            name,
            self.key_serde.clone(),
            None,
            false,
            move |ctx, r: Record<K, V>| {
                let v = mapper(&r.key, &r.value);
                ctx.forward(r.with_value(v))
            },
        )
    }
}
