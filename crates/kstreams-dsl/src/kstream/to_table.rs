//! `to_table`: a stream read as a table's changelog (the latest value per key wins).

use std::marker::PhantomData;

use kstreams_core::{Processor, ProcessorContext, Record, Result};

use crate::change::Change;
use crate::ktable::{KTable, ValueGetter, forward_from_cache};
use crate::repartition_topic::through_repartition_topic;
use crate::{Data, KStream, Materialized, Named};
use kstreams_core::state::ValueAndTimestamp;

/// Upserts each record into the store and forwards `(new, old)`.
struct StreamToTable<K, V> {
    store: String,
    /// Whether the store is cached: its cache forwards.
    cached: bool,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Data, V: Data> Processor<K, V, K, Change<V>> for StreamToTable<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.cached = forward_from_cache(ctx, &self.store)?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<K, ValueAndTimestamp<V>>(&self.store)?;
        let new = ValueAndTimestamp::make(r.value.clone(), r.timestamp);
        let old = store.update(&r.key, |old| (Some(new), old.map(|o| o.value)))?;
        if self.cached {
            return Ok(());
        }
        let new = Some(r.value.clone());
        ctx.forward(r.with_value(Change::new(new, old)))
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// The table of the latest value per key, materialized (a re-keyed stream is
    /// repartitioned first, through `<node name>-repartition`).
    pub fn to_table(&self, named: Named, materialized: Materialized<K, V>) -> KTable<K, V> {
        let name = self.name(&named, "KSTREAM-TOTABLE-");
        let store = match &materialized.name {
            Some(n) => n.clone(),
            None => self.b.borrow_mut().new_name("KSTREAM-TOTABLE-STATE-STORE-"),
        };
        let ks = self.require_key_serde(materialized.key_serde.clone(), &name);
        let vs = self.require_value_serde(materialized.value_serde.clone(), &name);
        let (Some(ks), Some(vs)) = (ks, vs) else {
            return KTable {
                b: self.b.clone(),
                node: self.node.clone(),
                key_serde: None,
                value_serde: None,
                store: None,
                getter: ValueGetter::of_store(&store),
                source_topics: vec![],
                window_close: None,
            };
        };
        let input = if self.repartition_required {
            through_repartition_topic(self, &name, ks.clone(), vs.clone())
        } else {
            self.clone()
        };
        let st = store.clone();
        input.add_processor(&name, move || StreamToTable::<K, V> {
            store: st.clone(),
            cached: false,
            _types: PhantomData,
        });
        {
            let mut b = self.b.borrow_mut();
            let builder = materialized.store_builder(&store, ks.clone(), vs.clone());
            let r = b.topology.add_state_store(builder, &[&name]).map(|_| ());
            b.check(r);
        }
        KTable {
            b: self.b.clone(),
            node: name,
            key_serde: Some(ks),
            value_serde: Some(vs),
            store: Some(store.clone()),
            getter: ValueGetter::of_store(&store),
            source_topics: input.source_topics,
            window_close: None,
        }
    }
}
