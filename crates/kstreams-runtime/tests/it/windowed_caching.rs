//! A time-windowed count with its window store cached, against tansu: updates of a window
//! between commits fold into one output record, the changelog the cache writes restores the
//! windows on a restart with an empty state directory, and counting goes on from there.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{config, create_topics, runtime, wait_running};
use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, TimeWindows};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, IsolationLevel, ProducerRecord, TopicPartition};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee};
use kstreams_testkit::{TansuBroker, random_topic};

const KEYS: usize = 4;
const WINDOW_MS: i64 = 60_000;
/// Event time of the first window: a fixed minute, so both runs fall in the same windows.
const BASE_MS: i64 = 1_700_000_040_000;

fn topology(input: &str, output: &str) -> kstreams_core::Topology {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(WINDOW_MS as u64),
            Duration::from_secs(3600),
        ))
        .count(Materialized::as_("win-counts").with_caching_enabled(true))
        .to_stream()
        .map(|w, n: &Option<i64>| {
            (
                format!("{}@{}", w.key, w.window.start),
                n.map_or_else(String::new, |n| n.to_string()),
            )
        })
        .to(output, Produced::with(Serdes::string(), Serdes::string()));
    b.build().unwrap()
}

/// `per_window` records for each key in each of two windows, keyed `k<n>`.
async fn produce(bootstrap: &str, topic: &str, per_window: usize) {
    let p = Producer::connect(ClientConfig::new(bootstrap), ProducerConfig::default())
        .await
        .unwrap();
    let mut futs = Vec::new();
    for i in 0..KEYS * per_window * 2 {
        let window = (i / KEYS) % 2;
        let ts = BASE_MS + window as i64 * WINDOW_MS + (i % 1000) as i64;
        let r = ProducerRecord::new(topic, "v")
            .with_key(format!("k{}", i % KEYS))
            .with_timestamp(ts);
        futs.push(p.send(r).await.unwrap());
    }
    for f in futs {
        f.await.unwrap();
    }
    p.close().await.unwrap();
}

/// Every `(key@window, count)` of `topic` until each of the `2 * KEYS` windows reached `want`
/// (or a minute passed), plus what arrives in a short grace period.
async fn read_counts(bootstrap: &str, topic: &str, want: u64) -> Vec<(String, u64)> {
    let cfg = ConsumerConfig::new(bootstrap)
        .with_isolation_level(IsolationLevel::ReadCommitted)
        .with_auto_offset_reset(OffsetResetStrategy::Earliest)
        .with_auto_commit(false);
    let mut c = Consumer::connect(cfg).await.unwrap();
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(topic, p)).collect();
    c.assign(&tps).unwrap();
    c.seek_to_beginning(&tps).await.unwrap();
    let mut out = Vec::new();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut grace_end: Option<Instant> = None;
    while Instant::now() < grace_end.unwrap_or(deadline) {
        for r in c.poll(Duration::from_millis(100)).await.unwrap() {
            let k = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            let v: u64 = String::from_utf8(r.value.unwrap().to_vec())
                .unwrap()
                .parse()
                .unwrap();
            last.insert(k.clone(), v);
            out.push((k, v));
        }
        let done = last.len() == 2 * KEYS && last.values().all(|&n| n == want);
        if grace_end.is_none() && done {
            grace_end = Some(Instant::now() + Duration::from_millis(700));
        }
    }
    out
}

/// Counts of each window only grow, and every window ends at `want`.
fn assert_windows_grow_to(out: &[(String, u64)], want: u64) {
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for (k, v) in out {
        let prev = last.insert(k, *v).unwrap_or(0);
        assert!(*v > prev, "counts of {k} only grow: {prev} then {v}");
    }
    assert_eq!(last.len(), 2 * KEYS, "{last:?}");
    assert!(last.values().all(|&n| n == want), "{last:?}");
}

#[test]
fn a_cached_windowed_count_folds_updates_and_restores_its_windows() {
    folds_and_restores(ProcessingGuarantee::AtLeastOnce);
}

/// The same under exactly-once: the cache is written down inside each commit's transaction,
/// so the committed output and the changelog restored from agree.
#[test]
fn a_cached_windowed_count_folds_and_restores_under_exactly_once() {
    folds_and_restores(ProcessingGuarantee::ExactlyOnceV2);
}

fn folds_and_restores(guarantee: ProcessingGuarantee) {
    const FIRST: usize = 30;
    const SECOND: usize = 10;
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("wcache-in");
    let output = random_topic("wcache-out");
    let app = random_topic("wcache-app");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    rt.block_on(produce(&bs, &input, FIRST));

    let dir1 = tempfile::tempdir().unwrap();
    let cfg =
        config(&app, &bs, guarantee, dir1.path()).with_commit_interval(Duration::from_secs(1));
    let mut streams = KafkaStreams::new(topology(&input, &output), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let out = rt.block_on(read_counts(&bs, &output, FIRST as u64));
    streams.close().unwrap();
    drop(streams);
    assert_windows_grow_to(&out, FIRST as u64);
    let updates = KEYS * FIRST * 2;
    assert!(
        out.len() < updates,
        "the cache folded updates: {} records for {updates} updates",
        out.len()
    );

    // A restart with an empty state directory restores the windows from the changelog the
    // cache wrote; the next records count on from there.
    rt.block_on(produce(&bs, &input, SECOND));
    let dir2 = tempfile::tempdir().unwrap();
    let cfg = config(&app, &bs, guarantee, dir2.path());
    let mut streams = KafkaStreams::new(topology(&input, &output), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let out = rt.block_on(read_counts(&bs, &output, (FIRST + SECOND) as u64));
    let restored = streams.metrics().restored;
    streams.close().unwrap();
    assert_windows_grow_to(&out, (FIRST + SECOND) as u64);
    assert!(
        restored >= (2 * KEYS) as u64,
        "every window restored: {restored}"
    );
}
