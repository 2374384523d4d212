//! A batch of records for one partition and its wire encoding (record batch v2).

use super::sequence::ProducerIdAndEpoch;
use crate::error::{KafkaError, Result};
use crate::types::{CompressionType, RecordMetadata, TopicPartition};
use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

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
    pub reply: oneshot::Sender<Result<RecordMetadata>>,
    pub _permit: Option<OwnedSemaphorePermit>,
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
        }
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

    /// Completes every record: offsets from `base_offset` (or -1), the broker's log append
    /// time if it uses it.
    pub fn complete(self, base_offset: i64, log_append_time: i64) {
        let topic = self.tp.topic;
        for (i, r) in self.records.into_iter().enumerate() {
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
            let _ = r.reply.send(Ok(RecordMetadata {
                topic: topic.clone(),
                partition: self.tp.partition,
                offset,
                timestamp,
            }));
        }
    }

    /// Fails every record with (a copy of) the error.
    pub fn fail(self, err: &KafkaError) {
        for r in self.records {
            let _ = r.reply.send(Err(clone_error(err)));
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
        #[allow(unreachable_patterns)]
        other => KafkaError::IllegalState(other.to_string()),
    }
}

pub(crate) fn compression_of(c: CompressionType) -> Compression {
    match c {
        CompressionType::None => Compression::None,
        CompressionType::Gzip => Compression::Gzip,
        CompressionType::Snappy => Compression::Snappy,
        CompressionType::Lz4 => Compression::Lz4,
        CompressionType::Zstd => Compression::Zstd,
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
    let wire: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: ident.producer_id,
            producer_epoch: ident.epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder derives the batch's base sequence from the first record and keeps
            // records in one batch while offset - sequence is constant.
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect(),
        })
        .collect();
    let size: usize = records.iter().map(|r| r.size).sum::<usize>() + BATCH_OVERHEAD;
    let mut buf = BytesMut::with_capacity(size);
    RecordBatchEncoder::encode(
        &mut buf,
        wire.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: compression_of(compression),
        },
    )
    .map_err(|e| KafkaError::IllegalState(format!("encoding record batch: {e}")))?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

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
                reply: tx,
                _permit: None,
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
        assert!(matches!(
            rx.await.unwrap(),
            Err(KafkaError::Broker { code: 10, .. })
        ));
    }
}
