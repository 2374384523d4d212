//! `Repartitioned`: settings of an explicit `KStream::repartition`.

use kstreams_core::SharedSerde;

/// Name (topic `<application.id>-<name>-repartition`), serdes and partition count of an
/// explicit repartition.
pub struct Repartitioned<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) partitions: Option<i32>,
}

impl<K, V> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Repartitioned {
            name: None,
            key_serde: None,
            value_serde: None,
            partitions: None,
        }
    }
}

impl<K, V> Repartitioned<K, V> {
    /// A repartition topic named `<name>-repartition`.
    pub fn as_(name: impl Into<String>) -> Self {
        Repartitioned {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// Serdes of the repartition topic.
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Repartitioned {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Sets the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the key serde.
    pub fn with_key_serde(mut self, s: SharedSerde<K>) -> Self {
        self.key_serde = Some(s);
        self
    }

    /// Sets the value serde.
    pub fn with_value_serde(mut self, s: SharedSerde<V>) -> Self {
        self.value_serde = Some(s);
        self
    }

    /// The number of partitions of the topic (by default, as many as the input's).
    pub fn with_number_of_partitions(mut self, n: i32) -> Self {
        self.partitions = Some(n);
        self
    }

    /// The requested partition count.
    pub fn number_of_partitions(&self) -> Option<i32> {
        self.partitions
    }
}
