//! `KGroupedStream::count`: records per key.

use std::sync::Arc;

use kstreams_core::serde::I64Serde;

use crate::kgrouped_stream::KGroupedStream;
use crate::kgrouped_stream::aggregate::StreamAggregate;
use crate::{Data, KTable, Materialized};

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// The number of records per key (the store's value serde defaults to `i64`).
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let materialized = if materialized.value_serde.is_none() {
            materialized.with_value_serde(Arc::new(I64Serde))
        } else {
            materialized
        };
        self.aggregation(
            "KSTREAM-AGGREGATE-",
            "KSTREAM-AGGREGATE-STATE-STORE-",
            materialized,
            |store| StreamAggregate::supplier(store, |_k, _v, n: Option<i64>| n.unwrap_or(0) + 1),
        )
    }
}
