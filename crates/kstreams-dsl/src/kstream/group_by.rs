//! `group_by_key` and `group_by`: group a stream for aggregation.

use crate::kgrouped_stream::KGroupedStream;
use crate::{Data, Grouped, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Groups by the current key. If a key-changing operator ran before, the aggregation
    /// reads through a repartition topic.
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), grouped)
    }

    /// Groups by a new key from `selector` (a `KSTREAM-KEY-SELECT` node); the aggregation
    /// always reads through a repartition topic.
    pub fn group_by<KR: Data>(
        &self,
        selector: impl Fn(&K, &V) -> KR + Send + Sync + 'static,
        grouped: Grouped<KR, V>,
    ) -> KGroupedStream<KR, V> {
        let rekeyed = self.select_key_named(selector, Named::generated());
        KGroupedStream::new(rekeyed, grouped)
    }
}
