//! Request timeouts, against a scripted broker that answers ApiVersions and then stays
//! silent (tansu always answers, so it cannot show this).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataRequest, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use kstreams_kafka::KafkaError;
use kstreams_kafka::connection::{Connection, ConnectionConfig};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers the first request (ApiVersions) of each connection, then reads and ignores.
async fn silent_broker() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut answered = false;
                loop {
                    let mut len = [0u8; 4];
                    if sock.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
                    if sock.read_exact(&mut frame).await.is_err() {
                        return;
                    }
                    if answered {
                        continue;
                    }
                    answered = true;
                    let mut frame = Bytes::from(frame);
                    let key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
                    assert_eq!(key, ApiKey::ApiVersions);
                    let version = i16::from_be_bytes([frame[2], frame[3]]);
                    let header =
                        RequestHeader::decode(&mut frame, key.request_header_version(version))
                            .unwrap();
                    let mut out = BytesMut::new();
                    ResponseHeader::default()
                        .with_correlation_id(header.correlation_id)
                        .encode(&mut out, key.response_header_version(version))
                        .unwrap();
                    let api = |k: ApiKey, max| {
                        ApiVersion::default()
                            .with_api_key(k as i16)
                            .with_min_version(0)
                            .with_max_version(max)
                    };
                    ApiVersionsResponse::default()
                        .with_api_keys(vec![api(ApiKey::ApiVersions, 3), api(ApiKey::Metadata, 12)])
                        .encode(&mut out, version.min(3))
                        .unwrap();
                    let mut msg = (out.len() as i32).to_be_bytes().to_vec();
                    msg.extend_from_slice(&out);
                    if sock.write_all(&msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn unanswered_request_times_out_retriably() {
    let addr = silent_broker().await;
    let config = ConnectionConfig {
        request_timeout: Duration::from_millis(300),
        ..ConnectionConfig::default()
    };
    let conn = Connection::connect(&addr, &config).await.unwrap();

    // The configured request timeout.
    let start = Instant::now();
    let err = conn
        .send(MetadataRequest::default().with_topics(Some(vec![])))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, KafkaError::Timeout { .. }), "{err:?}");
    assert!(err.is_retriable());
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // An explicit timeout per request.
    let start = Instant::now();
    let err = Connection::connect(&addr, &config)
        .await
        .unwrap()
        .send_with_timeout(
            MetadataRequest::default().with_topics(Some(vec![])),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, KafkaError::Timeout { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
}
