//! `filter` and `filter_not`: keep the records a predicate accepts (or rejects).

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Keeps the records for which `predicate` is true.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter_named(predicate, Named::generated())
    }

    /// [`filter`](Self::filter) with a node name.
    pub fn filter_named(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        named: Named,
    ) -> Self {
        let name = self.name(&named, "KSTREAM-FILTER-");
        self.stateless(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
            move |ctx, r| {
                if predicate(&r.key, &r.value) {
                    ctx.forward(r)?;
                }
                Ok(())
            },
        )
    }

    /// Drops the records for which `predicate` is true.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.filter_not_named(predicate, Named::generated())
    }

    /// [`filter_not`](Self::filter_not) with a node name.
    pub fn filter_not_named(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        named: Named,
    ) -> Self {
        self.filter_named(move |k, v| !predicate(k, v), named)
    }
}
