//! Bounded decompression of a record batch's records section.
//!
//! `kafka-protocol`'s decompressors grow their output without limit, so a small malicious
//! batch (a "zip bomb": a few kilobytes of gzip or zstd that expand to gigabytes) could make
//! the consumer allocate until the process dies. These decoders stop at a byte budget and
//! return a [`KafkaError::Protocol`] instead, the way librdkafka bounds decompression by
//! `receive.message.max.bytes`.

use std::io::Read;

use bytes::Bytes;

use crate::error::{KafkaError, Result};

/// The default budget for the decompressed records of one partition in one fetch response
/// (256 MiB; the fetcher uses `fetch.max.bytes` instead when that is larger).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// The xerial snappy-java stream magic (`SnappyCodec.MAGIC_HEADER`), followed by a 4-byte
/// version and a 4-byte compatible version.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

fn protocol(message: impl Into<String>) -> KafkaError {
    KafkaError::Protocol {
        broker: String::new(),
        message: message.into(),
    }
}

fn too_large(codec: &str, limit: usize) -> KafkaError {
    protocol(format!(
        "{codec} record batch decompresses to more than the limit of {limit} bytes"
    ))
}

/// Decompresses `data` with the codec of a batch's attributes (1 gzip, 2 snappy, 3 lz4,
/// 4 zstd), failing once the output would exceed `limit` bytes.
pub(crate) fn decompress_bounded(codec: i16, data: Bytes, limit: usize) -> Result<Bytes> {
    match codec {
        0 => Ok(data),
        1 => read_bounded("gzip", flate2::read::MultiGzDecoder::new(&data[..]), limit),
        2 => snappy(&data, limit),
        3 => {
            let decoder = lz4::Decoder::new(&data[..])
                .map_err(|e| protocol(format!("cannot decompress lz4 record batch: {e}")))?;
            read_bounded("lz4", decoder, limit)
        }
        4 => {
            let decoder = zstd::stream::read::Decoder::new(&data[..])
                .map_err(|e| protocol(format!("cannot decompress zstd record batch: {e}")))?;
            read_bounded("zstd", decoder, limit)
        }
        other => Err(protocol(format!("unknown compression codec {other}"))),
    }
}

/// Reads a decoder to its end, at most `limit` bytes.
fn read_bounded(codec: &str, reader: impl Read, limit: usize) -> Result<Bytes> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| protocol(format!("cannot decompress {codec} record batch: {e}")))?;
    if out.len() > limit {
        return Err(too_large(codec, limit));
    }
    Ok(Bytes::from(out))
}

/// Kafka's snappy: the xerial framing (magic header, then blocks of a 4-byte big-endian length
/// and a raw snappy block) or, as snappy-java falls back, one raw snappy block. Each block's
/// declared length is checked against the budget before anything is allocated.
fn snappy(data: &[u8], limit: usize) -> Result<Bytes> {
    let err = |e: snap::Error| protocol(format!("cannot decompress snappy record batch: {e}"));
    if data.is_empty() {
        return Err(protocol("empty snappy record batch"));
    }
    if data.len() < XERIAL_HEADER_LEN || &data[..XERIAL_MAGIC.len()] != XERIAL_MAGIC {
        let len = snap::raw::decompress_len(data).map_err(err)?;
        if len > limit {
            return Err(too_large("snappy", limit));
        }
        let mut out = vec![0u8; len];
        let n = snap::raw::Decoder::new()
            .decompress(data, &mut out)
            .map_err(err)?;
        out.truncate(n);
        return Ok(Bytes::from(out));
    }
    let mut rest = &data[XERIAL_HEADER_LEN..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(protocol("truncated snappy block length"));
        }
        let block_len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if rest.len() < block_len {
            return Err(protocol("snappy block extends past the end of its batch"));
        }
        let (block, tail) = rest.split_at(block_len);
        rest = tail;
        let len = snap::raw::decompress_len(block).map_err(err)?;
        let start = out.len();
        if len > limit - start {
            return Err(too_large("snappy", limit));
        }
        out.resize(start + len, 0);
        let n = snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(err)?;
        out.truncate(start + n);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

    fn compress(codec: i16, plain: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        let mut src = BytesMut::from(plain);
        let f = |buf: &mut BytesMut| {
            std::mem::swap(buf, &mut src);
            Ok(())
        };
        match codec {
            1 => Gzip::compress(&mut out, f),
            2 => Snappy::compress(&mut out, f),
            3 => Lz4::compress(&mut out, f),
            4 => Zstd::compress(&mut out, f),
            _ => unreachable!(),
        }
        .unwrap();
        out.freeze()
    }

    #[test]
    fn round_trips_within_the_limit_for_every_codec() {
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for codec in 1..=4 {
            let c = compress(codec, &plain);
            let out = decompress_bounded(codec, c.clone(), plain.len()).unwrap();
            assert_eq!(&out[..], &plain[..], "codec {codec}");
        }
    }

    #[test]
    fn output_beyond_the_limit_is_a_protocol_error_for_every_codec() {
        // A small "bomb": 4 MiB of zeros compresses to a few kilobytes.
        let plain = vec![0u8; 4 * 1024 * 1024];
        for codec in 1..=4 {
            let c = compress(codec, &plain);
            assert!(c.len() < 512 * 1024, "codec {codec}: {} bytes", c.len());
            let err = decompress_bounded(codec, c, 1024 * 1024).unwrap_err();
            assert!(
                matches!(&err, KafkaError::Protocol { message, .. } if message.contains("limit")),
                "codec {codec}: {err}"
            );
        }
    }

    #[test]
    fn raw_snappy_with_a_huge_declared_length_is_rejected_before_allocating() {
        // A raw snappy block whose varint preamble claims ~4 GiB.
        let data = Bytes::from_static(b"\xff\xff\xff\xff\x0f\x00");
        let err = decompress_bounded(2, data, 1024).unwrap_err();
        assert!(matches!(err, KafkaError::Protocol { .. }), "{err}");
    }

    #[test]
    fn raw_snappy_without_framing_is_accepted() {
        let plain = b"hello hello hello hello hello hello".to_vec();
        let raw = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        let out = decompress_bounded(2, Bytes::from(raw), 1024).unwrap();
        assert_eq!(&out[..], &plain[..]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for i in 0..4000 {
            let len = (i % 300) + 1;
            let mut data = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                data.push(state as u8);
            }
            if i % 3 == 0 && data.len() > 16 {
                data[..8].copy_from_slice(XERIAL_MAGIC);
            }
            let codec = (i % 4) as i16 + 1;
            let _ = decompress_bounded(codec, Bytes::from(data), 64 * 1024);
        }
    }
}
