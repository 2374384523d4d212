//! `SessionWindowedKStream::reduce`: combine each key's values per session.

use crate::session_windowed_kstream::{SessionAggregate, SessionWindowedKStream};
use crate::windowed::Windowed;
use crate::{Data, KTable, Materialized};

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    /// Per key and session, `reducer(aggregate, value)`; merged sessions are reduced
    /// together, earlier session first.
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
        let reducer = std::sync::Arc::new(reducer);
        let r2 = reducer.clone();
        self.aggregation(
            "KSTREAM-REDUCE-",
            "KSTREAM-REDUCE-STATE-STORE-",
            materialized,
            move |store| {
                SessionAggregate::supplier(
                    store,
                    windows,
                    move |_k, v: &V, agg: Option<V>| match agg {
                        None => v.clone(),
                        Some(a) => reducer(&a, v),
                    },
                    move |_k, agg: Option<V>, other: V| match agg {
                        None => other,
                        Some(a) => r2(&a, &other),
                    },
                )
            },
        )
    }
}
