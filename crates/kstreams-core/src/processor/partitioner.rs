//! Hooks of sink nodes: choosing the partition and the topic per record.

use crate::record::RecordMetadata;

/// Chooses the partition of an output record; `None` leaves it to the producer's default
/// (murmur2 of the serialized key).
pub trait StreamPartitioner<K, V>: Send + Sync + 'static {
    /// The partition for this record in a topic of `num_partitions` partitions.
    fn partition(&self, topic: &str, key: &K, value: &V, num_partitions: i32) -> Option<i32>;
}

impl<K, V, F> StreamPartitioner<K, V> for F
where
    F: Fn(&str, &K, &V, i32) -> Option<i32> + Send + Sync + 'static,
{
    fn partition(&self, topic: &str, key: &K, value: &V, num_partitions: i32) -> Option<i32> {
        self(topic, key, value, num_partitions)
    }
}

/// Chooses the output topic per record (a dynamic sink).
pub trait TopicNameExtractor<K, V>: Send + Sync + 'static {
    /// The topic for this record; `metadata` is the input record's origin, when there is one.
    fn extract(&self, key: &K, value: &V, metadata: Option<&RecordMetadata>) -> String;
}

impl<K, V, F> TopicNameExtractor<K, V> for F
where
    F: Fn(&K, &V, Option<&RecordMetadata>) -> String + Send + Sync + 'static,
{
    fn extract(&self, key: &K, value: &V, metadata: Option<&RecordMetadata>) -> String {
        self(key, value, metadata)
    }
}
