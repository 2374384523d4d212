//! Connection, ApiVersions negotiation and metadata against a tansu broker.

use kafka_protocol::messages::{AddPartitionsToTxnRequest, ApiKey, MetadataRequest};
use kstreams_kafka::connection::{Connection, ConnectionConfig};
use kstreams_kafka::{Client, ClientConfig, CoordinatorType, KafkaError};
use kstreams_testkit::TansuBroker;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn connect_negotiates_versions_and_pipelines_requests() {
    let broker = TansuBroker::start().unwrap();
    let conn = Connection::connect(&broker.bootstrap(), &ConnectionConfig::default())
        .await
        .unwrap();
    let v = conn.versions();
    for key in [
        ApiKey::Metadata,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
    ] {
        assert!(v.version(key as i16).is_some(), "{key:?} not negotiated");
    }
    assert!(v.version(ApiKey::Produce as i16).unwrap() <= 12);
    assert!(conn.version_of::<AddPartitionsToTxnRequest>().unwrap() <= 3);
    eprintln!(
        "negotiated: metadata v{:?} produce v{:?} fetch v{:?} find_coordinator v{:?} init_pid v{:?}",
        v.version(ApiKey::Metadata as i16),
        v.version(ApiKey::Produce as i16),
        v.version(ApiKey::Fetch as i16),
        v.version(ApiKey::FindCoordinator as i16),
        v.version(ApiKey::InitProducerId as i16),
    );

    // Many requests in flight on one connection, answered by correlation id.
    let conn = Arc::new(conn);
    let mut handles = Vec::new();
    for _ in 0..50 {
        let c = conn.clone();
        handles.push(tokio::spawn(async move {
            c.send(MetadataRequest::default().with_topics(Some(vec![])))
                .await
        }));
    }
    for h in handles {
        let resp = h.await.unwrap().unwrap();
        assert_eq!(resp.brokers.len(), 1);
    }
}

#[tokio::test]
async fn connect_refused_is_io_error_and_client_reconnects() {
    let port = kstreams_testkit::free_port().unwrap();
    let err = Connection::connect(&format!("127.0.0.1:{port}"), &ConnectionConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, KafkaError::Io { .. }), "{err:?}");
    assert!(err.is_retriable());

    let broker = TansuBroker::start().unwrap();
    let client = Client::connect(ClientConfig::new(&broker.bootstrap()))
        .await
        .unwrap();
    let first = client.any_connection().await.unwrap();
    let again = client.any_connection().await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "connections are reused");
}

#[tokio::test]
async fn broker_death_fails_in_flight_and_reconnect_backs_off() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let client =
        Client::connect(ClientConfig::new(&bootstrap).with_request_timeout(Duration::from_secs(2)))
            .await
            .unwrap();
    let conn = client.any_connection().await.unwrap();
    drop(broker);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = conn
        .send(MetadataRequest::default().with_topics(Some(vec![])))
        .await
        .unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    assert!(client.any_connection().await.is_err());
    assert!(client.any_connection().await.is_err());
}

#[tokio::test]
async fn metadata_and_coordinators() {
    let broker = TansuBroker::start().unwrap();
    let client = Client::connect(ClientConfig::new(&broker.bootstrap()))
        .await
        .unwrap();
    let md = client.metadata();
    assert_eq!(md.brokers.len(), 1);
    let (id, b) = md.brokers.iter().next().unwrap();
    assert_eq!(b.address(), broker.bootstrap());
    client.connection(*id).await.unwrap();

    let err = client.leader_for("no-such-topic", 0).await.unwrap_err();
    assert!(matches!(err, KafkaError::Broker { code: 3, .. }), "{err:?}");

    let g = client
        .find_coordinator(CoordinatorType::Group, "some-group")
        .await
        .unwrap();
    assert_eq!(g.address(), broker.bootstrap());
    let t = client
        .find_coordinator(CoordinatorType::Transaction, "some-txn")
        .await
        .unwrap();
    assert_eq!(t.address(), broker.bootstrap());
    client
        .coordinator_connection(CoordinatorType::Group, "some-group")
        .await
        .unwrap();
}

/// A broker answers a connection's requests in order, and tansu holds a fetch without data for
/// its whole max wait: coordinator requests (heartbeats, offset commits, transaction markers)
/// take a connection of their own, so they are answered while a fetch is parked.
#[tokio::test]
async fn coordinator_requests_are_not_queued_behind_a_parked_fetch() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use kstreams_kafka::admin::{Admin, NewTopic};

    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = kstreams_testkit::random_topic("parked");
    Admin::connect(ClientConfig::new(&bootstrap))
        .await
        .unwrap()
        .create_topics(&[NewTopic::new(&topic, 1, 1)])
        .await
        .unwrap();
    let client = Client::connect(ClientConfig::new(&bootstrap))
        .await
        .unwrap();
    let leader = client.leader_for(&topic, 0).await.unwrap();
    let data = client.connection(leader).await.unwrap();
    let coordinator = client
        .coordinator_connection(CoordinatorType::Group, "some-group")
        .await
        .unwrap();
    assert!(
        !Arc::ptr_eq(&data, &coordinator),
        "coordinator requests share the data connection"
    );
    let again = client
        .coordinator_connection(CoordinatorType::Group, "other-group")
        .await
        .unwrap();
    assert!(
        Arc::ptr_eq(&coordinator, &again),
        "one coordinator connection per broker"
    );

    // An empty partition and a long max wait: the broker parks this fetch.
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(10_000)
        .with_min_bytes(1)
        .with_max_bytes(1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_current_leader_epoch(-1)
                        .with_last_fetched_epoch(-1)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(1024 * 1024),
                ]),
        ]);
    let parked = tokio::spawn({
        let data = data.clone();
        async move { data.send(fetch).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!parked.is_finished(), "the broker answered the fetch early");

    let resp = coordinator
        .send(MetadataRequest::default().with_topics(Some(vec![])))
        .await
        .unwrap();
    assert_eq!(resp.brokers.len(), 1);
    assert!(
        !parked.is_finished(),
        "the coordinator request was answered only after the parked fetch"
    );
    parked.abort();
}
