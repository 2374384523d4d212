//! The processor behind stateless table operators (`filter`, `map_values`): a pure function
//! of each change, optionally materialized.

use std::sync::Arc;

use kstreams_core::{Processor, ProcessorContext, Record, Result};

use crate::Data;
use crate::change::Change;
use kstreams_core::state::ValueAndTimestamp;

type MapFn<K, V, VO> = Arc<dyn Fn(&K, Change<V>) -> Option<Change<VO>> + Send + Sync>;

/// Maps each change; when it has a store, writes the new value (or deletes) before
/// forwarding.
pub(crate) struct TableMapper<K, V, VO> {
    store: Option<String>,
    f: MapFn<K, V, VO>,
    /// Whether the store is cached: its cache forwards.
    cached: bool,
}

pub(crate) fn supplier<K: Data, V: Data, VO: Data>(
    store: Option<String>,
    f: impl Fn(&K, Change<V>) -> Option<Change<VO>> + Send + Sync + 'static,
) -> impl Fn() -> TableMapper<K, V, VO> + Send + Sync + 'static {
    let f: MapFn<K, V, VO> = Arc::new(f);
    move || TableMapper {
        store: store.clone(),
        f: f.clone(),
        cached: false,
    }
}

impl<K: Data, V: Data, VO: Data> Processor<K, Change<V>, K, Change<VO>> for TableMapper<K, V, VO> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VO>>) -> Result<()> {
        if let Some(store) = &self.store {
            self.cached = super::forward_from_cache(ctx, store)?;
        }
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VO>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let Some(change) = (self.f)(&r.key, r.value.clone()) else {
            return Ok(());
        };
        if let Some(store) = &self.store {
            let s = ctx.key_value_store::<K, ValueAndTimestamp<VO>>(store)?;
            match &change.new {
                Some(v) => s.put(&r.key, &ValueAndTimestamp::make(v.clone(), r.timestamp))?,
                None => {
                    s.delete(&r.key)?;
                }
            }
        }
        if self.cached {
            return Ok(());
        }
        ctx.forward(r.with_value(change))
    }
}
