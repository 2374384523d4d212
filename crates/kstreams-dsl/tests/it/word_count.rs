//! The canonical word count in the DSL: flat_map_values → group_by(word) → count →
//! to_stream → to.

use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_test_driver::TopologyTestDriver;

fn word_count() -> kstreams_core::Topology {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(
        "text-input",
        Consumed::with(Serdes::string(), Serdes::string()),
    )
    .flat_map_values(|line| {
        line.to_lowercase()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
    .group_by(|_k, word| word.clone(), Grouped::default())
    .count(Materialized::as_("counts-store"))
    .to_stream()
    .to(
        "word-counts",
        Produced::with(Serdes::string(), Serdes::option(Serdes::i64())),
    );
    b.build().unwrap()
}

#[test]
fn counts_words_across_lines() {
    let d = TopologyTestDriver::new(word_count()).unwrap();
    let input = d.input_topic::<String, String>("text-input");
    input.pipe_input_with_timestamp("l1".into(), "Hello Kafka Streams".into(), 100);
    input.pipe_input_with_timestamp("l2".into(), "hello  streams".into(), 200);
    input.pipe_input_with_timestamp("l3".into(), "".into(), 300);
    let out: Vec<(String, Option<i64>, i64)> = d
        .output_topic::<String, Option<i64>>("word-counts")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let e = |w: &str, c: i64, ts: i64| (w.to_string(), Some(c), ts);
    assert_eq!(
        out,
        vec![
            e("hello", 1, 100),
            e("kafka", 1, 100),
            e("streams", 1, 100),
            e("hello", 2, 200),
            e("streams", 2, 200),
        ]
    );
    let store = d
        .key_value_store::<String, kstreams_dsl::ValueAndTimestamp<i64>>("counts-store")
        .unwrap();
    assert_eq!(
        store.get(&"kafka".to_string()).unwrap().map(|v| v.value),
        Some(1)
    );
    assert_eq!(store.get(&"absent".to_string()).unwrap(), None);
    assert_eq!(
        store.get(&"hello".to_string()).unwrap(),
        Some(kstreams_dsl::ValueAndTimestamp::make(2, 200))
    );
    // Asked for the values alone, the view drops the timestamps.
    let counts = d.key_value_store::<String, i64>("counts-store").unwrap();
    assert_eq!(
        counts.all().unwrap(),
        vec![
            ("hello".to_string(), 2),
            ("kafka".to_string(), 1),
            ("streams".to_string(), 2)
        ]
    );
    assert!(
        d.key_value_store::<String, String>("counts-store")
            .is_none()
    );
    assert!(d.window_store::<String, i64>("counts-store").is_none());
    assert_eq!(
        counts
            .reverse_range(None, Some(&"kafka".to_string()))
            .unwrap(),
        vec![("kafka".to_string(), 1), ("hello".to_string(), 2)]
    );
    assert_eq!(
        counts
            .prefix_scan(&"st".to_string(), &kstreams_core::Serdes::string())
            .unwrap(),
        vec![("streams".to_string(), 2)]
    );
}

#[test]
fn describe_shows_the_repartition_topic_between_two_subtopologies() {
    let desc = word_count().describe().unwrap();
    let text = format!("{desc}");
    assert!(text.contains("Sub-topology: 0"), "{text}");
    assert!(text.contains("Sub-topology: 1"), "{text}");
    assert!(text.contains("counts-store-repartition-sink"), "{text}");
    assert!(text.contains("counts-store-repartition-source"), "{text}");
    assert!(text.contains("KSTREAM-FLATMAPVALUES-0000000001"), "{text}");
    assert!(text.contains("KSTREAM-KEY-SELECT-0000000002"), "{text}");
    assert!(text.contains("KSTREAM-AGGREGATE-0000000003"), "{text}");
    assert!(text.contains("(stores: [counts-store])"), "{text}");
    assert!(text.contains("KTABLE-TOSTREAM-0000000004"), "{text}");
    assert!(text.contains("word-counts"), "{text}");
    let built = word_count().build(Some("wc")).unwrap();
    assert!(
        built
            .internal_topics()
            .contains(&"wc-counts-store-repartition".to_string())
    );
    println!("{text}");
}
