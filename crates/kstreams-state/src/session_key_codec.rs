//! The changelog key format of session stores, as Kafka Streams writes it:
//! `[record key][8-byte big-endian session end][8-byte big-endian session start]`.

use crate::store::TimeWindow;

/// Length of the fixed suffix after the record key.
pub const SUFFIX_LEN: usize = 16;

/// Encodes a session changelog key.
pub fn encode(key: &[u8], window: TimeWindow) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + SUFFIX_LEN);
    out.extend_from_slice(key);
    out.extend_from_slice(&window.end.to_be_bytes());
    out.extend_from_slice(&window.start.to_be_bytes());
    out
}

/// Decodes a session changelog key into the record key and the session; `None` if it is
/// shorter than the suffix.
pub fn decode(bytes: &[u8]) -> Option<(&[u8], TimeWindow)> {
    let split = bytes.len().checked_sub(SUFFIX_LEN)?;
    let (key, suffix) = bytes.split_at(split);
    let (end, start) = suffix.split_at(8);
    let end = i64::from_be_bytes(end.try_into().ok()?);
    let start = i64::from_be_bytes(start.try_into().ok()?);
    Some((key, TimeWindow { start, end }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let window = TimeWindow { start: -3, end: 9 };
        let encoded = encode(b"key", window);
        assert_eq!(encoded.len(), 3 + SUFFIX_LEN);
        assert_eq!(&encoded[3..11], &9i64.to_be_bytes());
        assert_eq!(decode(&encoded), Some((&b"key"[..], window)));
        assert_eq!(decode(&encode(b"", window)), Some((&b""[..], window)));
        assert_eq!(decode(&[1; 15]), None);
    }
}
