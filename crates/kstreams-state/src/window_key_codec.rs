//! The changelog key format of window stores, as Kafka Streams writes it:
//! `[record key][8-byte big-endian window start][4-byte big-endian sequence number]`.
//!
//! The sequence number tells duplicates apart in stores that retain them (stream-stream joins)
//! and is 0 otherwise. The record key is everything before the 12-byte suffix.

/// Length of the fixed suffix after the record key.
pub const SUFFIX_LEN: usize = 12;

/// A decoded window changelog key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowKeyParts<'a> {
    /// The record key.
    pub key: &'a [u8],
    /// The window start in milliseconds.
    pub window_start: i64,
    /// The sequence number (0 unless the store retains duplicates).
    pub seq: u32,
}

/// Encodes a window changelog key.
pub fn encode(key: &[u8], window_start: i64, seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + SUFFIX_LEN);
    out.extend_from_slice(key);
    out.extend_from_slice(&window_start.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Decodes a window changelog key; `None` if it is shorter than the suffix.
pub fn decode(bytes: &[u8]) -> Option<WindowKeyParts<'_>> {
    let split = bytes.len().checked_sub(SUFFIX_LEN)?;
    let (key, suffix) = bytes.split_at(split);
    let (start, seq) = suffix.split_at(8);
    Some(WindowKeyParts {
        key,
        window_start: i64::from_be_bytes(start.try_into().ok()?),
        seq: u32::from_be_bytes(seq.try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (key, start, seq) in [
            (&b"k"[..], 5, 0),
            (b"", -7, 3),
            (b"\x00\xFF", i64::MAX, u32::MAX),
        ] {
            let encoded = encode(key, start, seq);
            assert_eq!(encoded.len(), key.len() + SUFFIX_LEN);
            assert_eq!(
                decode(&encoded),
                Some(WindowKeyParts {
                    key,
                    window_start: start,
                    seq
                })
            );
        }
        assert_eq!(decode(&[0; 11]), None);
    }

    #[test]
    fn matches_kafka_streams_layout() {
        assert_eq!(
            encode(b"a", 1, 2),
            vec![b'a', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]
        );
    }
}
