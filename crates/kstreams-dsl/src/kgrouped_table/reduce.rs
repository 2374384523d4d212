//! `KGroupedTable::reduce`: combine the values mapped to each key with adder and
//! subtractor.

use crate::kgrouped_table::KGroupedTable;
use crate::kgrouped_table::aggregate::TableAggregate;
use crate::{Data, KTable, Materialized};

impl<K: Data + Eq, V: Data> KGroupedTable<K, V> {
    /// Per key, `adder(aggregate, value)` for each new mapping (the first value starts the
    /// aggregate) and `subtractor(aggregate, value)` for each withdrawn one.
    pub fn reduce(
        &self,
        adder: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let materialized = match (&materialized.value_serde, &self.value_serde) {
            (None, Some(vs)) => materialized.with_value_serde(vs.clone()),
            _ => materialized,
        };
        self.aggregation(
            "KTABLE-REDUCE-",
            "KTABLE-REDUCE-STATE-STORE-",
            materialized,
            move |store| {
                TableAggregate::supplier(
                    store,
                    move |_k, v: &V, agg: Option<V>| match agg {
                        None => v.clone(),
                        Some(a) => adder(&a, v),
                    },
                    move |_k, v: &V, agg: V| subtractor(&agg, v),
                )
            },
        )
    }
}
