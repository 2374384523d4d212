//! `KGroupedStream`: a stream grouped by key, and its aggregations (one per file).

pub(crate) mod aggregate;
mod cogroup;
mod count;
mod reduce;
mod windowed_by;

use kstreams_core::{ProcessorSupplier, SharedSerde};

use crate::change::Change;
use crate::kstream::missing_serde;
use crate::ktable::{KTable, ValueGetter};
use crate::repartition_topic::through_repartition_topic;
use crate::{Data, Grouped, KStream, Materialized};

/// What an aggregation is lowered from.
pub(crate) struct Prepared<K, V, VA> {
    pub(crate) store: String,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<VA>,
    pub(crate) input: KStream<K, V>,
}

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

    /// Names an aggregation's store and resolves its serdes and input: the grouped stream,
    /// or its repartition topic `<grouped name or store name>-repartition` when a key
    /// changed upstream (created once, shared by every aggregation of this grouping). On a
    /// missing serde the error is recorded and the store name returned.
    pub(crate) fn prepare<VA: Data>(
        &self,
        store_prefix: &str,
        materialized: &Materialized<K, VA>,
    ) -> Result<Prepared<K, V, VA>, String> {
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
            return Err(store);
        };
        let Some(vas) = materialized
            .value_serde
            .clone()
            .or_else(|| b.borrow().serde_of::<VA>())
        else {
            b.borrow_mut()
                .error(missing_serde(&store, "aggregate value"));
            return Err(store);
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
                return Err(store);
            };
            let base = self.name.clone().unwrap_or_else(|| store.clone());
            let r = through_repartition_topic(&self.stream, &base, ks.clone(), vs);
            *self.repartitioned.borrow_mut() = Some(r.clone());
            r
        } else {
            self.stream.clone()
        };
        Ok(Prepared {
            store,
            key_serde: ks,
            value_serde: vas,
            input,
        })
    }

    /// Lowers a key-value aggregation: [`prepare`](Self::prepare), then the aggregating
    /// processor made by `make(store)` and its store.
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
        let p = match self.prepare(store_prefix, &materialized) {
            Ok(p) => p,
            Err(store) => return self.dead_table(store),
        };
        let node = b.borrow_mut().new_name(node_prefix);
        p.input.add_processor(&node, make(p.store.clone()));
        {
            let mut s = b.borrow_mut();
            let builder =
                materialized.store_builder(&p.store, p.key_serde.clone(), p.value_serde.clone());
            let r = s.topology.add_state_store(builder, &[&node]).map(|_| ());
            s.check(r);
        }
        KTable {
            b,
            node,
            key_serde: Some(p.key_serde),
            value_serde: Some(p.value_serde),
            store: Some(p.store.clone()),
            getter: ValueGetter::of_store(&p.store),
            source_topics: p.input.source_topics,
            window_close: None,
        }
    }

    /// A placeholder table after an error (reported by `build`).
    pub(crate) fn dead_table<KT: Data, VA: Data>(&self, store: String) -> KTable<KT, VA> {
        KTable {
            b: self.stream.b.clone(),
            node: self.stream.node.clone(),
            key_serde: None,
            value_serde: None,
            store: None,
            getter: ValueGetter::of_store(&store),
            source_topics: vec![],
            window_close: None,
        }
    }
}
