//! `repartition`: explicitly write the stream through an internal topic, partitioned by key.

use crate::repartition_topic::through_repartition_topic_with;
use crate::{Data, KStream, Repartitioned};

impl<K: Data, V: Data> KStream<K, V> {
    /// Writes the stream to `<application.id>-<name>-repartition` and reads it back (a
    /// generated `KSTREAM-REPARTITION-<n>` name without one). A later grouping needs no
    /// further repartition. A partition count in `repartitioned` is recorded on the topology
    /// (`ProcessorTopology::internal_topic_partitions`) for the runtime to create the topic
    /// with.
    pub fn repartition(&self, repartitioned: Repartitioned<K, V>) -> KStream<K, V> {
        let base = match &repartitioned.name {
            Some(n) => n.clone(),
            None => self.b.borrow_mut().new_name("KSTREAM-REPARTITION-"),
        };
        let (Some(ks), Some(vs)) = (
            self.require_key_serde(repartitioned.key_serde, &base),
            self.require_value_serde(repartitioned.value_serde, &base),
        ) else {
            return self.clone();
        };
        through_repartition_topic_with(self, &base, ks, vs, repartitioned.partitions)
    }
}
