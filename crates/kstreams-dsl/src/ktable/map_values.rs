//! `KTable::map_values`: a table of transformed values.

use std::sync::Arc;

use crate::change::Change;
use crate::{Data, KTable, Materialized, Named};
use kstreams_core::state::ValueAndTimestamp;

type Mapper<K, V, VO> = Arc<dyn Fn(&K, &V) -> VO + Send + Sync>;

impl<K: Data, V: Data> KTable<K, V> {
    /// Each value replaced by `mapper` of it; deletes stay deletes.
    pub fn map_values<VO: Data>(
        &self,
        mapper: impl Fn(&V) -> VO + Send + Sync + 'static,
    ) -> KTable<K, VO> {
        self.map_values_inner(
            Arc::new(move |_k: &K, v: &V| mapper(v)),
            Named::generated(),
            None,
        )
    }

    /// Values from key and value, with a node name.
    pub fn map_values_named<VO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> VO + Send + Sync + 'static,
        named: Named,
    ) -> KTable<K, VO> {
        self.map_values_inner(Arc::new(mapper), named, None)
    }

    /// [`map_values`](Self::map_values) into a queryable store.
    pub fn map_values_materialized<VO: Data>(
        &self,
        mapper: impl Fn(&V) -> VO + Send + Sync + 'static,
        materialized: Materialized<K, VO>,
    ) -> KTable<K, VO> {
        self.map_values_inner(
            Arc::new(move |_k: &K, v: &V| mapper(v)),
            Named::generated(),
            Some(materialized),
        )
    }

    fn map_values_inner<VO: Data>(
        &self,
        mapper: Mapper<K, V, VO>,
        named: Named,
        materialized: Option<Materialized<K, VO>>,
    ) -> KTable<K, VO> {
        let m = mapper.clone();
        let getter = self
            .getter
            .then(move |k, v| Some(ValueAndTimestamp::make(m(k, &v.value), v.timestamp)));
        self.mapped(
            &named,
            "KTABLE-MAPVALUES-",
            None,
            getter,
            materialized,
            move |k, c: Change<V>| Some(c.map(|v| mapper(k, &v))),
        )
    }
}
