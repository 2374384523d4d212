//! Metadata refresh on leader errors, against two scripted brokers (tansu is a single node,
//! so a partition leader never moves there): the old leader answers NOT_LEADER_OR_FOLLOWER,
//! the metadata now names the other broker, and the producer and the fetcher follow it.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, InitProducerIdRequest,
    InitProducerIdResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
    ProducerId, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::producer::ProducerConfig;
use kstreams_kafka::{Client, ClientConfig, Producer, ProducerRecord, TopicPartition};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "moving";
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

#[derive(Default)]
struct Cluster {
    ports: [u16; 2],
    /// The broker the metadata names as the leader.
    leader: i32,
    metadata_requests: usize,
    /// (broker, api) of each Produce and Fetch request.
    data_requests: Vec<(i32, ApiKey)>,
}

fn respond<R: Encodable + HeaderVersion>(key: ApiKey, version: i16, cid: i32, r: R) -> BytesMut {
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(cid)
        .encode(&mut out, key.response_header_version(version))
        .unwrap();
    r.encode(&mut out, version).unwrap();
    out
}

fn one_record_batch() -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        sequence: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        timestamp: 1_000,
        key: None,
        value: Some(Bytes::from_static(b"from-broker-1")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

fn handle(cluster: &Mutex<Cluster>, me: i32, mut frame: Bytes) -> BytesMut {
    let key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
    let v = i16::from_be_bytes([frame[2], frame[3]]);
    let cid = RequestHeader::decode(&mut frame, key.request_header_version(v))
        .unwrap()
        .correlation_id;
    let mut c = cluster.lock().unwrap();
    match key {
        ApiKey::ApiVersions => {
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
                api(ApiKey::Fetch, 4, 12),
                api(ApiKey::InitProducerId, 0, 4),
            ]);
            respond(key, v.min(3), cid, resp)
        }
        ApiKey::Metadata => {
            MetadataRequest::decode(&mut frame, v).unwrap();
            c.metadata_requests += 1;
            let broker = |id: i32| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(i32::from(c.ports[id as usize]))
            };
            let resp = MetadataResponse::default()
                .with_brokers(vec![broker(0), broker(1)])
                .with_topics(vec![
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
                        .with_partitions(vec![
                            MetadataResponsePartition::default()
                                .with_partition_index(0)
                                .with_leader_id(BrokerId(c.leader)),
                        ]),
                ]);
            respond(key, v, cid, resp)
        }
        ApiKey::InitProducerId => {
            InitProducerIdRequest::decode(&mut frame, v).unwrap();
            let resp = InitProducerIdResponse::default()
                .with_producer_id(ProducerId(5))
                .with_producer_epoch(0);
            respond(key, v, cid, resp)
        }
        ApiKey::Produce => {
            let req = ProduceRequest::decode(&mut frame, v).unwrap();
            c.data_requests.push((me, key));
            // The partition moved to broker 1 as soon as broker 0 is asked.
            c.leader = 1;
            let code = if me == 0 { NOT_LEADER_OR_FOLLOWER } else { 0 };
            let topics = req
                .topic_data
                .into_iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(t.name)
                        .with_partition_responses(
                            t.partition_data
                                .into_iter()
                                .map(|p| {
                                    PartitionProduceResponse::default()
                                        .with_index(p.index)
                                        .with_error_code(code)
                                        .with_base_offset(if code == 0 { 0 } else { -1 })
                                        .with_log_append_time_ms(-1)
                                })
                                .collect(),
                        )
                })
                .collect();
            respond(
                key,
                v,
                cid,
                ProduceResponse::default().with_responses(topics),
            )
        }
        ApiKey::Fetch => {
            let req = FetchRequest::decode(&mut frame, v).unwrap();
            c.data_requests.push((me, key));
            c.leader = 1;
            let topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let data = PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_high_watermark(1)
                                .with_last_stable_offset(1)
                                .with_log_start_offset(0);
                            if me == 0 {
                                data.with_error_code(NOT_LEADER_OR_FOLLOWER)
                            } else if p.fetch_offset == 0 {
                                data.with_records(Some(one_record_batch()))
                            } else {
                                data.with_records(Some(Bytes::new()))
                            }
                        })
                        .collect();
                    FetchableTopicResponse::default()
                        .with_topic(t.topic)
                        .with_partitions(partitions)
                })
                .collect();
            respond(key, v, cid, FetchResponse::default().with_responses(topics))
        }
        other => panic!("unexpected request {other:?}"),
    }
}

async fn serve(mut sock: TcpStream, cluster: Arc<Mutex<Cluster>>, me: i32) {
    loop {
        let mut len = [0u8; 4];
        if sock.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        if sock.read_exact(&mut frame).await.is_err() {
            return;
        }
        let is_fetch = i16::from_be_bytes([frame[0], frame[1]]) == ApiKey::Fetch as i16;
        let out = handle(&cluster, me, Bytes::from(frame));
        // A fetch is answered after a short wait (a long poll), so the consumer does not spin.
        if is_fetch {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut msg = (out.len() as i32).to_be_bytes().to_vec();
        msg.extend_from_slice(&out);
        if sock.write_all(&msg).await.is_err() {
            return;
        }
    }
}

/// Two brokers; the partition's leader is broker 0 until broker 0 is asked for it.
async fn start() -> (String, Arc<Mutex<Cluster>>) {
    let cluster = Arc::new(Mutex::new(Cluster::default()));
    for id in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        cluster.lock().unwrap().ports[id] = listener.local_addr().unwrap().port();
        let c = cluster.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, c.clone(), id as i32));
            }
        });
    }
    let port = cluster.lock().unwrap().ports[0];
    (format!("127.0.0.1:{port}"), cluster)
}

#[tokio::test]
async fn producer_follows_a_moved_leader() {
    let (bootstrap, cluster) = start().await;
    let client = Client::connect(ClientConfig::new(&bootstrap))
        .await
        .unwrap();
    let producer = Producer::new(
        client,
        ProducerConfig {
            linger: Duration::ZERO,
            retry_backoff: Duration::from_millis(20),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let md = tokio::time::timeout(
        Duration::from_secs(10),
        producer.send_and_wait(ProducerRecord::new(TOPIC, "v").with_partition(0)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((md.partition, md.offset), (0, 0));
    let c = cluster.lock().unwrap();
    assert_eq!(
        c.data_requests,
        vec![(0, ApiKey::Produce), (1, ApiKey::Produce)]
    );
    assert!(c.metadata_requests >= 2, "metadata was refreshed");
}

#[tokio::test]
async fn fetcher_follows_a_moved_leader() {
    let (bootstrap, cluster) = start().await;
    let mut consumer = Consumer::connect(ConsumerConfig::new(bootstrap))
        .await
        .unwrap();
    let tp = TopicPartition::new(TOPIC, 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek(&tp, 0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut records = Vec::new();
    while records.is_empty() && Instant::now() < deadline {
        records = consumer.poll(Duration::from_millis(200)).await.unwrap();
    }
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value.as_deref(), Some(&b"from-broker-1"[..]));
    let c = cluster.lock().unwrap();
    assert_eq!(c.data_requests[0], (0, ApiKey::Fetch));
    assert!(
        c.data_requests[1..]
            .iter()
            .all(|r| *r == (1, ApiKey::Fetch))
    );
    assert!(c.metadata_requests >= 2, "metadata was refreshed");
}
