//! `KGroupedStream`: a stream grouped by key, and its aggregations (one per file).

mod aggregate;
mod count;
mod reduce;

use kstreams_core::{ProcessorSupplier, SharedSerde};

use crate::change::Change;
use crate::kstream::missing_serde;
use crate::ktable::{KTable, ValueGetter};
use crate::repartition_topic::through_repartition_topic;
use crate::{Data, Grouped, KStream, Materialized};

/// A grouped stream, ready to be aggregated into a [`KTable`].
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// The repartitioned input, once an aggregation created it: later aggregations of the
    /// same grouping share the topic.
    pub(crate) repartitioned: crate::repartition_topic::SharedRepartition<K, V>,
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        KGroupedStream {
            key_serde: grouped.key_serde.or_else(|| stream.key_serde.clone()),
            value_serde: grouped.value_serde.or_else(|| stream.value_serde.clone()),
            name: grouped.name,
            stream,
            repartitioned: Default::default(),
        }
    }

    /// Lowers an aggregation: names its store, repartitions if needed (topic
    /// `<grouped name or store name>-repartition`), adds the aggregating processor made by
    /// `make(store)` and its store.
    pub(crate) fn aggregation<VA: Data, P>(
        &self,
        node_prefix: &str,
        store_prefix: &str,
        materialized: Materialized<K, VA>,
        make: impl FnOnce(String) -> P,
    ) -> KTable<K, VA>
    where
        P: ProcessorSupplier<K, V, K, Change<VA>>,
    {
        let b = self.stream.b.clone();
        let store = match &materialized.name {
            Some(n) => n.clone(),
            None => b.borrow_mut().new_name(store_prefix),
        };
        let key_serde = materialized
            .key_serde
            .clone()
            .or_else(|| self.key_serde.clone())
            .or_else(|| b.borrow().serde_of::<K>());
        let Some(ks) = key_serde else {
            b.borrow_mut().error(missing_serde(&store, "key"));
            return self.dead_table(store);
        };
        let Some(vas) = materialized
            .value_serde
            .clone()
            .or_else(|| b.borrow().serde_of::<VA>())
        else {
            b.borrow_mut()
                .error(missing_serde(&store, "aggregate value"));
            return self.dead_table(store);
        };
        let cached = self.repartitioned.borrow().clone();
        let input = if let Some(r) = cached {
            r
        } else if self.stream.repartition_required {
            let Some(vs) = self
                .value_serde
                .clone()
                .or_else(|| b.borrow().serde_of::<V>())
            else {
                b.borrow_mut().error(missing_serde(&store, "value"));
                return self.dead_table(store);
            };
            let base = self.name.clone().unwrap_or_else(|| store.clone());
            let r = through_repartition_topic(&self.stream, &base, ks.clone(), vs);
            *self.repartitioned.borrow_mut() = Some(r.clone());
            r
        } else {
            self.stream.clone()
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
        }
    }

    /// A placeholder table after an error (reported by `build`).
    fn dead_table<VA: Data>(&self, store: String) -> KTable<K, VA> {
        KTable {
            b: self.stream.b.clone(),
            node: self.stream.node.clone(),
            key_serde: None,
            value_serde: None,
            store: None,
            getter: ValueGetter::of_store(&store),
            source_topics: vec![],
        }
    }
}
