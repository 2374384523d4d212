//! `KTable::filter` and `filter_not`: a table of the entries a predicate accepts.

use std::sync::Arc;

use crate::change::Change;
use crate::{Data, KTable, Materialized, Named};

type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

impl<K: Data, V: Data> KTable<K, V> {
    /// The entries for which `predicate` is true. An update that makes an entry fail the
    /// predicate forwards a delete (new `None`); changes invisible on both sides are dropped.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter_inner(Arc::new(predicate), Named::generated(), None)
    }

    /// [`filter`](Self::filter) with a node name.
    pub fn filter_named(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        named: Named,
    ) -> Self {
        self.filter_inner(Arc::new(predicate), named, None)
    }

    /// [`filter`](Self::filter) into a queryable store.
    pub fn filter_materialized(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> Self {
        self.filter_inner(Arc::new(predicate), Named::generated(), Some(materialized))
    }

    /// The entries for which `predicate` is false.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter_inner(
            Arc::new(move |k: &K, v: &V| !predicate(k, v)),
            Named::generated(),
            None,
        )
    }

    fn filter_inner(
        &self,
        predicate: Predicate<K, V>,
        named: Named,
        materialized: Option<Materialized<K, V>>,
    ) -> Self {
        let p = predicate.clone();
        let getter = self
            .getter
            .then(move |k, v| if p(k, &v.value) { Some(v) } else { None });
        self.mapped(
            &named,
            "KTABLE-FILTER-",
            self.value_serde.clone(),
            getter,
            materialized,
            move |k, c: Change<V>| {
                let keep = |v: Option<V>| v.filter(|v| predicate(k, v));
                let c = Change::new(keep(c.new), keep(c.old));
                (c.new.is_some() || c.old.is_some()).then_some(c)
            },
        )
    }
}
