//! Grouped aggregations through the TopologyTestDriver: count, reduce, aggregate, automatic
//! repartitioning, stores, timestamps.

use kstreams_core::Serdes;
use kstreams_dsl::{
    Consumed, Grouped, Materialized, Produced, StoreType, StreamsBuilder, ValueAndTimestamp,
};
use kstreams_test_driver::TopologyTestDriver;

fn input(b: &StreamsBuilder) -> kstreams_dsl::KStream<String, String> {
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
}

fn read_i64(d: &TopologyTestDriver, topic: &str) -> Vec<(String, Option<i64>, i64)> {
    d.output_topic::<String, Option<i64>>(topic)
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

#[test]
fn count_by_key_emits_each_update_with_the_max_timestamp_so_far() {
    let b = StreamsBuilder::new();
    let counts = input(&b)
        .group_by_key(Grouped::default())
        .count(Materialized::as_("counts"));
    assert_eq!(counts.queryable_store_name(), Some("counts"));
    counts.to_stream().to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("a".into(), "x".into(), 10);
    i.pipe_input_with_timestamp("b".into(), "x".into(), 11);
    i.pipe_input_with_timestamp("a".into(), "y".into(), 5); // out of order: ts stays 10
    i.pipe_input_with_timestamp("a".into(), "z".into(), 20);
    assert_eq!(
        read_i64(&d, "out"),
        vec![
            ("a".into(), Some(1), 10),
            ("b".into(), Some(1), 11),
            ("a".into(), Some(2), 10),
            ("a".into(), Some(3), 20),
        ]
    );
    let store = d
        .key_value_store::<String, ValueAndTimestamp<i64>>("counts")
        .unwrap();
    assert_eq!(
        store.get(&"a".to_string()).unwrap(),
        Some(ValueAndTimestamp::make(3, 20))
    );
    // Grouping by the unchanged key needs no repartition topic.
    assert!(!format!("{}", d.describe()).contains("repartition"));
}

#[test]
fn reduce_starts_from_the_first_value() {
    let b = StreamsBuilder::new();
    input(&b)
        .group_by_key(Grouped::default())
        .reduce(|a, v| format!("{a}+{v}"), Materialized::as_("joined"))
        .to_stream()
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("k".into(), "1".into(), 3);
    i.pipe_input_with_timestamp("k".into(), "2".into(), 4);
    i.pipe_input_with_timestamp("j".into(), "3".into(), 1);
    let out: Vec<_> = d
        .output_topic::<String, Option<String>>("out")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(
        out,
        vec![
            ("k".into(), Some("1".into()), 3),
            ("k".into(), Some("1+2".into()), 4),
            ("j".into(), Some("3".into()), 1),
        ]
    );
}

#[test]
fn aggregate_with_initializer_in_memory_store() {
    let b = StreamsBuilder::new();
    input(&b)
        .map_values(|v| v.len() as i64)
        .group_by_key(Grouped::default())
        .aggregate(
            || 100i64,
            |_k, v, agg| agg + v,
            Materialized::as_("sums").with_store_type(StoreType::InMemory),
        )
        .to_stream()
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("k".into(), "abc".into(), 1);
    i.pipe_input_with_timestamp("k".into(), "de".into(), 2);
    assert_eq!(
        read_i64(&d, "out"),
        vec![("k".into(), Some(103), 1), ("k".into(), Some(105), 2)]
    );
    let in_memory = d.with_state_store("sums", |s| !s.persistent()).unwrap();
    assert!(in_memory);
}

#[test]
fn caching_enabled_store_still_emits_every_update() {
    let b = StreamsBuilder::new();
    input(&b)
        .group_by_key(Grouped::default())
        .count(Materialized::as_("cached").with_caching_enabled(true))
        .to_stream()
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("k".into(), "1".into(), 1);
    i.pipe_input_with_timestamp("k".into(), "2".into(), 2);
    assert_eq!(
        read_i64(&d, "out"),
        vec![("k".into(), Some(1), 1), ("k".into(), Some(2), 2)]
    );
    let store = d
        .key_value_store::<String, ValueAndTimestamp<i64>>("cached")
        .unwrap();
    assert_eq!(
        store.get(&"k".to_string()).unwrap().map(|v| v.value),
        Some(2)
    );
}

#[test]
fn group_by_repartitions_through_a_topic_named_after_the_store() {
    let b = StreamsBuilder::new();
    input(&b)
        .group_by(|_k, v| v.clone(), Grouped::default())
        .count(Materialized::as_("by-value"))
        .to_stream()
        .to("out", Produced::default());
    let t = b.build().unwrap();
    let desc = format!("{}", t.describe().unwrap());
    assert!(desc.contains("by-value-repartition"), "{desc}");
    let d = TopologyTestDriver::new(t).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("1".into(), "red".into(), 5);
    i.pipe_input_with_timestamp("2".into(), "red".into(), 6);
    i.pipe_input_with_timestamp("3".into(), "blue".into(), 7);
    assert_eq!(
        read_i64(&d, "out"),
        vec![
            ("red".into(), Some(1), 5),
            ("red".into(), Some(2), 6),
            ("blue".into(), Some(1), 7),
        ]
    );
    // The repartition topic carries the application id prefix.
    assert!(
        d.produced_topic_names()
            .contains(&"topology-test-driver-by-value-repartition".to_string()),
        "{:?}",
        d.produced_topic_names()
    );
}

#[test]
fn key_changing_then_group_by_key_repartitions_with_the_grouped_name() {
    let b = StreamsBuilder::new();
    input(&b)
        .select_key(|_k, v| v.to_uppercase())
        .group_by_key(Grouped::as_("upper"))
        .count(Materialized::default())
        .to_stream()
        .to("out", Produced::default());
    let t = b.build().unwrap();
    let desc = format!("{}", t.describe().unwrap());
    assert!(desc.contains("upper-repartition"), "{desc}");
    let d = TopologyTestDriver::new(t).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("1".into(), "a".into(), 5);
    i.pipe_input_with_timestamp("2".into(), "A".into(), 4);
    assert_eq!(
        read_i64(&d, "out"),
        vec![("A".into(), Some(1), 5), ("A".into(), Some(2), 5)]
    );
}

#[test]
fn internal_topic_names_are_stable_when_operators_are_added_upstream() {
    fn topics(extra_filter: bool) -> Vec<String> {
        let b = StreamsBuilder::new();
        let mut s = input(&b);
        if extra_filter {
            s = s.filter(|_, _| true);
        }
        s.group_by(|_k, v| v.clone(), Grouped::as_("by-v"))
            .count(Materialized::as_("cnt"))
            .to_stream()
            .to("out", Produced::default());
        let t = b.build().unwrap().build(Some("app")).unwrap();
        let mut v = t.internal_topics().to_vec();
        v.sort();
        v
    }
    assert_eq!(topics(false), topics(true));
    assert_eq!(topics(false), vec!["app-by-v-repartition".to_string()]);
}

#[test]
fn explicit_repartition_then_group_by_key_needs_no_second_topic() {
    let b = StreamsBuilder::new();
    input(&b)
        .select_key(|_k, v| v.clone())
        .repartition(kstreams_dsl::Repartitioned::as_("rekeyed").with_number_of_partitions(4))
        .group_by_key(Grouped::default())
        .count(Materialized::as_("c"))
        .to_stream()
        .to("out", Produced::default());
    let t = b.build().unwrap();
    let built = t.build(Some("app")).unwrap();
    assert_eq!(
        built.internal_topics(),
        &["app-rekeyed-repartition".to_string()]
    );
    let d = TopologyTestDriver::new(t).unwrap();
    d.input_topic::<String, String>("in")
        .pipe_input_with_timestamp("1".into(), "v".into(), 9);
    assert_eq!(read_i64(&d, "out"), vec![("v".into(), Some(1), 9)]);
}

#[test]
fn two_aggregations_of_one_grouping_share_its_repartition_topic() {
    let b = StreamsBuilder::new();
    let grouped = input(&b).group_by(|_k, v| v.clone(), Grouped::as_("by-v"));
    grouped
        .count(Materialized::as_("n"))
        .to_stream()
        .to("counts", Produced::default());
    grouped
        .reduce(|a, v| format!("{a}{v}"), Materialized::as_("r"))
        .to_stream()
        .to("reduced", Produced::default());
    let t = b.build().unwrap();
    assert_eq!(
        t.build(Some("app")).unwrap().internal_topics(),
        &["app-by-v-repartition".to_string()]
    );
    let d = TopologyTestDriver::new(t).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("1".into(), "x".into(), 1);
    i.pipe_input_with_timestamp("2".into(), "x".into(), 2);
    assert_eq!(
        read_i64(&d, "counts"),
        vec![("x".into(), Some(1), 1), ("x".into(), Some(2), 2)]
    );
    let reduced: Vec<_> = d
        .output_topic::<String, Option<String>>("reduced")
        .read_values_to_list();
    assert_eq!(reduced, vec![Some("x".to_string()), Some("xx".to_string())]);
}
