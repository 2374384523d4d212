//! Retry topics and the dead-letter topic under exactly_once_v2 against tansu: a crash (kill,
//! nothing committed) between the failures and their re-delivery loses and doubles nothing;
//! dead-letter headers are read back through our read_committed consumer and librdkafka.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kstreams_core::failure::{FailureMetric, ProcessingError, RetryPolicy, header};
use kstreams_core::{Serdes, Topology};
use kstreams_dsl::{Consumed, Produced, Retried, StreamsBuilder};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, IsolationLevel, ProducerRecord, TopicPartition};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State};
use kstreams_testkit::{TansuBroker, python_kafka, python_kafka_available, random_topic};

const N: usize = 10;

/// "ok-i" succeeds, "flaky-i" fails retryably at its first call, "poison-i" never succeeds.
/// The call counts live in the test process, so they survive the crashed instance.
fn topology(input: &str, output: &str, calls: Arc<Mutex<HashMap<String, u32>>>) -> Topology {
    let b = StreamsBuilder::new();
    b.stream::<Option<String>, String>(
        input,
        Consumed::with(Serdes::option(Serdes::string()), Serdes::string()),
    )
    .try_map_values(
        move |_k, v: &String| {
            let mut c = calls.lock().unwrap();
            let n = c.entry(v.clone()).or_insert(0);
            *n += 1;
            if v.starts_with("poison") {
                Err(ProcessingError::non_retryable("poison record"))
            } else if v.starts_with("flaky") && *n == 1 {
                Err(ProcessingError::from_status(503, "downstream unavailable"))
            } else {
                Ok(v.to_uppercase())
            }
        },
        Retried::with_policy(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_secs(4))
                .with_jitter(0.0)
                .with_poll_interval(Duration::from_millis(100)),
        )
        .with_name("call-downstream"),
    )
    .to(
        output,
        Produced::with(Serdes::option(Serdes::string()), Serdes::string()),
    );
    b.build().unwrap()
}

type Read = (Option<String>, String, Vec<(String, String)>);

/// Every committed record of `topic` until `n` were read or `timeout` passed, plus anything
/// arriving in a grace period (duplicates would show there).
async fn read_committed(bs: &str, topic: &str, partitions: i32, n: usize) -> Vec<Read> {
    let cfg = ConsumerConfig::new(bs)
        .with_isolation_level(IsolationLevel::ReadCommitted)
        .with_auto_offset_reset(OffsetResetStrategy::Earliest)
        .with_auto_commit(false);
    let mut c = Consumer::connect(cfg).await.unwrap();
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    c.assign(&tps).unwrap();
    c.seek_to_beginning(&tps).await.unwrap();
    let mut out = Vec::new();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut grace: Option<Instant> = None;
    loop {
        for r in c.poll(Duration::from_millis(200)).await.unwrap() {
            out.push((
                r.key.as_deref().map(text),
                r.value.as_deref().map(text).unwrap_or_default(),
                r.headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_deref().map(text).unwrap_or_default()))
                    .collect(),
            ));
        }
        if out.len() >= n && grace.is_none() {
            grace = Some(Instant::now() + Duration::from_millis(1_000));
        }
        if grace.is_some_and(|g| Instant::now() >= g) || Instant::now() >= deadline {
            return out;
        }
    }
}

fn failures(s: &KafkaStreams, metric: FailureMetric) -> u64 {
    s.metrics().failure_total(metric)
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const PY_DLQ: &str = r#"
import sys, time, json
from confluent_kafka import Consumer, TopicPartition
bs, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({'bootstrap.servers': bs, 'group.id': 'py-dlq', 'enable.auto.commit': False})
c.assign([TopicPartition(topic, 0, 0)])
got = 0
end = time.time() + 30
while got < n and time.time() < end:
    m = c.poll(0.3)
    if m is None or m.error():
        continue
    got += 1
    h = {k: (v.decode() if v is not None else None) for k, v in (m.headers() or [])}
    print(json.dumps({'value': m.value().decode(), 'headers': h}))
c.close()
"#;

#[test]
fn exactly_once_crash_between_failure_and_retry_loses_and_doubles_nothing() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("retry-in");
    let output = random_topic("retry-out");
    let app = random_topic("retry-eos");
    let dlq = format!("{app}-dlq");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let mut values = Vec::new();
    for i in 0..N {
        values.push(format!("ok-{i}"));
        values.push(format!("flaky-{i}"));
        values.push(format!("poison-{i}"));
    }
    rt.block_on(async {
        let p = Producer::connect(ClientConfig::new(&bs), ProducerConfig::default())
            .await
            .unwrap();
        for (i, v) in values.iter().enumerate() {
            p.send_and_wait(
                ProducerRecord::new(&input, v.clone())
                    .with_key(format!("k{i}"))
                    .with_partition((i % 2) as i32),
            )
            .await
            .unwrap();
        }
        p.close().await.unwrap();
    });

    let calls = Arc::new(Mutex::new(HashMap::new()));
    let cfg = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir.path());
    let mut a = KafkaStreams::new(topology(&input, &output, calls.clone()), cfg.clone()).unwrap();
    a.start().unwrap();
    let counts = a.partition_counts().unwrap().clone();
    assert_eq!(counts.topics[&format!("{app}-call-downstream-retry")], 2);
    wait_running(&a, Duration::from_secs(60));
    wait_for("every failure handled", Duration::from_secs(60), || {
        failures(&a, FailureMetric::RetryScheduled) == N as u64
            && failures(&a, FailureMetric::DeadLetter) == N as u64
    });
    // Let the failures, the retry records and their parking commit (every 200 ms), then
    // crash well before the 4 s backoff ends.
    std::thread::sleep(Duration::from_millis(1_200));
    assert_eq!(failures(&a, FailureMetric::RetryRedelivered), 0);
    a.kill();
    drop(a);

    let mut b = KafkaStreams::new(topology(&input, &output, calls.clone()), cfg).unwrap();
    b.start().unwrap();
    wait_running(&b, Duration::from_secs(60));
    let out = rt.block_on(read_committed(&bs, &output, 2, 2 * N));
    wait_for("re-deliveries", Duration::from_secs(30), || {
        failures(&b, FailureMetric::RetryRedelivered) == N as u64
    });
    // The failures committed before the crash: the new instance re-delivers the parked
    // records (restored from the scheduler's changelog) and fails nothing anew.
    assert_eq!(failures(&b, FailureMetric::RetryScheduled), 0);
    assert_eq!(failures(&b, FailureMetric::DeadLetter), 0);
    let dead = rt.block_on(read_committed(&bs, &dlq, 1, N));
    b.close().unwrap();
    assert_eq!(b.state(), State::NotRunning);

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, v, h) in &out {
        *seen.entry(v.clone()).or_insert(0) += 1;
        assert!(
            h.iter().all(|(k, _)| !k.starts_with("kstreams.")),
            "failure headers leaked into the output: {h:?}"
        );
    }
    let want: BTreeMap<String, usize> = (0..N)
        .flat_map(|i| [format!("OK-{i}"), format!("FLAKY-{i}")])
        .map(|v| (v, 1))
        .collect();
    assert_eq!(seen, want, "every success exactly once");
    for i in 0..N {
        assert_eq!(calls.lock().unwrap()[&format!("flaky-{i}")], 2);
    }

    let mut dead_values: Vec<String> = dead.iter().map(|(_, v, _)| v.clone()).collect();
    dead_values.sort();
    let mut want_dead: Vec<String> = (0..N).map(|i| format!("poison-{i}")).collect();
    want_dead.sort();
    assert_eq!(
        dead_values, want_dead,
        "every poison record in the DLQ once"
    );
    for (k, v, h) in &dead {
        let get = |name: &str| {
            h.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get(header::DLQ_REASON), Some("non-retryable"));
        assert_eq!(get(header::ATTEMPT), Some("1"));
        assert_eq!(get(header::ERROR_MESSAGE), Some("poison record"));
        assert_eq!(get(header::FAILED_NODE), Some("call-downstream"));
        assert_eq!(get(header::ORIGINAL_TOPIC), Some(input.as_str()));
        let idx: usize = k.as_deref().unwrap()[1..].parse().unwrap();
        assert_eq!(values[idx], *v);
        assert_eq!(
            get(header::ORIGINAL_PARTITION),
            Some(((idx % 2) as i32).to_string().as_str())
        );
    }

    if python_kafka_available() {
        let py = python_kafka(PY_DLQ, &[&bs, &dlq, &N.to_string()]).unwrap();
        let lines: Vec<&str> = py.lines().collect();
        assert_eq!(lines.len(), N, "{py}");
        for l in lines {
            assert!(
                l.contains("\"kstreams.dlq-reason\": \"non-retryable\""),
                "{l}"
            );
            assert!(
                l.contains(&format!("\"kstreams.original-topic\": \"{input}\"")),
                "{l}"
            );
            assert!(l.contains("\"kstreams.application-id\""), "{l}");
        }
    }
}
