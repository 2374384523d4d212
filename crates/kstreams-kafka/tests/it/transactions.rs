//! Transactions against tansu: commit and abort (markers in the log, records visible to
//! librdkafka), offsets in a transaction, and fencing by a second instance.

use crate::common;

use kstreams_kafka::IsolationLevel;
use kstreams_kafka::admin::{Admin, NewTopic};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::transaction::TransactionState;
use kstreams_kafka::{
    ClientConfig, ConsumerGroupMetadata, ErrorClass, OffsetAndMetadata, ProducerRecord,
    TopicPartition,
};
use kstreams_testkit::{TansuBroker, python_kafka, random_topic};
use std::time::Duration;

async fn setup(partitions: i32) -> (TansuBroker, Admin, String) {
    let broker = TansuBroker::start().unwrap();
    let admin = Admin::connect(ClientConfig::new(&broker.bootstrap()))
        .await
        .unwrap();
    let topic = random_topic("txn");
    admin
        .create_topics(&[NewTopic::new(&topic, partitions, 1)])
        .await
        .unwrap();
    (broker, admin, topic)
}

async fn send_n(p: &Producer, topic: &str, prefix: &str, n: usize) {
    let mut futs = Vec::new();
    for i in 0..n {
        futs.push(
            p.send(
                ProducerRecord::new(topic, format!("{prefix}-{i}"))
                    .with_key(format!("k{i}"))
                    .with_partition((i % 2) as i32),
            )
            .await
            .unwrap(),
        );
    }
    for f in futs {
        f.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_abort_write_markers() {
    let (broker, admin, topic) = setup(2).await;
    let producer = Producer::new(
        admin.client().clone(),
        ProducerConfig::transactional(random_topic("tid")),
    )
    .await
    .unwrap();
    assert_eq!(
        producer.transaction_state(),
        Some(TransactionState::Uninitialized)
    );
    // Sends outside a transaction are refused.
    assert!(
        producer
            .send(ProducerRecord::new(&topic, "x"))
            .await
            .is_err()
    );
    producer.init_transactions().await.unwrap();
    assert!(producer.producer_id_and_epoch().is_valid());

    producer.begin_transaction().unwrap();
    send_n(&producer, &topic, "committed1", 6).await;
    producer.commit_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send_n(&producer, &topic, "aborted", 4).await;
    producer.abort_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send_n(&producer, &topic, "committed2", 2).await;
    producer.commit_transaction().await.unwrap();
    assert_eq!(producer.transaction_state(), Some(TransactionState::Ready));

    // An empty transaction commits without touching the broker.
    producer.begin_transaction().unwrap();
    producer.commit_transaction().await.unwrap();

    for partition in 0..2 {
        let log = common::fetch_all(admin.client(), &topic, partition, 0).await;
        let shape: Vec<String> = log
            .iter()
            .map(|r| match r.marker() {
                Some(true) => "COMMIT".to_string(),
                Some(false) => "ABORT".to_string(),
                None => {
                    assert!(r.transactional, "data records are transactional");
                    let v = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap();
                    v.split('-').next().unwrap().to_string()
                }
            })
            .collect();
        let mut want: Vec<&str> = vec!["committed1"; 3];
        want.push("COMMIT");
        want.extend(["aborted"; 2]);
        want.push("ABORT");
        want.push("committed2");
        want.push("COMMIT");
        assert_eq!(shape, want, "partition {partition}");
    }

    // librdkafka sees every data record (tansu sends no aborted-transactions list, so even
    // read_committed cannot hide the aborted ones there) and no control record.
    let got = common::librdkafka_consume(&broker.bootstrap(), &topic, 12, "read_uncommitted");
    assert_eq!(got.len(), 12);
    let committed = common::librdkafka_consume(&broker.bootstrap(), &topic, 12, "read_committed");
    let committed_values: Vec<String> = committed
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    for i in 0..6 {
        assert!(committed_values.contains(&format!("committed1-{i}")));
    }

    // The project's read_committed consumer drops the aborted records (by the markers) and
    // never delivers control records.
    let mut consumer = Consumer::connect(
        ConsumerConfig::new(broker.bootstrap())
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_isolation_level(IsolationLevel::ReadCommitted),
    )
    .await
    .unwrap();
    consumer
        .assign(&[
            TopicPartition::new(&topic, 0),
            TopicPartition::new(&topic, 1),
        ])
        .unwrap();
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while values.len() < 8 && std::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
        values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
    }
    values.sort();
    let mut want: Vec<String> = (0..6)
        .map(|i| format!("committed1-{i}"))
        .chain((0..2).map(|i| format!("committed2-{i}")))
        .collect();
    want.sort();
    assert_eq!(values, want);
    producer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_commit_with_the_transaction() {
    let (broker, admin, topic) = setup(2).await;
    let group = random_topic("group");
    let producer = Producer::new(
        admin.client().clone(),
        ProducerConfig::transactional(random_topic("tid")),
    )
    .await
    .unwrap();
    producer.init_transactions().await.unwrap();

    let meta = ConsumerGroupMetadata::new(&group);
    producer.begin_transaction().unwrap();
    send_n(&producer, &topic, "out", 2).await;
    producer
        .send_offsets_to_transaction(
            &[
                (TopicPartition::new(&topic, 0), OffsetAndMetadata::new(42)),
                (TopicPartition::new(&topic, 1), OffsetAndMetadata::new(7)),
            ],
            &meta,
        )
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();

    // An aborted transaction's offsets are not committed.
    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction(
            &[(TopicPartition::new(&topic, 0), OffsetAndMetadata::new(99))],
            &meta,
        )
        .await
        .unwrap();
    producer.abort_transaction().await.unwrap();

    let script = r#"
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "enable.auto.commit": False})
for tp in c.committed([TopicPartition(sys.argv[3], 0), TopicPartition(sys.argv[3], 1)], timeout=10):
    print(tp.partition, tp.offset)
c.close()
"#;
    let out = python_kafka(script, &[&broker.bootstrap(), &group, &topic]).unwrap();
    let offsets: Vec<(i32, i64)> = out
        .lines()
        .map(|l| {
            let (p, o) = l.split_once(' ').unwrap();
            (p.parse().unwrap(), o.parse().unwrap())
        })
        .collect();
    assert_eq!(offsets, vec![(0, 42), (1, 7)]);
    producer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_instance_fences_the_first() {
    let (_broker, admin, topic) = setup(2).await;
    let tid = random_topic("tid");
    let first = Producer::new(admin.client().clone(), ProducerConfig::transactional(&tid))
        .await
        .unwrap();
    first.init_transactions().await.unwrap();
    first.begin_transaction().unwrap();
    send_n(&first, &topic, "a", 2).await;
    first.commit_transaction().await.unwrap();
    let epoch1 = first.producer_id_and_epoch();

    let second = Producer::new(admin.client().clone(), ProducerConfig::transactional(&tid))
        .await
        .unwrap();
    second.init_transactions().await.unwrap();
    let epoch2 = second.producer_id_and_epoch();
    assert_eq!(epoch1.producer_id, epoch2.producer_id);
    assert!(epoch2.epoch > epoch1.epoch, "{epoch1:?} -> {epoch2:?}");

    // The first instance finds out at its next transactional request.
    first.begin_transaction().unwrap();
    let mut err = None;
    match first
        .send(ProducerRecord::new(&topic, "zombie").with_partition(0))
        .await
    {
        Ok(f) => {
            if let Err(e) = f.await {
                err = Some(e);
            }
        }
        Err(e) => err = Some(e),
    }
    let commit = first.commit_transaction().await;
    let err = err.or(commit.err()).expect("the fenced producer must fail");
    assert_eq!(err.class(), ErrorClass::Fenced, "{err:?}");
    assert_eq!(first.transaction_state(), Some(TransactionState::Fatal));
    // Everything after is refused with the fenced error.
    assert_eq!(
        first.begin_transaction().unwrap_err().class(),
        ErrorClass::Fenced
    );

    // The new instance works.
    second.begin_transaction().unwrap();
    send_n(&second, &topic, "b", 2).await;
    second.commit_transaction().await.unwrap();
}

/// A new instance takes over while the old one has an open transaction: its
/// InitProducerId waits out the broker's abort of that transaction (CONCURRENT_TRANSACTIONS
/// is retried) and the zombie's records end with an ABORT marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_aborts_the_open_transaction() {
    let (_broker, admin, topic) = setup(2).await;
    let tid = random_topic("tid");
    let zombie = Producer::new(
        admin.client().clone(),
        ProducerConfig {
            transaction_timeout: Duration::from_secs(5),
            max_block: Duration::from_secs(3),
            ..ProducerConfig::transactional(&tid)
        },
    )
    .await
    .unwrap();
    zombie.init_transactions().await.unwrap();
    zombie.begin_transaction().unwrap();
    send_n(&zombie, &topic, "zombie", 2).await;

    let fresh = Producer::new(admin.client().clone(), ProducerConfig::transactional(&tid))
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    fresh.init_transactions().await.unwrap();
    eprintln!("takeover init took {:?}", t0.elapsed());
    fresh.begin_transaction().unwrap();
    send_n(&fresh, &topic, "fresh", 2).await;
    fresh.commit_transaction().await.unwrap();

    // Apache Kafka answers the zombie's EndTxn with PRODUCER_FENCED (class Fenced). tansu
    // drops the connection instead, which the client retries until max.block, then reports
    // as a retriable error. Either way the commit fails.
    let err = zombie.commit_transaction().await.unwrap_err();
    eprintln!("zombie commit: {err:?}");
    assert!(
        matches!(err.class(), ErrorClass::Fenced | ErrorClass::Retriable),
        "{err:?}"
    );

    let log = common::fetch_all(admin.client(), &topic, 0, 0).await;
    let shape: Vec<String> = log
        .iter()
        .map(|r| match r.marker() {
            Some(true) => "COMMIT".into(),
            Some(false) => "ABORT".into(),
            None => String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap(),
        })
        .collect();
    eprintln!("partition 0: {shape:?}");
    let zombie_at = shape.iter().position(|s| s == "zombie-0").unwrap();
    let abort_at = shape.iter().position(|s| s == "ABORT").unwrap();
    let fresh_at = shape.iter().position(|s| s == "fresh-0").unwrap();
    assert!(zombie_at < abort_at && abort_at < fresh_at, "{shape:?}");
    assert_eq!(shape.last().map(String::as_str), Some("COMMIT"));
}
