//! GlobalKTable and stream-global joins through the TopologyTestDriver: the global store is
//! updated as soon as its topic is piped, joins select the table key from the record, keep
//! the stream record's key and timestamp, see tombstones, and need neither repartitioning
//! nor co-partitioning.

use kstreams_core::Serdes;
use kstreams_dsl::{
    Consumed, GlobalKTable, KStream, Materialized, Named, Produced, StreamsBuilder,
    ValueAndTimestamp,
};
use kstreams_test_driver::TopologyTestDriver;

type Row = (String, String, i64);

fn regions(b: &StreamsBuilder) -> GlobalKTable<String, String> {
    b.global_table::<String, String>(
        "regions",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("regions-store"),
    )
}

/// Orders keyed by order id, valued by customer.
fn orders(b: &StreamsBuilder) -> KStream<String, String> {
    b.stream::<String, String>("orders", Consumed::with(Serdes::string(), Serdes::string()))
}

fn region(d: &TopologyTestDriver, customer: &str, region: Option<&str>, ts: i64) {
    d.create_input_topic::<String, Option<String>>(
        "regions",
        Serdes::string(),
        Serdes::option(Serdes::string()),
    )
    .pipe_input_with_timestamp(customer.into(), region.map(str::to_string), ts);
}

fn order(d: &TopologyTestDriver, id: &str, customer: &str, ts: i64) {
    d.input_topic::<String, String>("orders")
        .pipe_input_with_timestamp(id.into(), customer.into(), ts);
}

fn read(d: &TopologyTestDriver) -> Vec<Row> {
    d.output_topic::<String, String>("out")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn row(k: &str, v: &str, ts: i64) -> Row {
    (k.into(), v.into(), ts)
}

#[test]
fn inner_join_looks_up_the_selected_key_and_drops_misses() {
    let b = StreamsBuilder::new();
    let g = regions(&b);
    orders(&b)
        .join_global(
            &g,
            |_id, customer| customer.clone(),
            |customer, region| format!("{customer}@{region}"),
            Named::as_("enrich"),
        )
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();

    order(&d, "o1", "alice", 1); // no region yet: dropped
    region(&d, "alice", Some("eu"), 10); // global updates emit nothing
    assert!(read(&d).is_empty());
    order(&d, "o2", "alice", 5); // out of order w.r.t. the table: the stream's time is kept
    region(&d, "alice", Some("us"), 11);
    order(&d, "o3", "alice", 12);
    order(&d, "o4", "bob", 13); // bob unknown: dropped
    region(&d, "alice", None, 14); // tombstone deletes
    order(&d, "o5", "alice", 15);
    assert_eq!(
        read(&d),
        vec![row("o2", "alice@eu", 5), row("o3", "alice@us", 12)]
    );
}

#[test]
fn left_join_joins_every_record_with_none_for_misses() {
    let b = StreamsBuilder::new();
    let g = regions(&b);
    orders(&b)
        .left_join_global(
            &g,
            |_id, customer| customer.clone(),
            |customer, region| format!("{customer}@{}", region.map_or("?", String::as_str)),
            Named::generated(),
        )
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();

    order(&d, "o1", "alice", 1);
    region(&d, "alice", Some("eu"), 2);
    order(&d, "o2", "alice", 3);
    region(&d, "alice", None, 4);
    region(&d, "ghost", None, 5); // tombstone for an absent key: nothing changes
    order(&d, "o3", "alice", 6);
    assert_eq!(
        read(&d),
        vec![
            row("o1", "alice@?", 1),
            row("o2", "alice@eu", 3),
            row("o3", "alice@?", 6)
        ]
    );
}

#[test]
fn the_global_store_is_queryable_with_timestamps_and_not_change_logged() {
    let b = StreamsBuilder::new();
    let g = regions(&b);
    assert_eq!(g.queryable_store_name(), "regions-store");
    orders(&b)
        .join_global(&g, |_k, v| v.clone(), |_v, r| r.clone(), Named::generated())
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    region(&d, "alice", Some("eu"), 7);
    region(&d, "bob", Some("us"), 8);
    region(&d, "bob", None, 9);
    let store = d
        .key_value_store::<String, ValueAndTimestamp<String>>("regions-store")
        .expect("the global store is visible to the driver");
    assert_eq!(
        store.all().unwrap(),
        vec![(
            "alice".to_string(),
            ValueAndTimestamp::make("eu".to_string(), 7)
        )]
    );
    assert!(d.state_store_names().contains(&"regions-store".to_string()));
    // The topic is the store's changelog: nothing else is written.
    assert!(
        d.produced_topic_names().is_empty(),
        "{:?}",
        d.produced_topic_names()
    );
}

#[test]
fn a_rekeyed_stream_joins_without_repartitioning() {
    let b = StreamsBuilder::new();
    let g = regions(&b);
    orders(&b)
        .select_key(|_id, customer| customer.to_uppercase())
        .join_global(
            &g,
            |_k, customer| customer.clone(),
            |c, r| format!("{c}@{r}"),
            Named::generated(),
        )
        .to("out", Produced::default());
    let topology = b.build().unwrap();
    let p = topology.build(Some("app")).unwrap();
    assert!(p.internal_topics().is_empty(), "{:?}", p.internal_topics());
    assert!(p.copartition_groups().is_empty());
    let d = TopologyTestDriver::new(topology).unwrap();
    region(&d, "alice", Some("eu"), 1);
    order(&d, "o1", "alice", 2);
    assert_eq!(read(&d), vec![row("ALICE", "alice@eu", 2)]);
    assert!(
        !d.produced_topic_names()
            .iter()
            .any(|t| t.contains("repartition"))
    );
}

#[test]
fn global_topics_are_not_copartitioned_with_the_stream() {
    let b = StreamsBuilder::new();
    let g = regions(&b);
    orders(&b)
        .join_global(&g, |_k, v| v.clone(), |_v, r| r.clone(), Named::generated())
        .to("out", Produced::default());
    let p = b.build().unwrap().build(Some("app")).unwrap();
    let counts = |t: &str| match t {
        "orders" => Some(4),
        "regions" => Some(1),
        _ => None,
    };
    assert!(p.validate_copartitioning(counts).is_ok());
    assert_eq!(p.global_source_topics(), vec!["regions".to_string()]);
    assert_eq!(p.subtopology_for_topic("regions"), None);
}

#[test]
fn describe_shows_the_global_store_apart_from_the_tasks() {
    let b = StreamsBuilder::new();
    let g = b.global_table::<String, String>(
        "regions",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::default(),
    );
    orders(&b)
        .join_global(&g, |_k, v| v.clone(), |_v, r| r.clone(), Named::generated())
        .to("out", Produced::default());
    let d = b.build().unwrap().describe().unwrap();
    assert_eq!(d.subtopologies.len(), 1);
    let text = d.to_string();
    assert!(
        text.contains("Sub-topology: 1 for global store (will not generate tasks)"),
        "{text}"
    );
    assert!(
        text.contains("Source: KSTREAM-SOURCE-0000000001 (topics: [regions])"),
        "{text}"
    );
    assert!(
        text.contains(
            "Processor: KTABLE-SOURCE-0000000002 (stores: [regions-STATE-STORE-0000000000])"
        ),
        "{text}"
    );
    assert!(
        text.contains("Processor: KSTREAM-JOIN-0000000004 (stores: [])"),
        "{text}"
    );
}

#[test]
fn output_written_to_the_global_topic_updates_the_global_store() {
    let b = StreamsBuilder::new();
    let g = regions(&b);
    b.stream::<String, String>("moves", Consumed::with(Serdes::string(), Serdes::string()))
        .map_values(|v| Some(v.clone()))
        .to(
            "regions",
            Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
        );
    orders(&b)
        .join_global(
            &g,
            |_k, v| v.clone(),
            |c, r| format!("{c}@{r}"),
            Named::generated(),
        )
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    d.input_topic::<String, String>("moves")
        .pipe_input_with_timestamp("alice".into(), "apac".into(), 1);
    order(&d, "o1", "alice", 2);
    assert_eq!(read(&d), vec![row("o1", "alice@apac", 2)]);
}
