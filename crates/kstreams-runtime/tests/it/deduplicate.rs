//! `KStream::deduplicate` end to end against tansu: an at-least-once upstream that re-sends
//! part of its records (as a producer retrying after lost acks does) looks exactly-once
//! downstream, also across a restart whose dedup store is restored from its changelog.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{config, create_topics, read_output, runtime, wait_running};
use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, DEDUP_HITS, Deduplicated, Produced, StreamsBuilder};
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, ProducerRecord};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee};
use kstreams_testkit::{TansuBroker, random_topic};

const READ_TIMEOUT: Duration = Duration::from_secs(60);
const NODE: &str = "dedup";

fn topology(input: &str, output: &str) -> kstreams_core::Topology {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(input, Consumed::with(Serdes::string(), Serdes::string()))
        .deduplicate(
            |k: &String, _v, _h| Some(k.clone()),
            Deduplicated::with_ttl(Duration::from_secs(3600)).with_name(NODE),
        )
        .to(output, Produced::default());
    b.build().unwrap()
}

/// Sends `(id, payload)` records keyed by id (so every copy of an id lands in one partition).
async fn produce(bootstrap: &str, topic: &str, ids: impl Iterator<Item = usize>) {
    let p = Producer::connect(ClientConfig::new(bootstrap), ProducerConfig::default())
        .await
        .unwrap();
    let mut futs = Vec::new();
    for i in ids {
        let r = ProducerRecord::new(topic, format!("payload-{i}")).with_key(format!("m{i}"));
        futs.push(p.send(r).await.unwrap());
    }
    for f in futs {
        f.await.unwrap();
    }
    p.close().await.unwrap();
}

fn copies(out: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (k, v) in out {
        assert_eq!(v, &format!("payload-{}", &k[1..]));
        *m.entry(k.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn replayed_upstream_records_come_out_once_across_a_restore() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("dedup-in");
    let output = random_topic("dedup-out");
    let app = random_topic("dedup-app");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));

    // The upstream sends m0..m29, then re-sends m10..m19 within the same run.
    rt.block_on(produce(&bs, &input, (0..30).chain(10..20)));
    let dir1 = tempfile::tempdir().unwrap();
    let cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir1.path());
    let mut streams = KafkaStreams::new(topology(&input, &output), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let out = rt.block_on(read_output(&bs, &output, 2, 30, READ_TIMEOUT));
    let seen = copies(&out);
    assert_eq!(seen.len(), 30, "{seen:?}");
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    // Counters reach the instance metrics with the thread's processing loop.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while streams.metrics().node_counter(NODE, DEDUP_HITS) < 10
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(streams.metrics().node_counter(NODE, DEDUP_HITS), 10);
    streams.close().unwrap();
    drop(streams);

    // The upstream replays m20..m29 again and sends m30..m39. The instance restarts with an
    // empty state directory, so the dedup store is restored from its changelog.
    rt.block_on(produce(&bs, &input, 20..40));
    let dir2 = tempfile::tempdir().unwrap();
    let cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir2.path());
    let mut streams = KafkaStreams::new(topology(&input, &output), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let out = rt.block_on(read_output(&bs, &output, 2, 40, READ_TIMEOUT));
    let seen = copies(&out);
    assert_eq!(seen.len(), 40, "{seen:?}");
    assert!(
        seen.values().all(|&n| n == 1),
        "every id exactly once downstream: {seen:?}"
    );
    let m = streams.metrics();
    assert!(m.restored >= 60, "both layouts of 30 ids restored: {m:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while streams.metrics().node_counter(NODE, DEDUP_HITS) < 10
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(streams.metrics().node_counter(NODE, DEDUP_HITS), 10);
    streams.close().unwrap();
}
