//! [`BufferedChange`]: what `suppress(until_time_limit)` keeps per key, and its store format.

use kstreams_core::{Serde, SerdeError, SharedSerde};

/// A key's held-back update: the latest value, the value before the first held-back update
/// (for downstream subtractors), the latest record's timestamp and when the key entered the
/// buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BufferedChange<V> {
    pub(crate) old: Option<V>,
    pub(crate) new: Option<V>,
    pub(crate) timestamp: i64,
    pub(crate) buffer_time: i64,
}

/// `[buffer time: i64 BE][timestamp: i64 BE][flags: bit 0 old present, bit 1 new present]
/// [old length: u32 BE][old bytes][new bytes]`.
pub(crate) struct BufferedChangeSerde<V> {
    inner: SharedSerde<V>,
}

impl<V> BufferedChangeSerde<V> {
    pub(crate) fn new(inner: SharedSerde<V>) -> Self {
        BufferedChangeSerde { inner }
    }
}

const NAME: &str = "BufferedChangeSerde";

fn take<'a>(topic: &str, data: &mut &'a [u8], n: usize) -> Result<&'a [u8], SerdeError> {
    if data.len() < n {
        return Err(SerdeError::deserialize(topic, NAME, "truncated"));
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn i64_of(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    i64::from_be_bytes(a)
}

impl<V: Send + Sync + 'static> Serde<BufferedChange<V>> for BufferedChangeSerde<V> {
    fn serialize(&self, topic: &str, v: &BufferedChange<V>) -> Result<Option<Vec<u8>>, SerdeError> {
        let encode = |x: &Option<V>| -> Result<Option<Vec<u8>>, SerdeError> {
            match x {
                Some(x) => Ok(Some(self.inner.serialize(topic, x)?.unwrap_or_default())),
                None => Ok(None),
            }
        };
        let (old, new) = (encode(&v.old)?, encode(&v.new)?);
        let mut out = Vec::with_capacity(21 + old.as_ref().map_or(0, Vec::len));
        out.extend_from_slice(&v.buffer_time.to_be_bytes());
        out.extend_from_slice(&v.timestamp.to_be_bytes());
        out.push(u8::from(old.is_some()) | (u8::from(new.is_some()) << 1));
        let old = old.unwrap_or_default();
        let len = u32::try_from(old.len())
            .map_err(|_| SerdeError::serialize(topic, NAME, "an old value over 4 GiB"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&old);
        out.extend_from_slice(&new.unwrap_or_default());
        Ok(Some(out))
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> Result<BufferedChange<V>, SerdeError> {
        let mut d = data.ok_or_else(|| SerdeError::unexpected_null(topic, NAME))?;
        let buffer_time = i64_of(take(topic, &mut d, 8)?);
        let timestamp = i64_of(take(topic, &mut d, 8)?);
        let flags = take(topic, &mut d, 1)?[0];
        let len_bytes = take(topic, &mut d, 4)?;
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let old_bytes = take(topic, &mut d, len as usize)?;
        let old = (flags & 1 != 0)
            .then(|| self.inner.deserialize(topic, Some(old_bytes)))
            .transpose()?;
        let new = (flags & 2 != 0)
            .then(|| self.inner.deserialize(topic, Some(d)))
            .transpose()?;
        Ok(BufferedChange {
            old,
            new,
            timestamp,
            buffer_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use kstreams_core::Serdes;

    use super::*;

    #[test]
    fn round_trips_and_rejects_truncated_bytes() {
        let s = BufferedChangeSerde::new(Serdes::string());
        for change in [
            BufferedChange {
                old: Some("before".to_string()),
                new: Some("after".to_string()),
                timestamp: 7,
                buffer_time: -3,
            },
            BufferedChange {
                old: None,
                new: Some(String::new()),
                timestamp: 1,
                buffer_time: 1,
            },
            BufferedChange {
                old: Some("gone".to_string()),
                new: None,
                timestamp: i64::MAX,
                buffer_time: i64::MIN,
            },
        ] {
            let bytes = s.serialize("t", &change).unwrap().unwrap();
            assert_eq!(s.deserialize("t", Some(&bytes)).unwrap(), change);
            for cut in 0..21.min(bytes.len()) {
                assert!(s.deserialize("t", Some(&bytes[..cut])).is_err(), "{cut}");
            }
        }
        assert!(s.deserialize("t", None).is_err());
        // An old-value length past the end.
        let mut bad = vec![0u8; 17];
        bad[16] = 1;
        bad.extend_from_slice(&100u32.to_be_bytes());
        assert!(s.deserialize("t", Some(&bad)).is_err());
    }
}
