//! `SlidingWindowedKStream`: a grouped stream aggregated per sliding window (one
//! aggregation per file).

mod aggregate;
mod count;
mod reduce;

use std::sync::Arc;

use kstreams_core::{ProcessorSupplier, WindowStoreBuilder};

use crate::TimeWindowedSerde;
use crate::change::Change;
use crate::kgrouped_stream::KGroupedStream;
use crate::ktable::{KTable, ValueGetter, WindowClose};
use crate::materialized::StoreType;
use crate::windowed::Windowed;
use crate::{Data, Materialized, SlidingWindows};

pub(crate) use aggregate::SlidingAggregate;

/// A grouped stream with sliding windows; its aggregations emit a table keyed by
/// [`Windowed`] keys whose window is `[start, start + difference]` (end inclusive).
///
/// Each window's aggregate is folded from the window's records in timestamp order, kept in
/// a raw-record window store (`<store>-records`) next to the aggregate store.
pub struct SlidingWindowedKStream<K, V> {
    pub(crate) grouped: KGroupedStream<K, V>,
    pub(crate) windows: SlidingWindows,
}

impl<K: Data, V: Data> SlidingWindowedKStream<K, V> {
    pub(crate) fn aggregation<VA: Data, P>(
        &self,
        node_prefix: &str,
        store_prefix: &str,
        materialized: Materialized<K, VA>,
        make: impl FnOnce(String, String) -> P,
    ) -> KTable<Windowed<K>, VA>
    where
        P: ProcessorSupplier<K, V, Windowed<K>, Change<VA>>,
    {
        let b = self.grouped.stream.b.clone();
        let p = match self.grouped.prepare(store_prefix, &materialized) {
            Ok(p) => p,
            Err(store) => return self.grouped.dead_table(store),
        };
        let Some(vs) = self
            .grouped
            .value_serde
            .clone()
            .or_else(|| b.borrow().serde_of::<V>())
        else {
            b.borrow_mut()
                .error(crate::kstream::missing_serde(&p.store, "value"));
            return self.grouped.dead_table(p.store);
        };
        let records = format!("{}-records", p.store);
        let node = b.borrow_mut().new_name(node_prefix);
        p.input
            .add_processor(&node, make(p.store.clone(), records.clone()));
        let w = self.windows;
        let retention = w
            .difference_ms
            .saturating_mul(2)
            .saturating_add(w.grace_ms)
            .saturating_add(1);
        {
            let mut s = b.borrow_mut();
            let agg = materialized.window_store_builder(
                &p.store,
                p.key_serde.clone(),
                p.value_serde.clone(),
                w.difference_ms.saturating_add(1),
                retention,
            );
            let r = s.topology.add_state_store(agg, &[&node]).map(|_| ());
            s.check(r);
            let mut raw = kstreams_state::WindowStoreBuilder::new(&records, retention, 1, true)
                .with_logging_enabled(materialized.logging);
            if materialized.store_type == StoreType::InMemory {
                raw = raw.in_memory();
            }
            let raw = WindowStoreBuilder::new(raw, p.key_serde.clone(), vs);
            let r = s.topology.add_state_store(raw, &[&node]).map(|_| ());
            s.check(r);
        }
        KTable {
            b,
            node,
            key_serde: Some(Arc::new(TimeWindowedSerde::new(
                p.key_serde,
                w.difference_ms,
            ))),
            value_serde: Some(p.value_serde),
            store: Some(p.store.clone()),
            getter: ValueGetter::<K, VA>::of_window_store(&p.store),
            source_topics: p.input.source_topics,
            window_close: WindowClose::windowed(w.grace_ms),
        }
    }
}
