//! The consumer protocol's Subscription and Assignment bytes (the `metadata` of JoinGroup and
//! the `assignment` of SyncGroup), as the Java client writes them: a big-endian `i16` version
//! followed by the message at that version.
//!
//! Encoding uses `kafka-protocol`'s generated `ConsumerProtocolSubscription` /
//! `ConsumerProtocolAssignment`. Decoding is done here with bounds checks (the generated
//! decoder preallocates arrays by their declared length, which hostile bytes could make
//! huge); a version above the highest known one is read as the highest known one, as the
//! Java client does.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedPartitions;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::{Assignment, Subscription};
use crate::error::{KafkaError, Result};
use crate::types::TopicPartition;

/// The Subscription version this client writes.
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The Assignment version this client writes.
pub const ASSIGNMENT_VERSION: i16 = 3;

fn protocol(message: impl Into<String>) -> KafkaError {
    KafkaError::Protocol {
        broker: String::new(),
        message: message.into(),
    }
}

fn group_by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    by_topic
}

fn encode_versioned<M: Encodable>(message: &M, version: i16) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .map_err(|e| KafkaError::IllegalState(format!("cannot encode consumer protocol: {e}")))?;
    Ok(buf.freeze())
}

/// Encodes a subscription (JoinGroup protocol metadata).
pub fn encode_subscription(sub: &Subscription) -> Result<Bytes> {
    let owned = group_by_topic(&sub.owned_partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            OwnedPartitions::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(partitions)
        })
        .collect();
    let msg = ConsumerProtocolSubscription::default()
        .with_topics(
            sub.topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_user_data(sub.user_data.clone())
        .with_owned_partitions(owned)
        .with_generation_id(sub.generation_id)
        .with_rack_id(sub.rack_id.clone().map(StrBytes::from_string));
    encode_versioned(&msg, SUBSCRIPTION_VERSION)
}

/// Encodes an assignment (SyncGroup assignment bytes).
pub fn encode_assignment(assignment: &Assignment) -> Result<Bytes> {
    let assigned = group_by_topic(&assignment.partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            AssignedPartitions::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(partitions)
        })
        .collect();
    let msg = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(assigned)
        .with_user_data(assignment.user_data.clone());
    encode_versioned(&msg, ASSIGNMENT_VERSION)
}

/// A bounds-checked big-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    whole: &'a Bytes,
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(whole: &'a Bytes) -> Self {
        Reader {
            buf: whole.as_ref(),
            whole,
            at: 0,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| protocol(format!("consumer protocol {what} is truncated")))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn i16(&mut self, what: &str) -> Result<i16> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<Option<String>> {
        let len = self.i16(what)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| protocol(format!("negative {what} length")))?;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| protocol(format!("{what} is not valid UTF-8")))
    }

    fn required_string(&mut self, what: &str) -> Result<String> {
        self.string(what)?
            .ok_or_else(|| protocol(format!("null {what}")))
    }

    fn bytes(&mut self, what: &str) -> Result<Option<Bytes>> {
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| protocol(format!("negative {what} length")))?;
        let start = self.at;
        self.take(len, what)?;
        Ok(Some(self.whole.slice(start..start + len)))
    }

    /// An array length, checked against the bytes left (each element takes `min_size` bytes).
    fn array_len(&mut self, what: &str, min_size: usize) -> Result<usize> {
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(0);
        }
        let len = usize::try_from(len).map_err(|_| protocol(format!("negative {what} count")))?;
        if len.saturating_mul(min_size) > self.buf.len() - self.at {
            return Err(protocol(format!("{what} count {len} exceeds the message")));
        }
        Ok(len)
    }

    fn topic_partitions(&mut self, what: &str) -> Result<Vec<TopicPartition>> {
        let topics = self.array_len(what, 6)?;
        let mut out = Vec::new();
        for _ in 0..topics {
            let topic = self.required_string("topic")?;
            let n = self.array_len("partition", 4)?;
            for _ in 0..n {
                out.push(TopicPartition::new(topic.clone(), self.i32("partition")?));
            }
        }
        Ok(out)
    }
}

/// Decodes a subscription (any version; versions above 3 are read as 3).
pub fn decode_subscription(data: &Bytes) -> Result<Subscription> {
    let mut r = Reader::new(data);
    let version = r.i16("version")?;
    if version < 0 {
        return Err(protocol(format!("subscription version {version}")));
    }
    let n = r.array_len("topics", 2)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(r.required_string("topic")?);
    }
    let user_data = r.bytes("user data")?;
    let owned_partitions = if version >= 1 {
        r.topic_partitions("owned partitions")?
    } else {
        Vec::new()
    };
    let generation_id = if version >= 2 {
        r.i32("generation")?
    } else {
        -1
    };
    let rack_id = if version >= 3 {
        r.string("rack")?
    } else {
        None
    };
    Ok(Subscription {
        topics,
        user_data,
        owned_partitions,
        generation_id,
        rack_id,
    })
}

/// Decodes an assignment (any version). Empty bytes are an empty assignment (a member the
/// leader gave nothing, as some clients encode it).
pub fn decode_assignment(data: &Bytes) -> Result<Assignment> {
    if data.is_empty() {
        return Ok(Assignment::default());
    }
    let mut r = Reader::new(data);
    let version = r.i16("version")?;
    if version < 0 {
        return Err(protocol(format!("assignment version {version}")));
    }
    let partitions = r.topic_partitions("assigned partitions")?;
    let user_data = r.bytes("user data")?;
    Ok(Assignment {
        partitions,
        user_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_subscription() -> Subscription {
        Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"\x00\x01opaque")),
            owned_partitions: vec![
                TopicPartition::new("a", 0),
                TopicPartition::new("a", 2),
                TopicPartition::new("b", 1),
            ],
            generation_id: 7,
            rack_id: Some("rack-1".into()),
        }
    }

    #[test]
    fn subscription_round_trips() {
        let sub = sample_subscription();
        let bytes = encode_subscription(&sub).unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(decode_subscription(&bytes).unwrap(), sub);
        let empty = Subscription {
            generation_id: -1,
            ..Default::default()
        };
        assert_eq!(
            decode_subscription(&encode_subscription(&empty).unwrap()).unwrap(),
            empty
        );
    }

    #[test]
    fn assignment_round_trips() {
        let a = Assignment {
            partitions: vec![TopicPartition::new("x", 0), TopicPartition::new("y", 3)],
            user_data: Some(Bytes::from_static(b"tasks")),
        };
        assert_eq!(
            decode_assignment(&encode_assignment(&a).unwrap()).unwrap(),
            a
        );
        assert_eq!(
            decode_assignment(&Bytes::new()).unwrap(),
            Assignment::default()
        );
    }

    #[test]
    fn older_versions_decode() {
        // v0 as the Java client writes it: version, topics ["t"], null user data.
        let v0 = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
        let sub = decode_subscription(&v0).unwrap();
        assert_eq!(sub.topics, vec!["t".to_string()]);
        assert_eq!(sub.user_data, None);
        assert_eq!(sub.generation_id, -1);
        // v0 assignment: [("t", [1])], user data "".
        let a = Bytes::from_static(&[
            0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0,
        ]);
        let a = decode_assignment(&a).unwrap();
        assert_eq!(a.partitions, vec![TopicPartition::new("t", 1)]);
        assert_eq!(a.user_data, Some(Bytes::new()));
    }

    #[test]
    fn newer_versions_are_read_as_the_highest_known() {
        let mut raw = encode_subscription(&sample_subscription())
            .unwrap()
            .to_vec();
        raw[1] = 9;
        raw.extend_from_slice(b"future fields");
        assert_eq!(
            decode_subscription(&Bytes::from(raw)).unwrap(),
            sample_subscription()
        );
    }

    #[test]
    fn truncations_and_garbage_are_errors_not_panics() {
        let full = encode_subscription(&sample_subscription()).unwrap();
        for cut in 0..full.len() {
            assert!(
                decode_subscription(&full.slice(..cut)).is_err(),
                "cut {cut}"
            );
        }
        let a = encode_assignment(&Assignment {
            partitions: vec![TopicPartition::new("x", 0)],
            user_data: None,
        })
        .unwrap();
        for cut in 1..a.len() {
            assert!(decode_assignment(&a.slice(..cut)).is_err(), "cut {cut}");
        }
        // A huge declared array length fails fast instead of allocating.
        let huge = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff]);
        assert!(decode_subscription(&huge).is_err());
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..5_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let data: Vec<u8> = (0..len).map(|i| (seed >> (i % 8 * 8)) as u8).collect();
            let data = Bytes::from(data);
            let _ = decode_subscription(&data);
            let _ = decode_assignment(&data);
        }
    }
}
