//! `TimeWindowedKStream::reduce`: combine each key's values per window.

use crate::time_windowed_kstream::{TimeWindowedKStream, WindowAggregate};
use crate::windowed::Windowed;
use crate::{Data, KTable, Materialized};

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
    /// Per key and window, the first value, then `reducer(aggregate, value)`.
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let materialized = match (&materialized.value_serde, &self.grouped.value_serde) {
            (None, Some(vs)) => materialized.with_value_serde(vs.clone()),
            _ => materialized,
        };
        let windows = self.windows;
        self.aggregation(
            "KSTREAM-REDUCE-",
            "KSTREAM-REDUCE-STATE-STORE-",
            materialized,
            move |store| {
                WindowAggregate::supplier(
                    store,
                    windows,
                    move |_k, v: &V, agg: Option<V>| match agg {
                        None => v.clone(),
                        Some(a) => reducer(&a, v),
                    },
                )
            },
        )
    }
}
