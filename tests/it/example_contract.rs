//! The example contract end to end, as an operator would drive it: the `word_count` example
//! binary runs against tansu under exactly-once, is killed with SIGKILL mid-stream, resumes
//! with the same command, and stops cleanly on SIGTERM. Input is written and the committed
//! output read through an independent client (librdkafka via python `confluent_kafka`).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use crate::example_process::{ExampleProcess, example_binary};

use kstreams_testkit::{TansuBroker, python_kafka, python_kafka_available, random_topic};

/// Whether python's `confluent_kafka` (librdkafka) is there; says the test is skipped when not.
pub(crate) fn librdkafka_or_skip() -> bool {
    let available = python_kafka_available();
    if !available {
        eprintln!(
            "skipped: python3 with confluent_kafka is not installed (scripts/install-deps.sh)"
        );
    }
    available
}

pub(crate) const PY_CREATE: &str = r#"
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({'bootstrap.servers': sys.argv[1]})
fs = a.create_topics([NewTopic(t, num_partitions=int(sys.argv[2]), replication_factor=1)
                      for t in sys.argv[3:]])
for f in fs.values():
    f.result(30)
"#;

const PY_PRODUCE: &str = r#"
import sys
from confluent_kafka import Producer
p = Producer({'bootstrap.servers': sys.argv[1], 'enable.idempotence': True})
topic = sys.argv[2]
for i, line in enumerate(sys.stdin.read().splitlines()):
    p.produce(topic, value=line.encode(), partition=i % 2)
assert p.flush(30) == 0
"#;

const PY_READ: &str = r#"
import sys, time
from confluent_kafka import Consumer, TopicPartition
bs, topic, n, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
c = Consumer({'bootstrap.servers': bs, 'group.id': 'contract-check', 'enable.auto.commit': False,
              'isolation.level': 'read_committed', 'auto.offset.reset': 'earliest'})
c.assign([TopicPartition(topic, p, 0) for p in range(2)])
out, deadline = [], time.time() + wait
while len(out) < n and time.time() < deadline:
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        out.append((m.key().decode(), m.value().decode()))
grace = time.time() + 1.0
while time.time() < grace:
    m = c.poll(0.1)
    if m is not None and m.error() is None:
        out.append((m.key().decode(), m.value().decode()))
c.close()
for k, v in out:
    print(k, v)
"#;

pub(crate) fn lines(prefix: &str, n: usize) -> Vec<String> {
    let words = ["apple", "banana", "cherry", "date", "elder", "fig", "grape"];
    (0..n)
        .map(|i| {
            format!(
                "{} {} {prefix}{}",
                words[i % words.len()],
                words[(i * 3 + 2) % words.len()].to_uppercase(),
                i % 4
            )
        })
        .collect()
}

pub(crate) fn count_words(lines: &[String]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for l in lines {
        for w in l
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            *m.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    m
}

pub(crate) fn produce(bs: &str, topic: &str, lines: &[String]) {
    let mut child = Command::new("python3")
        .args(["-c", PY_PRODUCE, bs, topic])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(lines.join("\n").as_bytes()).unwrap();
    }
    assert!(child.wait().unwrap().success(), "producing failed");
}

fn read(bs: &str, topic: &str, n: u64) -> Vec<(String, u64)> {
    let out = python_kafka(PY_READ, &[bs, topic, &n.to_string(), "120"]).unwrap();
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

#[test]
fn word_count_example_survives_sigkill_and_stops_on_sigterm_exactly_once() {
    if !librdkafka_or_skip() {
        return;
    }
    let bin = example_binary("word_count");
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("contract-in");
    let output = random_topic("contract-out");
    let app = random_topic("contract-app");
    let state = tempfile::tempdir().unwrap();
    python_kafka(PY_CREATE, &[&bs, "2", &input, &output]).unwrap();
    let args: Vec<String> = [
        "--bootstrap",
        &bs,
        "--input",
        &input,
        "--output",
        &output,
        "--application-id",
        &app,
        "--guarantee",
        "exactly-once",
        "--state-dir",
        state.path().to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let first = ExampleProcess::start(&bin, &args);
    let mut all = lines("a", 30);
    produce(&bs, &input, &all);
    let expected = count_words(&all);
    let out = read(&bs, &output, expected.values().sum());
    let mut latest = BTreeMap::new();
    for (k, v) in &out {
        latest.insert(k.clone(), *v);
    }
    assert_eq!(latest, expected, "counts before the kill");

    // Killed mid-stream: more input arrives while it is down, and it resumes with the same
    // command and state directory.
    let batch = lines("b", 30);
    produce(&bs, &input, &batch[..15]);
    first.kill();
    produce(&bs, &input, &batch[15..]);
    all.extend(batch);
    let second = ExampleProcess::start(&bin, &args);
    let batch = lines("c", 30);
    produce(&bs, &input, &batch);
    all.extend(batch);
    let expected = count_words(&all);
    let out = read(&bs, &output, expected.values().sum());
    second.terminate();

    // Every running count of every word appears exactly once in the committed output.
    let mut seen: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for (k, v) in out {
        *seen.entry((k, v)).or_insert(0) += 1;
    }
    let want: BTreeMap<(String, u64), usize> = expected
        .iter()
        .flat_map(|(w, n)| (1..=*n).map(move |i| ((w.clone(), i), 1)))
        .collect();
    assert_eq!(
        seen, want,
        "each count exactly once across SIGKILL and restart"
    );
}
