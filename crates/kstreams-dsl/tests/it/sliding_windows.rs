//! Sliding-window aggregations through the TopologyTestDriver: windows placed by records,
//! early records, out-of-order records creating and updating windows, late records.

use std::sync::Arc;
use std::time::Duration;

use kstreams_core::Serdes;
use kstreams_dsl::{
    Consumed, Grouped, Materialized, Produced, SlidingWindows, StreamsBuilder, TimeWindowedSerde,
    Windowed,
};
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

type Row = (String, i64, i64, Option<i64>, i64);

/// With `cached`, the store has a record cache and the driver does not commit: a sliding
/// aggregation still forwards every update at once, and its reads must see the cache.
fn driver(grace: u64, cached: bool) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(
            Duration::from_millis(10),
            Duration::from_millis(grace),
        ))
        .count(Materialized::as_("sliding").with_caching_enabled(cached))
        .to_stream()
        .to("out", Produced::default());
    let config = DriverConfig {
        commit_after_each_record: !cached,
        ..DriverConfig::default()
    };
    TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap()
}

fn pipe(d: &TopologyTestDriver, k: &str, ts: i64) -> Vec<Row> {
    d.input_topic::<String, String>("in")
        .pipe_input_with_timestamp(k.into(), "v".into(), ts);
    d.create_output_topic::<Windowed<String>, Option<i64>>(
        "out",
        Arc::new(TimeWindowedSerde::new(Serdes::string(), 10)),
        Serdes::option(Serdes::i64()),
    )
    .read_records_to_list()
    .into_iter()
    .map(|r| {
        (
            r.key.key,
            r.key.window.start,
            r.key.window.end,
            r.value,
            r.timestamp,
        )
    })
    .collect()
}

fn row(s: i64, e: i64, n: i64, ts: i64) -> Row {
    ("a".into(), s, e, Some(n), ts)
}

#[test]
fn windows_follow_the_records() {
    for cached in [false, true] {
        windows_follow_the_records_with(driver(20, cached));
    }
}

fn windows_follow_the_records_with(d: TopologyTestDriver) {
    // Early record: its window is clamped to [0, 10].
    assert_eq!(pipe(&d, "a", 5), vec![row(0, 10, 1, 5)]);
    // Its own window [2,12], and 5's window starting after it, [6,16], now holding 12.
    assert_eq!(
        pipe(&d, "a", 12),
        vec![row(2, 12, 2, 12), row(6, 16, 1, 12)]
    );
    // Out of order: updates every window containing 8 and creates [9,19] (holding 12).
    assert_eq!(
        pipe(&d, "a", 8),
        vec![
            row(0, 10, 2, 8),
            row(2, 12, 3, 12),
            row(6, 16, 2, 12),
            row(9, 19, 1, 12),
        ]
    );
    // Far ahead: a window of its own only.
    assert_eq!(pipe(&d, "a", 50), vec![row(40, 50, 1, 50)]);
    // Late: 8 + 10 < 50 - 20, every window holding it closed.
    assert!(pipe(&d, "a", 8).is_empty());
    assert_eq!(d.dropped_records(), 1);
    // Accepted (25 + 10 >= 50 - 20) but every window holding it ends before 30: nothing.
    assert!(pipe(&d, "a", 25).is_empty());
    // Within grace: its own window, 50's window now holding it, and its window after it.
    assert_eq!(
        pipe(&d, "a", 45),
        vec![row(35, 45, 1, 45), row(40, 50, 2, 50), row(46, 56, 1, 50)]
    );
}

#[test]
fn sliding_reduce_folds_in_timestamp_order() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by_sliding(SlidingWindows::of_time_difference_with_no_grace(
            Duration::from_millis(10),
        ))
        .reduce(|a, v| format!("{a}{v}"), Materialized::as_("r"))
        .to_stream()
        .map(|k, v| {
            (
                format!("{}-{}", k.window.start, k.window.end),
                v.clone().unwrap_or_default(),
            )
        })
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("k".into(), "a".into(), 20);
    i.pipe_input_with_timestamp("k".into(), "b".into(), 25);
    let out = d
        .output_topic::<String, String>("out")
        .read_key_values_to_list();
    assert_eq!(
        out,
        vec![
            ("10-20".to_string(), "a".to_string()),
            ("15-25".to_string(), "ab".to_string()),
            ("21-31".to_string(), "b".to_string()),
        ]
    );
}
