//! `StreamJoined`: serdes and names of a stream-stream join.

use kstreams_core::SharedSerde;

use crate::materialized::StoreType;

/// Serdes of a stream-stream join's stores (by default the streams' own) and its name,
/// which also names its stores (`<name>-this-join-store`, `<name>-other-join-store`,
/// `<name>-outer-shared-join-store`) and repartition topics (`<name>-left-repartition`,
/// `<name>-right-repartition`).
pub struct StreamJoined<K, V, VO> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) other_value_serde: Option<SharedSerde<VO>>,
    pub(crate) store_type: StoreType,
}

impl<K, V, VO> Default for StreamJoined<K, V, VO> {
    fn default() -> Self {
        StreamJoined {
            name: None,
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            store_type: StoreType::RocksDb,
        }
    }
}

impl<K, V, VO> StreamJoined<K, V, VO> {
    /// A join with these serdes.
    pub fn with(
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        other_value_serde: SharedSerde<VO>,
    ) -> Self {
        StreamJoined {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            other_value_serde: Some(other_value_serde),
            ..Self::default()
        }
    }

    /// Names the join.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// RocksDB (default) or in-memory window stores.
    pub fn with_store_type(mut self, t: StoreType) -> Self {
        self.store_type = t;
        self
    }
}
