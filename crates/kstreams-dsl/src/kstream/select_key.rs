//! `select_key`: a new key per record (marks the stream for repartitioning).

use kstreams_core::Record;

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record's key.
    pub fn select_key<KO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> KO + Send + Sync + 'static,
    ) -> KStream<KO, V> {
        self.select_key_named(mapper, Named::generated())
    }

    /// [`select_key`](Self::select_key) with a node name.
    pub fn select_key_named<KO: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> KO + Send + Sync + 'static,
        named: Named,
    ) -> KStream<KO, V> {
        let name = self.name(&named, "KSTREAM-KEY-SELECT-");
        self.stateless(
            name,
            None,
            self.value_serde.clone(),
            true,
            move |ctx, r: Record<K, V>| {
                let k = mapper(&r.key, &r.value);
                ctx.forward(r.with_key(k))
            },
        )
    }
}
