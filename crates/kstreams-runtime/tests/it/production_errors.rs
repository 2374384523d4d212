//! The production exception handler for records the broker rejects, against tansu. Tansu
//! accepts records of any size (it enforces neither `max.message.bytes` nor a broker limit:
//! measured), so the rejection comes from the send fault injector, which fails chosen sink
//! records with MESSAGE_TOO_LARGE (10) as the broker's Produce response would; everything else
//! (transactions, offsets, the DLQ, read_committed) is the real path.
//!
//! At-least-once: a dropped or dead-lettered record does not stop the offsets from committing.
//! Exactly-once v2: the poisoned transaction is aborted and reprocessed, and the handler's
//! decision is applied to the same output record when it is produced again: every other
//! record once, each rejected record dead-lettered once. Fencing errors never reach the
//! handler. Outputs and DLQs are read with our read_committed consumer (tansu does not hide
//! aborted records from librdkafka).

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kstreams_core::failure::{FailureMetric, header};
use kstreams_core::processor::{
    DeadLetterProductionExceptionHandler, LogAndContinueProductionExceptionHandler,
    ProductionExceptionHandler,
};
use kstreams_core::{ProducedRecord, Serdes, Topology};
use kstreams_dsl::{Consumed, Produced, StreamsBuilder};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, IsolationLevel, ProducerRecord, TopicPartition};
use kstreams_runtime::send_failure::{FaultInjection, SendFaultInjector};
use kstreams_runtime::{KafkaStreams, MetricsSnapshot, ProcessingGuarantee, StreamsConfig};
use kstreams_testkit::{TansuBroker, python_kafka, python_kafka_available, random_topic};

const N: usize = 12;
const SINK: &str = "to-output";

/// Values `v-i`, every fourth one `huge-i`.
fn values() -> Vec<String> {
    (0..N)
        .map(|i| {
            if i % 4 == 1 {
                format!("huge-{i}")
            } else {
                format!("v-{i}")
            }
        })
        .collect()
}

/// Upper-cases values, counting how often each input value was processed.
fn topology(input: &str, output: &str, calls: Arc<Mutex<HashMap<String, u32>>>) -> Topology {
    let b = StreamsBuilder::new();
    b.stream::<Option<String>, String>(
        input,
        Consumed::with(Serdes::option(Serdes::string()), Serdes::string()),
    )
    .map_values(move |v: &String| {
        *calls.lock().unwrap().entry(v.clone()).or_insert(0) += 1;
        v.to_uppercase()
    })
    .to(
        output,
        Produced::with(Serdes::option(Serdes::string()), Serdes::string()).with_name(SINK),
    );
    b.build().unwrap()
}

/// Rejects sink records to `topic` whose value starts with `prefix` with `code`, at most
/// `limit` times in all.
struct Reject {
    topic: String,
    prefix: &'static str,
    code: i16,
    limit: u32,
    done: AtomicU32,
}

impl SendFaultInjector for Reject {
    fn reject(&self, r: &ProducedRecord) -> Option<i16> {
        let hit = *r.topic == *self.topic
            && r.value
                .as_deref()
                .is_some_and(|v| v.starts_with(self.prefix.as_bytes()));
        if hit && self.done.fetch_add(1, Ordering::SeqCst) < self.limit {
            return Some(self.code);
        }
        None
    }
}

type Read = (Option<String>, String, Vec<(String, String)>);

/// Prints `value dlq-reason failed-node error-message` of the first `n` records of a topic.
const PY_DLQ: &str = r#"
import sys, time
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
    h = {k: (v.decode() if v is not None else '') for k, v in (m.headers() or [])}
    print(m.value().decode(), h.get('kstreams.dlq-reason'), h.get('kstreams.failed-node'), h.get('kstreams.error-message'))
c.close()
"#;

/// Every committed record of `topic` until `n` were read (then a grace period, where
/// duplicates would show) or 60 s passed.
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
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut out = Vec::new();
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
            grace = Some(Instant::now() + Duration::from_millis(1_500));
        }
        if grace.is_some_and(|g| Instant::now() >= g) || Instant::now() >= deadline {
            return out;
        }
    }
}

/// The group's committed offsets of `topic`'s two partitions.
async fn committed(bs: &str, app: &str, topic: &str) -> Vec<Option<i64>> {
    let c = Consumer::connect(ConsumerConfig::new(bs).with_group_id(app))
        .await
        .unwrap();
    let tps = [TopicPartition::new(topic, 0), TopicPartition::new(topic, 1)];
    let m = c.committed(&tps).await.unwrap();
    tps.iter()
        .map(|tp| m.get(tp).cloned().flatten().map(|o| o.offset))
        .collect()
}

struct Run {
    dlq_topic: String,
    output: Vec<Read>,
    dlq: Vec<Read>,
    metrics: MetricsSnapshot,
    calls: HashMap<String, u32>,
    committed: Vec<Option<i64>>,
}

/// Runs one application over the twelve input records with `handler`, the injector
/// rejecting `rejections` records, until the failures are handled and the output is read.
fn run(
    broker: &TansuBroker,
    guarantee: ProcessingGuarantee,
    handler: Arc<dyn ProductionExceptionHandler>,
    inject: impl Fn(&str) -> Reject,
    expect_out: usize,
    expect_dlq: usize,
) -> Run {
    let bs = broker.bootstrap();
    let input = random_topic("pe-in");
    let output = random_topic("pe-out");
    let app = random_topic("pe-app");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    rt.block_on(async {
        let p = Producer::connect(ClientConfig::new(&bs), ProducerConfig::default())
            .await
            .unwrap();
        for (i, v) in values().iter().enumerate() {
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
    let mut cfg: StreamsConfig = config(&app, &bs, guarantee, dir.path());
    cfg.exception_handlers.production = handler;
    cfg.send_fault_injection = FaultInjection(Some(Arc::new(inject(&output))));
    let mut s = KafkaStreams::new(topology(&input, &output, calls.clone()), cfg).unwrap();
    s.start().unwrap();
    wait_running(&s, Duration::from_secs(60));
    let out = rt.block_on(read_committed(&bs, &output, 2, expect_out));
    let dlq = rt.block_on(read_committed(&bs, &format!("{app}-dlq"), 1, expect_dlq));
    // Both partitions' offsets reach the end (12 records, 6 per partition).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut offsets = rt.block_on(committed(&bs, &app, &input));
    while offsets != [Some(6), Some(6)] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        offsets = rt.block_on(committed(&bs, &app, &input));
    }
    let metrics = s.metrics();
    s.close().unwrap();
    let calls = calls.lock().unwrap().clone();
    Run {
        dlq_topic: format!("{app}-dlq"),
        output: out,
        dlq,
        metrics,
        calls,
        committed: offsets,
    }
}

fn huge() -> Vec<String> {
    values()
        .into_iter()
        .filter(|v| v.starts_with("huge"))
        .collect()
}

fn too_large(topic: &str) -> Reject {
    Reject {
        topic: topic.to_string(),
        prefix: "HUGE",
        code: 10,
        limit: u32::MAX,
        done: AtomicU32::new(0),
    }
}

/// Every non-rejected value upper-cased exactly once.
fn assert_output_once(r: &Run) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, v, _) in &r.output {
        *seen.entry(v.clone()).or_insert(0) += 1;
    }
    let want: BTreeMap<String, usize> = values()
        .into_iter()
        .filter(|v| !v.starts_with("huge"))
        .map(|v| (v.to_uppercase(), 1))
        .collect();
    assert_eq!(
        seen, want,
        "every accepted record exactly once, no rejected one"
    );
}

/// The DLQ holds each rejected record once, as the sink produced it, with the metadata.
fn assert_dead_lettered_once(r: &Run, input_prefix: &str) {
    let mut got: Vec<String> = r.dlq.iter().map(|(_, v, _)| v.clone()).collect();
    got.sort();
    let mut want: Vec<String> = huge().iter().map(|v| v.to_uppercase()).collect();
    want.sort();
    assert_eq!(got, want, "each rejected record in the DLQ once");
    for (k, v, h) in &r.dlq {
        let get = |name: &str| {
            h.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get(header::DLQ_REASON), Some("production"), "{h:?}");
        assert_eq!(get(header::FAILED_NODE), Some(SINK));
        assert_eq!(get(header::ERROR_CLASS), Some("non-retryable"));
        assert_eq!(get(header::ATTEMPT), Some("1"));
        assert!(
            get(header::ERROR_MESSAGE).is_some_and(|m| m.contains("MESSAGE_TOO_LARGE")),
            "{h:?}"
        );
        assert!(get(header::ORIGINAL_TOPIC).is_some_and(|t| t.starts_with(input_prefix)));
        // k<i> was written to partition i % 2 at offset i / 2.
        let i: usize = k.as_deref().unwrap()[1..].parse().unwrap();
        assert_eq!(v, &values()[i].to_uppercase());
        assert_eq!(
            get(header::ORIGINAL_PARTITION),
            Some((i % 2).to_string().as_str())
        );
        assert_eq!(
            get(header::ORIGINAL_OFFSET),
            Some((i / 2).to_string().as_str())
        );
    }
    assert_eq!(
        r.metrics
            .failure(FailureMetric::DeadLetter, SINK, "production"),
        3
    );
}

fn assert_rejections_counted(r: &Run) {
    assert_eq!(
        r.metrics
            .failure(FailureMetric::ProductionError, SINK, "MESSAGE_TOO_LARGE"),
        3,
        "{:?}",
        r.metrics.node_metrics
    );
    assert_eq!(
        r.committed,
        [Some(6), Some(6)],
        "the offsets committed past everything"
    );
}

#[test]
fn at_least_once_rejected_records_are_dead_lettered_or_dropped_and_offsets_commit() {
    let broker = TansuBroker::start().unwrap();
    let dl = run(
        &broker,
        ProcessingGuarantee::AtLeastOnce,
        Arc::new(DeadLetterProductionExceptionHandler),
        too_large,
        9,
        3,
    );
    assert_output_once(&dl);
    assert_dead_lettered_once(&dl, "pe-in");
    assert_rejections_counted(&dl);
    for v in values() {
        assert_eq!(dl.calls[&v], 1, "at-least-once processes {v} once here");
    }
    if python_kafka_available() {
        // An independent reader (librdkafka) sees the same DLQ records and headers.
        let py = python_kafka(PY_DLQ, &[&broker.bootstrap(), &dl.dlq_topic, "3"]).unwrap();
        let mut lines: Vec<&str> = py.lines().collect();
        lines.sort();
        assert_eq!(lines.len(), 3, "{py}");
        for (l, v) in lines.iter().zip(["HUGE-1", "HUGE-5", "HUGE-9"]) {
            assert!(l.starts_with(&format!("{v} production {SINK} ")), "{l}");
            assert!(l.contains("MESSAGE_TOO_LARGE"), "{l}");
        }
    }

    let skip = run(
        &broker,
        ProcessingGuarantee::AtLeastOnce,
        Arc::new(LogAndContinueProductionExceptionHandler),
        too_large,
        9,
        0,
    );
    assert_output_once(&skip);
    assert!(skip.dlq.is_empty(), "{:?}", skip.dlq);
    assert_rejections_counted(&skip);
    assert_eq!(
        skip.metrics
            .failure(FailureMetric::ProductionSkipped, SINK, "MESSAGE_TOO_LARGE"),
        3
    );
}

#[test]
fn exactly_once_rejected_records_abort_the_transaction_and_get_one_outcome() {
    let broker = TansuBroker::start().unwrap();
    let dl = run(
        &broker,
        ProcessingGuarantee::ExactlyOnceV2,
        Arc::new(DeadLetterProductionExceptionHandler),
        too_large,
        9,
        3,
    );
    assert_output_once(&dl);
    assert_dead_lettered_once(&dl, "pe-in");
    assert_rejections_counted(&dl);
    // The rejected records were processed again after the abort, and the handler's decision
    // applied then (the injector would have rejected them again).
    for v in huge() {
        assert!(dl.calls[&v] >= 2, "{v} reprocessed: {:?}", dl.calls);
    }

    let skip = run(
        &broker,
        ProcessingGuarantee::ExactlyOnceV2,
        Arc::new(LogAndContinueProductionExceptionHandler),
        too_large,
        9,
        0,
    );
    assert_output_once(&skip);
    assert!(skip.dlq.is_empty(), "{:?}", skip.dlq);
    assert_rejections_counted(&skip);
    assert_eq!(
        skip.metrics
            .failure(FailureMetric::ProductionSkipped, SINK, "MESSAGE_TOO_LARGE"),
        3
    );
}

#[test]
fn fencing_errors_never_reach_the_production_handler() {
    let broker = TansuBroker::start().unwrap();
    // PRODUCER_FENCED once for the first huge record: the tasks migrate (closed dirty,
    // the group rejoined) and the reprocessing succeeds; the handler, which would dead-letter
    // anything, never sees it.
    let fenced = |topic: &str| Reject {
        topic: topic.to_string(),
        prefix: "HUGE",
        code: 90,
        limit: 1,
        done: AtomicU32::new(0),
    };
    let r = run(
        &broker,
        ProcessingGuarantee::ExactlyOnceV2,
        Arc::new(DeadLetterProductionExceptionHandler),
        fenced,
        N,
        0,
    );
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, v, _) in &r.output {
        *seen.entry(v.clone()).or_insert(0) += 1;
    }
    let want: BTreeMap<String, usize> = values().iter().map(|v| (v.to_uppercase(), 1)).collect();
    assert_eq!(seen, want, "every record exactly once after the migration");
    let processed: u32 = r.calls.values().sum();
    assert!(
        processed > N as u32,
        "the fenced transaction was redone: {:?}",
        r.calls
    );
    assert!(r.dlq.is_empty(), "{:?}", r.dlq);
    assert_eq!(r.metrics.failure_total(FailureMetric::ProductionError), 0);
    assert_eq!(r.metrics.failure_total(FailureMetric::DeadLetter), 0);
    assert_eq!(r.committed, [Some(6), Some(6)]);
}
