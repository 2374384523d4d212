//! `StreamsBuilder::table`: a topic read as a table, materialized in a key-value store.

use kstreams_core::{Processor, ProcessorContext, Record, Result};

use crate::change::Change;
use crate::ktable::{KTable, ValueGetter, forward_from_cache};
use crate::streams_builder::Shared;
use crate::{Consumed, Data, Materialized};
use kstreams_core::state::ValueAndTimestamp;

/// Upserts each record into the store (a `None` value deletes) and forwards the change.
/// A tombstone for an absent key changes nothing and is not forwarded.
pub(crate) struct KTableSource<K, V> {
    pub(crate) store: String,
    /// Whether the store is cached: its cache forwards (see `cache_forwarding`).
    pub(crate) cached: bool,
    pub(crate) _types: std::marker::PhantomData<fn() -> (K, V)>,
}

impl<K: Data, V: Data> Processor<K, Option<V>, K, Change<V>> for KTableSource<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.cached = forward_from_cache(ctx, &self.store)?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Option<V>>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<K, ValueAndTimestamp<V>>(&self.store)?;
        let new = r
            .value
            .as_ref()
            .map(|v| ValueAndTimestamp::make(v.clone(), r.timestamp));
        let old = store.update(&r.key, |old| (new, old.map(|o| o.value)))?;
        if self.cached || (old.is_none() && r.value.is_none()) {
            return Ok(());
        }
        let new = r.value.clone();
        ctx.forward(r.with_value(Change::new(new, old)))
    }
}

pub(crate) fn table<K: Data, V: Data>(
    b: &Shared,
    topic: &str,
    consumed: Consumed<K, V>,
    materialized: Materialized<K, V>,
) -> KTable<K, V> {
    let (source, node, store) = {
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
        (source, node, store)
    };
    consumed.add_table_source(b, &source, topic);
    let ks = materialized
        .key_serde
        .clone()
        .unwrap_or_else(|| consumed.key_serde.clone());
    let vs = materialized
        .value_serde
        .clone()
        .unwrap_or_else(|| consumed.value_serde.clone());
    {
        let mut s = b.borrow_mut();
        let st = store.clone();
        let r = s
            .topology
            .add_processor(
                &node,
                move || KTableSource::<K, V> {
                    store: st.clone(),
                    cached: false,
                    _types: std::marker::PhantomData,
                },
                &[&source],
            )
            .map(|_| ());
        s.check(r);
        let r = s
            .topology
            .add_state_store(
                materialized.store_builder(&store, ks.clone(), vs.clone()),
                &[&node],
            )
            .map(|_| ());
        s.check(r);
    }
    KTable {
        b: b.clone(),
        node,
        key_serde: Some(ks),
        value_serde: Some(vs),
        store: Some(store.clone()),
        getter: ValueGetter::of_store(&store),
        source_topics: vec![topic.to_string()],
        window_close: None,
    }
}
