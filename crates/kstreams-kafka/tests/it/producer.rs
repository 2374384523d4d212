//! The producer against tansu, cross-checked with librdkafka (python confluent-kafka).

use crate::common;

use bytes::Bytes;
use kstreams_kafka::admin::{Admin, NewTopic};
use kstreams_kafka::producer::partitioner::partition_for_key;
use kstreams_kafka::producer::{NullKeyPartitioning, Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, CompressionType, ProducerRecord, RecordMetadata};
use kstreams_testkit::{TansuBroker, python_kafka, random_topic};
use std::collections::HashMap;
use std::time::Duration;

async fn setup(partitions: i32) -> (TansuBroker, Admin, String) {
    let broker = TansuBroker::start().unwrap();
    let admin = Admin::connect(ClientConfig::new(&broker.bootstrap()))
        .await
        .unwrap();
    let topic = random_topic("produce");
    admin
        .create_topics(&[NewTopic::new(&topic, partitions, 1)])
        .await
        .unwrap();
    (broker, admin, topic)
}

fn record(topic: &str, i: usize) -> ProducerRecord {
    let mut r = ProducerRecord::new(topic, format!("value-{i}-{}", "x".repeat(i % 50)));
    if !i.is_multiple_of(7) {
        r = r.with_key(format!("key-{i}"));
    }
    if i % 11 == 3 {
        r = r.with_value(None);
    }
    // Repeated header keys are legal and must survive in log order (Kafka Streams relies on
    // them), through every codec and through librdkafka.
    r.with_header("idx", Some(Bytes::from(i.to_string())))
        .with_header("null-header", None)
        .with_header("idx", Some(Bytes::from(format!("again-{i}"))))
}

/// We produce with every codec; librdkafka reads back keys, values, headers, partitions
/// and offsets exactly as our delivery reports said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_is_readable_by_librdkafka() {
    let (broker, admin, _) = setup(1).await;
    for codec in [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Snappy,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ] {
        let topic = random_topic(&format!("codec-{codec:?}").to_lowercase());
        admin
            .create_topics(&[NewTopic::new(&topic, 3, 1)])
            .await
            .unwrap();
        let producer = Producer::new(
            admin.client().clone(),
            ProducerConfig {
                compression: codec,
                linger: Duration::from_millis(20),
                batch_size: 4096,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let n = 300;
        let mut futures = Vec::new();
        for i in 0..n {
            futures.push((i, producer.send(record(&topic, i)).await.unwrap()));
        }
        let mut sent: HashMap<(i32, i64), (usize, RecordMetadata)> = HashMap::new();
        for (i, f) in futures {
            let md = f.await.unwrap();
            assert_eq!(&*md.topic, topic);
            if !i.is_multiple_of(7) {
                assert_eq!(
                    md.partition,
                    partition_for_key(format!("key-{i}").as_bytes(), 3),
                    "keyed records go to murmur2(key) % n"
                );
            }
            assert!(sent.insert((md.partition, md.offset), (i, md)).is_none());
        }
        producer.close().await.unwrap();

        let got = common::librdkafka_consume(&broker.bootstrap(), &topic, n, "read_uncommitted");
        assert_eq!(
            got.len(),
            n,
            "{codec:?}: librdkafka read {} records",
            got.len()
        );
        for r in got {
            let (i, md) = sent.get(&(r.partition, r.offset)).unwrap_or_else(|| {
                panic!(
                    "{codec:?}: unexpected record at {}-{}",
                    r.partition, r.offset
                )
            });
            let want = record(&topic, *i);
            assert_eq!(
                r.key.as_deref(),
                want.key.as_deref(),
                "{codec:?} key of {i}"
            );
            assert_eq!(
                r.value.as_deref(),
                want.value.as_deref(),
                "{codec:?} value of {i}"
            );
            assert_eq!(r.timestamp, md.timestamp);
            let headers: Vec<(String, Option<Vec<u8>>)> = want
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map(|b| b.to_vec())))
                .collect();
            assert_eq!(r.headers, headers, "{codec:?} headers of {i}");
        }
    }
}

/// librdkafka's `murmur2_random` partitioner (the Java default for keyed records) puts every
/// key where our partitioner does.
#[tokio::test]
async fn partitioner_matches_librdkafka() {
    let (broker, _admin, topic) = setup(7).await;
    let script = r#"
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "partitioner": "murmur2_random"})
res = {}
keys = ["key", "", "a", "abc", "foobar", "21", "user-42", "ümlaut", "a-little-bit-long-string"] + ["k%d" % i for i in range(100)]
for k in keys:
    p.produce(sys.argv[2], key=k.encode(), value=b"v",
              on_delivery=lambda err, m, k=k: res.__setitem__(k, m.partition() if err is None else -1))
p.flush(10)
for k in keys:
    print(k.encode().hex() + "\t" + str(res.get(k, -2)))
"#;
    let out = python_kafka(script, &[&broker.bootstrap(), &topic]).unwrap();
    let mut checked = 0;
    for line in out.lines() {
        let (hex, p) = line.split_once('\t').unwrap();
        let key: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let p: i32 = p.parse().unwrap();
        if key.is_empty() {
            // librdkafka treats an empty key like a null key under murmur2_random.
            continue;
        }
        assert_eq!(
            partition_for_key(&key, 7),
            p,
            "key {:?}",
            String::from_utf8_lossy(&key)
        );
        checked += 1;
    }
    assert!(checked >= 100, "checked {checked}");
}

/// librdkafka produces; we read the records back with ListOffsets and a raw Fetch.
#[tokio::test]
async fn librdkafka_produces_we_fetch() {
    let (broker, admin, topic) = setup(1).await;
    let script = r#"
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "compression.type": "lz4", "linger.ms": 10})
for i in range(500):
    p.produce(sys.argv[2], key=("k%d" % i).encode(), value=("v%d" % i).encode(), partition=0,
              headers=[("h", ("x%d" % i).encode())])
p.flush(10)
"#;
    python_kafka(script, &[&broker.bootstrap(), &topic]).unwrap();
    let records = common::fetch_all(admin.client(), &topic, 0, 0).await;
    let data: Vec<_> = records.iter().filter(|r| !r.control).collect();
    assert_eq!(data.len(), 500);
    for (i, r) in data.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
        assert_eq!(r.value.as_deref(), Some(format!("v{i}").as_bytes()));
        assert_eq!(r.headers[0].1.as_deref(), Some(format!("x{i}").as_bytes()));
    }
}

/// Idempotence is on by default; records of one partition keep send order across many
/// small batches; null keys spread by the sticky partitioner; flush waits for everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_ordered_batches_and_flush() {
    let (_broker, admin, topic) = setup(4).await;
    let producer = Producer::new(
        admin.client().clone(),
        ProducerConfig {
            batch_size: 1024,
            linger: Duration::from_millis(1),
            null_key_partitioning: NullKeyPartitioning::Sticky,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(producer.producer_id_and_epoch().is_valid());
    let mut futs = Vec::new();
    for i in 0..2000 {
        futs.push(
            producer
                .send(ProducerRecord::new(&topic, format!("{i:06}")).with_partition(1))
                .await
                .unwrap(),
        );
    }
    let mut nulls = Vec::new();
    for i in 0..400 {
        nulls.push(
            producer
                .send(ProducerRecord::new(
                    &topic,
                    format!("n{i:04}-{}", "y".repeat(100)),
                ))
                .await
                .unwrap(),
        );
    }
    producer.flush().await.unwrap();
    let mut last = -1;
    for f in futs {
        let md = f.await.unwrap();
        assert_eq!(md.partition, 1);
        assert!(md.offset > last, "offsets follow send order");
        last = md.offset;
    }
    let mut spread: HashMap<i32, usize> = HashMap::new();
    for f in nulls {
        *spread.entry(f.await.unwrap().partition).or_default() += 1;
    }
    assert!(spread.len() > 1, "sticky partitioner moves on: {spread:?}");
    let fetched = common::fetch_all(admin.client(), &topic, 1, 0).await;
    let values: Vec<String> = fetched
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .filter(|v| !v.starts_with('n')) // sticky null-key records may share partition 1
        .collect();
    let want: Vec<String> = (0..2000).map(|i| format!("{i:06}")).collect();
    let first_diff = values.iter().zip(&want).position(|(a, b)| a != b);
    assert!(
        values.len() == want.len() && first_diff.is_none(),
        "exactly once, in order: got {} records, first difference at {first_diff:?}, tail {:?}",
        values.len(),
        &values[values.len().saturating_sub(3)..]
    );
    assert!(
        fetched
            .iter()
            .all(|r| r.producer_id == producer.producer_id_and_epoch().producer_id)
    );
    producer.close().await.unwrap();
}

/// Sending to a partition that does not exist fails the send, not the producer.
#[tokio::test]
async fn bad_partition_is_an_error() {
    let (_broker, admin, topic) = setup(2).await;
    let producer = Producer::new(admin.client().clone(), ProducerConfig::default())
        .await
        .unwrap();
    let err = producer
        .send(ProducerRecord::new(&topic, "v").with_partition(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kstreams_kafka::KafkaError::Broker { code: 3, .. }),
        "{err:?}"
    );
    let err = producer
        .send(ProducerRecord::new("no-such-topic-xyz", "v"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kstreams_kafka::KafkaError::Broker { code: 3, .. }),
        "{err:?}"
    );
    producer
        .send_and_wait(ProducerRecord::new(&topic, "ok").with_partition(1))
        .await
        .unwrap();
}

/// When the broker goes away, records fail with a retriable error once
/// `delivery_timeout` passed: retries are bounded and delivery reports always arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_loss_fails_deliveries_after_the_timeout() {
    let (broker, admin, topic) = setup(1).await;
    let producer = Producer::new(
        admin.client().clone(),
        ProducerConfig {
            delivery_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(50),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    producer
        .send_and_wait(ProducerRecord::new(&topic, "before").with_partition(0))
        .await
        .unwrap();
    drop(broker);
    let start = std::time::Instant::now();
    let f = producer
        .send(ProducerRecord::new(&topic, "after").with_partition(0))
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("a delivery report arrives")
        .unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "retried until the timeout"
    );
    producer.flush().await.unwrap();
}

/// Repeated header keys survive produce -> broker -> fetch for our own consumer, through
/// every codec, in order and with null and empty values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_header_keys_survive_produce_and_fetch() {
    use kstreams_kafka::TopicPartition;
    use kstreams_kafka::consumer::{Consumer, ConsumerConfig, OffsetResetStrategy};
    let (broker, admin, _) = setup(1).await;
    let headers = vec![
        ("trace".to_string(), Some(Bytes::from_static(b"1"))),
        ("other".to_string(), None),
        ("trace".to_string(), Some(Bytes::from_static(b"2"))),
        ("trace".to_string(), Some(Bytes::new())),
        ("other".to_string(), Some(Bytes::from_static(b"x"))),
    ];
    for codec in [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Snappy,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ] {
        let topic = random_topic("dup-headers");
        admin
            .create_topics(&[NewTopic::new(&topic, 1, 1)])
            .await
            .unwrap();
        let producer = Producer::new(
            admin.client().clone(),
            ProducerConfig {
                compression: codec,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut futures = Vec::new();
        for i in 0..5 {
            let mut r = ProducerRecord::new(&topic, format!("v{i}")).with_partition(0);
            for (k, v) in &headers {
                r = r.with_header(k.clone(), v.clone());
            }
            futures.push(producer.send(r).await.unwrap());
        }
        for f in futures {
            f.await.unwrap();
        }
        producer.close().await.unwrap();

        let config = ConsumerConfig::new(broker.bootstrap())
            .with_auto_offset_reset(OffsetResetStrategy::Earliest);
        let mut consumer = Consumer::connect(config).await.unwrap();
        consumer.assign(&[TopicPartition::new(&topic, 0)]).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.len() < 5 && std::time::Instant::now() < deadline {
            got.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
        }
        assert_eq!(got.len(), 5, "{codec:?}");
        for r in &got {
            assert_eq!(r.headers, headers, "{codec:?} offset {}", r.offset);
        }
        consumer.close().await.unwrap();
    }
}

/// `send_now` ends the linger: with a linger of ten minutes a record is delivered only because
/// of it (the wait below is far shorter than the linger, so the test fails without it).
#[tokio::test]
async fn send_now_ends_the_linger() {
    let (_broker, admin, topic) = setup(1).await;
    let producer = Producer::new(
        admin.client().clone(),
        ProducerConfig {
            linger: Duration::from_secs(600),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut fut = producer
        .send(ProducerRecord::new(&topic, "lingering").with_key("k"))
        .await
        .unwrap();
    // Still lingering: not delivered after a while.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut fut)
            .await
            .is_err(),
        "delivered before send_now"
    );
    producer.send_now().unwrap();
    let md = tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("send_now sends the open batch")
        .unwrap();
    assert_eq!(md.offset, 0);
    let fetched = common::fetch_all(admin.client(), &topic, 0, 0).await;
    assert_eq!(fetched.len(), 1);
    producer.close().await.unwrap();
}

/// `send_all` delivers like one `send` per record: each record is answered with its own
/// partition and offset, in order per partition, and the log holds exactly those records. A
/// record that cannot be partitioned fails the call before anything is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_all_reports_each_record() {
    let (_broker, admin, topic) = setup(3).await;
    let producer = Producer::new(
        admin.client().clone(),
        ProducerConfig {
            // Small batches: one call spans several batches per partition.
            batch_size: 512,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let records: Vec<ProducerRecord> = (0..300).map(|i| record(&topic, i)).collect();
    let delivery = producer.send_all(records.clone()).await.unwrap();
    assert_eq!(delivery.len(), records.len());
    let results = tokio::time::timeout(Duration::from_secs(30), delivery.all())
        .await
        .expect("delivered");
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut by_partition: HashMap<i32, Vec<(i64, ProducerRecord)>> = HashMap::new();
    for (result, r) in results.into_iter().zip(records) {
        let md = result.expect("answered").unwrap();
        let expected = next.entry(md.partition).or_insert(0);
        assert_eq!(
            md.offset, *expected,
            "offsets follow call order per partition"
        );
        *expected += 1;
        if let Some(k) = &r.key {
            assert_eq!(md.partition, partition_for_key(k, 3), "keyed by murmur2");
        }
        by_partition
            .entry(md.partition)
            .or_default()
            .push((md.offset, r));
    }
    for (partition, sent) in by_partition {
        let fetched = common::fetch_all(admin.client(), &topic, partition, 0).await;
        assert_eq!(fetched.len(), sent.len());
        for (f, (offset, r)) in fetched.iter().zip(sent) {
            assert_eq!(f.offset, offset);
            assert_eq!(f.key, r.key);
            assert_eq!(f.value, r.value);
        }
    }
    let err = producer
        .send_all(vec![
            ProducerRecord::new(&topic, "fine").with_key("k"),
            ProducerRecord::new(&topic, "v").with_partition(7),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, kstreams_kafka::KafkaError::Broker { code: 3, .. }),
        "{err:?}"
    );
    producer.flush().await.unwrap();
    let total: usize = {
        let mut n = 0;
        for p in 0..3 {
            n += common::fetch_all(admin.client(), &topic, p, 0).await.len();
        }
        n
    };
    assert_eq!(total, 300, "the failed call queued nothing");
    assert!(producer.send_all(Vec::new()).await.unwrap().is_empty());
    producer.close().await.unwrap();
}
