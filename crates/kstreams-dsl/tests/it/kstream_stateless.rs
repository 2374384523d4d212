//! Stateless KStream operators through the TopologyTestDriver: values, keys, timestamps,
//! headers and node names.

use std::sync::{Arc, Mutex};

use kstreams_core::{Headers, Record, Serdes};
use kstreams_dsl::{Branched, Consumed, Named, Produced, StreamsBuilder};
use kstreams_test_driver::TopologyTestDriver;

fn string_stream(b: &StreamsBuilder, topic: &str) -> kstreams_dsl::KStream<String, String> {
    b.stream::<String, String>(topic, Consumed::with(Serdes::string(), Serdes::string()))
}

fn kv(k: &str, v: &str, ts: i64) -> (String, String, i64) {
    (k.to_string(), v.to_string(), ts)
}

fn read(driver: &TopologyTestDriver, topic: &str) -> Vec<(String, String, i64)> {
    driver
        .output_topic::<String, String>(topic)
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

#[test]
fn generated_names_follow_kafka_streams() {
    let b = StreamsBuilder::new();
    let s = string_stream(&b, "in");
    let f = s.filter(|_, _| true);
    let m = f.map_values(|v| v.len() as i64);
    m.to("out", Produced::with(Serdes::string(), Serdes::i64()));
    assert_eq!(s.node_name(), "KSTREAM-SOURCE-0000000000");
    assert_eq!(f.node_name(), "KSTREAM-FILTER-0000000001");
    assert_eq!(m.node_name(), "KSTREAM-MAPVALUES-0000000002");
    let t = b.build().unwrap();
    assert_eq!(
        t.node_names(),
        vec![
            "KSTREAM-SOURCE-0000000000",
            "KSTREAM-FILTER-0000000001",
            "KSTREAM-MAPVALUES-0000000002",
            "KSTREAM-SINK-0000000003"
        ]
    );
}

#[test]
fn named_overrides_the_generated_name() {
    let b = StreamsBuilder::new();
    let s = b.stream::<String, String>(
        "in",
        Consumed::with(Serdes::string(), Serdes::string()).with_name("my-source"),
    );
    let f = s.filter_named(|_, _| true, Named::as_("keep-all"));
    f.to("out", Produced::default().with_name("my-sink"));
    let t = b.build().unwrap();
    assert_eq!(t.node_names(), vec!["my-source", "keep-all", "my-sink"]);
}

#[test]
fn filter_and_filter_not_keep_timestamps_and_headers() {
    let b = StreamsBuilder::new();
    let s = string_stream(&b, "in");
    s.filter(|_, v| v.starts_with('a'))
        .to("yes", Produced::default());
    s.filter_not(|_, v| v.starts_with('a'))
        .to("no", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_record(
        Record::new("k1".into(), "apple".into(), 10).with_headers(Headers::new().with("h", "x")),
    );
    input.pipe_input_with_timestamp("k2".into(), "berry".into(), 5); // out of order
    input.pipe_input_with_timestamp("k3".into(), "avocado".into(), 20);
    let yes = d
        .output_topic::<String, String>("yes")
        .read_records_to_list();
    assert_eq!(yes.len(), 2);
    assert_eq!((yes[0].value.as_str(), yes[0].timestamp), ("apple", 10));
    assert_eq!(yes[0].headers.last_value("h"), Some(&b"x"[..]));
    assert_eq!((yes[1].value.as_str(), yes[1].timestamp), ("avocado", 20));
    assert_eq!(read(&d, "no"), vec![kv("k2", "berry", 5)]);
}

#[test]
fn map_select_key_and_map_values() {
    let b = StreamsBuilder::new();
    let s = string_stream(&b, "in");
    s.map(|k, v| (v.clone(), k.len() as i64))
        .to("mapped", Produced::with(Serdes::string(), Serdes::i64()));
    s.select_key(|_, v| v.to_uppercase())
        .to("rekeyed", Produced::default());
    s.map_values_with_key(|k, v| format!("{k}:{v}"))
        .to("values", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("key".into(), "v".into(), 7);
    input.pipe_input_with_timestamp("k".into(), "w".into(), 3);
    let mapped = d
        .output_topic::<String, i64>("mapped")
        .read_records_to_list();
    assert_eq!(
        mapped
            .iter()
            .map(|r| (r.key.as_str(), r.value, r.timestamp))
            .collect::<Vec<_>>(),
        vec![("v", 3, 7), ("w", 1, 3)]
    );
    assert_eq!(read(&d, "rekeyed"), vec![kv("V", "v", 7), kv("W", "w", 3)]);
    assert_eq!(
        read(&d, "values"),
        vec![kv("key", "key:v", 7), kv("k", "k:w", 3)]
    );
}

#[test]
fn flat_map_and_flat_map_values_emit_zero_or_more_at_the_input_timestamp() {
    let b = StreamsBuilder::new();
    let s = string_stream(&b, "in");
    s.flat_map_values(|v| {
        v.split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
    .to("words", Produced::default());
    s.flat_map(|k, v| {
        v.chars()
            .map(|c| (c.to_string(), k.clone()))
            .collect::<Vec<_>>()
    })
    .to("chars", Produced::with(Serdes::string(), Serdes::string()));
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("k".into(), "a b".into(), 4);
    input.pipe_input_with_timestamp("e".into(), "".into(), 9); // emits nothing
    assert_eq!(read(&d, "words"), vec![kv("k", "a", 4), kv("k", "b", 4)]);
    assert_eq!(
        read(&d, "chars"),
        vec![kv("a", "k", 4), kv(" ", "k", 4), kv("b", "k", 4)]
    );
}

#[test]
fn flat_map_values_gives_every_value_the_input_key_timestamp_and_headers() {
    let b = StreamsBuilder::new();
    string_stream(&b, "in")
        .flat_map_values(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_record(
        Record::new("k".into(), "x,y,z".into(), 7).with_headers(Headers::new().with("h", "v")),
    );
    let out = d
        .output_topic::<String, String>("out")
        .read_records_to_list();
    let values: Vec<&str> = out.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(values, vec!["x", "y", "z"]);
    for r in &out {
        assert_eq!((r.key.as_str(), r.timestamp), ("k", 7));
        assert_eq!(r.headers.last_value("h"), Some(&b"v"[..]));
    }
}

#[test]
fn peek_and_foreach_see_every_record() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let done: Arc<Mutex<Vec<String>>> = Arc::default();
    let b = StreamsBuilder::new();
    let (s1, s2) = (seen.clone(), done.clone());
    let p = string_stream(&b, "in").peek(move |k, _| s1.lock().unwrap().push(k.clone()));
    p.to("out", Produced::default());
    p.foreach(move |_, v| s2.lock().unwrap().push(v.clone()));
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("a".into(), "1".into(), 1);
    input.pipe_input_with_timestamp("b".into(), "2".into(), 2);
    assert_eq!(*seen.lock().unwrap(), vec!["a", "b"]);
    assert_eq!(*done.lock().unwrap(), vec!["1", "2"]);
    assert_eq!(read(&d, "out"), vec![kv("a", "1", 1), kv("b", "2", 2)]);
}

#[test]
fn split_routes_to_the_first_matching_branch_then_the_default() {
    let b = StreamsBuilder::new();
    let branches = string_stream(&b, "in")
        .split(Named::as_("split-"))
        .branch(|_, v| v.starts_with('a'), Branched::as_("a"))
        .branch(|_, v| v.len() > 3, Branched::as_("long"))
        .default_branch(Branched::unnamed());
    let mut names: Vec<_> = branches.keys().cloned().collect();
    names.sort();
    assert_eq!(names, vec!["split-0", "split-a", "split-long"]);
    branches["split-a"].to("a", Produced::default());
    branches["split-long"].to("long", Produced::default());
    branches["split-0"].to("other", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("1".into(), "abcdef".into(), 1); // a wins over long
    input.pipe_input_with_timestamp("2".into(), "bcdef".into(), 2);
    input.pipe_input_with_timestamp("3".into(), "b".into(), 3);
    assert_eq!(read(&d, "a"), vec![kv("1", "abcdef", 1)]);
    assert_eq!(read(&d, "long"), vec![kv("2", "bcdef", 2)]);
    assert_eq!(read(&d, "other"), vec![kv("3", "b", 3)]);
}

#[test]
fn split_without_default_drops_and_unnamed_branches_are_numbered() {
    let b = StreamsBuilder::new();
    let s = string_stream(&b, "in");
    let branches = s
        .split(Named::generated())
        .branch(|_, v| v == "x", Branched::unnamed())
        .no_default_branch();
    let name = "KSTREAM-BRANCH-00000000011";
    assert!(branches.contains_key(name), "{:?}", branches.keys());
    branches[name].to("x", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("1".into(), "y".into(), 1);
    input.pipe_input_with_timestamp("2".into(), "x".into(), 2);
    assert_eq!(read(&d, "x"), vec![kv("2", "x", 2)]);
}

#[test]
fn merge_interleaves_in_processing_order() {
    let b = StreamsBuilder::new();
    let a = string_stream(&b, "a");
    let c = string_stream(&b, "c");
    let m = a.merge(&c);
    assert!(m.node_name().starts_with("KSTREAM-MERGE-"));
    m.to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    d.input_topic::<String, String>("a")
        .pipe_input_with_timestamp("1".into(), "a1".into(), 5);
    d.input_topic::<String, String>("c")
        .pipe_input_with_timestamp("2".into(), "c1".into(), 1);
    d.input_topic::<String, String>("a")
        .pipe_input_with_timestamp("3".into(), "a2".into(), 6);
    assert_eq!(
        read(&d, "out"),
        vec![kv("1", "a1", 5), kv("2", "c1", 1), kv("3", "a2", 6)]
    );
}

#[test]
fn to_dynamic_topic_and_partitioner() {
    let b = StreamsBuilder::new();
    let s = string_stream(&b, "in");
    s.to_dynamic(
        |k: &String, _v: &String, _m: Option<&kstreams_core::RecordMetadata>| format!("out-{k}"),
        Produced::default(),
    );
    s.to(
        "partitioned",
        Produced::default()
            .with_stream_partitioner(|_t: &str, _k: &String, _v: &String, _n: i32| Some(0)),
    );
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("x".into(), "1".into(), 1);
    input.pipe_input_with_timestamp("y".into(), "2".into(), 2);
    assert_eq!(read(&d, "out-x"), vec![kv("x", "1", 1)]);
    assert_eq!(read(&d, "out-y"), vec![kv("y", "2", 2)]);
    assert_eq!(read(&d, "partitioned").len(), 2);
}

#[test]
fn a_missing_serde_is_a_build_error_naming_the_node() {
    let b = StreamsBuilder::new();
    #[derive(Clone)]
    struct NoSerde;
    string_stream(&b, "in")
        .map(|k, _v| (k.clone(), NoSerde))
        .to("out", Produced::default());
    let err = b.build().err().expect("must fail").to_string();
    assert!(err.contains("KSTREAM-SINK-0000000002"), "{err}");
    assert!(err.contains("serde"), "{err}");
}
