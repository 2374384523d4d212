//! `KGroupedTable::count`: entries per new key.

use std::sync::Arc;

use kstreams_core::serde::I64Serde;

use crate::kgrouped_table::KGroupedTable;
use crate::kgrouped_table::aggregate::TableAggregate;
use crate::{Data, KTable, Materialized};

impl<K: Data + Eq, V: Data> KGroupedTable<K, V> {
    /// The number of table entries currently mapped to each key (a key whose entries all
    /// left keeps the count 0, as in Kafka Streams).
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let materialized = if materialized.value_serde.is_none() {
            materialized.with_value_serde(Arc::new(I64Serde))
        } else {
            materialized
        };
        self.aggregation(
            "KTABLE-AGGREGATE-",
            "KTABLE-AGGREGATE-STATE-STORE-",
            materialized,
            |store| {
                TableAggregate::supplier(
                    store,
                    |_k, _v, n: Option<i64>| n.unwrap_or(0) + 1,
                    |_k, _v, n: i64| n - 1,
                )
            },
        )
    }
}
