//! The byte formats of the retry scheduler store: [`ParkedRecord`] (a record waiting for its
//! next attempt: timestamp, key, value, headers) and [`SchedulerKey`] (due time, then the
//! retry topic position), whose byte order is due-time order so a range scan up to "now"
//! finds exactly the due records.
//!
//! Decoding checks every length against the bytes left, so a corrupt changelog record is an
//! error, never a panic or a huge allocation.

use crate::record::{Header, Headers};

/// A malformed parked record or scheduler key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed retry scheduler entry: {0}")]
pub struct ParkedRecordError(pub String);

/// A serialized record as it was when it failed: what retry and dead-letter topics carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRecord {
    /// The record timestamp (ms).
    pub timestamp: i64,
    /// The key bytes.
    pub key: Option<Vec<u8>>,
    /// The value bytes.
    pub value: Option<Vec<u8>>,
    /// The headers, failure metadata included.
    pub headers: Headers,
}

const VERSION: u8 = 1;

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParkedRecordError> {
        if self.0.len() < n {
            return Err(ParkedRecordError(format!(
                "needs {n} more bytes, has {}",
                self.0.len()
            )));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, ParkedRecordError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ParkedRecordError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, ParkedRecordError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(a))
    }
    fn bytes(&mut self) -> Result<Option<Vec<u8>>, ParkedRecordError> {
        match self.u8()? {
            0 => Ok(None),
            1 => {
                let n = self.u32()? as usize;
                Ok(Some(self.take(n)?.to_vec()))
            }
            t => Err(ParkedRecordError(format!("bad presence tag {t}"))),
        }
    }
}

impl ParkedRecord {
    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            32 + self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len),
        );
        out.push(VERSION);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        put_bytes(&mut out, self.key.as_deref());
        put_bytes(&mut out, self.value.as_deref());
        out.extend_from_slice(&(self.headers.len() as u32).to_be_bytes());
        for h in self.headers.iter() {
            put_bytes(&mut out, Some(h.key.as_bytes()));
            put_bytes(&mut out, h.value.as_deref());
        }
        out
    }

    /// Reads the stored form back.
    pub fn decode(bytes: &[u8]) -> Result<Self, ParkedRecordError> {
        let mut r = Reader(bytes);
        let v = r.u8()?;
        if v != VERSION {
            return Err(ParkedRecordError(format!("unknown version {v}")));
        }
        let timestamp = r.i64()?;
        let key = r.bytes()?;
        let value = r.bytes()?;
        let n = r.u32()? as usize;
        // Each header takes at least 2 bytes: a count beyond that is corrupt.
        if n > r.0.len() / 2 {
            return Err(ParkedRecordError(format!(
                "{n} headers in {} bytes",
                r.0.len()
            )));
        }
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r
                .bytes()?
                .ok_or_else(|| ParkedRecordError("null header key".into()))?;
            let key = String::from_utf8(k)
                .map_err(|_| ParkedRecordError("header key is not UTF-8".into()))?;
            headers.push(Header {
                key,
                value: r.bytes()?,
            });
        }
        if !r.0.is_empty() {
            return Err(ParkedRecordError(format!("{} trailing bytes", r.0.len())));
        }
        Ok(ParkedRecord {
            timestamp,
            key,
            value,
            headers: headers.into(),
        })
    }
}

/// The scheduler store's key: when the record is due, then where it was read from the retry
/// topic (unique per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SchedulerKey {
    /// Wall-clock ms at which the record is due.
    pub due_ms: i64,
    /// Retry topic partition.
    pub partition: i32,
    /// Retry topic offset.
    pub offset: i64,
}

/// Maps a signed number to bytes whose unsigned order is its numeric order.
fn ordered_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

impl SchedulerKey {
    /// The largest key due at or before `now_ms` (the upper bound of a due scan).
    pub fn last_due_at(now_ms: i64) -> Self {
        SchedulerKey {
            due_ms: now_ms,
            partition: i32::MAX,
            offset: i64::MAX,
        }
    }

    /// 20 bytes whose order is (due, partition, offset) order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20);
        out.extend_from_slice(&ordered_i64(self.due_ms));
        out.extend_from_slice(&((self.partition as u32) ^ (1 << 31)).to_be_bytes());
        out.extend_from_slice(&ordered_i64(self.offset));
        out
    }

    /// Reads a key back.
    pub fn decode(bytes: &[u8]) -> Result<Self, ParkedRecordError> {
        if bytes.len() != 20 {
            return Err(ParkedRecordError(format!(
                "a scheduler key has 20 bytes, not {}",
                bytes.len()
            )));
        }
        let mut r = Reader(bytes);
        let due = (r.i64()? as u64) ^ (1 << 63);
        let partition = r.u32()? ^ (1 << 31);
        let offset = (r.i64()? as u64) ^ (1 << 63);
        Ok(SchedulerKey {
            due_ms: due as i64,
            partition: partition as i32,
            offset: offset as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_records_round_trip() {
        let r = ParkedRecord {
            timestamp: -5,
            key: None,
            value: Some(b"v".to_vec()),
            headers: Headers::new().with("a", "1").with("a", "2"),
        };
        assert_eq!(ParkedRecord::decode(&r.encode()).unwrap(), r);
        let mut h = Headers::new();
        h.add("null", None);
        let r2 = ParkedRecord {
            timestamp: 1,
            key: Some(vec![]),
            value: None,
            headers: h,
        };
        assert_eq!(ParkedRecord::decode(&r2.encode()).unwrap(), r2);
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        let good = ParkedRecord {
            timestamp: 1,
            key: Some(b"key".to_vec()),
            value: Some(b"value".to_vec()),
            headers: Headers::new().with("h", "x"),
        }
        .encode();
        for cut in 0..good.len() {
            assert!(ParkedRecord::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = vec![VERSION];
        huge.extend_from_slice(&0i64.to_be_bytes());
        huge.extend_from_slice(&[1, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(ParkedRecord::decode(&huge).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(ParkedRecord::decode(&trailing).is_err());
    }

    #[test]
    fn scheduler_keys_sort_by_due_time() {
        let keys = [
            SchedulerKey {
                due_ms: -1,
                partition: 0,
                offset: 9,
            },
            SchedulerKey {
                due_ms: 0,
                partition: 0,
                offset: 0,
            },
            SchedulerKey {
                due_ms: 5,
                partition: 0,
                offset: 3,
            },
            SchedulerKey {
                due_ms: 5,
                partition: 1,
                offset: 0,
            },
            SchedulerKey {
                due_ms: 300,
                partition: 0,
                offset: 1,
            },
        ];
        let mut bytes: Vec<Vec<u8>> = keys.iter().rev().map(SchedulerKey::encode).collect();
        bytes.sort();
        let back: Vec<SchedulerKey> = bytes
            .iter()
            .map(|b| SchedulerKey::decode(b).unwrap())
            .collect();
        assert_eq!(back, keys);
        assert!(SchedulerKey::last_due_at(5).encode() > keys[3].encode());
        assert!(SchedulerKey::last_due_at(5).encode() < keys[4].encode());
        assert!(SchedulerKey::decode(&[0; 3]).is_err());
    }
}
