//! Byte-key helpers shared by the stores: range bounds, prefix successors and an
//! order-preserving, prefix-free encoding of variable-length keys used inside composite keys.

use std::ops::Bound;

/// The smallest key greater than every key starting with `prefix`, or `None` when there is none
/// (the prefix is empty or all `0xFF`): then a prefix scan is unbounded above.
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

/// The smallest key greater than `key` in byte-wise order: `key ++ [0x00]`. Turns an inclusive
/// upper bound into an exclusive one.
pub(crate) fn immediate_successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// Whether an inclusive range `[from, to]` is empty because `from > to`.
pub(crate) fn is_inverted(from: Option<&[u8]>, to: Option<&[u8]>) -> bool {
    matches!((from, to), (Some(f), Some(t)) if f > t)
}

/// `BTreeMap` bounds for an inclusive range with optional ends. The caller must have checked
/// [`is_inverted`] (a `BTreeMap` range with `start > end` panics).
pub(crate) fn inclusive_bounds<'a>(
    from: Option<&'a [u8]>,
    to: Option<&'a [u8]>,
) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (
        from.map_or(Bound::Unbounded, Bound::Included),
        to.map_or(Bound::Unbounded, Bound::Included),
    )
}

/// Encodes `key` so that encodings sort like the keys and no encoding is a prefix of another:
/// `0x00` becomes `0x00 0xFF` and the key ends with `0x00 0x00`. Used to build composite keys
/// (key, time, ...) whose byte order is exactly "by key, then by time".
pub(crate) fn escape_key(key: &[u8], out: &mut Vec<u8>) {
    for &byte in key {
        out.push(byte);
        if byte == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// An exclusive upper bound above every composite key that starts with `escape_key(key)`.
pub(crate) fn escaped_key_upper_bound(key: &[u8], out: &mut Vec<u8>) {
    for &byte in key {
        out.push(byte);
        if byte == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

/// Decodes a key written by [`escape_key`] at the start of `bytes`; returns the key and the
/// number of bytes consumed, or `None` if the bytes are malformed.
pub(crate) fn unescape_key(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut key = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte != 0 {
            key.push(byte);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(0) => return Some((key, i + 2)),
            Some(0xFF) => {
                key.push(0);
                i += 2;
            }
            _ => return None,
        }
    }
    None
}

/// Big-endian encoding of a signed time with the sign bit flipped, so byte order is numeric order.
pub(crate) fn encode_ordered_i64(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`encode_ordered_i64`]; `None` if `bytes` is not 8 bytes long.
pub(crate) fn decode_ordered_i64(bytes: &[u8]) -> Option<i64> {
    let array: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(array) ^ (1 << 63)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_handles_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(&[]), None);
    }

    #[test]
    fn escaped_keys_sort_like_keys_and_round_trip() {
        let keys: Vec<&[u8]> = vec![
            b"",
            b"\x00",
            b"\x00\x00",
            b"\x00\x01",
            b"a",
            b"a\x00",
            b"a\x00b",
            b"ab",
            b"\xFF",
        ];
        let mut encoded = Vec::new();
        for key in &keys {
            let mut out = Vec::new();
            escape_key(key, &mut out);
            out.extend_from_slice(&encode_ordered_i64(-5));
            let (decoded, used) = unescape_key(&out).unwrap();
            assert_eq!(&decoded, key);
            assert_eq!(decode_ordered_i64(&out[used..]), Some(-5));
            let mut upper = Vec::new();
            escaped_key_upper_bound(key, &mut upper);
            assert!(out < upper);
            encoded.push((out, upper));
        }
        for pair in encoded.windows(2) {
            assert!(pair[0].0 < pair[1].0);
            assert!(pair[0].1 <= pair[1].0);
        }
    }

    #[test]
    fn ordered_i64_sorts_numerically() {
        let values = [i64::MIN, -1, 0, 1, i64::MAX];
        for pair in values.windows(2) {
            assert!(encode_ordered_i64(pair[0]) < encode_ordered_i64(pair[1]));
        }
        assert_eq!(decode_ordered_i64(&encode_ordered_i64(-42)), Some(-42));
        assert_eq!(decode_ordered_i64(&[1, 2]), None);
    }
}
