//! KIP-360 for the idempotent producer, against a scripted in-process broker (tansu never
//! answers OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID on demand): the batch that got
//! the error fails, the producer bumps its epoch (or, on a broker without InitProducerId v3,
//! takes a new producer id), restarts its sequences at 0 and later records are delivered.
//! Also MESSAGE_TOO_LARGE for a batch of several records, which is split, not failed.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, InitProducerIdRequest,
    InitProducerIdResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
    ProducerId, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kstreams_kafka::producer::{ProducerConfig, ProducerIdAndEpoch};
use kstreams_kafka::{Client, ClientConfig, KafkaError, Producer, ProducerRecord};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "bump-topic";
const PRODUCER_ID: i64 = 1000;

#[derive(Default)]
struct Script {
    /// Error code for the first Produce (then success).
    first_produce_error: i16,
    /// Log start offset in the answer to the first Produce (-1: an old broker).
    first_produce_log_start: i64,
    /// Highest InitProducerId version the broker announces.
    init_pid_max_version: i16,
    /// (producer id, epoch) of each InitProducerId request.
    inits: Vec<(i64, i16)>,
    /// (producer id, epoch, base sequence, record count) of each produced batch.
    produced: Vec<(i64, i16, i32, i32)>,
    next_offset: i64,
    next_new_id: i64,
    /// Refuse record batches larger than this with MESSAGE_TOO_LARGE (0: no limit), as a
    /// topic with a small `max.message.bytes` does.
    max_batch_bytes: usize,
    /// Error code of each produced batch, in the order of `produced`.
    codes: Vec<i16>,
    /// Size in bytes of each produced batch, in the order of `produced`.
    sizes: Vec<usize>,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn respond<R: Encodable + HeaderVersion>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    resp: R,
) -> BytesMut {
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, key.response_header_version(version))
        .unwrap();
    resp.encode(&mut out, version).unwrap();
    out
}

fn handle(script: &Mutex<Script>, port: u16, mut frame: Bytes) -> BytesMut {
    let key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version)).unwrap();
    let cid = header.correlation_id;
    let mut s = script.lock().unwrap();
    match key {
        ApiKey::ApiVersions => {
            let _ = ApiVersionsRequest::decode(&mut frame, version);
            let api = |k: ApiKey, min, max| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            };
            let resp = ApiVersionsResponse::default().with_api_keys(vec![
                api(ApiKey::ApiVersions, 0, 3),
                api(ApiKey::Metadata, 1, 12),
                api(ApiKey::Produce, 3, 9),
                api(ApiKey::InitProducerId, 0, s.init_pid_max_version),
            ]);
            // ApiVersions answers with v0 of the body when the client asked for more than
            // the broker knows; here the client's version is within range.
            respond(key, version.min(3), cid, resp)
        }
        ApiKey::Metadata => {
            let _ = MetadataRequest::decode(&mut frame, version).unwrap();
            let resp = MetadataResponse::default()
                .with_brokers(vec![
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(0))
                        .with_host(StrBytes::from_static_str("127.0.0.1"))
                        .with_port(i32::from(port)),
                ])
                .with_controller_id(BrokerId(0))
                .with_topics(vec![
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
                        .with_partitions(vec![
                            MetadataResponsePartition::default()
                                .with_partition_index(0)
                                .with_leader_id(BrokerId(0))
                                .with_replica_nodes(vec![BrokerId(0)])
                                .with_isr_nodes(vec![BrokerId(0)]),
                        ]),
                ]);
            respond(key, version, cid, resp)
        }
        ApiKey::InitProducerId => {
            let req = InitProducerIdRequest::decode(&mut frame, version).unwrap();
            s.inits.push((req.producer_id.0, req.producer_epoch));
            let (id, epoch) = if req.producer_id.0 < 0 {
                let id = PRODUCER_ID + s.next_new_id;
                s.next_new_id += 1;
                (id, 0)
            } else {
                (req.producer_id.0, req.producer_epoch + 1)
            };
            let resp = InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch);
            respond(key, version, cid, resp)
        }
        ApiKey::Produce => {
            let req = ProduceRequest::decode(&mut frame, version).unwrap();
            let mut topics = Vec::new();
            for t in req.topic_data {
                let mut parts = Vec::new();
                for p in t.partition_data {
                    let b = p.records.unwrap();
                    let batch = (
                        be_i64(&b, 43),
                        i16::from_be_bytes([b[51], b[52]]),
                        be_i32(&b, 53),
                    );
                    let count = be_i32(&b, 57);
                    s.produced.push((batch.0, batch.1, batch.2, count));
                    let code = if s.max_batch_bytes > 0 && b.len() > s.max_batch_bytes {
                        10
                    } else if s.produced.len() == 1 {
                        s.first_produce_error
                    } else {
                        0
                    };
                    s.codes.push(code);
                    s.sizes.push(b.len());
                    let log_start = if s.produced.len() == 1 {
                        s.first_produce_log_start
                    } else {
                        0
                    };
                    let mut resp = PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(log_start);
                    if code == 0 {
                        resp = resp.with_base_offset(s.next_offset);
                        s.next_offset += i64::from(count);
                    }
                    parts.push(resp);
                }
                topics.push(
                    TopicProduceResponse::default()
                        .with_name(t.name)
                        .with_partition_responses(parts),
                );
            }
            respond(
                key,
                version,
                cid,
                ProduceResponse::default().with_responses(topics),
            )
        }
        other => panic!("unexpected request {other:?}"),
    }
}

async fn serve_connection(mut sock: TcpStream, script: Arc<Mutex<Script>>, port: u16) {
    loop {
        let mut len = [0u8; 4];
        if sock.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        if sock.read_exact(&mut frame).await.is_err() {
            return;
        }
        let out = handle(&script, port, Bytes::from(frame));
        let mut msg = (out.len() as i32).to_be_bytes().to_vec();
        msg.extend_from_slice(&out);
        if sock.write_all(&msg).await.is_err() {
            return;
        }
    }
}

async fn start(script: Script) -> (String, Arc<Mutex<Script>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = Arc::new(Mutex::new(script));
    let s = script.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve_connection(sock, s.clone(), port));
        }
    });
    (format!("127.0.0.1:{port}"), script)
}

async fn run(first_produce_error: i16, init_pid_max_version: i16) -> Arc<Mutex<Script>> {
    let (bootstrap, script) = start(Script {
        first_produce_error,
        first_produce_log_start: -1,
        init_pid_max_version,
        ..Script::default()
    })
    .await;
    let client = Client::connect(ClientConfig::new(&bootstrap))
        .await
        .unwrap();
    let config = ProducerConfig {
        linger: Duration::ZERO,
        ..Default::default()
    };
    let producer = Producer::new(client, config).await.unwrap();
    assert_eq!(
        producer.producer_id_and_epoch(),
        ProducerIdAndEpoch {
            producer_id: PRODUCER_ID,
            epoch: 0
        }
    );
    let rec = |v: &str| ProducerRecord::new(TOPIC, v.to_string()).with_partition(0);

    // The first batch fails with the broker's error...
    let first = producer.send(rec("a")).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err.cause(), KafkaError::Broker { code, .. } if *code == first_produce_error),
        "{err:?}"
    );
    // ...and the producer stays usable: later records are delivered in order.
    let mut deliveries = Vec::new();
    for v in ["b", "c", "d"] {
        deliveries.push(producer.send(rec(v)).await.unwrap());
    }
    let mut offsets = Vec::new();
    for d in deliveries {
        let m = tokio::time::timeout(Duration::from_secs(10), d)
            .await
            .unwrap()
            .unwrap();
        offsets.push(m.offset);
    }
    assert_eq!(offsets, vec![0, 1, 2]);
    producer.close().await.unwrap();
    script
}

#[tokio::test]
async fn out_of_order_sequence_bumps_the_epoch_and_restarts_sequences() {
    let script = run(45, 4).await;
    let s = script.lock().unwrap();
    // InitProducerId once for a new id, then once to bump the epoch of that id.
    assert_eq!(s.inits, vec![(-1, -1), (PRODUCER_ID, 0)]);
    assert_eq!(s.produced[0], (PRODUCER_ID, 0, 0, 1));
    // After the bump: epoch 1, sequences from 0 again, contiguous.
    let mut next = 0;
    for &(id, epoch, seq, count) in &s.produced[1..] {
        assert_eq!((id, epoch, seq), (PRODUCER_ID, 1, next), "{:?}", s.produced);
        next += count;
    }
    assert_eq!(next, 3);
}

#[tokio::test]
async fn a_rejected_batch_restarts_the_sequences_under_a_new_epoch() {
    // MESSAGE_TOO_LARGE: the broker did not use the batch's sequence numbers, so continuing
    // at sequence 1 would be out of order on a real broker.
    let script = run(10, 4).await;
    let s = script.lock().unwrap();
    assert_eq!(s.inits, vec![(-1, -1), (PRODUCER_ID, 0)]);
    assert_eq!(s.produced[0], (PRODUCER_ID, 0, 0, 1));
    let mut next = 0;
    for &(id, epoch, seq, count) in &s.produced[1..] {
        assert_eq!((id, epoch, seq), (PRODUCER_ID, 1, next), "{:?}", s.produced);
        next += count;
    }
    assert_eq!(next, 3);
}

#[tokio::test]
async fn unknown_producer_id_bumps_the_epoch() {
    let script = run(59, 3).await;
    let s = script.lock().unwrap();
    assert_eq!(s.inits, vec![(-1, -1), (PRODUCER_ID, 0)]);
    assert!(
        s.produced[1..]
            .iter()
            .all(|p| (p.0, p.1) == (PRODUCER_ID, 1))
    );
    assert_eq!(s.produced[1].2, 0);
}

#[tokio::test]
async fn without_init_producer_id_v3_a_new_producer_id_is_taken() {
    let script = run(45, 2).await;
    let s = script.lock().unwrap();
    assert_eq!(s.inits, vec![(-1, -1), (-1, -1)]);
    assert!(
        s.produced[1..]
            .iter()
            .all(|p| (p.0, p.1) == (PRODUCER_ID + 1, 0))
    );
    assert_eq!(s.produced[1].2, 0);
}

/// UNKNOWN_PRODUCER_ID with a log start offset past the last acknowledged record: retention
/// removed the producer's state, nothing was lost, so the batch is retried (not failed)
/// under a bumped epoch from sequence 0.
#[tokio::test]
async fn unknown_producer_id_after_retention_retries_the_batch() {
    let (bootstrap, script) = start(Script {
        first_produce_error: 59,
        first_produce_log_start: 0,
        init_pid_max_version: 4,
        ..Script::default()
    })
    .await;
    let client = Client::connect(ClientConfig::new(&bootstrap))
        .await
        .unwrap();
    let config = ProducerConfig {
        linger: Duration::ZERO,
        retry_backoff: Duration::from_millis(10),
        ..Default::default()
    };
    let producer = Producer::new(client, config).await.unwrap();
    let md = tokio::time::timeout(
        Duration::from_secs(10),
        producer.send_and_wait(ProducerRecord::new(TOPIC, "a").with_partition(0)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(md.offset, 0);
    producer.close().await.unwrap();
    let s = script.lock().unwrap();
    assert_eq!(s.inits, vec![(-1, -1), (PRODUCER_ID, 0)]);
    assert_eq!(
        s.produced,
        vec![(PRODUCER_ID, 0, 0, 1), (PRODUCER_ID, 1, 0, 1)]
    );
}

/// Producer, against a broker refusing batches over `max_batch_bytes`, with a linger long
/// enough that all records sent at once share one batch.
async fn splitting_producer(max_batch_bytes: usize) -> (Producer, Arc<Mutex<Script>>) {
    let (bootstrap, script) = start(Script {
        init_pid_max_version: 4,
        max_batch_bytes,
        ..Script::default()
    })
    .await;
    let client = Client::connect(ClientConfig::new(&bootstrap))
        .await
        .unwrap();
    let config = ProducerConfig {
        linger: Duration::from_secs(30),
        ..Default::default()
    };
    (Producer::new(client, config).await.unwrap(), script)
}

/// Sends one record per size, flushes, and returns each record's delivery result.
async fn send_sizes(producer: &Producer, sizes: &[usize]) -> Vec<Result<i64, KafkaError>> {
    let mut deliveries = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let value = vec![b'a' + (i % 26) as u8; *n];
        let rec = ProducerRecord::new(TOPIC, value).with_partition(0);
        deliveries.push(producer.send(rec).await.unwrap());
    }
    tokio::time::timeout(Duration::from_secs(10), producer.flush())
        .await
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    for d in deliveries {
        // The flush returned: every delivery is settled, split batches included.
        let r = tokio::time::timeout(Duration::from_millis(1), d)
            .await
            .expect("settled by the flush");
        out.push(r.map(|m| m.offset));
    }
    out
}

#[tokio::test]
async fn a_batch_too_large_for_the_topic_is_split_and_every_record_delivered() {
    let (producer, script) = splitting_producer(4096).await;
    let results = send_sizes(&producer, &[1000; 20]).await;
    let offsets: Vec<i64> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        offsets,
        (0..20).collect::<Vec<_>>(),
        "all delivered, in order"
    );
    producer.close().await.unwrap();
    let s = script.lock().unwrap();
    assert_eq!(s.inits, vec![(-1, -1)], "no epoch bump: nothing failed");
    assert_eq!(s.codes[0], 10, "the first batch held all 20 records");
    assert_eq!(s.produced[0].3, 20);
    // Accepted batches: each within the limit, sequences contiguous from 0.
    let mut next = 0;
    for ((&(id, epoch, seq, count), &code), &size) in s.produced.iter().zip(&s.codes).zip(&s.sizes)
    {
        if code == 0 {
            assert_eq!((id, epoch, seq), (PRODUCER_ID, 0, next), "{:?}", s.produced);
            assert!(size <= 4096);
            next += count;
        }
    }
    assert_eq!(next, 20);
}

#[tokio::test]
async fn only_the_record_too_large_fails_when_its_batch_is_split() {
    let (producer, script) = splitting_producer(4096).await;
    let mut sizes = vec![1000; 11];
    sizes[5] = 6000;
    let results = send_sizes(&producer, &sizes).await;
    for (i, r) in results.iter().enumerate() {
        if i == 5 {
            let err = r.as_ref().unwrap_err();
            assert!(
                matches!(err.cause(), KafkaError::Broker { code: 10, .. }),
                "{err:?}"
            );
        } else {
            assert!(r.is_ok(), "record {i}: {r:?}");
        }
    }
    let offsets: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>(), "the others in order");
    producer.close().await.unwrap();
    let s = script.lock().unwrap();
    assert!(s.codes.iter().filter(|c| **c == 10).count() >= 2);
}
