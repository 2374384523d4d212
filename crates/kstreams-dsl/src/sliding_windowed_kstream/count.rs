//! `SlidingWindowedKStream::count`: records per key and sliding window.

use std::sync::Arc;

use kstreams_core::serde::I64Serde;

use crate::sliding_windowed_kstream::{SlidingAggregate, SlidingWindowedKStream};
use crate::windowed::Windowed;
use crate::{Data, KTable, Materialized};

impl<K: Data, V: Data> SlidingWindowedKStream<K, V> {
    /// The number of records per key and sliding window.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let materialized = if materialized.value_serde.is_none() {
            materialized.with_value_serde(Arc::new(I64Serde))
        } else {
            materialized
        };
        let windows = self.windows;
        self.aggregation(
            "KSTREAM-AGGREGATE-",
            "KSTREAM-AGGREGATE-STATE-STORE-",
            materialized,
            move |store, records| {
                SlidingAggregate::supplier(store, records, windows, |_k, _v, n: Option<i64>| {
                    n.unwrap_or(0) + 1
                })
            },
        )
    }
}
