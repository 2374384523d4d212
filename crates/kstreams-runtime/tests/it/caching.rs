//! `statestore.cache.max.bytes` against tansu: a cached count forwards the latest count of a
//! key per commit (far fewer records than updates), and with a budget of 0 every update.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{config, create_topics, runtime, wait_running};
use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, Grouped, Materialized, Produced, StoreType, StreamsBuilder};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, IsolationLevel, ProducerRecord, TopicPartition};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee};
use kstreams_testkit::{TansuBroker, random_topic};

const KEYS: usize = 5;
const PER_KEY: usize = 40;

fn topology(input: &str, output: &str) -> kstreams_core::Topology {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .count(
            Materialized::as_("counts")
                .with_store_type(StoreType::InMemory)
                .with_caching_enabled(true),
        )
        .to_stream()
        .map_values(|c| c.map_or_else(String::new, |n| n.to_string()))
        .to(output, Produced::with(Serdes::string(), Serdes::string()));
    b.build().unwrap()
}

async fn produce(bootstrap: &str, topic: &str) {
    let p = Producer::connect(ClientConfig::new(bootstrap), ProducerConfig::default())
        .await
        .unwrap();
    let mut futs = Vec::new();
    for i in 0..KEYS * PER_KEY {
        let r = ProducerRecord::new(topic, "v").with_key(format!("k{}", i % KEYS));
        futs.push(p.send(r).await.unwrap());
    }
    for f in futs {
        f.await.unwrap();
    }
    p.close().await.unwrap();
}

/// Every `(key, count)` of `topic` until each key reached `PER_KEY` (or a minute passed),
/// plus what arrives in a short grace period.
async fn read_counts(bootstrap: &str, topic: &str) -> Vec<(String, u64)> {
    let cfg = ConsumerConfig::new(bootstrap)
        .with_isolation_level(IsolationLevel::ReadCommitted)
        .with_auto_offset_reset(OffsetResetStrategy::Earliest)
        .with_auto_commit(false);
    let mut c = Consumer::connect(cfg).await.unwrap();
    let tps = [TopicPartition::new(topic, 0)];
    c.assign(&tps).unwrap();
    c.seek_to_beginning(&tps).await.unwrap();
    let mut out = Vec::new();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let done = |last: &BTreeMap<String, u64>| {
        last.len() == KEYS && last.values().all(|&n| n == PER_KEY as u64)
    };
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
        if grace_end.is_none() && done(&last) {
            grace_end = Some(Instant::now() + Duration::from_millis(700));
        }
    }
    out
}

fn assert_increasing_to_final(out: &[(String, u64)]) {
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for (k, v) in out {
        let prev = last.insert(k, *v).unwrap_or(0);
        assert!(*v > prev, "counts of {k} only grow: {prev} then {v}");
    }
    assert_eq!(last.len(), KEYS);
    assert!(last.values().all(|&n| n == PER_KEY as u64), "{last:?}");
}

#[test]
fn cache_budget_decides_between_folded_and_every_update() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("cache-in");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 1)]));
    rt.block_on(produce(&bs, &input));
    let dir = tempfile::tempdir().unwrap();

    // Default budget (10 MiB): updates between commits fold into one record per key.
    let cached_out = random_topic("cache-out");
    rt.block_on(create_topics(&bs, &[(&cached_out, 1)]));
    let cfg = config(
        &random_topic("cache-app"),
        &bs,
        ProcessingGuarantee::AtLeastOnce,
        dir.path(),
    )
    .with_commit_interval(Duration::from_secs(1));
    let mut streams = KafkaStreams::new(topology(&input, &cached_out), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let out = rt.block_on(read_counts(&bs, &cached_out));
    streams.close().unwrap();
    assert_increasing_to_final(&out);
    eprintln!(
        "cached count: {} output records for {} updates",
        out.len(),
        KEYS * PER_KEY
    );
    assert!(
        out.len() < KEYS * PER_KEY,
        "the cache folded updates: {} records for {} updates",
        out.len(),
        KEYS * PER_KEY
    );

    // statestore.cache.max.bytes = 0: every update is forwarded.
    let uncached_out = random_topic("nocache-out");
    rt.block_on(create_topics(&bs, &[(&uncached_out, 1)]));
    let mut cfg = config(
        &random_topic("nocache-app"),
        &bs,
        ProcessingGuarantee::AtLeastOnce,
        dir.path(),
    )
    .with_commit_interval(Duration::from_secs(1));
    cfg.cache_max_bytes = 0;
    let mut streams = KafkaStreams::new(topology(&input, &uncached_out), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let out = rt.block_on(read_counts(&bs, &uncached_out));
    streams.close().unwrap();
    assert_increasing_to_final(&out);
    assert_eq!(out.len(), KEYS * PER_KEY, "one record per update");
}
