//! A stream-GlobalKTable join on two instances against tansu: the global topic (3
//! partitions) is not co-partitioned with the stream (4 partitions), yet every order on either
//! instance finds its customer's region, because each instance restores the whole global
//! table before it runs and then keeps tailing it. Under exactly_once_v2 (read_committed).

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use kstreams_core::{Serdes, Topology};
use kstreams_dsl::{Consumed, Materialized, Named, Produced, StreamsBuilder};
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, ProducerRecord};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State, StoreQueryParameters};
use kstreams_testkit::{TansuBroker, random_topic};

fn enrich(orders: &str, regions: &str, out: &str) -> Topology {
    let b = StreamsBuilder::new();
    let g = b.global_table::<String, String>(
        regions,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("regions-store"),
    );
    b.stream::<String, String>(orders, Consumed::with(Serdes::string(), Serdes::string()))
        .join_global(
            &g,
            |_order, customer| customer.clone(),
            |customer, region| format!("{customer}@{region}"),
            Named::as_("enrich"),
        )
        .to(out, Produced::default());
    b.build().unwrap()
}

/// The topics of [`enrich`] (orders, regions, output), named after `prefix` and created with
/// these partition counts.
fn enrich_topics(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    prefix: &str,
    [orders_n, regions_n, out_n]: [i32; 3],
) -> (String, String, String) {
    let [orders, regions, out] =
        ["orders", "regions", "out"].map(|t| random_topic(&format!("{prefix}-{t}")));
    rt.block_on(create_topics(
        bootstrap,
        &[(&orders, orders_n), (&regions, regions_n), (&out, out_n)],
    ));
    (orders, regions, out)
}

/// Sends `(key, value, partition)` records.
async fn produce(bootstrap: &str, topic: &str, records: &[(String, String, i32)]) {
    let p = Producer::connect(ClientConfig::new(bootstrap), ProducerConfig::default())
        .await
        .unwrap();
    let mut futs = Vec::new();
    for (k, v, part) in records {
        futs.push(
            p.send(
                ProducerRecord::new(topic, v.clone())
                    .with_key(k.clone())
                    .with_partition(*part),
            )
            .await
            .unwrap(),
        );
    }
    for f in futs {
        f.await.unwrap();
    }
    p.close().await.unwrap();
}

#[test]
fn two_instances_each_join_against_the_whole_global_table() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let rt = runtime();
    let (orders, regions, out) = enrich_topics(&rt, &bs, "gt", [4, 3, 4]);
    let app = random_topic("gt-app");
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    // The global table exists before the instances start: they restore it.
    let customers: Vec<(String, String, i32)> = (0..12)
        .map(|i| (format!("c{i}"), format!("r{i}"), i % 3))
        .collect();
    rt.block_on(produce(&bs, &regions, &customers));

    let cfg =
        |d: &tempfile::TempDir| config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, d.path());
    let mut a = KafkaStreams::new(enrich(&orders, &regions, &out), cfg(&dir_a)).unwrap();
    let mut b = KafkaStreams::new(enrich(&orders, &regions, &out), cfg(&dir_b)).unwrap();
    let restore_log = RestoreLog::default();
    a.set_global_state_restore_listener(restore_log.clone())
        .unwrap();
    a.start().unwrap();
    // The global store was restored before start returned: 12 customers over 3 partitions.
    assert_eq!(restore_log.check(), 12);
    let stores: std::collections::BTreeSet<String> =
        restore_log.events().into_iter().map(|e| e.2).collect();
    assert_eq!(stores, ["regions-store".to_string()].into());
    b.start().unwrap();
    wait_running(&a, Duration::from_secs(90));
    wait_running(&b, Duration::from_secs(90));
    // The group may still rebalance once both joined: wait until both are Running again.
    let settle = Instant::now() + Duration::from_secs(90);
    while (a.state() != State::Running || b.state() != State::Running) && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(100));
    }

    // Every customer's orders land on every order partition.
    let batch: Vec<(String, String, i32)> = (0..48)
        .map(|i| (format!("o{i}"), format!("c{}", i % 12), i % 4))
        .collect();
    rt.block_on(produce(&bs, &orders, &batch));
    let got = rt.block_on(read_output(
        &bs,
        &out,
        4,
        batch.len(),
        Duration::from_secs(90),
    ));
    let got: BTreeMap<String, String> = got.into_iter().collect();
    let want: BTreeMap<String, String> = batch
        .iter()
        .map(|(o, c, _)| (o.clone(), format!("{c}@r{}", &c[1..])))
        .collect();
    assert_eq!(got, want, "every order joined with its region");
    assert!(
        a.metrics().processed > 0 && b.metrics().processed > 0,
        "both instances processed orders"
    );

    // A region update reaches both instances while they run.
    rt.block_on(produce(&bs, &regions, &[("c0".into(), "moved".into(), 0)]));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    let updated_partitions = loop {
        let probe: Vec<(String, String, i32)> = (0..4)
            .map(|p| (format!("probe-{round}-p{p}"), "c0".to_string(), p))
            .collect();
        rt.block_on(produce(&bs, &orders, &probe));
        round += 1;
        std::thread::sleep(Duration::from_millis(500));
        let seen = rt.block_on(read_output(
            &bs,
            &out,
            4,
            usize::MAX,
            Duration::from_millis(300),
        ));
        let moved: std::collections::BTreeSet<String> = seen
            .iter()
            .filter(|(k, v)| k.starts_with("probe-") && v == "c0@moved")
            .map(|(k, _)| k.rsplit('-').next().unwrap().to_string())
            .collect();
        if moved.len() == 4 || Instant::now() > deadline {
            break moved;
        }
    };
    // Each instance answers queries of the whole global table, the update included.
    for s in [&a, &b] {
        let regions = s
            .key_value_store::<String, String>(StoreQueryParameters::from_name("regions-store"))
            .unwrap();
        assert_eq!(regions.get(&"c0".into()).unwrap().as_deref(), Some("moved"));
        assert_eq!(regions.get(&"c5".into()).unwrap().as_deref(), Some("r5"));
        assert_eq!(regions.all().unwrap().len(), 12);
    }
    a.close().unwrap();
    b.close().unwrap();
    assert_eq!(
        updated_partitions.len(),
        4,
        "the update was seen on every order partition (both instances): {updated_partitions:?}"
    );
    // A clean close leaves a checkpoint of the global topic's offsets.
    for d in [&dir_a, &dir_b] {
        let cp = std::fs::read_to_string(d.path().join(&app).join("global").join(".checkpoint"))
            .unwrap();
        assert_eq!(
            cp.lines().filter(|l| l.starts_with(&regions)).count(),
            3,
            "{cp}"
        );
        assert!(cp.contains(&format!("{regions} 0 5")), "{cp}");
    }
}

/// A global stream thread that fails (a global record that does not deserialize, with the
/// default log-and-fail handler) stops the whole instance: global tables that no longer
/// update would give wrong joins.
#[test]
fn a_failed_global_thread_shuts_the_instance_down() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let rt = runtime();
    let (orders, regions, out) = enrich_topics(&rt, &bs, "gtf", [2, 1, 2]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &random_topic("gtf-app"),
        &bs,
        ProcessingGuarantee::AtLeastOnce,
        dir.path(),
    )
    .with_threads(2);
    let mut streams = KafkaStreams::new(enrich(&orders, &regions, &out), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(90));
    assert_eq!(streams.alive_stream_threads(), 2);
    // A region value that is not UTF-8: the global thread cannot deserialize it.
    rt.block_on(async {
        let p = Producer::connect(ClientConfig::new(&bs), ProducerConfig::default())
            .await
            .unwrap();
        p.send(ProducerRecord::new(&regions, vec![0xffu8, 0xfe]).with_key("c0"))
            .await
            .unwrap()
            .await
            .unwrap();
        p.close().await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while (streams.state() != State::Error || streams.alive_stream_threads() > 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(streams.state(), State::Error);
    assert_eq!(
        streams.alive_stream_threads(),
        0,
        "the stream threads stopped with the global thread"
    );
    assert!(
        streams.close().is_err(),
        "close reports the global thread's error"
    );
}

/// Closing an instance ends the global thread's poll at once: with a commit interval of ten
/// minutes the global thread polls until its next flush is due, and only the wakeup lets the
/// close return within seconds (and write the global checkpoint).
#[test]
fn close_wakes_the_global_thread_from_its_poll() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let rt = runtime();
    let (orders, regions, out) = enrich_topics(&rt, &bs, "gtc", [1, 1, 1]);
    let app = random_topic("gtc-app");
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(produce(&bs, &regions, &[("c0".into(), "r0".into(), 0)]));
    let cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir.path())
        .with_commit_interval(Duration::from_secs(600));
    let mut streams = KafkaStreams::new(enrich(&orders, &regions, &out), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(90));
    let started = Instant::now();
    streams.close().unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "close took {took:?}; without the wakeup the global poll lasts until the flush, 600 s"
    );
    let cp =
        std::fs::read_to_string(dir.path().join(&app).join("global").join(".checkpoint")).unwrap();
    assert!(cp.contains(&format!("{regions} 0 1")), "{cp}");
}
