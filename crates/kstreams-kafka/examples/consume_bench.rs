//! Consume throughput of the kstreams consumer beside librdkafka (python confluent-kafka)
//! reading the same preloaded topic from the same tansu broker.
//!
//! `cargo run --release -p kstreams-kafka --example consume_bench -- [records] [size] [partitions] [isolation] [runs]`
//!
//! Starts a tansu broker (see kstreams-testkit) unless `BOOTSTRAP` is set, creates a topic,
//! preloads `records` values of `size` bytes with librdkafka (lz4-free, uncompressed), then
//! times each client reading everything from the beginning (manual assignment, no group),
//! `runs` times each, alternating. `isolation` is `uncommitted` (default) or `committed`.

use std::time::{Duration, Instant};

use kstreams_kafka::admin::{Admin, NewTopic};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig, OffsetResetStrategy};
use kstreams_kafka::{ClientConfig, IsolationLevel, TopicPartition};
use kstreams_testkit::{TansuBroker, python_kafka, random_topic};

const PRELOAD: &str = r#"
import sys
from confluent_kafka import Producer
bootstrap, topic, n, size, parts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1048576,
              "queue.buffering.max.messages": 1000000})
value = b"x" * size
for i in range(n):
    while True:
        try:
            p.produce(topic, value, key=str(i).encode(), partition=i % parts)
            break
        except BufferError:
            p.poll(0.01)
    if i % 10000 == 0:
        p.poll(0)
assert p.flush(120) == 0
print("ok")
"#;

const PY_CONSUME: &str = r#"
import sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
bootstrap, topic, n, parts, iso = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-" + str(time.time()),
              "enable.auto.commit": False, "isolation.level": "read_" + iso})
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(parts)])
got = 0
nbytes = 0
start = time.time()
while got < n:
    msgs = c.consume(num_messages=10000, timeout=1.0)
    for m in msgs:
        if m.error() is None:
            got += 1
            nbytes += len(m.value())
el = time.time() - start
c.close()
print(f"{got} {nbytes} {el:.3f}")
"#;

async fn ours(
    bootstrap: &str,
    topic: &str,
    n: usize,
    partitions: i32,
    isolation: IsolationLevel,
) -> Result<(usize, usize, Duration), Box<dyn std::error::Error>> {
    let config = ConsumerConfig::new(bootstrap)
        .with_auto_offset_reset(OffsetResetStrategy::Earliest)
        .with_isolation_level(isolation);
    let mut consumer = Consumer::connect(config).await?;
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    consumer.assign(&tps)?;
    let start = Instant::now();
    let (mut got, mut bytes) = (0usize, 0usize);
    while got < n {
        let records = consumer.poll(Duration::from_secs(1)).await?;
        got += records.len();
        bytes += records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>();
        if start.elapsed() > Duration::from_secs(300) {
            return Err(format!("only {got} of {n} records after 300 s").into());
        }
    }
    let elapsed = start.elapsed();
    consumer.close().await?;
    Ok((got, bytes, elapsed))
}

fn report(who: &str, got: usize, bytes: usize, secs: f64) {
    println!(
        "{who:<28} {got:>8} records in {secs:>7.3} s = {:>9.0} records/s, {:>7.1} MB/s",
        got as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let partitions: i32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4);
    let iso_name = args.get(4).cloned().unwrap_or_else(|| "uncommitted".into());
    let runs: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(2);
    let isolation = if iso_name == "committed" {
        IsolationLevel::ReadCommitted
    } else {
        IsolationLevel::ReadUncommitted
    };

    let _broker;
    let bootstrap = match std::env::var("BOOTSTRAP") {
        Ok(b) => b,
        Err(_) => {
            let b = TansuBroker::start()?;
            let addr = b.bootstrap();
            _broker = b;
            addr
        }
    };
    let topic = random_topic("consume-bench");
    Admin::connect(ClientConfig::new(&bootstrap))
        .await?
        .create_topics(&[NewTopic::new(&topic, partitions, 1)])
        .await?;
    let t = Instant::now();
    python_kafka(
        PRELOAD,
        &[
            &bootstrap,
            &topic,
            &n.to_string(),
            &size.to_string(),
            &partitions.to_string(),
        ],
    )?;
    println!(
        "preloaded {n} records of {size} B over {partitions} partitions in {:.1} s (read_{iso_name})",
        t.elapsed().as_secs_f64()
    );

    for run in 1..=runs {
        let (got, bytes, el) = ours(&bootstrap, &topic, n, partitions, isolation).await?;
        report(
            &format!("kstreams consumer (run {run})"),
            got,
            bytes,
            el.as_secs_f64(),
        );
        let out = python_kafka(
            PY_CONSUME,
            &[
                &bootstrap,
                &topic,
                &n.to_string(),
                &partitions.to_string(),
                &iso_name,
            ],
        )?;
        let f: Vec<&str> = out.split_whitespace().collect();
        let got: usize = f.first().and_then(|s| s.parse().ok()).unwrap_or(0);
        let bytes: usize = f.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let secs: f64 = f.get(2).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        report(&format!("librdkafka/python (run {run})"), got, bytes, secs);
    }
    Ok(())
}
