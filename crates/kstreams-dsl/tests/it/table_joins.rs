//! Table-table joins (inner, left, outer) through the TopologyTestDriver: updates from
//! either side, tombstones, timestamps, and a stream joined with the joined table.

use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, KTable, Materialized, Named, Produced, StreamsBuilder};
use kstreams_test_driver::TopologyTestDriver;

type Row = (String, Option<String>, i64);

fn tables(b: &StreamsBuilder) -> (KTable<String, String>, KTable<String, String>) {
    let t = |topic: &str| {
        b.table::<String, String>(
            topic,
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::as_(format!("{topic}-store")),
        )
    };
    (t("left"), t("right"))
}

fn pipe(d: &TopologyTestDriver, topic: &str, k: &str, v: Option<&str>, ts: i64) {
    d.create_input_topic::<String, Option<String>>(
        topic,
        Serdes::string(),
        Serdes::option(Serdes::string()),
    )
    .pipe_input_with_timestamp(k.into(), v.map(str::to_string), ts);
}

fn read(d: &TopologyTestDriver) -> Vec<Row> {
    d.output_topic::<String, Option<String>>("out")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn r(k: &str, v: Option<&str>, ts: i64) -> Row {
    (k.into(), v.map(str::to_string), ts)
}

/// The same input for every join kind.
fn run(d: &TopologyTestDriver) -> Vec<Row> {
    pipe(d, "left", "k", Some("L1"), 1); // no right yet
    pipe(d, "right", "k", Some("R1"), 5);
    pipe(d, "left", "k", Some("L2"), 3); // timestamp: max(3, right's 5)
    pipe(d, "right", "k", None, 6); // right deleted
    pipe(d, "left", "k", None, 7); // left deleted
    pipe(d, "right", "x", Some("RX"), 8); // right only
    read(d)
}

#[test]
fn inner_join() {
    let b = StreamsBuilder::new();
    let (l, rt) = tables(&b);
    let j = l.join(&rt, |a, b| format!("{a}+{b}"), Named::as_("joined"));
    assert_eq!(j.node_name(), "joined");
    j.to_stream().to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    assert_eq!(
        run(&d),
        vec![
            r("k", Some("L1+R1"), 5),
            r("k", Some("L2+R1"), 5),
            r("k", None, 6),
        ]
    );
}

#[test]
fn left_join() {
    let b = StreamsBuilder::new();
    let (l, rt) = tables(&b);
    l.left_join(
        &rt,
        |a, b| format!("{a}+{}", b.map_or("-", String::as_str)),
        Named::generated(),
    )
    .to_stream()
    .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    assert_eq!(
        run(&d),
        vec![
            r("k", Some("L1+-"), 1),
            r("k", Some("L1+R1"), 5),
            r("k", Some("L2+R1"), 5),
            r("k", Some("L2+-"), 6),
            r("k", None, 7),
        ]
    );
}

#[test]
fn outer_join() {
    let b = StreamsBuilder::new();
    let (l, rt) = tables(&b);
    l.outer_join(
        &rt,
        |a, b| {
            format!(
                "{}+{}",
                a.map_or("-", String::as_str),
                b.map_or("-", String::as_str)
            )
        },
        Named::generated(),
    )
    .to_stream()
    .to("out", Produced::default());
    let t = b.build().unwrap();
    let desc = format!("{}", t.describe().unwrap());
    assert!(desc.contains("KTABLE-OUTERTHIS-"), "{desc}");
    assert!(desc.contains("KTABLE-MERGE-"), "{desc}");
    assert!(
        t.build(None)
            .unwrap()
            .copartition_groups()
            .iter()
            .any(|g| g.contains(&"left".to_string()) && g.contains(&"right".to_string()))
    );
    let d = TopologyTestDriver::new(t).unwrap();
    assert_eq!(
        run(&d),
        vec![
            r("k", Some("L1+-"), 1),
            r("k", Some("L1+R1"), 5),
            r("k", Some("L2+R1"), 5),
            r("k", Some("L2+-"), 6),
            r("k", None, 7),
            r("x", Some("-+RX"), 8),
        ]
    );
}

#[test]
fn a_stream_joins_the_joined_table_through_its_value_getter() {
    let b = StreamsBuilder::new();
    let (l, rt) = tables(&b);
    let joined = l.join(&rt, |a, b| format!("{a}+{b}"), Named::generated());
    b.stream::<String, String>("events", Consumed::with(Serdes::string(), Serdes::string()))
        .join(&joined, |e, t| format!("{e}:{t}"), Named::generated())
        .to("enriched", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let events = d.input_topic::<String, String>("events");
    events.pipe_input_with_timestamp("k".into(), "e0".into(), 1);
    pipe(&d, "left", "k", Some("L"), 2);
    pipe(&d, "right", "k", Some("R"), 3);
    events.pipe_input_with_timestamp("k".into(), "e1".into(), 4);
    let out: Vec<_> = d
        .output_topic::<String, String>("enriched")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(out, vec![("e1:L+R".to_string(), 4)]);
}
