//! A batch of records for one partition and its wire encoding (record batch v2).

use super::delivery::{Delivered, Reply, ReplyRun};
use super::sequence::ProducerIdAndEpoch;
use crate::error::{KafkaError, Result};
use crate::types::{CompressionType, ProducerRecord, TopicPartition};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

/// Per-record overhead estimate of the v2 format (varints, attributes, deltas).
pub(crate) const RECORD_OVERHEAD: usize = 21;
/// Batch header size of the v2 format.
pub(crate) const BATCH_OVERHEAD: usize = 61;

/// A record waiting in a batch.
pub(crate) struct PendingRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp: i64,
    pub size: usize,
    pub reply: Reply,
    /// The record's share of `buffer.memory`, until it joins a batch (which then holds it:
    /// the memory of a batch's records is given back at once when the batch is done).
    pub permit: Option<OwnedSemaphorePermit>,
}

/// The encoded form of a batch, fixed at its first send so retries resend the same bytes
/// (same sequence numbers).
pub(crate) struct Encoded {
    pub bytes: Bytes,
    pub base_sequence: i32,
    pub ident: ProducerIdAndEpoch,
}

/// Records for one partition, sent together.
pub(crate) struct ProducerBatch {
    pub id: u64,
    pub tp: TopicPartition,
    pub records: Vec<PendingRecord>,
    pub bytes: usize,
    pub created: Instant,
    pub deadline: Instant,
    /// No more appends (full, flushed or sent).
    pub closed: bool,
    pub attempts: u32,
    /// A request with this batch reached a broker connection: it may have been written.
    pub maybe_written: bool,
    pub encoded: Option<Encoded>,
    /// The `buffer.memory` its records hold, released when the batch is dropped.
    pub memory: Option<OwnedSemaphorePermit>,
}

impl ProducerBatch {
    pub fn new(id: u64, tp: TopicPartition, now: Instant, deadline: Instant) -> Self {
        ProducerBatch {
            id,
            tp,
            records: Vec::new(),
            bytes: BATCH_OVERHEAD,
            created: now,
            deadline,
            closed: false,
            attempts: 0,
            maybe_written: false,
            encoded: None,
            memory: None,
        }
    }

    /// Adds a record (its memory joins the batch's).
    pub fn push(&mut self, mut record: PendingRecord) {
        if let Some(permit) = record.permit.take() {
            match &mut self.memory {
                Some(memory) => memory.merge(permit),
                None => self.memory = Some(permit),
            }
        }
        self.bytes += record.size;
        self.records.push(record);
    }

    /// Encodes (once) with the given identity and base sequence (-1 without idempotence).
    pub fn encode(
        &mut self,
        ident: ProducerIdAndEpoch,
        base_sequence: i32,
        transactional: bool,
        compression: CompressionType,
    ) -> Result<&Encoded> {
        self.closed = true;
        if self.encoded.is_none() {
            let bytes = encode_records(
                &self.records,
                ident,
                base_sequence,
                transactional,
                compression,
            )?;
            self.encoded = Some(Encoded {
                bytes,
                base_sequence,
                ident,
            });
        }
        self.encoded.as_ref().ok_or(KafkaError::Closed)
    }

    /// Splits a batch the broker refused as too large (MESSAGE_TOO_LARGE): this batch keeps
    /// the records that make up about the first half of its bytes, the returned batch (with id
    /// `id`) the rest, in their order. `None`, and nothing changed, for a batch of one record,
    /// which cannot be split. Both halves are closed and no longer encoded: the broker used
    /// none of the refused batch's sequence numbers, so the halves take them afresh. The new
    /// batch keeps this one's creation time, deadline and attempts.
    pub fn split_off_half(&mut self, id: u64) -> Option<ProducerBatch> {
        if self.records.len() < 2 {
            return None;
        }
        let payload = self.bytes.saturating_sub(BATCH_OVERHEAD);
        let mut taken = 0;
        // The first half takes the records that fit in half the payload; each side keeps at
        // least one record. So no half is larger than half the payload or its largest record.
        let cut = self
            .records
            .iter()
            .take_while(|r| {
                taken += r.size;
                taken * 2 <= payload
            })
            .count()
            .clamp(1, self.records.len() - 1);
        let rest = self.records.split_off(cut);
        let rest_bytes: usize = rest.iter().map(|r| r.size).sum();
        // The memory goes with the records (all that is left if the shares were clamped).
        let rest_memory = self
            .memory
            .as_mut()
            .and_then(|m| m.split(rest_bytes.min(m.num_permits())));
        self.bytes -= rest_bytes;
        self.closed = true;
        self.maybe_written = false;
        self.encoded = None;
        Some(ProducerBatch {
            id,
            tp: self.tp.clone(),
            records: rest,
            bytes: BATCH_OVERHEAD + rest_bytes,
            created: self.created,
            deadline: self.deadline,
            closed: true,
            attempts: self.attempts,
            maybe_written: false,
            encoded: None,
            memory: rest_memory,
        })
    }

    /// Completes every record: offsets from `base_offset` (or -1), the broker's log append
    /// time if it uses it. Returns the emptied record vector, for the next batch to reuse
    /// ([`super::accumulator::RecordAccumulator::recycle`]).
    pub fn complete(mut self, base_offset: i64, log_append_time: i64) -> Vec<PendingRecord> {
        let topic: std::sync::Arc<str> = std::mem::take(&mut self.tp.topic).into();
        let mut records = std::mem::take(&mut self.records);
        let mut run = ReplyRun::new();
        for (i, r) in records.drain(..).enumerate() {
            let offset = if base_offset >= 0 {
                base_offset + i as i64
            } else {
                -1
            };
            let timestamp = if log_append_time >= 0 {
                log_append_time
            } else {
                r.timestamp
            };
            run.deliver(
                r.reply,
                &topic,
                Delivered {
                    partition: self.tp.partition,
                    offset,
                    timestamp,
                },
            );
        }
        run.finish();
        records
    }

    /// Fails every record with (a copy of) the error, handing the record back with it
    /// ([`KafkaError::Undelivered`]).
    pub fn fail(self, err: &KafkaError) {
        let topic: std::sync::Arc<str> = self.tp.topic.into();
        for r in self.records {
            let record = ProducerRecord {
                topic: topic.clone(),
                partition: Some(self.tp.partition),
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp: Some(r.timestamp),
            };
            r.reply.send(Err(KafkaError::Undelivered {
                error: Box::new(clone_error(err)),
                record: Box::new(record),
            }));
        }
    }
}

/// A copy of an error (KafkaError holds an io::Error, which is not Clone).
pub(crate) fn clone_error(e: &KafkaError) -> KafkaError {
    match e {
        KafkaError::Io { broker, source } => KafkaError::Io {
            broker: broker.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        KafkaError::Timeout { what } => KafkaError::Timeout { what: what.clone() },
        KafkaError::Protocol { broker, message } => KafkaError::Protocol {
            broker: broker.clone(),
            message: message.clone(),
        },
        KafkaError::Broker {
            api,
            code,
            name,
            message,
        } => KafkaError::Broker {
            api,
            code: *code,
            name,
            message: message.clone(),
        },
        KafkaError::UnsupportedVersion {
            broker,
            api,
            min,
            max,
        } => KafkaError::UnsupportedVersion {
            broker: broker.clone(),
            api,
            min: *min,
            max: *max,
        },
        KafkaError::NoOffsetForPartition { topic, partition } => KafkaError::NoOffsetForPartition {
            topic: topic.clone(),
            partition: *partition,
        },
        KafkaError::Config(s) => KafkaError::Config(s.clone()),
        KafkaError::IllegalState(s) => KafkaError::IllegalState(s.clone()),
        KafkaError::Closed => KafkaError::Closed,
        KafkaError::Undelivered { error, record } => KafkaError::Undelivered {
            error: Box::new(clone_error(error)),
            record: record.clone(),
        },
        #[allow(unreachable_patterns)]
        other => KafkaError::IllegalState(other.to_string()),
    }
}

/// Encodes records as one v2 record batch.
pub(crate) fn encode_records(
    records: &[PendingRecord],
    ident: ProducerIdAndEpoch,
    base_sequence: i32,
    transactional: bool,
    compression: CompressionType,
) -> Result<Bytes> {
    // Written by hand rather than with `kafka-protocol`'s encoder, whose records keep their
    // headers in a map and so merge repeated header keys; Kafka allows (and Kafka Streams
    // relies on) repeated keys in log order.
    let count = i32::try_from(records.len())
        .map_err(|_| KafkaError::IllegalState("too many records in one batch".into()))?;
    if count == 0 {
        return Err(KafkaError::IllegalState("empty record batch".into()));
    }
    let base_timestamp = records.iter().map(|r| r.timestamp).min().unwrap_or(0);
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(0);
    let size: usize = records.iter().map(|r| r.size).sum::<usize>() + BATCH_OVERHEAD;

    let mut plain = BytesMut::with_capacity(size);
    for (i, r) in records.iter().enumerate() {
        encode_record(&mut plain, r, i as i32, r.timestamp - base_timestamp);
    }
    let (codec, body): (i16, BytesMut) = match compression {
        CompressionType::None => (0, plain),
        CompressionType::Gzip => (1, compress_with::<Gzip>(plain)?),
        CompressionType::Snappy => (2, compress_with::<Snappy>(plain)?),
        CompressionType::Lz4 => (3, compress_with::<Lz4>(plain)?),
        CompressionType::Zstd => (4, compress_with::<Zstd>(plain)?),
    };

    let mut attributes = codec;
    if transactional {
        attributes |= 1 << 4;
    }
    let mut buf = BytesMut::with_capacity(BATCH_OVERHEAD + body.len());
    buf.put_i64(0); // base offset, assigned by the broker
    let batch_length = i32::try_from(BATCH_OVERHEAD - 12 + body.len())
        .map_err(|_| KafkaError::IllegalState("record batch larger than 2 GiB".into()))?;
    buf.put_i32(batch_length);
    buf.put_i32(-1); // partition leader epoch
    buf.put_i8(2); // magic
    buf.put_u32(0); // CRC, filled in below
    buf.put_i16(attributes);
    buf.put_i32(count - 1); // last offset delta
    buf.put_i64(base_timestamp);
    buf.put_i64(max_timestamp);
    buf.put_i64(ident.producer_id);
    buf.put_i16(ident.epoch);
    buf.put_i32(base_sequence);
    buf.put_i32(count);
    buf.extend_from_slice(&body);
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(buf.freeze())
}

fn compress_with<C: Compressor<BytesMut, BufMut = BytesMut>>(
    mut plain: BytesMut,
) -> Result<BytesMut> {
    let mut out = BytesMut::with_capacity(plain.len() / 2 + 64);
    C::compress(&mut out, |buf: &mut BytesMut| {
        std::mem::swap(buf, &mut plain);
        Ok(())
    })
    .map_err(|e| KafkaError::IllegalState(format!("compressing record batch: {e}")))?;
    Ok(out)
}

fn encode_record(buf: &mut BytesMut, r: &PendingRecord, offset_delta: i32, timestamp_delta: i64) {
    // The length prefix comes first, so size the body before writing it (no temporary).
    let body_len = 1
        + varlong_size(timestamp_delta)
        + varint_size(offset_delta)
        + nullable_size(r.key.as_deref())
        + nullable_size(r.value.as_deref())
        + varint_size(r.headers.len() as i32)
        + r.headers
            .iter()
            .map(|(k, v)| nullable_size(Some(k.as_bytes())) + nullable_size(v.as_deref()))
            .sum::<usize>();
    put_varint(buf, body_len as i32);
    buf.put_i8(0); // attributes
    put_varlong(buf, timestamp_delta);
    put_varint(buf, offset_delta);
    put_nullable(buf, r.key.as_deref());
    put_nullable(buf, r.value.as_deref());
    put_varint(buf, r.headers.len() as i32);
    for (k, v) in &r.headers {
        put_nullable(buf, Some(k.as_bytes()));
        put_nullable(buf, v.as_deref());
    }
}

fn unsigned_varint_size(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn varint_size(v: i32) -> usize {
    unsigned_varint_size(u64::from(((v << 1) ^ (v >> 31)) as u32))
}

fn varlong_size(v: i64) -> usize {
    unsigned_varint_size(((v << 1) ^ (v >> 63)) as u64)
}

fn nullable_size(data: Option<&[u8]>) -> usize {
    match data {
        None => 1,
        Some(d) => varint_size(d.len() as i32) + d.len(),
    }
}

fn put_nullable(buf: &mut BytesMut, data: Option<&[u8]>) {
    match data {
        None => put_varint(buf, -1),
        Some(d) => {
            put_varint(buf, d.len() as i32);
            buf.extend_from_slice(d);
        }
    }
}

fn put_unsigned_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// A zig-zag encoded 32-bit varint.
fn put_varint(buf: &mut BytesMut, v: i32) {
    put_unsigned_varint(buf, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

/// A zig-zag encoded 64-bit varint.
fn put_varlong(buf: &mut BytesMut, v: i64) {
    put_unsigned_varint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RecordMetadata;
    use kafka_protocol::records::RecordBatchDecoder;
    use tokio::sync::oneshot;

    fn rec(i: usize) -> (PendingRecord, oneshot::Receiver<Result<RecordMetadata>>) {
        let (tx, rx) = oneshot::channel();
        (
            PendingRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: if i % 3 == 2 {
                    None
                } else {
                    Some(Bytes::from(format!("value-{i}")))
                },
                headers: vec![
                    ("h".into(), Some(Bytes::from_static(b"v"))),
                    ("n".into(), None),
                ],
                timestamp: 1_000 + i as i64,
                size: 30,
                reply: tx.into(),
                permit: None,
            },
            rx,
        )
    }

    #[test]
    fn encodes_one_batch_per_codec_and_roundtrips() {
        for c in [
            CompressionType::None,
            CompressionType::Gzip,
            CompressionType::Snappy,
            CompressionType::Lz4,
            CompressionType::Zstd,
        ] {
            for (ident, base) in [
                (ProducerIdAndEpoch::NONE, -1),
                (
                    ProducerIdAndEpoch {
                        producer_id: 7,
                        epoch: 2,
                    },
                    40,
                ),
            ] {
                let recs: Vec<PendingRecord> = (0..10).map(|i| rec(i).0).collect();
                let bytes = encode_records(&recs, ident, base, ident.is_valid(), c).unwrap();
                let mut b = bytes.clone();
                let info = RecordBatchDecoder::decode_batch_info(&mut b.clone()).unwrap();
                assert_eq!(info.len(), 1, "{c:?}: one batch");
                assert_eq!(info[0].record_count, 10);
                assert_eq!(info[0].base_sequence, base);
                assert_eq!(info[0].producer_id, ident.producer_id);
                assert_eq!(info[0].transactional, ident.is_valid());
                let set = RecordBatchDecoder::decode(&mut b).unwrap();
                assert_eq!(set.records.len(), 10);
                assert_eq!(set.records[2].value, None);
                assert_eq!(set.records[1].key.as_deref(), Some(&b"k1"[..]));
                assert_eq!(set.records[4].timestamp, 1_004);
                assert_eq!(set.records[0].headers.len(), 2);
            }
        }
    }

    #[test]
    fn varint_sizes_match_the_encoding() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            8191,
            -8192,
            1 << 20,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_size(v), "{v}");
            if let Ok(v32) = i32::try_from(v) {
                let mut b = BytesMut::new();
                put_varint(&mut b, v32);
                assert_eq!(b.len(), varint_size(v32), "{v32}");
            }
        }
    }

    #[test]
    fn repeated_header_keys_survive_in_order_for_every_codec() {
        use crate::fetcher::records::{BatchContent, decode_batches};
        for c in [
            CompressionType::None,
            CompressionType::Gzip,
            CompressionType::Snappy,
            CompressionType::Lz4,
            CompressionType::Zstd,
        ] {
            let mut recs: Vec<PendingRecord> = (0..3).map(|i| rec(i).0).collect();
            let headers = vec![
                ("a".to_string(), Some(Bytes::from_static(b"1"))),
                ("b".to_string(), None),
                ("a".to_string(), Some(Bytes::from_static(b"2"))),
                ("a".to_string(), Some(Bytes::new())),
            ];
            recs[1].headers = headers.clone();
            // Timestamps out of order: deltas from the smallest stay valid.
            recs[0].timestamp = 5_000;
            let ident = ProducerIdAndEpoch {
                producer_id: 9,
                epoch: 3,
            };
            let bytes = encode_records(&recs, ident, 17, false, c).unwrap();
            let info = RecordBatchDecoder::decode_batch_info(&mut bytes.clone()).unwrap();
            assert_eq!(info[0].base_sequence, 17);
            assert_eq!(info[0].producer_epoch, 3);
            let batches = decode_batches("t", 0, bytes).unwrap();
            assert_eq!(batches.len(), 1, "{c:?}");
            assert_eq!((batches[0].base_offset, batches[0].last_offset), (0, 2));
            let BatchContent::Records(got) = &batches[0].content else {
                panic!("data batch expected");
            };
            assert_eq!(got[1].headers, headers, "{c:?}");
            assert_eq!(got[0].timestamp, 5_000);
            assert_eq!(got[2].timestamp, 1_002);
            assert_eq!(got[2].value, None);
            assert_eq!(got[1].key.as_deref(), Some(&b"k1"[..]));
        }
    }

    #[tokio::test]
    async fn complete_and_fail_reply_per_record() {
        let now = Instant::now();
        let mut b = ProducerBatch::new(1, TopicPartition::new("t", 3), now, now);
        let mut rxs = Vec::new();
        for i in 0..3 {
            let (r, rx) = rec(i);
            b.records.push(r);
            rxs.push(rx);
        }
        b.complete(100, -1);
        for (i, rx) in rxs.into_iter().enumerate() {
            let m = rx.await.unwrap().unwrap();
            assert_eq!(
                (m.partition, m.offset, m.timestamp),
                (3, 100 + i as i64, 1_000 + i as i64)
            );
        }
        let mut b = ProducerBatch::new(2, TopicPartition::new("t", 0), now, now);
        let (r, rx) = rec(0);
        b.records.push(r);
        b.fail(&crate::error::broker_error("Produce", 10, None));
        let (error, record) = rx.await.unwrap().unwrap_err().into_undelivered();
        assert!(matches!(error, KafkaError::Broker { code: 10, .. }));
        let record = record.expect("the record is handed back");
        assert_eq!(
            (&*record.topic, record.partition, record.timestamp),
            ("t", Some(0), Some(1_000))
        );
    }

    /// A batch holds its records' `buffer.memory` until it is done and then gives it back
    /// at once; a split batch's halves each hold their records' share.
    #[test]
    fn a_batch_holds_its_records_memory_until_it_is_done() {
        let memory = std::sync::Arc::new(tokio::sync::Semaphore::new(1_000));
        let now = Instant::now();
        let mut b = ProducerBatch::new(1, TopicPartition::new("t", 0), now, now);
        let mut rxs = Vec::new();
        for i in 0..4 {
            let (mut r, rx) = rec(i);
            r.size = 100;
            r.permit = Some(memory.clone().try_acquire_many_owned(100).unwrap());
            b.push(r);
            rxs.push(rx);
        }
        assert_eq!(b.bytes, BATCH_OVERHEAD + 400);
        assert_eq!(memory.available_permits(), 600);
        assert!(
            b.records.iter().all(|r| r.permit.is_none()),
            "held by the batch"
        );
        let rest = b.split_off_half(2).expect("four records split");
        assert_eq!((b.records.len(), rest.records.len()), (2, 2));
        assert_eq!(rest.memory.as_ref().map(|m| m.num_permits()), Some(200));
        assert_eq!(b.memory.as_ref().map(|m| m.num_permits()), Some(200));
        b.complete(0, -1);
        assert_eq!(memory.available_permits(), 800, "the first half is done");
        drop(rest);
        assert_eq!(memory.available_permits(), 1_000);
    }
}
