//! `KTable::filter` and `filter_not`: a table of the entries a predicate accepts.

use kstreams_core::Record;

use crate::change::Change;
use crate::{Data, KTable, Named};

impl<K: Data, V: Data> KTable<K, V> {
    /// The entries for which `predicate` is true. An update that makes an entry fail the
    /// predicate forwards a delete (new `None`); changes invisible on both sides are dropped.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter_named(predicate, Named::generated())
    }

    /// [`filter`](Self::filter) with a node name.
    pub fn filter_named(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        named: Named,
    ) -> Self {
        let predicate = std::sync::Arc::new(predicate);
        let p = predicate.clone();
        let getter = self
            .getter
            .then(move |k, v| if p(k, &v.value) { Some(v) } else { None });
        self.stateless(
            &named,
            "KTABLE-FILTER-",
            self.value_serde.clone(),
            getter,
            move |ctx, r: Record<K, Change<V>>| {
                let keep = |v: Option<V>| v.filter(|v| predicate(&r.key, v));
                let c = Change::new(keep(r.value.new.clone()), keep(r.value.old.clone()));
                if c.new.is_none() && c.old.is_none() {
                    return Ok(());
                }
                ctx.forward(r.with_value(c))
            },
        )
    }

    /// The entries for which `predicate` is false.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter_named(move |k, v| !predicate(k, v), Named::generated())
    }
}
