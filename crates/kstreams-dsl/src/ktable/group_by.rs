//! `KTable::group_by`: re-key a table for re-aggregation with adder and subtractor.

use kstreams_core::{ProcessorContext, Record};

use crate::change::Change;
use crate::kgrouped_table::KGroupedTable;
use crate::kstream::KStream;
use crate::stateless::Stateless;
use crate::{Data, Grouped, KTable, Named};

impl<K: Data, V: Data> KTable<K, V> {
    /// Maps each entry to a new `(key, value)`; the grouped table's aggregations subtract an
    /// entry's old mapping and add its new one. When old and new map to the same key, one
    /// change carries both; otherwise the subtraction goes first.
    pub fn group_by<KR: Data + PartialEq, VR: Data>(
        &self,
        selector: impl Fn(&K, &V) -> (KR, VR) + Send + Sync + 'static,
        grouped: Grouped<KR, VR>,
    ) -> KGroupedTable<KR, VR> {
        let name = Named::generated().or_generate(&mut self.b.borrow_mut(), "KTABLE-SELECT-");
        let f = move |ctx: &mut ProcessorContext<'_, KR, Change<VR>>, r: Record<K, Change<V>>| {
            let old = r.value.old.as_ref().map(|v| selector(&r.key, v));
            let new = r.value.new.as_ref().map(|v| selector(&r.key, v));
            let at = |k: KR, c: Change<VR>| {
                Record::new(k, c, r.timestamp).with_headers(r.headers.clone())
            };
            match (old, new) {
                (Some((ok, ov)), Some((nk, nv))) if ok == nk => {
                    ctx.forward(at(nk, Change::new(Some(nv), Some(ov))))
                }
                (old, new) => {
                    if let Some((ok, ov)) = old {
                        ctx.forward(at(ok, Change::new(None, Some(ov))))?;
                    }
                    if let Some((nk, nv)) = new {
                        ctx.forward(at(nk, Change::new(Some(nv), None)))?;
                    }
                    Ok(())
                }
            }
        };
        {
            let mut b = self.b.borrow_mut();
            let r = b
                .topology
                .add_processor(&name, Stateless::supplier(f), &[&self.node])
                .map(|_| ());
            b.check(r);
        }
        let stream = KStream::new(self.b.clone(), name, None, None, true, vec![]);
        KGroupedTable {
            stream,
            name: grouped.name,
            key_serde: grouped.key_serde,
            value_serde: grouped.value_serde,
            repartitioned: Default::default(),
        }
    }
}
