//! `ValueAndTimestamp`: what the DSL's key-value and window stores hold.

use crate::{Serde, SerdeError, SharedSerde};

/// A value with the timestamp of its last update, as the DSL's aggregation and table stores
/// keep them (Kafka Streams' timestamped key-value stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueAndTimestamp<V> {
    /// The value.
    pub value: V,
    /// Timestamp (ms) of the record that last updated it.
    pub timestamp: i64,
}

impl<V> ValueAndTimestamp<V> {
    /// A value stamped `timestamp`.
    pub fn make(value: V, timestamp: i64) -> Self {
        ValueAndTimestamp { value, timestamp }
    }
}

/// `[8-byte big-endian timestamp][value bytes]`, Kafka Streams' timestamped store format.
pub struct ValueAndTimestampSerde<V> {
    inner: SharedSerde<V>,
}

impl<V> ValueAndTimestampSerde<V> {
    /// Wraps the value serde.
    pub fn new(inner: SharedSerde<V>) -> Self {
        ValueAndTimestampSerde { inner }
    }
}

impl<V: Send + Sync + 'static> Serde<ValueAndTimestamp<V>> for ValueAndTimestampSerde<V> {
    fn serialize(
        &self,
        topic: &str,
        v: &ValueAndTimestamp<V>,
    ) -> Result<Option<Vec<u8>>, SerdeError> {
        let Some(value) = self.inner.serialize(topic, &v.value)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(8 + value.len());
        out.extend_from_slice(&v.timestamp.to_be_bytes());
        out.extend_from_slice(&value);
        Ok(Some(out))
    }

    fn serialize_into(
        &self,
        topic: &str,
        v: &ValueAndTimestamp<V>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        let start = buf.len();
        buf.extend_from_slice(&v.timestamp.to_be_bytes());
        match self.inner.serialize_into(topic, &v.value, buf) {
            Ok(true) => Ok(true),
            other => {
                buf.truncate(start);
                other
            }
        }
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> Result<ValueAndTimestamp<V>, SerdeError> {
        let d = data.ok_or_else(|| SerdeError::unexpected_null(topic, "ValueAndTimestampSerde"))?;
        if d.len() < 8 {
            return Err(SerdeError::deserialize(
                topic,
                "ValueAndTimestampSerde",
                "shorter than the 8-byte timestamp",
            ));
        }
        let (ts, value) = d.split_at(8);
        let mut t = [0u8; 8];
        t.copy_from_slice(ts);
        Ok(ValueAndTimestamp {
            value: self.inner.deserialize(topic, Some(value))?,
            timestamp: i64::from_be_bytes(t),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Serdes;

    #[test]
    fn round_trip_and_malformed() {
        let s = ValueAndTimestampSerde::new(Serdes::i64());
        let v = ValueAndTimestamp::make(42, -3);
        let b = s.serialize("t", &v).unwrap();
        assert_eq!(s.deserialize("t", b.as_deref()).unwrap(), v);
        assert!(s.deserialize("t", Some(&[1, 2])).is_err());
        // In place: the same bytes after what the buffer held; a null value appends nothing.
        let mut buf = vec![9];
        assert!(s.serialize_into("t", &v, &mut buf).unwrap());
        assert_eq!(&buf[1..], &b.unwrap()[..]);
        let nullable = ValueAndTimestampSerde::new(Serdes::option(Serdes::i64()));
        let mut buf = vec![9];
        let null = ValueAndTimestamp::make(None, 5);
        assert!(!nullable.serialize_into("t", &null, &mut buf).unwrap());
        assert_eq!(buf, [9]);
    }
}
