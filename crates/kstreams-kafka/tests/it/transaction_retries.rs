//! Retriable transaction-coordinator errors, forced by a scripted broker (tansu cannot be
//! made to answer them on demand): COORDINATOR_LOAD_IN_PROGRESS on InitProducerId,
//! CONCURRENT_TRANSACTIONS on AddPartitionsToTxn and EndTxn, NOT_COORDINATOR on EndTxn (which
//! must send the client back to FindCoordinator). The transaction commits regardless; a
//! fencing error instead surfaces as `ErrorClass::Fenced`.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ApiVersionsResponse, BrokerId,
    EndTxnRequest, EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    InitProducerIdRequest, InitProducerIdResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse, ProducerId, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kstreams_kafka::producer::{ProducerConfig, ProducerIdAndEpoch};
use kstreams_kafka::{Client, ClientConfig, ErrorClass, Producer, ProducerRecord};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "txn-topic";

/// Error codes to answer per API, in order (then 0), and the requests seen per API.
#[derive(Default)]
struct Script {
    errors: HashMap<i16, VecDeque<i16>>,
    seen: HashMap<i16, usize>,
    /// (producer id, epoch, committed) of each EndTxn.
    end_txns: Vec<(i64, i16, bool)>,
}

impl Script {
    fn next_error(&mut self, key: ApiKey) -> i16 {
        *self.seen.entry(key as i16).or_default() += 1;
        self.errors
            .get_mut(&(key as i16))
            .and_then(VecDeque::pop_front)
            .unwrap_or(0)
    }

    fn seen(&self, key: ApiKey) -> usize {
        self.seen.get(&(key as i16)).copied().unwrap_or(0)
    }
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

fn handle(script: &Mutex<Script>, port: u16, mut frame: Bytes) -> BytesMut {
    let key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
    let v = i16::from_be_bytes([frame[2], frame[3]]);
    let cid = RequestHeader::decode(&mut frame, key.request_header_version(v))
        .unwrap()
        .correlation_id;
    let mut s = script.lock().unwrap();
    let code = s.next_error(key);
    match key {
        ApiKey::ApiVersions => {
            let api = |k: ApiKey, max| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(0)
                    .with_max_version(max)
            };
            let resp = ApiVersionsResponse::default().with_api_keys(vec![
                api(ApiKey::ApiVersions, 3),
                api(ApiKey::Metadata, 12),
                api(ApiKey::Produce, 9),
                api(ApiKey::InitProducerId, 4),
                api(ApiKey::FindCoordinator, 3),
                api(ApiKey::AddPartitionsToTxn, 3),
                api(ApiKey::EndTxn, 3),
            ]);
            respond(key, v.min(3), cid, resp)
        }
        ApiKey::Metadata => {
            MetadataRequest::decode(&mut frame, v).unwrap();
            let resp = MetadataResponse::default()
                .with_brokers(vec![
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(0))
                        .with_host(StrBytes::from_static_str("127.0.0.1"))
                        .with_port(i32::from(port)),
                ])
                .with_topics(vec![
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
                        .with_partitions(vec![
                            MetadataResponsePartition::default()
                                .with_partition_index(0)
                                .with_leader_id(BrokerId(0)),
                        ]),
                ]);
            respond(key, v, cid, resp)
        }
        ApiKey::FindCoordinator => {
            FindCoordinatorRequest::decode(&mut frame, v).unwrap();
            let resp = FindCoordinatorResponse::default()
                .with_error_code(code)
                .with_node_id(BrokerId(0))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(i32::from(port));
            respond(key, v, cid, resp)
        }
        ApiKey::InitProducerId => {
            InitProducerIdRequest::decode(&mut frame, v).unwrap();
            let resp = InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(if code == 0 { 77 } else { -1 }))
                .with_producer_epoch(if code == 0 { 5 } else { -1 });
            respond(key, v, cid, resp)
        }
        ApiKey::AddPartitionsToTxn => {
            let req = AddPartitionsToTxnRequest::decode(&mut frame, v).unwrap();
            let topics = req
                .v3_and_below_topics
                .into_iter()
                .map(|t| {
                    AddPartitionsToTxnTopicResult::default()
                        .with_name(t.name)
                        .with_results_by_partition(
                            t.partitions
                                .into_iter()
                                .map(|p| {
                                    AddPartitionsToTxnPartitionResult::default()
                                        .with_partition_index(p)
                                        .with_partition_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            let resp =
                AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics);
            respond(key, v, cid, resp)
        }
        ApiKey::Produce => {
            let req = ProduceRequest::decode(&mut frame, v).unwrap();
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
                                        .with_base_offset(0)
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
        ApiKey::EndTxn => {
            let req = EndTxnRequest::decode(&mut frame, v).unwrap();
            s.end_txns
                .push((req.producer_id.0, req.producer_epoch, req.committed));
            respond(key, v, cid, EndTxnResponse::default().with_error_code(code))
        }
        other => panic!("unexpected request {other:?}"),
    }
}

async fn serve(mut sock: TcpStream, script: Arc<Mutex<Script>>, port: u16) {
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

async fn start(errors: &[(ApiKey, &[i16])]) -> (String, Arc<Mutex<Script>>) {
    let mut script = Script::default();
    for (key, codes) in errors {
        script
            .errors
            .insert(*key as i16, codes.iter().copied().collect());
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = Arc::new(Mutex::new(script));
    let s = script.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock, s.clone(), port));
        }
    });
    (format!("127.0.0.1:{port}"), script)
}

async fn producer(bootstrap: &str) -> Producer {
    let mut client_config = ClientConfig::new(bootstrap);
    client_config.retry_backoff = Duration::from_millis(10);
    let client = Client::connect(client_config).await.unwrap();
    let config = ProducerConfig {
        transactional_id: Some("txn-retries".into()),
        linger: Duration::ZERO,
        retry_backoff: Duration::from_millis(10),
        ..Default::default()
    };
    Producer::new(client, config).await.unwrap()
}

#[tokio::test]
async fn retriable_coordinator_errors_are_retried_until_the_commit_succeeds() {
    let (bootstrap, script) = start(&[
        (ApiKey::InitProducerId, &[14, 51]), // COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS
        (ApiKey::AddPartitionsToTxn, &[51]), // CONCURRENT_TRANSACTIONS
        (ApiKey::EndTxn, &[16, 51]),         // NOT_COORDINATOR, CONCURRENT_TRANSACTIONS
    ])
    .await;
    let p = producer(&bootstrap).await;
    tokio::time::timeout(Duration::from_secs(10), p.init_transactions())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.producer_id_and_epoch(),
        ProducerIdAndEpoch {
            producer_id: 77,
            epoch: 5
        }
    );
    p.begin_transaction().unwrap();
    let d = p
        .send(ProducerRecord::new(TOPIC, "v").with_partition(0))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), p.commit_transaction())
        .await
        .unwrap()
        .unwrap();
    d.await.unwrap();

    let s = script.lock().unwrap();
    assert_eq!(s.seen(ApiKey::InitProducerId), 3);
    assert_eq!(s.seen(ApiKey::AddPartitionsToTxn), 2);
    assert_eq!(s.seen(ApiKey::EndTxn), 3);
    assert!(
        s.end_txns.iter().all(|&e| e == (77, 5, true)),
        "{:?}",
        s.end_txns
    );
    // NOT_COORDINATOR sent the client back to FindCoordinator.
    assert!(s.seen(ApiKey::FindCoordinator) >= 2);
}

#[tokio::test]
async fn fencing_on_end_txn_is_a_fenced_error() {
    let (bootstrap, _script) = start(&[(ApiKey::EndTxn, &[90])]).await; // PRODUCER_FENCED
    let p = producer(&bootstrap).await;
    p.init_transactions().await.unwrap();
    p.begin_transaction().unwrap();
    let delivery = p
        .send(ProducerRecord::new(TOPIC, "v").with_partition(0))
        .await
        .unwrap();
    let err = p.commit_transaction().await.unwrap_err();
    drop(delivery);
    assert_eq!(err.class(), ErrorClass::Fenced, "{err:?}");
}
