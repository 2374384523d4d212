//! `Produced`: how a stream is written to a topic.

use std::sync::Arc;

use kstreams_core::SharedSerde;
use kstreams_core::processor::StreamPartitioner;

/// Serdes, partitioner and sink name of `KStream::to`; serdes default to the stream's.
pub struct Produced<K, V> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Default for Produced<K, V> {
    fn default() -> Self {
        Produced {
            key_serde: None,
            value_serde: None,
            partitioner: None,
            name: None,
        }
    }
}

impl<K: 'static, V: 'static> Produced<K, V> {
    /// Writes with these serdes.
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Produced {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Chooses partitions with `p`.
    pub fn with_stream_partitioner(mut self, p: impl StreamPartitioner<K, V>) -> Self {
        self.partitioner = Some(Arc::new(p));
        self
    }

    /// Names the sink node.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}
