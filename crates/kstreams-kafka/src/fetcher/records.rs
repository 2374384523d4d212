//! Decoding the record batches (magic v2) of a fetch response into [`ConsumerRecord`]s.
//!
//! The batch header and its CRC are checked with `kafka-protocol`'s `RecordBatchDecoder`, the
//! records section is decompressed (gzip, snappy, lz4, zstd) with a bound on the output, and
//! the records themselves are parsed here with checked arithmetic, so a malformed, truncated
//! or decompression-bomb batch is a [`KafkaError::Protocol`], never a panic or an unbounded
//! allocation.

use bytes::{Buf, Bytes};
use kafka_protocol::records::RecordBatchDecoder;

use crate::error::{KafkaError, Result};
use crate::fetcher::decompress::{DEFAULT_MAX_DECOMPRESSED_BYTES, decompress_bounded};

/// A record read from a topic partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic (shared by the records of a fetch: no copy per record).
    pub topic: std::sync::Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset in the partition.
    pub offset: i64,
    /// The record's timestamp in milliseconds since the epoch (creation or log-append time).
    pub timestamp: i64,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers in log order (keys may repeat).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// The type of a control record (transaction marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMarker {
    /// The producer's transaction was aborted.
    Abort,
    /// The producer's transaction was committed.
    Commit,
    /// A control record of a type this client does not know (ignored).
    Unknown(i16),
}

/// What a batch carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchContent {
    /// Data records.
    Records(Vec<ConsumerRecord>),
    /// A control batch with its marker (never delivered to the user).
    Control(ControlMarker),
}

/// One decoded record batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Offset of the batch's last record (the next fetch position after it is `last_offset + 1`).
    pub last_offset: i64,
    /// The producer id, -1 for a non-idempotent producer.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Whether the batch is part of a transaction.
    pub transactional: bool,
    /// The batch's size on the wire in bytes.
    pub size_bytes: usize,
    /// Data records or the control marker.
    pub content: BatchContent,
}

impl DecodedBatch {
    /// Whether this is a control batch.
    pub fn is_control(&self) -> bool {
        matches!(self.content, BatchContent::Control(_))
    }
}

const HEADER_LEN: usize = 61;
const LOG_OVERHEAD: usize = 12;
/// The smallest possible encoded record: length, attributes, timestamp delta, offset delta, key
/// length, value length and header count, one byte each.
const MIN_RECORD_LEN: usize = 7;

fn protocol(message: impl Into<String>) -> KafkaError {
    KafkaError::Protocol {
        broker: String::new(),
        message: message.into(),
    }
}

/// Decodes every complete batch in `data` (the `records` field of one fetched partition).
///
/// A trailing partial batch (a broker may cut the last batch at the fetch size) is ignored, as
/// the Java client does, unless no complete batch precedes it: then the data is truncated and
/// that is an error. Batches of the legacy message formats (magic 0 and 1) are rejected.
///
/// The decompressed records of all batches together may take at most
/// [`DEFAULT_MAX_DECOMPRESSED_BYTES`]; see [`decode_batches_with_limit`].
pub fn decode_batches(topic: &str, partition: i32, data: Bytes) -> Result<Vec<DecodedBatch>> {
    decode_batches_with_limit(topic, partition, data, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// [`decode_batches`] with a budget: the decompressed records sections of the batches in
/// `data` together may take at most `max_decompressed_bytes`, otherwise the data is a
/// [`KafkaError::Protocol`] error (a compressed batch that would expand beyond any sane size
/// is malformed or malicious).
pub fn decode_batches_with_limit(
    topic: &str,
    partition: i32,
    data: Bytes,
    max_decompressed_bytes: usize,
) -> Result<Vec<DecodedBatch>> {
    let mut budget = max_decompressed_bytes;
    let mut batches = Vec::new();
    let mut rest = data;
    let topic: std::sync::Arc<str> = topic.into();
    while !rest.is_empty() {
        if rest.len() < LOG_OVERHEAD {
            break;
        }
        let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let length = usize::try_from(length)
            .map_err(|_| protocol(format!("negative record batch length {length}")))?;
        let total = LOG_OVERHEAD
            .checked_add(length)
            .ok_or_else(|| protocol("record batch length overflows"))?;
        if rest.len() < total {
            break;
        }
        let batch = rest.split_to(total);
        batches.push(decode_batch(&topic, partition, batch, &mut budget)?);
    }
    if batches.is_empty() && !rest.is_empty() {
        return Err(protocol(format!(
            "truncated record batch for {topic}-{partition}: {} bytes and no complete batch",
            rest.len()
        )));
    }
    Ok(batches)
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// Decodes one complete batch (`batch` holds exactly the batch, length prefix included).
fn decode_batch(
    topic: &std::sync::Arc<str>,
    partition: i32,
    batch: Bytes,
    budget: &mut usize,
) -> Result<DecodedBatch> {
    let size_bytes = batch.len();
    if batch.len() < HEADER_LEN {
        // Long enough for the magic byte: report legacy formats as such.
        if batch.len() > 16 && batch[16] != 2 {
            return Err(protocol(format!(
                "unsupported message format v{}",
                batch[16]
            )));
        }
        return Err(protocol(format!(
            "record batch of {} bytes is shorter than its header",
            batch.len()
        )));
    }
    let magic = batch[16] as i8;
    if magic != 2 {
        return Err(protocol(format!("unsupported message format v{magic}")));
    }
    // Validates the header and the CRC (over attributes..end) without touching the records.
    RecordBatchDecoder::decode_batch_info(&mut batch.clone())
        .map_err(|e| protocol(format!("invalid record batch: {e}")))?;

    let base_offset = be_i64(&batch, 0);
    let attributes = be_i16(&batch, 21);
    let last_offset_delta = be_i32(&batch, 23);
    let base_timestamp = be_i64(&batch, 27);
    let max_timestamp = be_i64(&batch, 35);
    let producer_id = be_i64(&batch, 43);
    let producer_epoch = be_i16(&batch, 51);
    let record_count = be_i32(&batch, 57);

    if base_offset < 0 || last_offset_delta < 0 || record_count < 0 {
        return Err(protocol(format!(
            "invalid batch header (base offset {base_offset}, last offset delta \
             {last_offset_delta}, record count {record_count})"
        )));
    }
    let last_offset = base_offset
        .checked_add(i64::from(last_offset_delta))
        .ok_or_else(|| protocol("batch offsets overflow"))?;
    let transactional = attributes & (1 << 4) != 0;
    let control = attributes & (1 << 5) != 0;
    let log_append_time = attributes & (1 << 3) != 0;

    let compressed = batch.slice(HEADER_LEN..);
    let codec = attributes & 0x7;
    let mut body = if codec == 0 {
        compressed
    } else {
        let body = decompress_bounded(codec, compressed, *budget)?;
        *budget -= body.len();
        body
    };
    let record_count = record_count as usize;
    if record_count > body.len() / MIN_RECORD_LEN {
        return Err(protocol(format!(
            "record count {record_count} does not fit in {} bytes",
            body.len()
        )));
    }

    let ctx = BatchCtx {
        base_offset,
        base_timestamp,
        timestamp_override: log_append_time.then_some(max_timestamp),
    };
    let content = if control {
        if record_count == 0 {
            return Err(protocol("control batch without a record"));
        }
        let raw = parse_record(&mut body, &ctx)?;
        BatchContent::Control(control_marker(raw.key.as_ref())?)
    } else {
        let mut records = Vec::with_capacity(record_count);
        for _ in 0..record_count {
            let raw = parse_record(&mut body, &ctx)?;
            records.push(ConsumerRecord {
                topic: topic.clone(),
                partition,
                offset: raw.offset,
                timestamp: raw.timestamp,
                key: raw.key,
                value: raw.value,
                headers: raw.headers,
            });
        }
        BatchContent::Records(records)
    };
    Ok(DecodedBatch {
        base_offset,
        last_offset,
        producer_id,
        producer_epoch,
        transactional,
        size_bytes,
        content,
    })
}

fn control_marker(key: Option<&Bytes>) -> Result<ControlMarker> {
    let key = key.ok_or_else(|| protocol("control record without a key"))?;
    if key.len() < 4 {
        return Err(protocol("control record key shorter than 4 bytes"));
    }
    Ok(match i16::from_be_bytes([key[2], key[3]]) {
        0 => ControlMarker::Abort,
        1 => ControlMarker::Commit,
        other => ControlMarker::Unknown(other),
    })
}

struct BatchCtx {
    base_offset: i64,
    base_timestamp: i64,
    timestamp_override: Option<i64>,
}

struct RawRecord {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
}

fn parse_record(buf: &mut Bytes, ctx: &BatchCtx) -> Result<RawRecord> {
    let len = read_varint(buf)?;
    let len = usize::try_from(len).map_err(|_| protocol(format!("negative record size {len}")))?;
    if buf.len() < len {
        return Err(protocol("record extends past the end of its batch"));
    }
    let mut rec = buf.split_to(len);
    if rec.is_empty() {
        return Err(protocol("empty record"));
    }
    rec.advance(1); // attributes, unused
    let timestamp_delta = read_varlong(&mut rec)?;
    let offset_delta = read_varint(&mut rec)?;
    let offset = ctx
        .base_offset
        .checked_add(i64::from(offset_delta))
        .ok_or_else(|| protocol("record offset overflows"))?;
    let timestamp = match ctx.timestamp_override {
        Some(ts) => ts,
        None => ctx
            .base_timestamp
            .checked_add(timestamp_delta)
            .ok_or_else(|| protocol("record timestamp overflows"))?,
    };
    let key = read_nullable(&mut rec, "key")?;
    let value = read_nullable(&mut rec, "value")?;
    let header_count = read_varint(&mut rec)?;
    let header_count = usize::try_from(header_count)
        .map_err(|_| protocol(format!("negative header count {header_count}")))?;
    // Each header needs at least two bytes (key length and value length).
    if header_count > rec.len() / 2 {
        return Err(protocol(format!(
            "header count {header_count} exceeds the record"
        )));
    }
    let mut headers = Vec::with_capacity(header_count);
    for _ in 0..header_count {
        let name =
            read_nullable(&mut rec, "header key")?.ok_or_else(|| protocol("null header key"))?;
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| protocol("header key is not valid UTF-8"))?;
        let value = read_nullable(&mut rec, "header value")?;
        headers.push((name, value));
    }
    Ok(RawRecord {
        offset,
        timestamp,
        key,
        value,
        headers,
    })
}

fn read_nullable(buf: &mut Bytes, what: &str) -> Result<Option<Bytes>> {
    let len = read_varint(buf)?;
    if len == -1 {
        return Ok(None);
    }
    let len =
        usize::try_from(len).map_err(|_| protocol(format!("negative {what} length {len}")))?;
    if buf.len() < len {
        return Err(protocol(format!(
            "{what} extends past the end of its record"
        )));
    }
    Ok(Some(buf.split_to(len)))
}

fn read_unsigned_varint(buf: &mut Bytes, max_bytes: u32) -> Result<u64> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        if buf.is_empty() {
            return Err(protocol("truncated varint"));
        }
        let byte = buf.get_u8();
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(protocol("varint too long"))
}

/// A zig-zag encoded 32-bit varint.
fn read_varint(buf: &mut Bytes) -> Result<i32> {
    let raw = read_unsigned_varint(buf, 5)?;
    let raw = u32::try_from(raw).map_err(|_| protocol("varint exceeds 32 bits"))?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// A zig-zag encoded 64-bit varint.
fn read_varlong(buf: &mut Bytes) -> Result<i64> {
    let raw = read_unsigned_varint(buf, 10)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builds record batches with `kafka-protocol`'s encoder for tests.

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// Describes a batch to encode.
    #[derive(Clone)]
    pub struct Spec {
        pub base_offset: i64,
        pub count: usize,
        pub producer_id: i64,
        pub transactional: bool,
        pub compression: Compression,
    }

    impl Spec {
        pub fn plain(base_offset: i64, count: usize) -> Self {
            Spec {
                base_offset,
                count,
                producer_id: -1,
                transactional: false,
                compression: Compression::None,
            }
        }
        pub fn txn(producer_id: i64, base_offset: i64, count: usize) -> Self {
            Spec {
                base_offset,
                count,
                producer_id,
                transactional: true,
                compression: Compression::None,
            }
        }
    }

    fn record(spec: &Spec, offset: i64, control: bool) -> Record {
        Record {
            transactional: spec.transactional,
            control,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: spec.producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp: 1_000 + offset,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: if offset % 7 == 3 {
                None
            } else {
                Some(Bytes::from(format!("v{offset}")))
            },
            headers: IndexMap::from([(StrBytes::from_static_str("h"), Some(Bytes::from("x")))]),
        }
    }

    /// Encodes a data batch.
    pub fn data(spec: &Spec) -> Bytes {
        let records: Vec<Record> = (0..spec.count as i64)
            .map(|i| record(spec, spec.base_offset + i, false))
            .collect();
        encode(&records, spec.compression)
    }

    /// Encodes a control batch (commit when `commit`, abort otherwise) at `offset`.
    pub fn marker(producer_id: i64, offset: i64, commit: bool) -> Bytes {
        let spec = Spec::txn(producer_id, offset, 1);
        let mut r = record(&spec, offset, true);
        r.key = Some(Bytes::from(vec![0, 0, 0, u8::from(commit)]));
        r.value = Some(Bytes::from(vec![0, 0, 0, 0, 0, 0]));
        r.headers.clear();
        encode(&[r], Compression::None)
    }

    fn encode(records: &[Record], compression: Compression) -> Bytes {
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf.freeze()
    }

    /// Concatenates batches.
    pub fn concat(parts: &[Bytes]) -> Bytes {
        let mut buf = BytesMut::new();
        for p in parts {
            buf.extend_from_slice(p);
        }
        buf.freeze()
    }

    /// CRC-32C (Castagnoli), to re-sign mutated batches in fuzz tests.
    pub fn crc32c(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use kafka_protocol::records::Compression;

    fn records_of(batches: &[DecodedBatch]) -> Vec<ConsumerRecord> {
        batches
            .iter()
            .flat_map(|b| match &b.content {
                BatchContent::Records(r) => r.clone(),
                BatchContent::Control(_) => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn decodes_every_compression() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut spec = Spec::plain(10, 5);
            spec.compression = compression;
            let batches = decode_batches("t", 3, data(&spec)).unwrap();
            assert_eq!(batches.len(), 1, "{compression:?}");
            assert_eq!(batches[0].base_offset, 10);
            assert_eq!(batches[0].last_offset, 14);
            let recs = records_of(&batches);
            assert_eq!(recs.len(), 5);
            for (i, r) in recs.iter().enumerate() {
                let off = 10 + i as i64;
                assert_eq!(&*r.topic, "t");
                assert_eq!(r.partition, 3);
                assert_eq!(r.offset, off);
                assert_eq!(r.timestamp, 1_000 + off);
                assert_eq!(r.key.as_deref(), Some(format!("k{off}").as_bytes()));
                if off % 7 == 3 {
                    assert_eq!(r.value, None);
                } else {
                    assert_eq!(r.value.as_deref(), Some(format!("v{off}").as_bytes()));
                }
                assert_eq!(r.headers, vec![("h".to_owned(), Some(Bytes::from("x")))]);
            }
        }
    }

    #[test]
    fn control_batches_are_recognized() {
        let data = concat(&[
            super::test_support::data(&Spec::txn(7, 0, 2)),
            marker(7, 2, true),
            marker(7, 3, false),
        ]);
        let batches = decode_batches("t", 0, data).unwrap();
        assert_eq!(batches.len(), 3);
        assert!(batches[0].transactional);
        assert_eq!(batches[0].producer_id, 7);
        assert_eq!(
            batches[1].content,
            BatchContent::Control(ControlMarker::Commit)
        );
        assert_eq!(
            batches[2].content,
            BatchContent::Control(ControlMarker::Abort)
        );
        assert_eq!(records_of(&batches).len(), 2);
    }

    #[test]
    fn trailing_partial_batch_is_ignored_but_lone_partial_is_an_error() {
        let a = data(&Spec::plain(0, 3));
        let b = data(&Spec::plain(3, 3));
        let joined = concat(&[a.clone(), b.clone()]);
        for cut in 1..b.len() {
            let partial = joined.slice(..a.len() + cut);
            let batches = decode_batches("t", 0, partial).unwrap();
            assert_eq!(batches.len(), 1);
        }
        for cut in 1..a.len() {
            let err = decode_batches("t", 0, a.slice(..cut)).unwrap_err();
            assert!(matches!(err, KafkaError::Protocol { .. }), "{err}");
        }
        assert!(decode_batches("t", 0, Bytes::new()).unwrap().is_empty());
    }

    #[test]
    fn corrupted_crc_and_legacy_magic_are_errors() {
        let mut bad = data(&Spec::plain(0, 3)).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(decode_batches("t", 0, Bytes::from(bad)).is_err());
        let mut legacy = data(&Spec::plain(0, 3)).to_vec();
        legacy[16] = 1;
        let err = decode_batches("t", 0, Bytes::from(legacy)).unwrap_err();
        assert!(err.to_string().contains("message format"), "{err}");
    }

    #[test]
    fn varints_round_trip_zigzag() {
        let mut b = Bytes::from_static(&[0x01]);
        assert_eq!(read_varint(&mut b).unwrap(), -1);
        let mut b = Bytes::from_static(&[0x02]);
        assert_eq!(read_varint(&mut b).unwrap(), 1);
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(read_varint(&mut b).unwrap(), i32::MIN);
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(read_varint(&mut b).is_err());
        let mut b = Bytes::from_static(&[0x80]);
        assert!(read_varint(&mut b).is_err());
    }

    /// Deterministic xorshift generator.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Re-signs a mutated batch so the garbage reaches the record parser and decompressors.
    fn resign(batch: &mut [u8]) {
        if batch.len() >= HEADER_LEN {
            let crc = crc32c(&batch[21..]);
            batch[17..21].copy_from_slice(&crc.to_be_bytes());
        }
    }

    /// A batch whose records section is `body` compressed with zstd (codec 4), re-signed.
    fn zstd_bomb(uncompressed_len: usize) -> Vec<u8> {
        let mut b = data(&Spec::plain(0, 1)).to_vec();
        b.truncate(HEADER_LEN);
        let body = zstd::bulk::compress(&vec![0u8; uncompressed_len], 3).unwrap();
        b.extend_from_slice(&body);
        let attributes = (be_i16(&b, 21) & !0x7) | 4;
        b[21..23].copy_from_slice(&attributes.to_be_bytes());
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        resign(&mut b);
        b
    }

    #[test]
    fn decompression_is_bounded_per_fetched_partition() {
        // 8 MiB of zeros in a few hundred bytes: beyond a 1 MiB budget it is an error.
        let bomb = zstd_bomb(8 * 1024 * 1024);
        assert!(bomb.len() < 4096, "{} bytes", bomb.len());
        let err = decode_batches_with_limit("t", 0, Bytes::from(bomb), 1024 * 1024).unwrap_err();
        assert!(
            matches!(&err, KafkaError::Protocol { message, .. } if message.contains("limit")),
            "{err}"
        );

        // The budget covers all batches of the partition together.
        let mut spec = Spec::plain(0, 50);
        spec.compression = Compression::Zstd;
        let one = data(&spec);
        let single = decode_batches_with_limit("t", 0, one.clone(), usize::MAX).unwrap();
        assert_eq!(single.len(), 1);
        spec.base_offset = 50;
        let two = concat(&[one.clone(), data(&spec)]);
        // Enough for one decompressed batch (the records of 50 small records) but not two.
        let plain_len = data(&Spec::plain(0, 50)).len() - HEADER_LEN;
        assert!(decode_batches_with_limit("t", 0, one, plain_len).is_ok());
        assert!(decode_batches_with_limit("t", 0, two.clone(), plain_len).is_err());
        let both_len = plain_len + data(&Spec::plain(50, 50)).len() - HEADER_LEN;
        assert!(decode_batches_with_limit("t", 0, two.clone(), both_len - 1).is_err());
        assert_eq!(
            decode_batches_with_limit("t", 0, two, both_len)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn ten_thousand_garbage_inputs_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let compressions = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ];
        let mut seeds = Vec::new();
        for c in compressions {
            let mut spec = Spec::plain(5, 4);
            spec.compression = c;
            seeds.push(data(&spec).to_vec());
        }
        seeds.push(marker(9, 0, true).to_vec());
        let mut decoded_ok = 0;
        for i in 0..10_000 {
            let input: Vec<u8> = match i % 4 {
                // Pure random bytes.
                0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
                // A valid batch with random byte flips, re-signed.
                1 | 2 => {
                    let mut b = seeds[rng.below(seeds.len())].clone();
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(b.len());
                        b[at] = rng.next() as u8;
                    }
                    if i % 4 == 1 {
                        resign(&mut b);
                    }
                    b
                }
                // A valid header followed by random records, re-signed.
                _ => {
                    let mut b = seeds[rng.below(seeds.len())].clone();
                    b.truncate(HEADER_LEN);
                    b.extend((0..rng.below(64)).map(|_| rng.next() as u8));
                    let len = (b.len() - LOG_OVERHEAD) as i32;
                    b[8..12].copy_from_slice(&len.to_be_bytes());
                    resign(&mut b);
                    b
                }
            };
            if decode_batches("t", 0, Bytes::from(input)).is_ok() {
                decoded_ok += 1;
            }
        }
        // Some mutations are harmless (e.g. flipping a byte of a value), most are not.
        assert!(decoded_ok < 10_000);
    }
}
