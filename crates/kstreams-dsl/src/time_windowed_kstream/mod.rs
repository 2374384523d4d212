//! `TimeWindowedKStream`: a grouped stream aggregated per time window (one aggregation per
//! file).

mod aggregate;
mod cache_forwarding;
mod count;
mod reduce;

use std::sync::Arc;

use kstreams_core::ProcessorSupplier;

use crate::TimeWindowedSerde;
use crate::change::Change;
use crate::kgrouped_stream::KGroupedStream;
use crate::ktable::{KTable, ValueGetter, WindowClose};
use crate::windowed::Windowed;
use crate::{Data, Materialized, TimeWindows};

pub(crate) use aggregate::WindowAggregate;

/// A grouped stream with time windows; its aggregations emit a table keyed by
/// [`Windowed`] keys, kept in a window store.
pub struct TimeWindowedKStream<K, V> {
    pub(crate) grouped: KGroupedStream<K, V>,
    pub(crate) windows: TimeWindows,
}

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
    /// Lowers a windowed aggregation: store (retention at least size + grace), optional
    /// repartition, the processor made by `make(store)`.
    pub(crate) fn aggregation<VA: Data, P>(
        &self,
        node_prefix: &str,
        store_prefix: &str,
        materialized: Materialized<K, VA>,
        make: impl FnOnce(String) -> P,
    ) -> KTable<Windowed<K>, VA>
    where
        P: ProcessorSupplier<K, V, Windowed<K>, Change<VA>>,
    {
        let b = self.grouped.stream.b.clone();
        let p = match self.grouped.prepare(store_prefix, &materialized) {
            Ok(p) => p,
            Err(store) => return self.grouped.dead_table(store),
        };
        let node = b.borrow_mut().new_name(node_prefix);
        p.input.add_processor(&node, make(p.store.clone()));
        {
            let mut s = b.borrow_mut();
            let builder = materialized.window_store_builder(
                &p.store,
                p.key_serde.clone(),
                p.value_serde.clone(),
                self.windows.size_ms,
                self.windows.size_ms + self.windows.grace_ms,
            );
            let r = s.topology.add_state_store(builder, &[&node]).map(|_| ());
            s.check(r);
        }
        KTable {
            b,
            node,
            key_serde: Some(Arc::new(TimeWindowedSerde::new(
                p.key_serde,
                self.windows.size_ms,
            ))),
            value_serde: Some(p.value_serde),
            store: Some(p.store.clone()),
            getter: ValueGetter::<K, VA>::of_window_store(&p.store),
            source_topics: p.input.source_topics,
            window_close: WindowClose::windowed(self.windows.grace_ms),
        }
    }
}
