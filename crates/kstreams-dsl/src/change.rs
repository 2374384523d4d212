//! `Change`: a table update as its new and old value.

use kstreams_core::{Serde, SerdeError, SharedSerde};

/// How a KTable forwards an update internally: the new value (`None`: deleted) and the old
/// one (`None`: absent before). Re-aggregating a table (`KTable::group_by`) needs both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The value after the update.
    pub new: Option<V>,
    /// The value before the update.
    pub old: Option<V>,
}

impl<V> Change<V> {
    /// An update from `old` to `new`.
    pub fn new(new: Option<V>, old: Option<V>) -> Self {
        Change { new, old }
    }

    /// Applies `f` to both values.
    pub fn map<W>(self, mut f: impl FnMut(V) -> W) -> Change<W> {
        Change {
            new: self.new.map(&mut f),
            old: self.old.map(f),
        }
    }
}

/// Serializes a [`Change`] (for repartition topics of table re-aggregations):
/// `[flags][u32 len of new][new][old]`, flags bit 0 = new present, bit 1 = old present.
pub struct ChangeSerde<V> {
    inner: SharedSerde<V>,
}

impl<V> ChangeSerde<V> {
    /// Wraps the value serde.
    pub fn new(inner: SharedSerde<V>) -> Self {
        ChangeSerde { inner }
    }
}

fn bytes_of<V: 'static>(s: &SharedSerde<V>, topic: &str, v: &V) -> Result<Vec<u8>, SerdeError> {
    s.serialize(topic, v)?
        .ok_or_else(|| SerdeError::serialize(topic, "ChangeSerde", "value serialized to null"))
}

impl<V: Send + Sync + 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize(&self, topic: &str, c: &Change<V>) -> Result<Option<Vec<u8>>, SerdeError> {
        let new = c
            .new
            .as_ref()
            .map(|v| bytes_of(&self.inner, topic, v))
            .transpose()?;
        let old = c
            .old
            .as_ref()
            .map(|v| bytes_of(&self.inner, topic, v))
            .transpose()?;
        let flags = u8::from(new.is_some()) | (u8::from(old.is_some()) << 1);
        let new = new.unwrap_or_default();
        let len = u32::try_from(new.len())
            .map_err(|_| SerdeError::serialize(topic, "ChangeSerde", "value too large"))?;
        let mut out = Vec::with_capacity(5 + new.len());
        out.push(flags);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&new);
        if let Some(o) = old {
            out.extend_from_slice(&o);
        }
        Ok(Some(out))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Change<V>, SerdeError> {
        let bad = |m: &str| SerdeError::deserialize(topic, "ChangeSerde", m);
        let d = data.ok_or_else(|| SerdeError::unexpected_null(topic, "ChangeSerde"))?;
        if d.len() < 5 {
            return Err(bad("truncated header"));
        }
        let flags = d[0];
        let len = u32::from_be_bytes([d[1], d[2], d[3], d[4]]) as usize;
        let rest = &d[5..];
        if rest.len() < len {
            return Err(bad("truncated new value"));
        }
        let (new_b, old_b) = rest.split_at(len);
        let new = if flags & 1 != 0 {
            Some(self.inner.deserialize(topic, Some(new_b))?)
        } else {
            None
        };
        let old = if flags & 2 != 0 {
            Some(self.inner.deserialize(topic, Some(old_b))?)
        } else {
            None
        };
        Ok(Change { new, old })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_core::Serdes;

    #[test]
    fn round_trips_every_shape() {
        let s = ChangeSerde::new(Serdes::string());
        for c in [
            Change::new(Some("a".to_string()), Some("bb".to_string())),
            Change::new(None, Some("bb".to_string())),
            Change::new(Some("".to_string()), None),
            Change::new(None, None),
        ] {
            let b = s.serialize("t", &c).unwrap();
            assert_eq!(s.deserialize("t", b.as_deref()).unwrap(), c);
        }
        assert!(s.deserialize("t", Some(&[1, 0, 0, 0, 9, 1])).is_err());
        assert!(s.deserialize("t", None).is_err());
    }
}
