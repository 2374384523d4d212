//! `KTable::map_values`: a table of transformed values.

use kstreams_core::Record;

use crate::change::Change;
use crate::value_and_timestamp::ValueAndTimestamp;
use crate::{Data, KTable, Named};

impl<K: Data, V: Data> KTable<K, V> {
    /// Each value replaced by `mapper` of it; deletes stay deletes.
    pub fn map_values<VO: Data>(
        &self,
        mapper: impl Fn(&V) -> VO + Send + Sync + 'static,
    ) -> KTable<K, VO> {
        self.map_values_named(move |_k, v| mapper(v), Named::generated())
    }

    /// Values from key and value, with a node name.
    pub fn map_values_named<VO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> VO + Send + Sync + 'static,
        named: Named,
    ) -> KTable<K, VO> {
        let mapper = std::sync::Arc::new(mapper);
        let m = mapper.clone();
        let getter = self
            .getter
            .then(move |k, v| Some(ValueAndTimestamp::make(m(k, &v.value), v.timestamp)));
        self.stateless(
            &named,
            "KTABLE-MAPVALUES-",
            None,
            getter,
            move |ctx, r: Record<K, Change<V>>| {
                let c = Change::new(
                    r.value.new.as_ref().map(|v| mapper(&r.key, v)),
                    r.value.old.as_ref().map(|v| mapper(&r.key, v)),
                );
                ctx.forward(r.with_value(c))
            },
        )
    }
}
