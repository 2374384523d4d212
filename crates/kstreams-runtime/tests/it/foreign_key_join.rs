//! A foreign-key join on one instance against tansu: orders (4 partitions) joined with
//! customers (2 partitions) through the subscription and response topics, whose partition
//! counts follow the right and the left table. Every order ends with its customer's latest
//! name, including after a customer update fans out to its orders on other partitions.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kstreams_core::{Serdes, Topology};
use kstreams_dsl::{Consumed, Materialized, Named, Produced, StreamsBuilder};
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, ProducerRecord};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee};
use kstreams_testkit::{TansuBroker, random_topic};

fn topology(orders: &str, customers: &str, out: &str) -> Topology {
    let b = StreamsBuilder::new();
    let c = || Consumed::with(Serdes::string(), Serdes::string());
    let orders = b.table::<String, String>(orders, c(), Materialized::as_("orders"));
    let customers = b.table::<String, String>(customers, c(), Materialized::as_("customers"));
    orders
        .join_foreign_key(
            &customers,
            |customer| customer.clone(),
            |customer, name| format!("{customer}:{name}"),
            Named::as_("fk"),
            Materialized::as_("joined"),
        )
        .to_stream()
        .to(
            out,
            Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
        );
    b.build().unwrap()
}

async fn produce(bootstrap: &str, topic: &str, records: &[(String, String)]) {
    let p = Producer::connect(ClientConfig::new(bootstrap), ProducerConfig::default())
        .await
        .unwrap();
    let mut futs = Vec::new();
    for (k, v) in records {
        futs.push(
            p.send(ProducerRecord::new(topic, v.clone()).with_key(k.clone()))
                .await
                .unwrap(),
        );
    }
    for f in futs {
        f.await.unwrap();
    }
    p.close().await.unwrap();
}

fn latest(out: &[(String, String)]) -> BTreeMap<String, String> {
    out.iter().cloned().collect()
}

#[test]
fn foreign_key_join_across_differently_partitioned_tables() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let (orders, customers, out) = (
        random_topic("fk-orders"),
        random_topic("fk-customers"),
        random_topic("fk-out"),
    );
    let app = random_topic("fk-app");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(
        &bs,
        &[(&orders, 4), (&customers, 2), (&out, 4)],
    ));
    let cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir.path());
    let mut s = KafkaStreams::new(topology(&orders, &customers, &out), cfg).unwrap();
    s.start().unwrap();
    wait_running(&s, Duration::from_secs(90));
    let counts = s.partition_counts().unwrap().topics.clone();
    assert_eq!(
        counts[&format!("{app}-fk-subscription-registration-topic")],
        2
    );
    assert_eq!(counts[&format!("{app}-fk-subscription-response-topic")], 4);

    let names: Vec<(String, String)> = (0..6).map(|i| (format!("c{i}"), format!("n{i}"))).collect();
    rt.block_on(produce(&bs, &customers, &names));
    let ords: Vec<(String, String)> = (0..20)
        .map(|i| (format!("o{i}"), format!("c{}", i % 6)))
        .collect();
    rt.block_on(produce(&bs, &orders, &ords));
    let want: BTreeMap<String, String> = ords
        .iter()
        .map(|(o, c)| (o.clone(), format!("{c}:n{}", &c[1..])))
        .collect();
    let got = rt.block_on(read_output(
        &bs,
        &out,
        4,
        want.len(),
        Duration::from_secs(60),
    ));
    assert_eq!(latest(&got), want);

    // c0 is renamed: its orders (o0, o6, o12, o18, on several partitions) follow.
    rt.block_on(produce(&bs, &customers, &[("c0".into(), "renamed".into())]));
    let got = rt.block_on(read_output(
        &bs,
        &out,
        4,
        want.len() + 4,
        Duration::from_secs(60),
    ));
    s.close().unwrap();
    let mut want = want;
    for o in ["o0", "o6", "o12", "o18"] {
        want.insert(o.into(), "c0:renamed".into());
    }
    assert_eq!(latest(&got), want);
}
