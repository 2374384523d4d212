//! `Windowed`: a key with its time window, and its serde.

use kstreams_core::{Serde, SerdeError, SharedSerde};

/// A time window `[start, end)` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

impl Window {
    /// The window `[start, end)`.
    pub fn new(start: i64, end: i64) -> Self {
        Window { start, end }
    }
}

/// The key of a windowed aggregation: the record key and the window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

impl<K> Windowed<K> {
    /// `key` in `window`.
    pub fn new(key: K, window: Window) -> Self {
        Windowed { key, window }
    }
}

/// `[key bytes][8-byte start][8-byte end]`, big-endian: both bounds, in a layout of this
/// project. Windowed aggregations write Kafka Streams' layouts instead
/// ([`TimeWindowedSerde`](crate::TimeWindowedSerde),
/// [`SessionWindowedSerde`](crate::SessionWindowedSerde)).
pub struct WindowedSerde<K> {
    inner: SharedSerde<K>,
}

impl<K> WindowedSerde<K> {
    /// Wraps the key serde.
    pub fn new(inner: SharedSerde<K>) -> Self {
        WindowedSerde { inner }
    }
}

impl<K: Send + Sync + 'static> Serde<Windowed<K>> for WindowedSerde<K> {
    fn serialize(&self, topic: &str, w: &Windowed<K>) -> Result<Option<Vec<u8>>, SerdeError> {
        let mut out = self.inner.serialize(topic, &w.key)?.ok_or_else(|| {
            SerdeError::serialize(topic, "WindowedSerde", "windowed key serialized to null")
        })?;
        out.extend_from_slice(&w.window.start.to_be_bytes());
        out.extend_from_slice(&w.window.end.to_be_bytes());
        Ok(Some(out))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let d = data.ok_or_else(|| SerdeError::unexpected_null(topic, "WindowedSerde"))?;
        if d.len() < 16 {
            return Err(SerdeError::deserialize(
                topic,
                "WindowedSerde",
                "shorter than the 16-byte window",
            ));
        }
        let (key, w) = d.split_at(d.len() - 16);
        let mut s = [0u8; 8];
        let mut e = [0u8; 8];
        s.copy_from_slice(&w[..8]);
        e.copy_from_slice(&w[8..]);
        Ok(Windowed::new(
            self.inner.deserialize(topic, Some(key))?,
            Window::new(i64::from_be_bytes(s), i64::from_be_bytes(e)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_core::Serdes;

    #[test]
    fn round_trip_and_malformed() {
        let s = WindowedSerde::new(Serdes::string());
        let w = Windowed::new("k".to_string(), Window::new(10, 20));
        let b = s.serialize("t", &w).unwrap();
        assert_eq!(s.deserialize("t", b.as_deref()).unwrap(), w);
        assert!(s.deserialize("t", Some(&[0; 5])).is_err());
        assert!(s.deserialize("t", None).is_err());
    }
}
