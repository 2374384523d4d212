//! `flat_map_values`: zero or more values per record, same key.

use kstreams_core::Record;

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record by one record per value `mapper` returns.
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .flat_map_values(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// driver
    ///     .input_topic::<String, String>("in")
    ///     .pipe_input_with_timestamp("k".into(), "a,b".into(), 1);
    /// let values = driver.output_topic::<String, String>("out").read_values_to_list();
    /// assert_eq!(values, vec!["a", "b"]);
    /// ```
    pub fn flat_map_values<VO: Data, I>(
        &self,
        mapper: impl Fn(&V) -> I + Send + Sync + 'static,
    ) -> KStream<K, VO>
    where
        I: IntoIterator<Item = VO>,
    {
        self.flat_map_values_named(move |_k, v| mapper(v), Named::generated())
    }

    /// [`flat_map_values`](Self::flat_map_values) with the key and a node name.
    pub fn flat_map_values_named<VO: Data, I>(
        &self,
        mapper: impl Fn(&K, &V) -> I + Send + Sync + 'static,
        named: Named,
    ) -> KStream<K, VO>
    where
        I: IntoIterator<Item = VO>,
    {
        let name = self.name(&named, "KSTREAM-FLATMAPVALUES-");
        self.stateless(
            name,
            self.key_serde.clone(),
            None,
            false,
            move |ctx, r: Record<K, V>| {
                let mut values = mapper(&r.key, &r.value).into_iter().peekable();
                while let Some(v) = values.next() {
                    if values.peek().is_none() {
                        // The last value takes the input's key and headers: no copies.
                        return ctx.forward(r.with_value(v));
                    }
                    ctx.forward(r.with_value_of(v))?;
                }
                Ok(())
            },
        )
    }
}
