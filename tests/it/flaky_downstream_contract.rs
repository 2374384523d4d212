//! The `flaky_downstream` example binary on the example contract, under exactly-once against
//! tansu: SIGKILL while records wait for retries, restart with the same command, SIGTERM.
//! Every request ends exactly once, either answered in the output or in the dead-letter
//! topic (read back with our read_committed consumer, which drops aborted records on tansu).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kstreams::Headers;
use kstreams::failure::{DeadLetterReason, FailureMetadata};
use kstreams_kafka::admin::NewTopic;
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::{ConsumerRecord, OffsetResetStrategy};
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{Admin, ClientConfig, IsolationLevel, ProducerRecord, TopicPartition};
use kstreams_testkit::{TansuBroker, random_topic};

use crate::example_process::{ExampleProcess, example_binary};

async fn produce(bs: &str, topic: &str, values: &[String]) {
    let p = Producer::connect(ClientConfig::new(bs), ProducerConfig::default())
        .await
        .unwrap();
    for (i, v) in values.iter().enumerate() {
        p.send_and_wait(
            ProducerRecord::new(topic, v.clone())
                .with_key(v.clone())
                .with_partition((i % 2) as i32),
        )
        .await
        .unwrap();
    }
    p.close().await.unwrap();
}

/// Committed records of `topics` until `done` says so (or 90 s), plus a 1 s grace period.
async fn read(
    bs: &str,
    topics: &[(&str, i32)],
    done: impl Fn(&[ConsumerRecord]) -> bool,
) -> Vec<ConsumerRecord> {
    let mut c = Consumer::connect(
        ConsumerConfig::new(bs)
            .with_isolation_level(IsolationLevel::ReadCommitted)
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_auto_commit(false),
    )
    .await
    .unwrap();
    let tps: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| TopicPartition::new(*t, p)))
        .collect();
    c.assign(&tps).unwrap();
    c.seek_to_beginning(&tps).await.unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done(&out) && Instant::now() < deadline {
        out.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    let grace = Instant::now() + Duration::from_secs(1);
    while Instant::now() < grace {
        out.extend(c.poll(Duration::from_millis(100)).await.unwrap());
    }
    out
}

fn text(b: &Option<bytes::Bytes>) -> String {
    String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
}

#[test]
fn flaky_downstream_example_ends_every_request_once_across_sigkill() {
    let bin = example_binary("flaky_downstream");
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("flaky-in");
    let output = random_topic("flaky-out");
    let app = random_topic("flaky-app");
    let dlq = format!("{app}-dlq");
    let state = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        Admin::connect(ClientConfig::new(&bs))
            .await
            .unwrap()
            .create_topics(&[NewTopic::new(&input, 2, 1), NewTopic::new(&output, 2, 1)])
            .await
            .unwrap();
    });
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
        "--failure-rate",
        "50",
        "--max-attempts",
        "3",
        "--backoff-ms",
        "1500",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let mut requests: Vec<String> = (0..30).map(|i| format!("req-{i}")).collect();
    requests.push("poison-a".into());
    let first = ExampleProcess::start(&bin, &args);
    rt.block_on(produce(&bs, &input, &requests));
    // Some requests are answered; about half wait for a retry (1.5 s backoff): kill now.
    let early = rt.block_on(read(&bs, &[(&output, 2)], |r| r.len() >= 8));
    assert!(early.len() >= 8, "the first instance answered too little");
    drop(first); // SIGKILL

    let more: Vec<String> = (30..40)
        .map(|i| format!("req-{i}"))
        .chain(["poison-b".to_string()])
        .collect();
    rt.block_on(produce(&bs, &input, &more));
    requests.extend(more);
    let second = ExampleProcess::start(&bin, &args);
    let n = requests.len();
    let all = rt.block_on(read(&bs, &[(&output, 2), (&dlq, 1)], |r| r.len() >= n));
    second.terminate();

    let mut ends: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &all {
        let key = text(&r.key);
        if *r.topic == *output {
            assert_eq!(text(&r.value), format!("ok:{key}"));
            ends.entry(key).or_default().push("answered".into());
        } else {
            let mut h = Headers::new();
            for (k, v) in &r.headers {
                h.add(k.clone(), v.as_ref().map(|b| b.to_vec()));
            }
            let m = FailureMetadata::read_from(&h).unwrap().unwrap();
            if key.starts_with("poison") {
                assert_eq!(m.dlq_reason, Some(DeadLetterReason::NonRetryable));
            } else {
                assert_eq!(m.dlq_reason, Some(DeadLetterReason::MaxAttempts));
                assert_eq!(m.attempt, 3);
            }
            assert_eq!(&*m.original.unwrap().metadata.topic, input.as_str());
            ends.entry(key).or_default().push("dead".into());
        }
    }
    let mut keys: Vec<&String> = ends.keys().collect();
    keys.sort();
    let mut want: Vec<&String> = requests.iter().collect();
    want.sort();
    assert_eq!(keys, want, "every request ended");
    for (k, v) in &ends {
        assert_eq!(v.len(), 1, "{k} ended {v:?}");
    }
    assert!(ends["poison-a"] == ["dead"] && ends["poison-b"] == ["dead"]);
}
