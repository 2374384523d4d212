//! `to`: write the stream to a topic (static, or chosen per record).

use kstreams_core::processor::TopicNameExtractor;

use crate::{Data, KStream, Produced};

impl<K: Data, V: Data> KStream<K, V> {
    /// Writes every record to `topic`.
    pub fn to(&self, topic: &str, produced: Produced<K, V>) {
        let name = self.sink_name(&produced);
        let (Some(ks), Some(vs)) = (
            self.require_key_serde(produced.key_serde, &name),
            self.require_value_serde(produced.value_serde, &name),
        ) else {
            return;
        };
        let mut b = self.b.borrow_mut();
        let r = match produced.partitioner {
            None => b.topology.add_sink(&name, topic, ks, vs, &[&self.node]),
            Some(p) => b.topology.add_sink_with_partitioner(
                &name,
                topic,
                ks,
                vs,
                move |t: &str, k: &K, v: &V, n: i32| p.partition(t, k, v, n),
                &[&self.node],
            ),
        }
        .map(|_| ());
        b.check(r);
    }

    /// Writes each record to the topic `extractor` chooses for it.
    pub fn to_dynamic(&self, extractor: impl TopicNameExtractor<K, V>, produced: Produced<K, V>) {
        let name = self.sink_name(&produced);
        let (Some(ks), Some(vs)) = (
            self.require_key_serde(produced.key_serde, &name),
            self.require_value_serde(produced.value_serde, &name),
        ) else {
            return;
        };
        let mut b = self.b.borrow_mut();
        let r = b
            .topology
            .add_dynamic_sink(&name, extractor, ks, vs, &[&self.node])
            .map(|_| ());
        b.check(r);
    }

    fn sink_name(&self, produced: &Produced<K, V>) -> String {
        match &produced.name {
            Some(n) => n.clone(),
            None => self.b.borrow_mut().new_name("KSTREAM-SINK-"),
        }
    }
}
