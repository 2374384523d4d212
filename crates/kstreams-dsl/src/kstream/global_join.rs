//! `join_global` and `left_join_global`: each stream record looks up a [`GlobalKTable`] on a
//! key it selects from itself.

use std::sync::Arc;

use kstreams_core::{ProcessorContext, Record};

use crate::global_ktable::GlobalStore;
use crate::{Data, GlobalKTable, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Inner join with a global table: `key_selector` picks the table key of each record; a
    /// record whose table key has a value is joined with it (keeping the record's key and
    /// timestamp), others are dropped. Table updates do not emit. The global table holds
    /// every partition, so neither co-partitioning nor repartitioning applies.
    ///
    /// ```
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// let regions = builder.global_table::<String, String>(
    ///     "regions",
    ///     Consumed::with(Serdes::string(), Serdes::string()),
    ///     Materialized::as_("regions"),
    /// );
    /// builder
    ///     .stream::<String, String>("orders", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .join_global(
    ///         &regions,
    ///         |_order_id, customer| customer.clone(),
    ///         |customer, region| format!("{customer}@{region}"),
    ///         Named::generated(),
    ///     )
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// driver
    ///     .create_input_topic("regions", Serdes::string(), Serdes::option(Serdes::string()))
    ///     .pipe_input_with_timestamp("alice".to_string(), Some("eu".to_string()), 1);
    /// driver
    ///     .input_topic::<String, String>("orders")
    ///     .pipe_input_with_timestamp("o-1".into(), "alice".into(), 5);
    /// let r = driver.output_topic::<String, String>("out").read_record();
    /// assert_eq!((r.key.as_str(), r.value.as_str(), r.timestamp), ("o-1", "alice@eu", 5));
    /// ```
    pub fn join_global<KG: Data, VG: Data, VR: Data>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_selector: impl Fn(&K, &V) -> KG + Send + Sync + 'static,
        joiner: impl Fn(&V, &VG) -> VR + Send + Sync + 'static,
        named: Named,
    ) -> KStream<K, VR> {
        self.global_join(table, named, "KSTREAM-JOIN-", key_selector, move |v, t| {
            t.map(|t| joiner(v, t))
        })
    }

    /// Left join with a global table: every record is joined, with `None` when its table
    /// key has no value.
    pub fn left_join_global<KG: Data, VG: Data, VR: Data>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_selector: impl Fn(&K, &V) -> KG + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VG>) -> VR + Send + Sync + 'static,
        named: Named,
    ) -> KStream<K, VR> {
        self.global_join(
            table,
            named,
            "KSTREAM-LEFTJOIN-",
            key_selector,
            move |v, t| Some(joiner(v, t)),
        )
    }

    fn global_join<KG: Data, VG: Data, VR: Data>(
        &self,
        table: &GlobalKTable<KG, VG>,
        named: Named,
        prefix: &str,
        key_selector: impl Fn(&K, &V) -> KG + Send + Sync + 'static,
        join: impl Fn(&V, Option<&VG>) -> Option<VR> + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let name = self.name(&named, prefix);
        let store = table.store.clone();
        let (select, join) = (Arc::new(key_selector), Arc::new(join));
        let f = move |ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>| {
            let table_key = select(&r.key, &r.value);
            let found =
                ctx.with_global_store::<GlobalStore<KG, VG>, _>(&store, |s| s.get(&table_key))?;
            match join(&r.value, found.as_ref().map(|t| &t.value)) {
                Some(out) => ctx.forward(r.with_value(out)),
                None => Ok(()),
            }
        };
        self.stateless(name, self.key_serde.clone(), None, false, f)
    }
}
