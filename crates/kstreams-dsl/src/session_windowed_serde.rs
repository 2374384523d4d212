//! `SessionWindowedSerde`: windowed keys of session windows in Kafka Streams' format.

use kstreams_core::{Serde, SerdeError, SharedSerde};

use crate::windowed::{Window, Windowed};

/// A session-windowed key as Kafka Streams' `SessionWindowedSerializer` writes it: the key's
/// bytes, the session end, then the session start, each 8 big-endian bytes (both bounds
/// inclusive). The default key serde of session-windowed aggregations.
pub struct SessionWindowedSerde<K> {
    inner: SharedSerde<K>,
}

impl<K> SessionWindowedSerde<K> {
    /// Wraps the key serde.
    pub fn new(inner: SharedSerde<K>) -> Self {
        SessionWindowedSerde { inner }
    }
}

impl<K: Send + Sync + 'static> Serde<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize(&self, topic: &str, w: &Windowed<K>) -> Result<Option<Vec<u8>>, SerdeError> {
        let mut out = self.inner.serialize(topic, &w.key)?.ok_or_else(|| {
            SerdeError::serialize(
                topic,
                "SessionWindowedSerde",
                "windowed key serialized to null",
            )
        })?;
        out.extend_from_slice(&w.window.end.to_be_bytes());
        out.extend_from_slice(&w.window.start.to_be_bytes());
        Ok(Some(out))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let d = data.ok_or_else(|| SerdeError::unexpected_null(topic, "SessionWindowedSerde"))?;
        let Some(split) = d.len().checked_sub(16) else {
            return Err(SerdeError::deserialize(
                topic,
                "SessionWindowedSerde",
                "shorter than the 16-byte session window",
            ));
        };
        let (key, w) = d.split_at(split);
        let mut e = [0u8; 8];
        let mut s = [0u8; 8];
        e.copy_from_slice(&w[..8]);
        s.copy_from_slice(&w[8..]);
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
    fn kafka_layout_end_before_start() {
        let s = SessionWindowedSerde::new(Serdes::string());
        let w = Windowed::new("k".to_string(), Window::new(1, 2));
        let b = s.serialize("t", &w).unwrap().unwrap();
        assert_eq!(
            b,
            [b'k', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1],
            "key, end, start"
        );
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), w);
        assert!(s.deserialize("t", Some(&[0; 15])).is_err());
        assert!(s.deserialize("t", None).is_err());
    }
}
