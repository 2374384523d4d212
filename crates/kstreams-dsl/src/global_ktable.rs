//! `GlobalKTable`: a table fully replicated on every instance, read from all partitions of its
//! topic by the global sub-topology instead of by tasks.

use std::marker::PhantomData;

use kstreams_core::KeyValueStore;

use crate::ktable::source::KTableSource;
use crate::streams_builder::Shared;
use crate::{Consumed, Data, Materialized};
use kstreams_core::state::ValueAndTimestamp;

/// A table every instance holds in full (Kafka Streams' `GlobalKTable`). It has no
/// operators of its own: streams look it up with [`KStream::join_global`] and
/// [`KStream::left_join_global`](crate::KStream::left_join_global), which need no
/// co-partitioning and no repartitioning.
///
/// [`KStream::join_global`]: crate::KStream::join_global
pub struct GlobalKTable<K, V> {
    pub(crate) store: String,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for GlobalKTable<K, V> {
    fn clone(&self) -> Self {
        GlobalKTable {
            store: self.store.clone(),
            _types: PhantomData,
        }
    }
}

/// The type of a global table's store.
pub(crate) type GlobalStore<K, V> = KeyValueStore<K, ValueAndTimestamp<V>>;

impl<K: Data, V: Data> GlobalKTable<K, V> {
    /// The name of the store holding the table (queryable).
    pub fn queryable_store_name(&self) -> &str {
        &self.store
    }
}

pub(crate) fn global_table<K: Data, V: Data>(
    b: &Shared,
    topic: &str,
    consumed: Consumed<K, V>,
    materialized: Materialized<K, V>,
) -> GlobalKTable<K, V> {
    let mut s = b.borrow_mut();
    // Kafka Streams' order: the store name, then the source, then the table source.
    let store = match &materialized.name {
        Some(n) => n.clone(),
        None => s.new_name(&format!("{topic}-STATE-STORE-")),
    };
    let source = match &consumed.name {
        Some(n) => n.clone(),
        None => s.new_name("KSTREAM-SOURCE-"),
    };
    let node = s.new_name("KTABLE-SOURCE-");
    let ks = materialized
        .key_serde
        .clone()
        .unwrap_or_else(|| consumed.key_serde.clone());
    let vs = materialized
        .value_serde
        .clone()
        .unwrap_or_else(|| consumed.value_serde.clone());
    let builder = materialized
        .store_builder(&store, ks, vs)
        .with_logging_enabled(false);
    let st = store.clone();
    let r = s
        .topology
        .add_global_store(
            builder,
            &source,
            consumed.table_extractor(),
            consumed.key_serde.clone(),
            kstreams_core::Serdes::option(consumed.value_serde.clone()),
            topic,
            &node,
            move || KTableSource::<K, V> {
                store: st.clone(),
                cached: false,
                _types: PhantomData,
            },
        )
        .map(|_| ());
    s.check(r);
    GlobalKTable {
        store,
        _types: PhantomData,
    }
}
