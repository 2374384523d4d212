//! `merge`: one stream of the records of two.

use kstreams_core::Record;

use crate::stateless::Stateless;
use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// The records of both streams, in processing order.
    pub fn merge(&self, other: &KStream<K, V>) -> Self {
        self.merge_named(other, Named::generated())
    }

    /// [`merge`](Self::merge) with a node name.
    pub fn merge_named(&self, other: &KStream<K, V>, named: Named) -> Self {
        let name = self.name(&named, "KSTREAM-MERGE-");
        {
            let mut b = self.b.borrow_mut();
            let f = |ctx: &mut kstreams_core::ProcessorContext<'_, K, V>, r: Record<K, V>| {
                ctx.forward(r)
            };
            let r = b
                .topology
                .add_processor(&name, Stateless::supplier(f), &[&self.node, &other.node])
                .map(|_| ());
            b.check(r);
        }
        let mut topics = self.source_topics.clone();
        topics.extend(other.source_topics.iter().cloned());
        KStream {
            b: self.b.clone(),
            node: name,
            key_serde: self.key_serde.clone().or_else(|| other.key_serde.clone()),
            value_serde: self
                .value_serde
                .clone()
                .or_else(|| other.value_serde.clone()),
            repartition_required: self.repartition_required || other.repartition_required,
            source_topics: topics,
        }
    }
}
