//! `KGroupedTable::aggregate`: re-aggregate a table with an adder and a subtractor.

use std::sync::Arc;

use kstreams_core::{Processor, ProcessorContext, Record, Result};

use crate::change::Change;
use crate::kgrouped_table::KGroupedTable;
use crate::ktable::forward_from_cache;
use crate::{Data, KTable, Materialized};
use kstreams_core::state::ValueAndTimestamp;

type Add<K, V, VA> = Arc<dyn Fn(&K, &V, Option<VA>) -> VA + Send + Sync>;
type Sub<K, V, VA> = Arc<dyn Fn(&K, &V, VA) -> VA + Send + Sync>;

/// Subtracts a change's old value from the key's aggregate (if both exist), adds its new
/// value (from the initial aggregate if none), stores and forwards `(new, old)` aggregates.
pub(crate) struct TableAggregate<K, V, VA> {
    pub(crate) store: String,
    pub(crate) add: Add<K, V, VA>,
    pub(crate) sub: Sub<K, V, VA>,
    /// Whether the store is cached: its cache forwards.
    pub(crate) cached: bool,
}

impl<K: Data, V: Data, VA: Data> TableAggregate<K, V, VA> {
    pub(crate) fn supplier(
        store: String,
        add: impl Fn(&K, &V, Option<VA>) -> VA + Send + Sync + 'static,
        sub: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let (add, sub): (Add<K, V, VA>, Sub<K, V, VA>) = (Arc::new(add), Arc::new(sub));
        move || TableAggregate {
            store: store.clone(),
            add: add.clone(),
            sub: sub.clone(),
            cached: false,
        }
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, Change<V>, K, Change<VA>>
    for TableAggregate<K, V, VA>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>) -> Result<()> {
        self.cached = forward_from_cache(ctx, &self.store)?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<K, ValueAndTimestamp<VA>>(&self.store)?;
        let (sub, add) = (&self.sub, &self.add);
        // Written back: the new aggregate, or a delete when there is none.
        let (agg, old_agg, ts) = store.update(&r.key, |old| {
            let ts = old
                .as_ref()
                .map_or(r.timestamp, |o| o.timestamp.max(r.timestamp));
            let old_agg = old.map(|o| o.value);
            let mut agg = old_agg.clone();
            if let Some(ov) = &r.value.old
                && let Some(a) = agg.take()
            {
                agg = Some(sub(&r.key, ov, a));
            }
            if let Some(nv) = &r.value.new {
                agg = Some(add(&r.key, nv, agg));
            }
            let stored = agg.clone().map(|a| ValueAndTimestamp::make(a, ts));
            (stored, (agg, old_agg, ts))
        })?;
        if self.cached {
            return Ok(());
        }
        ctx.forward(Record::new(r.key, Change::new(agg, old_agg), ts).with_headers(r.headers))
    }
}

impl<K: Data + Eq, V: Data> KGroupedTable<K, V> {
    /// Per key, the aggregate of the current entries mapped to it: `adder` on each new
    /// mapping (from `initializer()`), `subtractor` on each withdrawn one.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        adder: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        subtractor: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        self.aggregation(
            "KTABLE-AGGREGATE-",
            "KTABLE-AGGREGATE-STATE-STORE-",
            materialized,
            move |store| {
                TableAggregate::supplier(
                    store,
                    move |k, v, agg: Option<VA>| adder(k, v, agg.unwrap_or_else(&initializer)),
                    subtractor,
                )
            },
        )
    }
}
