//! Helpers shared by the broker tests: a raw Fetch reader that also shows control records,
//! and librdkafka (python confluent-kafka) scripts.
#![allow(dead_code)]

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use kstreams_kafka::Client;

/// One record as stored in the log, control records included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp: i64,
    pub producer_id: i64,
    pub transactional: bool,
    pub control: bool,
}

impl RawRecord {
    /// For a control record: Some(true) for a COMMIT marker, Some(false) for ABORT.
    pub fn marker(&self) -> Option<bool> {
        if !self.control {
            return None;
        }
        let k = self.key.as_ref()?;
        if k.len() < 4 {
            return None;
        }
        Some(i16::from_be_bytes([k[2], k[3]]) == 1)
    }
}

/// Reads a partition from `from` with a plain read_uncommitted Fetch until no more data.
pub async fn fetch_all(client: &Client, topic: &str, partition: i32, from: i64) -> Vec<RawRecord> {
    let leader = client.leader_for(topic, partition).await.unwrap();
    let conn = client.connection(leader).await.unwrap();
    let mut out = Vec::new();
    let mut offset = from;
    let mut empty_rounds = 0;
    while empty_rounds < 2 {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_max_bytes(16 * 1024 * 1024)
            .with_isolation_level(0)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_current_leader_epoch(-1)
                            .with_last_fetched_epoch(-1)
                            .with_log_start_offset(-1)
                            .with_partition_max_bytes(8 * 1024 * 1024),
                    ]),
            ]);
        let resp = conn.send(req).await.unwrap();
        let mut got = 0;
        for t in resp.responses {
            for p in t.partitions {
                assert_eq!(p.error_code, 0, "fetch error");
                let Some(mut records) = p.records else {
                    continue;
                };
                if records.is_empty() {
                    continue;
                }
                for set in RecordBatchDecoder::decode_all(&mut records).unwrap() {
                    for r in set.records {
                        if r.offset < offset {
                            continue;
                        }
                        got += 1;
                        offset = r.offset + 1;
                        out.push(RawRecord {
                            offset: r.offset,
                            key: r.key,
                            value: r.value,
                            headers: r
                                .headers
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect(),
                            timestamp: r.timestamp,
                            producer_id: r.producer_id,
                            transactional: r.transactional,
                            control: r.control,
                        });
                    }
                }
            }
        }
        if got == 0 {
            empty_rounds += 1;
        } else {
            empty_rounds = 0;
        }
    }
    out
}

/// Consumes `n` records from every partition of `topic` with librdkafka, from the beginning;
/// one line per record: `p \t o \t key \t value \t ts \t headers`, bytes as hex, `-` for
/// null, headers as `namehex=valuehex` joined by `,`. Records beyond `n` (seen within one
/// more second) are printed too, so tests can detect extras.
pub const CONSUME_PY: &str = r#"
import sys, time
from confluent_kafka import Consumer, TopicPartition
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
iso = sys.argv[4] if len(sys.argv) > 4 else "read_uncommitted"
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "chk-" + topic,
              "enable.auto.commit": False, "isolation.level": iso})
md = c.list_topics(topic, timeout=10)
parts = sorted(md.topics[topic].partitions.keys())
c.assign([TopicPartition(topic, p, 0) for p in parts])
h = lambda b: "-" if b is None else (b.hex() or "")
out = []
deadline = time.time() + 20
extra_until = None
while time.time() < deadline:
    if len(out) >= n and extra_until is None:
        extra_until = time.time() + 1.0
    if extra_until is not None and time.time() > extra_until:
        break
    m = c.poll(0.2)
    if m is None or m.error():
        continue
    hs = ",".join(k.encode().hex() + "=" + h(v) for k, v in (m.headers() or []))
    out.append("\t".join([str(m.partition()), str(m.offset()), h(m.key()), h(m.value()),
                          str(m.timestamp()[1]), hs]))
for line in out:
    print(line)
c.close()
"#;

/// A record as librdkafka consumed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn opt(s: &str) -> Option<Vec<u8>> {
    if s == "-" { None } else { Some(unhex(s)) }
}

fn parse_line(line: &str) -> PyRecord {
    let f: Vec<&str> = line.split('\t').collect();
    let headers = f
        .get(5)
        .map(|hs| {
            hs.split(',')
                .filter(|x| !x.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (String::from_utf8(unhex(k)).unwrap(), opt(v))
                })
                .collect()
        })
        .unwrap_or_default();
    PyRecord {
        partition: f[0].parse().unwrap(),
        offset: f[1].parse().unwrap(),
        key: opt(f[2]),
        value: opt(f[3]),
        timestamp: f[4].parse().unwrap(),
        headers,
    }
}

/// Consumes with librdkafka (see `CONSUME_PY`).
pub fn librdkafka_consume(
    bootstrap: &str,
    topic: &str,
    n: usize,
    isolation: &str,
) -> Vec<PyRecord> {
    let out =
        kstreams_testkit::python_kafka(CONSUME_PY, &[bootstrap, topic, &n.to_string(), isolation])
            .unwrap();
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_line)
        .collect()
}
