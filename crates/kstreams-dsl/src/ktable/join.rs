//! Table-table joins (`join`, `left_join`, `outer_join`): each side's update looks up the
//! other side's current value through its value getter; both sides feed a merge node.

use std::sync::Arc;

use kstreams_core::{ProcessorContext, Record};

use crate::change::Change;
use crate::ktable::{KTable, StoreAccess, ValueGetter};
use crate::stateless::Stateless;
use crate::{Data, Named};
use kstreams_core::state::ValueAndTimestamp;

/// The join's kind (names its nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinKind {
    Inner,
    Left,
    Outer,
}

impl JoinKind {
    fn prefixes(self) -> (&'static str, &'static str) {
        match self {
            JoinKind::Inner => ("KTABLE-JOINTHIS-", "KTABLE-JOINOTHER-"),
            JoinKind::Left => ("KTABLE-LEFTTHIS-", "KTABLE-LEFTOTHER-"),
            JoinKind::Outer => ("KTABLE-OUTERTHIS-", "KTABLE-OUTEROTHER-"),
        }
    }
}

/// The joined value of (left, right), `None` when this kind of join has none for them.
type Joiner<V, VO, VR> = Arc<dyn Fn(Option<&V>, Option<&VO>) -> Option<VR> + Send + Sync>;

impl<K: Data, V: Data> KTable<K, V> {
    /// Inner join: a key has a joined value while both tables have one. An update on either
    /// side emits `(new, old)` joined values, at the later of the two sides' timestamps.
    pub fn join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        named: Named,
    ) -> KTable<K, VR> {
        self.table_join(other, JoinKind::Inner, named, move |l, r| {
            l.zip(r).map(|(l, r)| joiner(l, r))
        })
    }

    /// Left join: a key has a joined value while this table has one (`None` for a missing
    /// right value).
    pub fn left_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        named: Named,
    ) -> KTable<K, VR> {
        self.table_join(other, JoinKind::Left, named, move |l, r| {
            l.map(|l| joiner(l, r))
        })
    }

    /// Outer join: a key has a joined value while either table has one.
    pub fn outer_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        named: Named,
    ) -> KTable<K, VR> {
        self.table_join(other, JoinKind::Outer, named, move |l, r| {
            (l.is_some() || r.is_some()).then(|| joiner(l, r))
        })
    }

    fn table_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        kind: JoinKind,
        named: Named,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> Option<VR> + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let joiner: Joiner<V, VO, VR> = Arc::new(joiner);
        let (this_prefix, other_prefix) = kind.prefixes();
        let (this_name, other_name, merge_name) = {
            let mut b = self.b.borrow_mut();
            let t = b.new_name(this_prefix);
            let o = b.new_name(other_prefix);
            (t, o, named.or_generate(&mut b, "KTABLE-MERGE-"))
        };

        // This side: its change joined with the other table's current value.
        let other_get = other.getter.get.clone();
        let j = joiner.clone();
        let this_side = move |ctx: &mut ProcessorContext<'_, K, Change<VR>>,
                              r: Record<K, Change<V>>| {
            let found = other_get(ctx as &mut dyn StoreAccess, &r.key)?;
            let ov = found.as_ref().map(|f| &f.value);
            let out = |v: Option<&V>| j(v, ov);
            let change = Change::new(out(r.value.new.as_ref()), out(r.value.old.as_ref()));
            forward_joined(ctx, r.key, change, r.timestamp, found.map(|f| f.timestamp))
        };
        // Other side: the other table's change joined with this table's current value.
        let this_get = self.getter.get.clone();
        let j = joiner.clone();
        let other_side = move |ctx: &mut ProcessorContext<'_, K, Change<VR>>,
                               r: Record<K, Change<VO>>| {
            let found = this_get(ctx as &mut dyn StoreAccess, &r.key)?;
            let tv = found.as_ref().map(|f| &f.value);
            let out = |v: Option<&VO>| j(tv, v);
            let change = Change::new(out(r.value.new.as_ref()), out(r.value.old.as_ref()));
            forward_joined(ctx, r.key, change, r.timestamp, found.map(|f| f.timestamp))
        };
        let merge = |ctx: &mut ProcessorContext<'_, K, Change<VR>>, r: Record<K, Change<VR>>| {
            ctx.forward(r)
        };
        {
            let mut b = self.b.borrow_mut();
            let t = &mut b.topology;
            let mut results = vec![
                t.add_processor(&this_name, Stateless::supplier(this_side), &[&self.node])
                    .map(|_| ()),
                t.add_processor(&other_name, Stateless::supplier(other_side), &[&other.node])
                    .map(|_| ()),
                t.add_processor(
                    &merge_name,
                    Stateless::supplier(merge),
                    &[&this_name, &other_name],
                )
                .map(|_| ()),
            ];
            let other_stores: Vec<&str> = other.getter.stores.iter().map(String::as_str).collect();
            let this_stores: Vec<&str> = self.getter.stores.iter().map(String::as_str).collect();
            results.push(
                t.connect_processor_and_state_stores(&this_name, &other_stores)
                    .map(|_| ()),
            );
            results.push(
                t.connect_processor_and_state_stores(&other_name, &this_stores)
                    .map(|_| ()),
            );
            let mut topics: Vec<&str> = self.source_topics.iter().map(String::as_str).collect();
            topics.extend(other.source_topics.iter().map(String::as_str));
            t.add_copartition_group(&topics);
            for r in results {
                b.check(r);
            }
        }
        let (lg, rg) = (self.getter.get.clone(), other.getter.get.clone());
        let mut stores = self.getter.stores.clone();
        stores.extend(other.getter.stores.iter().cloned());
        let getter = ValueGetter {
            stores,
            get: Arc::new(move |ctx: &mut dyn StoreAccess, k: &K| {
                let l = lg(ctx, k)?;
                let r = rg(ctx, k)?;
                let ts = match (&l, &r) {
                    (Some(a), Some(b)) => a.timestamp.max(b.timestamp),
                    (Some(a), None) => a.timestamp,
                    (None, Some(b)) => b.timestamp,
                    (None, None) => return Ok(None),
                };
                let v = joiner(l.as_ref().map(|x| &x.value), r.as_ref().map(|x| &x.value));
                Ok(v.map(|v| ValueAndTimestamp::make(v, ts)))
            }),
        };
        let mut source_topics = self.source_topics.clone();
        source_topics.extend(other.source_topics.iter().cloned());
        KTable {
            b: self.b.clone(),
            node: merge_name,
            key_serde: self.key_serde.clone().or_else(|| other.key_serde.clone()),
            value_serde: None,
            store: None,
            getter,
            source_topics,
            window_close: None,
        }
    }
}

/// Forwards a joined change at the later of the two sides' timestamps, unless it is empty.
fn forward_joined<K: Data, VR: Data>(
    ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    key: K,
    change: Change<VR>,
    ts: i64,
    other_ts: Option<i64>,
) -> kstreams_core::Result<()> {
    if change.new.is_none() && change.old.is_none() {
        return Ok(());
    }
    let ts = other_ts.map_or(ts, |o| o.max(ts));
    ctx.forward(Record::new(key, change, ts))
}
