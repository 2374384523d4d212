//! `KGroupedStream::aggregate`: fold each key's records into a value, from an initializer.

use std::sync::Arc;

use kstreams_core::{Processor, ProcessorContext, Record, Result};

use crate::change::Change;
use crate::kgrouped_stream::KGroupedStream;
use crate::ktable::forward_from_cache;
use crate::{Data, KTable, Materialized};
use kstreams_core::state::ValueAndTimestamp;

type Fold<K, V, VA> = Arc<dyn Fn(&K, &V, Option<VA>) -> VA + Send + Sync>;

/// Folds a record into the key's aggregate (`None` before the first record), stores it
/// stamped with the highest timestamp seen for the key, and forwards `(new, old)`.
pub(crate) struct StreamAggregate<K, V, VA> {
    pub(crate) store: String,
    pub(crate) fold: Fold<K, V, VA>,
    /// Whether the store is cached: its cache forwards.
    pub(crate) cached: bool,
}

impl<K: Data, V: Data, VA: Data> StreamAggregate<K, V, VA> {
    pub(crate) fn supplier(
        store: String,
        fold: impl Fn(&K, &V, Option<VA>) -> VA + Send + Sync + 'static,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let fold: Fold<K, V, VA> = Arc::new(fold);
        move || StreamAggregate {
            store: store.clone(),
            fold: fold.clone(),
            cached: false,
        }
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, K, Change<VA>> for StreamAggregate<K, V, VA> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>) -> Result<()> {
        self.cached = forward_from_cache(ctx, &self.store)?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<K, ValueAndTimestamp<VA>>(&self.store)?;
        let fold = &self.fold;
        let (new, old_value, ts) = store.update(&r.key, |old| {
            let ts = old
                .as_ref()
                .map_or(r.timestamp, |o| o.timestamp.max(r.timestamp));
            let old_value = old.map(|o| o.value);
            let new = fold(&r.key, &r.value, old_value.clone());
            (
                Some(ValueAndTimestamp::make(new.clone(), ts)),
                (new, old_value, ts),
            )
        })?;
        if self.cached {
            return Ok(());
        }
        let change = Change::new(Some(new), old_value);
        ctx.forward(Record::new(r.key, change, ts).with_headers(r.headers))
    }
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Per key, `aggregator(key, value, aggregate)` from `initializer()`; emits the updated
    /// aggregate with the highest timestamp of the key's records so far.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        self.aggregation(
            "KSTREAM-AGGREGATE-",
            "KSTREAM-AGGREGATE-STATE-STORE-",
            materialized,
            move |store| {
                StreamAggregate::supplier(store, move |k, v, agg: Option<VA>| {
                    aggregator(k, v, agg.unwrap_or_else(&initializer))
                })
            },
        )
    }
}
