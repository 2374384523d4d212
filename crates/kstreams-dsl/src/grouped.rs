//! `Grouped`: name and serdes of a grouping.

use kstreams_core::SharedSerde;

/// Serdes of a grouping and the name of its repartition topic (`<name>-repartition`);
/// without a name the topic is named after the aggregation's store.
pub struct Grouped<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
}

impl<K, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Grouped {
            name: None,
            key_serde: None,
            value_serde: None,
        }
    }
}

impl<K, V> Grouped<K, V> {
    /// A grouping named `name`.
    pub fn as_(name: impl Into<String>) -> Self {
        Grouped {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// A grouping with these serdes.
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Grouped {
            name: None,
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
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
}
