//! `SessionWindowedKStream`: a grouped stream aggregated per session (one aggregation per
//! file).

mod aggregate;
mod cache_forwarding;
mod count;
mod reduce;

use std::sync::Arc;

use kstreams_core::{ProcessorSupplier, SessionStoreBuilder};

use crate::SessionWindowedSerde;
use crate::change::Change;
use crate::kgrouped_stream::KGroupedStream;
use crate::ktable::{KTable, ValueGetter, WindowClose};
use crate::materialized::StoreType;
use crate::windowed::Windowed;
use crate::{Data, Materialized, SessionWindows};

pub(crate) use aggregate::SessionAggregate;

/// A grouped stream with session windows; its aggregations emit a table keyed by
/// [`Windowed`] keys whose window is the session `[start, end]` (end inclusive), kept in a
/// session store.
pub struct SessionWindowedKStream<K, V> {
    pub(crate) grouped: KGroupedStream<K, V>,
    pub(crate) windows: SessionWindows,
}

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    /// Lowers a session aggregation: session store (retention at least gap + grace),
    /// optional repartition, the processor made by `make(store)`.
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
            let min_retention = self.windows.gap_ms.saturating_add(self.windows.grace_ms);
            let retention = materialized.retention.map_or(min_retention, |r| {
                i64::try_from(r.as_millis())
                    .unwrap_or(i64::MAX)
                    .max(min_retention)
            });
            let mut bytes = kstreams_state::SessionStoreBuilder::new(&p.store, retention)
                .with_logging_enabled(materialized.logging);
            if materialized.store_type == StoreType::InMemory {
                bytes = bytes.in_memory();
            }
            if let Some(cache_bytes) = materialized.cache_bytes {
                bytes = bytes
                    .with_caching_enabled(cache_bytes)
                    .with_cache_forwarding(materialized.cache_forwarding);
            }
            let builder =
                SessionStoreBuilder::new(bytes, p.key_serde.clone(), p.value_serde.clone());
            let r = s.topology.add_state_store(builder, &[&node]).map(|_| ());
            s.check(r);
        }
        KTable {
            b,
            node,
            key_serde: Some(Arc::new(SessionWindowedSerde::new(p.key_serde))),
            value_serde: Some(p.value_serde),
            store: Some(p.store.clone()),
            getter: ValueGetter::<K, VA>::of_session_store(&p.store),
            source_topics: p.input.source_topics,
            window_close: WindowClose::windowed(
                self.windows.grace_ms.saturating_add(self.windows.gap_ms),
            ),
        }
    }
}
