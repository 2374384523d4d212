//! `SlidingWindowedKStream::reduce`: combine each key's values per sliding window.

use crate::sliding_windowed_kstream::{SlidingAggregate, SlidingWindowedKStream};
use crate::windowed::Windowed;
use crate::{Data, KTable, Materialized};

impl<K: Data, V: Data> SlidingWindowedKStream<K, V> {
    /// Per key and sliding window, the window's values combined with `reducer`, earliest
    /// first.
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
            move |store, records| {
                SlidingAggregate::supplier(
                    store,
                    records,
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
