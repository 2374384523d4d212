//! `KTable::to_stream`: the table's updates as a stream.

use kstreams_core::{ProcessorContext, Record, Serdes};

use crate::change::Change;
use crate::stateless::Stateless;
use crate::{Data, KStream, KTable, Named};

impl<K: Data, V: Data> KTable<K, V> {
    /// Every update as a record of its new value; a delete is a `None` value (a tombstone
    /// when written to a topic).
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        self.to_stream_named(Named::generated())
    }

    /// [`to_stream`](Self::to_stream) with a node name.
    pub fn to_stream_named(&self, named: Named) -> KStream<K, Option<V>> {
        let name = named.or_generate(&mut self.b.borrow_mut(), "KTABLE-TOSTREAM-");
        let f = |ctx: &mut ProcessorContext<'_, K, Option<V>>, r: Record<K, Change<V>>| {
            let v = r.value.new.clone();
            ctx.forward(r.with_value(v))
        };
        {
            let mut b = self.b.borrow_mut();
            let r = b
                .topology
                .add_processor(&name, Stateless::supplier(f), &[&self.node])
                .map(|_| ());
            b.check(r);
        }
        KStream::new(
            self.b.clone(),
            name,
            self.key_serde.clone(),
            self.value_serde.clone().map(Serdes::option),
            false,
            self.source_topics.clone(),
        )
    }
}
