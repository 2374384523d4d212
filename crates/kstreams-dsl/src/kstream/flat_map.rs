//! `flat_map`: zero or more records of any key per record (marks for repartitioning).

use kstreams_core::Record;

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record by the records `mapper` returns, all with the input's timestamp
    /// and headers.
    pub fn flat_map<KO: Data, VO: Data, I>(
        &self,
        mapper: impl Fn(&K, &V) -> I + Send + Sync + 'static,
    ) -> KStream<KO, VO>
    where
        I: IntoIterator<Item = (KO, VO)>,
    {
        self.flat_map_named(mapper, Named::generated())
    }

    /// [`flat_map`](Self::flat_map) with a node name.
    pub fn flat_map_named<KO: Data, VO: Data, I>(
        &self,
        mapper: impl Fn(&K, &V) -> I + Send + Sync + 'static,
        named: Named,
    ) -> KStream<KO, VO>
    where
        I: IntoIterator<Item = (KO, VO)>,
    {
        let name = self.name(&named, "KSTREAM-FLATMAP-");
        self.stateless(name, None, None, true, move |ctx, r: Record<K, V>| {
            for (k, v) in mapper(&r.key, &r.value) {
                ctx.forward(Record::new(k, v, r.timestamp).with_headers(r.headers.clone()))?;
            }
            Ok(())
        })
    }
}
