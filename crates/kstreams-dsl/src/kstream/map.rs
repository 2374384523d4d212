//! `map`: a new key and value per record (marks the stream for repartitioning).

use kstreams_core::Record;

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record's key and value. The key changes, so a later grouping or join
    /// repartitions; the output has no serdes until given.
    pub fn map<KO: Data, VO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> (KO, VO) + Send + Sync + 'static,
    ) -> KStream<KO, VO> {
        self.map_named(mapper, Named::generated())
    }

    /// [`map`](Self::map) with a node name.
    pub fn map_named<KO: Data, VO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> (KO, VO) + Send + Sync + 'static,
        named: Named,
    ) -> KStream<KO, VO> {
        let name = self.name(&named, "KSTREAM-MAP-");
        self.stateless(name, None, None, true, move |ctx, r: Record<K, V>| {
            let (k, v) = mapper(&r.key, &r.value);
            ctx.forward(r.with_key(k).with_value(v))
        })
    }
}
