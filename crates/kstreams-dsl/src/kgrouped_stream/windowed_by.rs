//! `KGroupedStream::windowed_by`: aggregate per key and time window.

use crate::kgrouped_stream::KGroupedStream;
use crate::{Data, TimeWindowedKStream, TimeWindows};

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Aggregations of this grouping per tumbling or hopping window.
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            grouped: self.clone(),
            windows,
        }
    }
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            name: self.name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartitioned: self.repartitioned.clone(),
        }
    }
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Aggregations of this grouping per session.
    pub fn windowed_by_session(
        &self,
        windows: crate::SessionWindows,
    ) -> crate::SessionWindowedKStream<K, V> {
        crate::SessionWindowedKStream {
            grouped: self.clone(),
            windows,
        }
    }
}
