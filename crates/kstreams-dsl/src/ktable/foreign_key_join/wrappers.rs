//! Wire formats of the foreign-key join's internal topics and store, and the value hash that
//! detects stale responses (Kafka Streams' `SubscriptionWrapper`,
//! `SubscriptionResponseWrapper` and `CombinedKey`, in our own byte layout).

use kstreams_core::{Serde, SerdeError, SharedSerde};

/// A 128-bit hash of a serialized left value (FNV-1a): a response computed for another
/// value than the current one is stale.
pub(crate) type ValueHash = [u8; 16];

const FNV128_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV128_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// The hash of serialized value bytes.
pub(crate) fn hash_bytes(bytes: &[u8]) -> ValueHash {
    let mut h = FNV128_OFFSET;
    for b in bytes {
        h ^= u128::from(*b);
        h = h.wrapping_mul(FNV128_PRIME);
    }
    h.to_be_bytes()
}

/// What the foreign side does with a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instruction {
    /// Unsubscribe (the left record moved to another foreign key); emit nothing.
    DeleteKeyNoPropagate = 0,
    /// Unsubscribe (the left record was deleted) and send a response so the result is
    /// deleted.
    DeleteKeyAndPropagate = 1,
    /// Subscribe and respond even without a foreign value (left joins, updates that must
    /// retract an earlier result).
    PropagateNullIfNoFkValAvailable = 2,
    /// Subscribe and respond only with a foreign value (inner-join inserts).
    PropagateOnlyIfFkValAvailable = 3,
}

impl Instruction {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Instruction::DeleteKeyNoPropagate,
            1 => Instruction::DeleteKeyAndPropagate,
            2 => Instruction::PropagateNullIfNoFkValAvailable,
            3 => Instruction::PropagateOnlyIfFkValAvailable,
            _ => return None,
        })
    }

    /// Whether the subscription is kept in the foreign side's subscription store.
    pub(crate) fn subscribes(self) -> bool {
        matches!(
            self,
            Instruction::PropagateNullIfNoFkValAvailable
                | Instruction::PropagateOnlyIfFkValAvailable
        )
    }
}

const VERSION: u8 = 0;

/// A subscription of left key `primary_key` (whose value hashes to `hash`) to a foreign key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionWrapper<K> {
    pub(crate) hash: Option<ValueHash>,
    pub(crate) instruction: Instruction,
    /// The left task's partition, where the response must go back to.
    pub(crate) primary_partition: i32,
    pub(crate) primary_key: K,
}

/// A response for left key (the record key): the foreign value, for the left value hashing
/// to `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionResponseWrapper<VO> {
    pub(crate) hash: Option<ValueHash>,
    pub(crate) primary_partition: i32,
    pub(crate) foreign_value: Option<VO>,
}

fn put_hash(out: &mut Vec<u8>, hash: &Option<ValueHash>) {
    match hash {
        Some(h) => {
            out.push(1);
            out.extend_from_slice(h);
        }
        None => out.push(0),
    }
}

/// Reads the bytes of a wrapper, failing with a deserialization error instead of panicking.
struct Reader<'a> {
    data: &'a [u8],
    topic: &'a str,
    serde: &'static str,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &str) -> SerdeError {
        SerdeError::deserialize(
            self.topic,
            self.serde,
            format!("truncated or malformed {what}"),
        )
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SerdeError> {
        if self.data.len() < n {
            return Err(self.err(what));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    fn byte(&mut self, what: &str) -> Result<u8, SerdeError> {
        Ok(self.take(1, what)?[0])
    }

    fn i32(&mut self, what: &str) -> Result<i32, SerdeError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn hash(&mut self) -> Result<Option<ValueHash>, SerdeError> {
        match self.byte("hash flag")? {
            0 => Ok(None),
            1 => {
                let mut h = [0u8; 16];
                h.copy_from_slice(self.take(16, "hash")?);
                Ok(Some(h))
            }
            _ => Err(self.err("hash flag")),
        }
    }

    fn version(&mut self) -> Result<(), SerdeError> {
        match self.byte("version")? {
            VERSION => Ok(()),
            v => Err(SerdeError::deserialize(
                self.topic,
                self.serde,
                format!("unknown version {v}"),
            )),
        }
    }
}

/// `[version][instruction][hash flag][hash?][primary partition i32][primary key bytes]`.
pub(crate) struct SubscriptionWrapperSerde<K> {
    pub(crate) primary_key: SharedSerde<K>,
}

impl<K: Send + Sync + 'static> Serde<SubscriptionWrapper<K>> for SubscriptionWrapperSerde<K> {
    fn serialize(
        &self,
        topic: &str,
        w: &SubscriptionWrapper<K>,
    ) -> Result<Option<Vec<u8>>, SerdeError> {
        let pk = self
            .primary_key
            .serialize(topic, &w.primary_key)?
            .ok_or_else(|| {
                SerdeError::serialize(topic, "SubscriptionWrapperSerde", "null primary key")
            })?;
        let mut out = Vec::with_capacity(24 + pk.len());
        out.push(VERSION);
        out.push(w.instruction as u8);
        put_hash(&mut out, &w.hash);
        out.extend_from_slice(&w.primary_partition.to_be_bytes());
        out.extend_from_slice(&pk);
        Ok(Some(out))
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> Result<SubscriptionWrapper<K>, SerdeError> {
        let serde = "SubscriptionWrapperSerde";
        let data = data.ok_or_else(|| SerdeError::unexpected_null(topic, serde))?;
        let mut r = Reader { data, topic, serde };
        r.version()?;
        let instruction =
            Instruction::from_byte(r.byte("instruction")?).ok_or_else(|| r.err("instruction"))?;
        let hash = r.hash()?;
        let primary_partition = r.i32("partition")?;
        let primary_key = self.primary_key.deserialize(topic, Some(r.data))?;
        Ok(SubscriptionWrapper {
            hash,
            instruction,
            primary_partition,
            primary_key,
        })
    }
}

/// `[version][hash flag][hash?][primary partition i32][value flag][value bytes?]`.
pub(crate) struct ResponseWrapperSerde<VO> {
    pub(crate) foreign_value: SharedSerde<VO>,
}

impl<VO: Send + Sync + 'static> Serde<SubscriptionResponseWrapper<VO>>
    for ResponseWrapperSerde<VO>
{
    fn serialize(
        &self,
        topic: &str,
        w: &SubscriptionResponseWrapper<VO>,
    ) -> Result<Option<Vec<u8>>, SerdeError> {
        let mut out = vec![VERSION];
        put_hash(&mut out, &w.hash);
        out.extend_from_slice(&w.primary_partition.to_be_bytes());
        match w
            .foreign_value
            .as_ref()
            .map(|v| self.foreign_value.serialize(topic, v))
            .transpose()?
            .flatten()
        {
            Some(v) => {
                out.push(1);
                out.extend_from_slice(&v);
            }
            None => out.push(0),
        }
        Ok(Some(out))
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> Result<SubscriptionResponseWrapper<VO>, SerdeError> {
        let serde = "ResponseWrapperSerde";
        let data = data.ok_or_else(|| SerdeError::unexpected_null(topic, serde))?;
        let mut r = Reader { data, topic, serde };
        r.version()?;
        let hash = r.hash()?;
        let primary_partition = r.i32("partition")?;
        let foreign_value = match r.byte("value flag")? {
            0 => None,
            1 => Some(self.foreign_value.deserialize(topic, Some(r.data))?),
            _ => return Err(r.err("value flag")),
        };
        Ok(SubscriptionResponseWrapper {
            hash,
            primary_partition,
            foreign_value,
        })
    }
}

/// The subscription store's key: `[foreign key length u32][foreign key][primary key]`, so
/// that a prefix scan by foreign key finds every subscriber.
pub(crate) fn combined_key(foreign_key: &[u8], primary_key: &[u8]) -> Vec<u8> {
    let mut k = foreign_key_prefix(foreign_key);
    k.extend_from_slice(primary_key);
    k
}

/// The prefix of every combined key of `foreign_key`.
pub(crate) fn foreign_key_prefix(foreign_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + foreign_key.len());
    k.extend_from_slice(&(foreign_key.len() as u32).to_be_bytes());
    k.extend_from_slice(foreign_key);
    k
}

/// The primary key bytes of a combined key, `None` when malformed.
pub(crate) fn primary_key_of(combined: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(combined.get(..4)?.try_into().ok()?) as usize;
    combined.get(4usize.checked_add(len)?..)
}

/// A subscription store value: `[timestamp i64][primary partition i32][hash flag][hash?]`.
pub(crate) fn encode_subscription(
    timestamp: i64,
    partition: i32,
    hash: &Option<ValueHash>,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(29);
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(&partition.to_be_bytes());
    put_hash(&mut v, hash);
    v
}

/// Decodes a subscription store value.
pub(crate) fn decode_subscription(
    store: &str,
    data: &[u8],
) -> Result<(i64, i32, Option<ValueHash>), SerdeError> {
    let mut r = Reader {
        data,
        topic: store,
        serde: "subscription store value",
    };
    let ts = r.take(8, "timestamp")?;
    let mut t = [0u8; 8];
    t.copy_from_slice(ts);
    let partition = r.i32("partition")?;
    let hash = r.hash()?;
    Ok((i64::from_be_bytes(t), partition, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_core::Serdes;

    #[test]
    fn wrappers_round_trip() {
        let s = SubscriptionWrapperSerde {
            primary_key: Serdes::string(),
        };
        for (hash, instruction) in [
            (
                Some(hash_bytes(b"v")),
                Instruction::PropagateOnlyIfFkValAvailable,
            ),
            (None, Instruction::DeleteKeyAndPropagate),
        ] {
            let w = SubscriptionWrapper {
                hash,
                instruction,
                primary_partition: 3,
                primary_key: "pk".to_string(),
            };
            let b = s.serialize("t", &w).unwrap();
            assert_eq!(s.deserialize("t", b.as_deref()).unwrap(), w);
        }
        let r = ResponseWrapperSerde {
            foreign_value: Serdes::string(),
        };
        for v in [Some("x".to_string()), None] {
            let w = SubscriptionResponseWrapper {
                hash: Some(hash_bytes(b"a")),
                primary_partition: 1,
                foreign_value: v,
            };
            let b = r.serialize("t", &w).unwrap();
            assert_eq!(r.deserialize("t", b.as_deref()).unwrap(), w);
        }
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let s = SubscriptionWrapperSerde {
            primary_key: Serdes::string(),
        };
        for bad in [
            &[][..],
            &[0],
            &[0, 9, 0],
            &[0, 1, 1, 2],
            &[1, 1, 0, 0, 0, 0, 0],
        ] {
            assert!(s.deserialize("t", Some(bad)).is_err(), "{bad:?}");
        }
        assert!(s.deserialize("t", None).is_err());
        let r = ResponseWrapperSerde {
            foreign_value: Serdes::string(),
        };
        for bad in [&[][..], &[0, 0], &[0, 0, 0, 0, 0, 0, 7]] {
            assert!(r.deserialize("t", Some(bad)).is_err(), "{bad:?}");
        }
        assert!(decode_subscription("s", &[0; 11]).is_err());
    }

    #[test]
    fn combined_keys_prefix_by_foreign_key() {
        let k = combined_key(b"fk", b"pk");
        assert!(k.starts_with(&foreign_key_prefix(b"fk")));
        // A longer foreign key sharing the bytes is not under the prefix.
        assert!(!combined_key(b"fk2", b"pk").starts_with(&foreign_key_prefix(b"fk")));
        assert_eq!(primary_key_of(&k), Some(&b"pk"[..]));
        assert_eq!(primary_key_of(&[0, 0, 0, 9, 1]), None);
        let v = encode_subscription(-5, 2, &Some(hash_bytes(b"z")));
        assert_eq!(
            decode_subscription("s", &v).unwrap(),
            (-5, 2, Some(hash_bytes(b"z")))
        );
    }

    #[test]
    fn hashes_differ_for_different_values() {
        assert_ne!(hash_bytes(b"a"), hash_bytes(b"b"));
        assert_eq!(hash_bytes(b""), FNV128_OFFSET.to_be_bytes());
    }
}
