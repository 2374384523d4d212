//! `KGroupedStream::reduce`: combine each key's values.

use crate::kgrouped_stream::KGroupedStream;
use crate::kgrouped_stream::aggregate::StreamAggregate;
use crate::{Data, KTable, Materialized};

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Per key, the first value, then `reducer(aggregate, value)` for each later one. The
    /// store's value serde defaults to the grouping's.
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let materialized = match (&materialized.value_serde, &self.value_serde) {
            (None, Some(vs)) => materialized.with_value_serde(vs.clone()),
            _ => materialized,
        };
        self.aggregation(
            "KSTREAM-REDUCE-",
            "KSTREAM-REDUCE-STATE-STORE-",
            materialized,
            move |store| {
                StreamAggregate::supplier(store, move |_k, v: &V, agg: Option<V>| match agg {
                    None => v.clone(),
                    Some(a) => reducer(&a, v),
                })
            },
        )
    }
}
