//! Consumer fetch paths against tansu: librdkafka produces, our consumer reads; isolation
//! levels with librdkafka transactions; pause/resume and bounded buffering; offset reset.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kstreams_kafka::admin::{Admin, NewTopic};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetResetStrategy};
use kstreams_kafka::{ClientConfig, IsolationLevel, KafkaError, TopicPartition};
use kstreams_testkit::{TansuBroker, python_kafka, random_topic};

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin = Admin::connect(ClientConfig::new(bootstrap)).await.unwrap();
    admin
        .create_topics(&[NewTopic::new(topic, partitions, 1)])
        .await
        .unwrap();
}

/// librdkafka produces `n` keyed records with headers, `key-i` → partition `i % partitions`.
const PRODUCE: &str = r#"
import sys
from confluent_kafka import Producer
bootstrap, topic, n, parts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
comp = sys.argv[5] if len(sys.argv) > 5 else 'none'
p = Producer({'bootstrap.servers': bootstrap, 'compression.type': comp, 'linger.ms': 5})
for i in range(n):
    p.produce(topic, key=f'key-{i}'.encode(), value=f'value-{i}'.encode(),
              partition=i % parts, headers=[('idx', str(i).encode()), ('empty', None)])
    if i % 1000 == 0:
        p.poll(0)
left = p.flush(30)
assert left == 0, left
print('ok')
"#;

async fn poll_until(consumer: &mut Consumer, want: usize, limit: Duration) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

fn all_partitions(topic: &str, n: i32) -> Vec<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_produces_keyed_records_with_headers_and_we_read_them_all() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    for compression in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = random_topic("fetch");
        create_topic(&bootstrap, &topic, 3).await;
        python_kafka(PRODUCE, &[&bootstrap, &topic, "300", "3", compression]).unwrap();

        let config = ConsumerConfig::new(bootstrap.clone())
            .with_auto_offset_reset(OffsetResetStrategy::Earliest);
        let mut consumer = Consumer::connect(config).await.unwrap();
        consumer.assign(&all_partitions(&topic, 3)).unwrap();
        let records = poll_until(&mut consumer, 300, Duration::from_secs(20)).await;
        assert_eq!(records.len(), 300, "compression {compression}");
        let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for r in &records {
            let key = String::from_utf8(r.key.clone().unwrap().to_vec()).unwrap();
            let i: usize = key.trim_start_matches("key-").parse().unwrap();
            assert_eq!(&*r.topic, topic.as_str());
            assert_eq!(r.partition, (i % 3) as i32);
            assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()));
            assert_eq!(r.headers.len(), 2);
            assert_eq!(r.headers[0].0, "idx");
            assert_eq!(r.headers[0].1.as_deref(), Some(i.to_string().as_bytes()));
            assert_eq!(r.headers[1], ("empty".to_string(), None));
            assert!(r.timestamp > 0);
            per_partition.entry(r.partition).or_default().push(r.offset);
        }
        for (p, offsets) in per_partition {
            assert_eq!(offsets, (0..100).collect::<Vec<i64>>(), "partition {p}");
            let tp = TopicPartition::new(&topic, p);
            assert_eq!(consumer.position(&tp).await.unwrap(), 100);
        }
        consumer.close().await.unwrap();
    }
}

/// librdkafka transactional producer: per round, commit or abort 10 records per partition.
const TXN_PRODUCE: &str = r#"
import sys
from confluent_kafka import Producer
bootstrap, topic, pattern = sys.argv[1], sys.argv[2], sys.argv[3]
p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': 'txn-' + topic, 'linger.ms': 1})
p.init_transactions(30)
n = 0
for round, action in enumerate(pattern):
    p.begin_transaction()
    for i in range(10):
        for part in range(2):
            p.produce(topic, key=f'{action}-{round}-{i}'.encode(), value=b'x', partition=part)
    p.flush(30)
    if action == 'c':
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)
# A plain (non-transactional) record after the transactions, from another producer.
q = Producer({'bootstrap.servers': bootstrap})
q.produce(topic, key=b'plain', value=b'y', partition=0)
q.flush(30)
print('ok')
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_returns_only_committed_librdkafka_transactions() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = random_topic("txn");
    create_topic(&bootstrap, &topic, 2).await;
    let pattern = "cacaac";
    python_kafka(TXN_PRODUCE, &[&bootstrap, &topic, pattern]).unwrap();
    let committed_rounds = pattern.chars().filter(|c| *c == 'c').count();
    let want_committed = committed_rounds * 20 + 1;
    let want_all = pattern.len() * 20 + 1;

    for (level, want) in [
        (IsolationLevel::ReadCommitted, want_committed),
        (IsolationLevel::ReadUncommitted, want_all),
    ] {
        let config = ConsumerConfig::new(bootstrap.clone())
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_isolation_level(level);
        let mut consumer = Consumer::connect(config).await.unwrap();
        consumer.assign(&all_partitions(&topic, 2)).unwrap();
        let mut records = poll_until(&mut consumer, want, Duration::from_secs(20)).await;
        // Nothing more arrives.
        records.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
        assert_eq!(records.len(), want, "{level:?}");
        let keys: Vec<String> = records
            .iter()
            .map(|r| String::from_utf8(r.key.clone().unwrap().to_vec()).unwrap())
            .collect();
        if level == IsolationLevel::ReadCommitted {
            assert!(
                keys.iter().all(|k| !k.starts_with("a-")),
                "aborted record delivered"
            );
        }
        assert!(keys.iter().any(|k| k == "plain"));
        // Offsets strictly increase per partition (markers and aborted data are skipped).
        for p in 0..2 {
            let offs: Vec<i64> = records
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset)
                .collect();
            assert!(offs.windows(2).all(|w| w[0] < w[1]));
        }
        // The position is past the last marker.
        let tp0 = TopicPartition::new(&topic, 0);
        let (hw, _) = consumer.watermarks(&tp0).unwrap();
        assert_eq!(consumer.position(&tp0).await.unwrap(), hw);
        consumer.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_bounded_buffering() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = random_topic("pause");
    create_topic(&bootstrap, &topic, 2).await;
    python_kafka(PRODUCE, &[&bootstrap, &topic, "4000", "2"]).unwrap();

    let mut config = ConsumerConfig::new(bootstrap.clone())
        .with_auto_offset_reset(OffsetResetStrategy::Earliest);
    config.max_poll_records = 10;
    config.max_buffered_records_per_partition = 50;
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tp0 = TopicPartition::new(&topic, 0);
    let tp1 = TopicPartition::new(&topic, 1);
    consumer.assign(&[tp0.clone(), tp1.clone()]).unwrap();

    consumer.pause(std::slice::from_ref(&tp1)).unwrap();
    assert_eq!(consumer.paused(), vec![tp1.clone()]);
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(consumer.poll(Duration::from_millis(300)).await.unwrap());
        // The buffer never grows far beyond the bound: one fetch of at most
        // max.partition.fetch.bytes is allowed while below it.
        assert!(consumer.buffered_records(&tp0).unwrap() <= 50 + 2000);
    }
    assert!(!got.is_empty());
    assert!(
        got.iter().all(|r| r.partition == 0),
        "paused partition returned records"
    );
    assert_eq!(
        consumer.buffered_records(&tp1).unwrap(),
        0,
        "paused partition was fetched"
    );
    assert_eq!(consumer.position(&tp1).await.unwrap(), 0);

    // With a tiny poll size and no polling, the buffer stops at the bound: no more fetches.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = consumer.buffered_records(&tp0).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(consumer.buffered_records(&tp0).unwrap(), before);

    consumer.resume(std::slice::from_ref(&tp1)).unwrap();
    assert!(consumer.paused().is_empty());
    let rest = poll_until(&mut consumer, 4000 - got.len(), Duration::from_secs(30)).await;
    let total = got.len() + rest.len();
    assert_eq!(total, 4000);
    assert_eq!(consumer.position(&tp0).await.unwrap(), 2000);
    assert_eq!(consumer.position(&tp1).await.unwrap(), 2000);

    // seek back and read again.
    consumer.seek(&tp1, 1990).unwrap();
    let again = poll_until(&mut consumer, 10, Duration::from_secs(10)).await;
    assert_eq!(
        again.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (1990..2000).collect::<Vec<_>>()
    );
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_offset_reset_none_latest_and_out_of_range() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = random_topic("reset");
    create_topic(&bootstrap, &topic, 1).await;
    python_kafka(PRODUCE, &[&bootstrap, &topic, "5", "1"]).unwrap();
    let tp = TopicPartition::new(&topic, 0);

    // none: a clear error.
    let config = ConsumerConfig::new(bootstrap.clone())
        .with_group_id(random_topic("g"))
        .with_auto_offset_reset(OffsetResetStrategy::None);
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    match consumer.poll(Duration::from_millis(500)).await {
        Err(KafkaError::NoOffsetForPartition {
            topic: t,
            partition,
        }) => {
            assert_eq!((t.as_str(), partition), (topic.as_str(), 0));
        }
        other => panic!("expected NoOffsetForPartition, got {other:?}"),
    }
    // A seek fixes it.
    consumer.seek(&tp, 3).unwrap();
    let r = poll_until(&mut consumer, 2, Duration::from_secs(10)).await;
    assert_eq!(r.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![3, 4]);

    // latest: only new records.
    let config = ConsumerConfig::new(bootstrap.clone());
    let mut latest = Consumer::connect(config).await.unwrap();
    latest.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(latest.position(&tp).await.unwrap(), 5);
    assert!(
        latest
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    python_kafka(PRODUCE, &[&bootstrap, &topic, "2", "1"]).unwrap();
    let r = poll_until(&mut latest, 2, Duration::from_secs(10)).await;
    assert_eq!(r.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![5, 6]);

    // Out of range with earliest: reset to the start.
    let config = ConsumerConfig::new(bootstrap.clone())
        .with_auto_offset_reset(OffsetResetStrategy::Earliest);
    let mut oor = Consumer::connect(config).await.unwrap();
    oor.assign(std::slice::from_ref(&tp)).unwrap();
    oor.seek(&tp, 1_000).unwrap();
    let r = poll_until(&mut oor, 7, Duration::from_secs(10)).await;
    assert_eq!(
        r.len(),
        7,
        "{:?}",
        r.iter().map(|r| r.offset).collect::<Vec<_>>()
    );
    assert_eq!(r[0].offset, 0);
}

/// A wakeup from another task ends a long poll on an empty topic at once (empty), and a
/// wakeup made while nobody polls ends the next poll; the consumer keeps working after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wakeup_ends_a_long_poll() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = random_topic("wakeup");
    create_topic(&bootstrap, &topic, 1).await;
    let config = ConsumerConfig::new(bootstrap.clone())
        .with_auto_offset_reset(OffsetResetStrategy::Earliest);
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.assign(&[TopicPartition::new(&topic, 0)]).unwrap();
    let wakeup = consumer.wakeup_handle();
    let waker = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        wakeup.wakeup();
    });
    // A minute-long poll: without the wakeup the test would take a minute.
    let started = Instant::now();
    let got = consumer.poll(Duration::from_secs(60)).await.unwrap();
    assert!(got.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    waker.await.unwrap();

    consumer.wakeup_handle().wakeup();
    let started = Instant::now();
    assert!(
        consumer
            .poll(Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    python_kafka(PRODUCE, &[&bootstrap, &topic, "5", "1"]).unwrap();
    let rest = poll_until(&mut consumer, 5, Duration::from_secs(30)).await;
    assert_eq!(rest.len(), 5);
    consumer.close().await.unwrap();
}
