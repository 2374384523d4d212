//! `TimeWindowedSerde`: windowed keys of time (tumbling, hopping, sliding) windows in Kafka
//! Streams' format.

use kstreams_core::{Serde, SerdeError, SharedSerde};

use crate::windowed::{Window, Windowed};

/// A windowed key as Kafka Streams' `TimeWindowedSerializer` writes it: the key's bytes, then
/// the window start as 8 big-endian bytes. The end is not written; reading derives it from
/// the window size given here (`start + size`, `i64::MAX` on overflow), as Kafka's
/// `TimeWindowedDeserializer` does. The default key serde of time-windowed and
/// sliding-windowed aggregations (size: the window size, or the time difference).
pub struct TimeWindowedSerde<K> {
    inner: SharedSerde<K>,
    window_size_ms: i64,
}

impl<K> TimeWindowedSerde<K> {
    /// Wraps the key serde, for windows of `window_size_ms`.
    pub fn new(inner: SharedSerde<K>, window_size_ms: i64) -> Self {
        TimeWindowedSerde {
            inner,
            window_size_ms,
        }
    }
}

impl<K: Send + Sync + 'static> Serde<Windowed<K>> for TimeWindowedSerde<K> {
    fn serialize(&self, topic: &str, w: &Windowed<K>) -> Result<Option<Vec<u8>>, SerdeError> {
        let mut out = self.inner.serialize(topic, &w.key)?.ok_or_else(|| {
            SerdeError::serialize(
                topic,
                "TimeWindowedSerde",
                "windowed key serialized to null",
            )
        })?;
        out.extend_from_slice(&w.window.start.to_be_bytes());
        Ok(Some(out))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let d = data.ok_or_else(|| SerdeError::unexpected_null(topic, "TimeWindowedSerde"))?;
        let Some(split) = d.len().checked_sub(8) else {
            return Err(SerdeError::deserialize(
                topic,
                "TimeWindowedSerde",
                "shorter than the 8-byte window start",
            ));
        };
        let (key, start) = d.split_at(split);
        let mut s = [0u8; 8];
        s.copy_from_slice(start);
        let start = i64::from_be_bytes(s);
        let end = start.checked_add(self.window_size_ms).unwrap_or(i64::MAX);
        Ok(Windowed::new(
            self.inner.deserialize(topic, Some(key))?,
            Window::new(start, end),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_core::Serdes;

    #[test]
    fn kafka_layout_round_trip_and_malformed() {
        let s = TimeWindowedSerde::new(Serdes::string(), 10);
        let w = Windowed::new("k".to_string(), Window::new(256, 266));
        let b = s.serialize("t", &w).unwrap().unwrap();
        assert_eq!(b, [b'k', 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), w);
        let far = TimeWindowedSerde::new(Serdes::string(), i64::MAX);
        assert_eq!(
            far.deserialize("t", Some(&b)).unwrap().window.end,
            i64::MAX,
            "an overflowing end is clamped"
        );
        assert!(s.deserialize("t", Some(&[0; 5])).is_err());
        assert!(s.deserialize("t", None).is_err());
    }
}
