//! ListOffsets (earliest, latest, last stable offset, by timestamp) and DeleteRecords against
//! a scripted broker that models one partition's log as Apache Kafka does: tansu answers
//! "latest" and "by timestamp" wrongly and drops the connection on DeleteRecords, so the
//! broker tests in `admin.rs` can only check ranges there.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, DeleteRecordsRequest, DeleteRecordsResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kstreams_kafka::admin::{Admin, OffsetSpec};
use kstreams_kafka::{ClientConfig, IsolationLevel, TopicPartition};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "offsets";

/// One partition: records 0..10 with timestamp 1000 * offset, an open transaction from
/// offset 7 (so the last stable offset is 7).
struct Log {
    log_start: i64,
    high_watermark: i64,
    last_stable: i64,
    /// Answer the next ListOffsets with NOT_LEADER_OR_FOLLOWER.
    not_leader_once: bool,
    list_requests: Vec<(i8, i64)>,
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

fn handle(log: &Mutex<Log>, port: u16, mut frame: Bytes) -> BytesMut {
    let key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
    let v = i16::from_be_bytes([frame[2], frame[3]]);
    let cid = RequestHeader::decode(&mut frame, key.request_header_version(v))
        .unwrap()
        .correlation_id;
    let mut l = log.lock().unwrap();
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
                api(ApiKey::ListOffsets, 8),
                api(ApiKey::DeleteRecords, 2),
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
        ApiKey::ListOffsets => {
            let req = ListOffsetsRequest::decode(&mut frame, v).unwrap();
            let mut topics = Vec::new();
            for t in req.topics {
                let mut parts = Vec::new();
                for p in t.partitions {
                    l.list_requests.push((req.isolation_level, p.timestamp));
                    let mut r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_leader_epoch(3);
                    if std::mem::take(&mut l.not_leader_once) {
                        parts.push(r.with_error_code(6));
                        continue;
                    }
                    r = match p.timestamp {
                        -2 => r.with_offset(l.log_start).with_timestamp(-1),
                        -1 if req.isolation_level == 1 => {
                            r.with_offset(l.last_stable).with_timestamp(-1)
                        }
                        -1 => r.with_offset(l.high_watermark).with_timestamp(-1),
                        ts => {
                            // The first offset (from the log start) with a timestamp >= ts.
                            let first = (l.log_start..l.high_watermark).find(|o| o * 1000 >= ts);
                            match first {
                                Some(o) => r.with_offset(o).with_timestamp(o * 1000),
                                None => r.with_offset(-1).with_timestamp(-1),
                            }
                        }
                    };
                    parts.push(r);
                }
                topics.push(
                    ListOffsetsTopicResponse::default()
                        .with_name(t.name)
                        .with_partitions(parts),
                );
            }
            respond(
                key,
                v,
                cid,
                ListOffsetsResponse::default().with_topics(topics),
            )
        }
        ApiKey::DeleteRecords => {
            let req = DeleteRecordsRequest::decode(&mut frame, v).unwrap();
            let mut topics = Vec::new();
            for t in req.topics {
                let mut parts = Vec::new();
                for p in t.partitions {
                    let before = if p.offset == -1 {
                        l.high_watermark
                    } else {
                        p.offset
                    };
                    l.log_start = l.log_start.max(before);
                    parts.push(
                        DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index)
                            .with_low_watermark(l.log_start),
                    );
                }
                topics.push(
                    DeleteRecordsTopicResult::default()
                        .with_name(t.name)
                        .with_partitions(parts),
                );
            }
            respond(
                key,
                v,
                cid,
                DeleteRecordsResponse::default().with_topics(topics),
            )
        }
        other => panic!("unexpected request {other:?}"),
    }
}

async fn serve(mut sock: TcpStream, log: Arc<Mutex<Log>>, port: u16) {
    loop {
        let mut len = [0u8; 4];
        if sock.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        if sock.read_exact(&mut frame).await.is_err() {
            return;
        }
        let out = handle(&log, port, Bytes::from(frame));
        let mut msg = (out.len() as i32).to_be_bytes().to_vec();
        msg.extend_from_slice(&out);
        if sock.write_all(&msg).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn list_offsets_every_spec_and_delete_records() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Log {
        log_start: 0,
        high_watermark: 10,
        last_stable: 7,
        not_leader_once: true,
        list_requests: Vec::new(),
    }));
    let l = log.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock, l.clone(), port));
        }
    });
    let admin = Admin::connect(ClientConfig::new(&format!("127.0.0.1:{port}")))
        .await
        .unwrap();
    let tp = TopicPartition::new(TOPIC, 0);
    let one = |spec: OffsetSpec, iso: IsolationLevel| {
        let admin = admin.clone();
        let tp = tp.clone();
        async move {
            admin
                .list_offsets(&[(tp.clone(), spec)], iso)
                .await
                .unwrap()[&tp]
        }
    };
    use IsolationLevel::{ReadCommitted, ReadUncommitted};

    // The first answer is NOT_LEADER_OR_FOLLOWER: retried after a metadata refresh.
    let earliest = one(OffsetSpec::Earliest, ReadUncommitted).await;
    assert_eq!((earliest.offset, earliest.leader_epoch), (0, Some(3)));
    assert_eq!(one(OffsetSpec::Latest, ReadUncommitted).await.offset, 10);
    // Under read_committed "latest" is the last stable offset.
    assert_eq!(one(OffsetSpec::Latest, ReadCommitted).await.offset, 7);
    let by_ts = one(OffsetSpec::Timestamp(4_500), ReadUncommitted).await;
    assert_eq!((by_ts.offset, by_ts.timestamp), (5, 5_000));
    let exact = one(OffsetSpec::Timestamp(3_000), ReadUncommitted).await;
    assert_eq!(exact.offset, 3);
    let none = one(OffsetSpec::Timestamp(99_000), ReadUncommitted).await;
    assert_eq!(none.offset, -1, "no record at or after the timestamp");
    {
        let l = log.lock().unwrap();
        assert_eq!(
            l.list_requests,
            vec![
                (0, -2),
                (0, -2),
                (0, -1),
                (1, -1),
                (0, 4_500),
                (0, 3_000),
                (0, 99_000)
            ]
        );
    }

    let low = admin.delete_records(&[(tp.clone(), 4)]).await.unwrap();
    assert_eq!(low[&tp], 4);
    assert_eq!(one(OffsetSpec::Earliest, ReadUncommitted).await.offset, 4);
    // A timestamp before the new log start finds the log start.
    assert_eq!(
        one(OffsetSpec::Timestamp(0), ReadUncommitted).await.offset,
        4
    );
    // -1 deletes up to the high watermark.
    let low = admin.delete_records(&[(tp.clone(), -1)]).await.unwrap();
    assert_eq!(low[&tp], 10);
}
