//! `KGroupedTable`: a re-keyed table, and its re-aggregations (one per file).

mod aggregate;
mod count;
mod reduce;

use std::sync::Arc;

use kstreams_core::{ProcessorSupplier, SharedSerde};

use crate::change::{Change, ChangeSerde};
use crate::kstream::missing_serde;
use crate::ktable::{KTable, ValueGetter};
use crate::repartition_topic::through_repartition_topic;
use crate::{Data, KStream, Materialized};

/// A table grouped by a new key; its aggregations always read through a repartition topic
/// of `(new, old)` changes.
pub struct KGroupedTable<K, V> {
    pub(crate) stream: KStream<K, Change<V>>,
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// The repartitioned input, once an aggregation created it: later aggregations of the
    /// same grouping share the topic.
    pub(crate) repartitioned: crate::repartition_topic::SharedRepartition<K, Change<V>>,
}

impl<K: Data + Eq, V: Data> KGroupedTable<K, V> {
    /// Lowers a re-aggregation: store, repartition topic `<grouped or store name>-repartition`,
    /// aggregating processor.
    pub(crate) fn aggregation<VA: Data, P>(
        &self,
        node_prefix: &str,
        store_prefix: &str,
        materialized: Materialized<K, VA>,
        make: impl FnOnce(String) -> P,
    ) -> KTable<K, VA>
    where
        P: ProcessorSupplier<K, Change<V>, K, Change<VA>>,
    {
        let b = self.stream.b.clone();
        let store = match &materialized.name {
            Some(n) => n.clone(),
            None => b.borrow_mut().new_name(store_prefix),
        };
        let ks = materialized
            .key_serde
            .clone()
            .or_else(|| self.key_serde.clone())
            .or_else(|| b.borrow().serde_of::<K>());
        let (Some(ks), Some(vs), Some(vas)) = (
            ks,
            self.value_serde
                .clone()
                .or_else(|| b.borrow().serde_of::<V>()),
            materialized
                .value_serde
                .clone()
                .or_else(|| b.borrow().serde_of::<VA>()),
        ) else {
            b.borrow_mut().error(missing_serde(
                &store,
                "key, value (Grouped) or aggregate value (Materialized)",
            ));
            return KTable {
                b: b.clone(),
                node: self.stream.node.clone(),
                key_serde: None,
                value_serde: None,
                store: None,
                getter: ValueGetter::of_store(&store),
                source_topics: vec![],
                window_close: None,
            };
        };
        let cached = self.repartitioned.borrow().clone();
        let input = match cached {
            Some(r) => r,
            None => {
                let base = self.name.clone().unwrap_or_else(|| store.clone());
                let r = through_repartition_topic(
                    &self.stream,
                    &base,
                    ks.clone(),
                    Arc::new(ChangeSerde::new(vs)),
                );
                *self.repartitioned.borrow_mut() = Some(r.clone());
                r
            }
        };
        let node = b.borrow_mut().new_name(node_prefix);
        input.add_processor(&node, make(store.clone()));
        {
            let mut s = b.borrow_mut();
            let builder = materialized.store_builder(&store, ks.clone(), vas.clone());
            let r = s.topology.add_state_store(builder, &[&node]).map(|_| ());
            s.check(r);
        }
        KTable {
            b,
            node,
            key_serde: Some(ks),
            value_serde: Some(vas),
            store: Some(store.clone()),
            getter: ValueGetter::of_store(&store),
            source_topics: input.source_topics,
            window_close: None,
        }
    }
}
