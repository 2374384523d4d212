//! KTable operators through the TopologyTestDriver: source tables with tombstones, filter,
//! map_values, to_stream, and group_by re-aggregation with adder/subtractor.

use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, ValueAndTimestamp};
use kstreams_test_driver::TopologyTestDriver;

pub(crate) type Out<V> = Vec<(String, Option<V>, i64)>;

pub(crate) fn read<V: kstreams_core::DefaultSerde>(d: &TopologyTestDriver, topic: &str) -> Out<V> {
    d.output_topic::<String, Option<V>>(topic)
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn table(b: &StreamsBuilder, store: &str) -> kstreams_dsl::KTable<String, i64> {
    b.table::<String, i64>(
        "users",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::as_(store),
    )
}

/// Pipes `(key, value or tombstone, ts)` into the table topic.
pub(crate) fn pipe(d: &TopologyTestDriver, records: &[(&str, Option<i64>, i64)]) {
    let i = d.create_input_topic::<String, Option<i64>>(
        "users",
        Serdes::string(),
        Serdes::option(Serdes::i64()),
    );
    for (k, v, ts) in records {
        i.pipe_input_with_timestamp(k.to_string(), *v, *ts);
    }
}

#[test]
fn table_upserts_and_tombstones_delete() {
    let b = StreamsBuilder::new();
    let t = table(&b, "users-store");
    assert!(t.node_name().starts_with("KTABLE-SOURCE-"));
    t.to_stream().to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(
        &d,
        &[
            ("a", Some(1), 10),
            ("a", Some(2), 12),
            ("b", None, 13), // tombstone for an absent key: nothing
            ("a", None, 14),
        ],
    );
    assert_eq!(
        read::<i64>(&d, "out"),
        vec![
            ("a".into(), Some(1), 10),
            ("a".into(), Some(2), 12),
            ("a".into(), None, 14),
        ]
    );
    let store = d
        .key_value_store::<String, ValueAndTimestamp<i64>>("users-store")
        .unwrap();
    assert_eq!(store.get(&"a".to_string()).unwrap(), None);
}

#[test]
fn table_store_keeps_the_update_timestamp() {
    let b = StreamsBuilder::new();
    table(&b, "s");
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(&d, &[("a", Some(7), 30), ("a", Some(8), 20)]);
    let store = d
        .key_value_store::<String, ValueAndTimestamp<i64>>("s")
        .unwrap();
    // Out of order updates still overwrite (no versioned store), stamped with their time.
    assert_eq!(
        store.get(&"a".to_string()).unwrap(),
        Some(ValueAndTimestamp::make(8, 20))
    );
}

#[test]
fn filter_forwards_deletes_when_an_entry_stops_matching() {
    let b = StreamsBuilder::new();
    table(&b, "s")
        .filter(|_k, v| *v >= 10)
        .to_stream()
        .to("big", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(
        &d,
        &[
            ("a", Some(5), 1),  // never visible: dropped
            ("a", Some(15), 2), // becomes visible
            ("a", Some(3), 3),  // stops matching: delete
            ("a", Some(4), 4),  // invisible both sides: dropped
            ("b", Some(20), 5),
            ("b", None, 6), // tombstone of a visible entry: delete
        ],
    );
    assert_eq!(
        read::<i64>(&d, "big"),
        vec![
            ("a".into(), Some(15), 2),
            ("a".into(), None, 3),
            ("b".into(), Some(20), 5),
            ("b".into(), None, 6),
        ]
    );
}

#[test]
fn filter_not_and_map_values() {
    let b = StreamsBuilder::new();
    table(&b, "s")
        .filter_not(|_k, v| *v < 0)
        .map_values(|v| format!("#{v}"))
        .to_stream()
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(
        &d,
        &[("a", Some(1), 1), ("a", Some(-1), 2), ("c", Some(3), 3)],
    );
    assert_eq!(
        read::<String>(&d, "out"),
        vec![
            ("a".into(), Some("#1".into()), 1),
            ("a".into(), None, 2),
            ("c".into(), Some("#3".into()), 3),
        ]
    );
}

#[test]
fn group_by_re_aggregates_with_adder_and_subtractor() {
    // users -> region (encoded as value % 10); count users and sum values per region.
    let b = StreamsBuilder::new();
    let t = table(&b, "s");
    let grouped = t.group_by(
        |_user, v| ((v % 10).to_string(), *v),
        Grouped::with(Serdes::string(), Serdes::i64()).with_name("by-region"),
    );
    grouped
        .count(Materialized::as_("region-counts"))
        .to_stream()
        .to("counts", Produced::default());
    grouped
        .aggregate(
            || 0i64,
            |_k, v, agg| agg + v,
            |_k, v, agg| agg - v,
            Materialized::as_("region-sums"),
        )
        .to_stream()
        .to("sums", Produced::default());
    let topo = b.build().unwrap();
    let desc = format!("{}", topo.describe().unwrap());
    assert!(desc.contains("by-region-repartition"), "{desc}");
    let d = TopologyTestDriver::new(topo).unwrap();
    pipe(
        &d,
        &[
            ("u1", Some(11), 1), // region 1
            ("u2", Some(21), 2), // region 1
            ("u1", Some(12), 3), // u1 moves to region 2: subtract from 1, add to 2
            ("u2", Some(31), 4), // same region: one combined change
            ("u2", None, 5),     // u2 deleted
        ],
    );
    assert_eq!(
        read::<i64>(&d, "counts"),
        vec![
            ("1".into(), Some(1), 1),
            ("1".into(), Some(2), 2),
            ("1".into(), Some(1), 3),
            ("2".into(), Some(1), 3),
            ("1".into(), Some(1), 4),
            ("1".into(), Some(0), 5),
        ]
    );
    assert_eq!(
        read::<i64>(&d, "sums"),
        vec![
            ("1".into(), Some(11), 1),
            ("1".into(), Some(32), 2),
            ("1".into(), Some(21), 3),
            ("2".into(), Some(12), 3),
            ("1".into(), Some(31), 4),
            ("1".into(), Some(0), 5),
        ]
    );
}

#[test]
fn grouped_table_reduce() {
    let b = StreamsBuilder::new();
    table(&b, "s")
        .group_by(
            |_k, v| ("all".to_string(), *v),
            Grouped::with(Serdes::string(), Serdes::i64()),
        )
        .reduce(|a, v| a + v, |a, v| a - v, Materialized::as_("total"))
        .to_stream()
        .to("total", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(
        &d,
        &[("a", Some(5), 1), ("b", Some(7), 2), ("a", Some(1), 3)],
    );
    assert_eq!(
        read::<i64>(&d, "total"),
        vec![
            ("all".into(), Some(5), 1),
            ("all".into(), Some(12), 2),
            ("all".into(), Some(8), 3),
        ]
    );
}

#[test]
fn stream_aggregation_table_feeds_a_table_re_aggregation() {
    // Counts per word, then the number of words per count ("histogram").
    let b = StreamsBuilder::new();
    b.stream::<String, String>("words", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .count(Materialized::as_("word-counts"))
        .group_by(
            |_w, c| (c.to_string(), 1i64),
            Grouped::with(Serdes::string(), Serdes::i64()),
        )
        .count(Materialized::as_("histogram"))
        .to_stream()
        .to("hist", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("words");
    i.pipe_input_with_timestamp("x".into(), "".into(), 1);
    i.pipe_input_with_timestamp("x".into(), "".into(), 2);
    assert_eq!(
        read::<i64>(&d, "hist"),
        vec![
            ("1".into(), Some(1), 1),
            ("1".into(), Some(0), 2),
            ("2".into(), Some(1), 2),
        ]
    );
}

#[test]
fn filter_and_map_values_materialized_are_queryable() {
    let b = StreamsBuilder::new();
    let big = table(&b, "s").filter_materialized(|_k, v| *v >= 10, Materialized::as_("big"));
    assert_eq!(big.queryable_store_name(), Some("big"));
    let labels = big.map_values_materialized(
        |v| format!("#{v}"),
        Materialized::as_("labels").with_store_type(kstreams_dsl::StoreType::InMemory),
    );
    labels.to_stream().to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(
        &d,
        &[
            ("a", Some(15), 1),
            ("b", Some(3), 2),
            ("a", Some(4), 3),
            ("c", Some(20), 4),
        ],
    );
    let big = d
        .key_value_store::<String, ValueAndTimestamp<i64>>("big")
        .unwrap();
    assert_eq!(
        big.get(&"a".to_string()).unwrap(),
        None,
        "a stopped matching"
    );
    assert_eq!(big.get(&"b".to_string()).unwrap(), None);
    assert_eq!(
        big.get(&"c".to_string()).unwrap(),
        Some(ValueAndTimestamp::make(20, 4))
    );
    let labels = d
        .key_value_store::<String, ValueAndTimestamp<String>>("labels")
        .unwrap();
    assert_eq!(
        labels.all().unwrap(),
        vec![(
            "c".to_string(),
            ValueAndTimestamp::make("#20".to_string(), 4)
        )]
    );
    assert_eq!(
        read::<String>(&d, "out"),
        vec![
            ("a".into(), Some("#15".into()), 1),
            ("a".into(), None, 3),
            ("c".into(), Some("#20".into()), 4),
        ]
    );
}

#[test]
fn a_stream_to_table_keeps_the_latest_value_and_repartitions_a_rekeyed_stream() {
    let b = StreamsBuilder::new();
    let t = b
        .stream::<String, String>("events", Consumed::with(Serdes::string(), Serdes::string()))
        .select_key(|_k, v| v[..1].to_string())
        .to_table(
            kstreams_dsl::Named::as_("latest"),
            Materialized::as_("latest-store"),
        );
    assert_eq!(t.queryable_store_name(), Some("latest-store"));
    t.filter(|_k, v| v.len() > 1)
        .to_stream()
        .to("out", Produced::default());
    let topo = b.build().unwrap();
    assert_eq!(
        topo.build(Some("app")).unwrap().internal_topics(),
        &["app-latest-repartition".to_string()]
    );
    let d = TopologyTestDriver::new(topo).unwrap();
    let i = d.input_topic::<String, String>("events");
    i.pipe_input_with_timestamp("1".into(), "ab".into(), 1);
    i.pipe_input_with_timestamp("2".into(), "a".into(), 2);
    i.pipe_input_with_timestamp("3".into(), "xyz".into(), 3);
    assert_eq!(
        read::<String>(&d, "out"),
        vec![
            ("a".into(), Some("ab".into()), 1),
            ("a".into(), None, 2),
            ("x".into(), Some("xyz".into()), 3),
        ]
    );
    let store = d
        .key_value_store::<String, ValueAndTimestamp<String>>("latest-store")
        .unwrap();
    assert_eq!(
        store.get(&"a".to_string()).unwrap(),
        Some(ValueAndTimestamp::make("a".to_string(), 2))
    );
}

#[test]
fn an_unnamed_source_table_is_named_as_in_kafka_streams() {
    let b = StreamsBuilder::new();
    let t = b.table::<String, i64>(
        "users",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::default(),
    );
    assert_eq!(t.node_name(), "KTABLE-SOURCE-0000000002");
    assert_eq!(
        t.queryable_store_name(),
        Some("users-STATE-STORE-0000000000")
    );
    let desc = format!("{}", b.build().unwrap().describe().unwrap());
    assert!(
        desc.contains("Source: KSTREAM-SOURCE-0000000001 (topics: [users])"),
        "{desc}"
    );
    assert!(
        desc.contains(
            "Processor: KTABLE-SOURCE-0000000002 (stores: [users-STATE-STORE-0000000000])"
        ),
        "{desc}"
    );
}
