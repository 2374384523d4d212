//! Produce throughput of the kstreams producer beside librdkafka (python confluent-kafka)
//! against the same tansu broker.
//!
//! `cargo run --release -p kstreams-kafka --example produce_bench -- [records] [size] [partitions] [compression]`
//!
//! Starts a tansu broker (see kstreams-testkit) unless `BOOTSTRAP` is set, creates a topic
//! per run, sends `records` values of `size` bytes without keys, and prints records/s and
//! MB/s (until the last delivery report) for both clients.

use bytes::Bytes;
use kstreams_kafka::admin::{Admin, NewTopic};
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, CompressionType, ProducerRecord};
use kstreams_testkit::{TansuBroker, python_kafka, random_topic};
use std::time::Instant;

const PY: &str = r#"
import sys, time
from confluent_kafka import Producer
bootstrap, topic, n, size, comp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True,
              "compression.type": comp, "queue.buffering.max.messages": 1000000,
              "batch.size": 524288})
value = b"x" * size
done = [0]
def cb(err, msg):
    if err is None:
        done[0] += 1
start = time.time()
for i in range(n):
    while True:
        try:
            p.produce(topic, value, on_delivery=cb)
            break
        except BufferError:
            p.poll(0.01)
    if i % 10000 == 0:
        p.poll(0)
p.flush(120)
el = time.time() - start
print(f"{done[0]} {el:.3f}")
"#;

fn codec(name: &str) -> CompressionType {
    match name {
        "gzip" => CompressionType::Gzip,
        "snappy" => CompressionType::Snappy,
        "lz4" => CompressionType::Lz4,
        "zstd" => CompressionType::Zstd,
        _ => CompressionType::None,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let partitions: i32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let comp = args.get(4).cloned().unwrap_or_else(|| "none".into());
    let _broker;
    let bootstrap = match std::env::var("BOOTSTRAP") {
        Ok(b) => b,
        Err(_) => {
            let b = TansuBroker::start()?;
            let s = b.bootstrap();
            _broker = b;
            s
        }
    };
    let admin = Admin::connect(ClientConfig::new(&bootstrap)).await?;
    let ours = random_topic("bench-kstreams");
    let theirs = random_topic("bench-librdkafka");
    admin
        .create_topics(&[
            NewTopic::new(&ours, partitions, 1),
            NewTopic::new(&theirs, partitions, 1),
        ])
        .await?;
    let mb = (n * size) as f64 / 1e6;

    let producer = Producer::new(
        admin.client().clone(),
        ProducerConfig {
            compression: codec(&comp),
            ..Default::default()
        },
    )
    .await?;
    let value = Bytes::from(vec![b'x'; size]);
    let start = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for _ in 0..n {
        pending.push_back(
            producer
                .send(ProducerRecord::new(&ours, value.clone()))
                .await?,
        );
        // Keep the delivery futures bounded, as a real application would.
        if pending.len() > 200_000
            && let Some(f) = pending.pop_front()
        {
            f.await?;
        }
    }
    for f in pending {
        f.await?;
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "kstreams  : {n} records x {size} B, {partitions} partition(s), {comp}: {:.3} s, {:.0} records/s, {:.1} MB/s",
        el,
        n as f64 / el,
        mb / el
    );
    producer.close().await?;

    let out = python_kafka(
        PY,
        &[
            &bootstrap,
            &theirs,
            &n.to_string(),
            &size.to_string(),
            &comp,
        ],
    )?;
    let mut it = out.split_whitespace();
    let done: usize = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let el: f64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    println!(
        "librdkafka: {done} records x {size} B, {partitions} partition(s), {comp}: {:.3} s, {:.0} records/s, {:.1} MB/s",
        el,
        done as f64 / el,
        (done * size) as f64 / 1e6 / el
    );
    Ok(())
}
