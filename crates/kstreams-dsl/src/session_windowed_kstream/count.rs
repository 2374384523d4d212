//! `SessionWindowedKStream::count`: records per key and session.

use std::sync::Arc;

use kstreams_core::serde::I64Serde;

use crate::session_windowed_kstream::{SessionAggregate, SessionWindowedKStream};
use crate::windowed::Windowed;
use crate::{Data, KTable, Materialized};

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    /// The number of records per key and session (merged sessions add up).
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
            move |store| {
                SessionAggregate::supplier(
                    store,
                    windows,
                    |_k, _v, n: Option<i64>| n.unwrap_or(0) + 1,
                    |_k, a: Option<i64>, b| a.unwrap_or(0) + b,
                )
            },
        )
    }
}
