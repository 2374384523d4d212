//! Windowed aggregations through the TopologyTestDriver: tumbling and hopping windows, grace,
//! late records, window boundaries, the window store.

use std::sync::Arc;
use std::time::Duration;

use kstreams_core::Serdes;
use kstreams_dsl::{
    Consumed, Grouped, Materialized, Produced, StoreType, StreamsBuilder, TimeWindowedSerde,
    TimeWindows, ValueAndTimestamp, Window, Windowed, WindowedSerde,
};
use kstreams_test_driver::TopologyTestDriver;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(key, window start, window end, count, timestamp)` per output record.
type Row = (String, i64, i64, Option<i64>, i64);

fn windowed_counts(windows: TimeWindows, store_type: StoreType) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(windows)
        .count(Materialized::as_("win-counts").with_store_type(store_type))
        .to_stream()
        .to("out", Produced::default());
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

fn read(d: &TopologyTestDriver) -> Vec<Row> {
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

fn row(k: &str, start: i64, end: i64, n: i64, ts: i64) -> Row {
    (k.into(), start, end, Some(n), ts)
}

fn pipe(d: &TopologyTestDriver, records: &[(&str, i64)]) {
    let i = d.input_topic::<String, String>("in");
    for (k, ts) in records {
        i.pipe_input_with_timestamp(k.to_string(), "v".into(), *ts);
    }
}

#[test]
fn tumbling_counts_with_grace_drop_late_records() {
    for store_type in [StoreType::RocksDb, StoreType::InMemory] {
        let d = windowed_counts(TimeWindows::of_size_and_grace(ms(10), ms(5)), store_type);
        pipe(
            &d,
            &[
                ("a", 1),
                ("a", 9),  // same window [0,10)
                ("a", 10), // boundary: next window [10,20)
                ("a", 12),
                ("a", 3),  // out of order, stream time 12, close 7 < end 10: accepted
                ("b", 20), // stream time 20, close 15: [0,10) and... [10,20) closes at 20+
                ("a", 8),  // [0,10) end 10 <= 15: dropped
                ("a", 14), // [10,20) end 20 > 15: accepted
                ("c", 26), // stream time 26, close 21
                ("a", 19), // [10,20) end 20 <= 21: dropped
            ],
        );
        assert_eq!(
            read(&d),
            vec![
                row("a", 0, 10, 1, 1),
                row("a", 0, 10, 2, 9),
                row("a", 10, 20, 1, 10),
                row("a", 10, 20, 2, 12),
                row("a", 0, 10, 3, 9), // the window keeps its max timestamp
                row("b", 20, 30, 1, 20),
                row("a", 10, 20, 3, 14),
                row("c", 20, 30, 1, 26),
            ],
            "{store_type:?}"
        );
        assert_eq!(d.dropped_records(), 2, "the two late records are counted");
        let store = d.window_store::<String, i64>("win-counts").unwrap();
        let counts = store.fetch_range(&"a".to_string(), 0, 100).unwrap();
        assert_eq!(counts, vec![(0, 3), (10, 3)]);
        assert_eq!(store.fetch(&"b".to_string(), 20).unwrap(), Some(1));
        assert_eq!(store.fetch(&"b".to_string(), 10).unwrap(), None);
        assert_eq!(
            store.fetch_all(10, 10).unwrap(),
            vec![("a".to_string(), 10, 3)]
        );
        assert_eq!(store.all().unwrap().len(), 4);
        // With the timestamps: the latest record's of each window.
        let stamped = d
            .window_store::<String, ValueAndTimestamp<i64>>("win-counts")
            .unwrap();
        assert_eq!(
            stamped.fetch(&"a".to_string(), 10).unwrap(),
            Some(ValueAndTimestamp::make(3, 14))
        );
    }
}

#[test]
fn no_grace_closes_a_window_at_its_end() {
    let d = windowed_counts(
        TimeWindows::of_size_with_no_grace(ms(10)),
        StoreType::InMemory,
    );
    pipe(&d, &[("a", 5), ("a", 10), ("a", 9)]); // 9 is late: [0,10) closed at stream time 10
    assert_eq!(
        read(&d),
        vec![row("a", 0, 10, 1, 5), row("a", 10, 20, 1, 10)]
    );
    assert_eq!(d.dropped_records(), 1);
}

#[test]
fn hopping_windows_count_a_record_in_every_window_containing_it() {
    let d = windowed_counts(
        TimeWindows::of_size_and_grace(ms(10), ms(100)).advance_by(ms(5)),
        StoreType::InMemory,
    );
    pipe(&d, &[("a", 7), ("a", 12)]);
    assert_eq!(
        read(&d),
        vec![
            row("a", 0, 10, 1, 7),
            row("a", 5, 15, 1, 7),
            row("a", 5, 15, 2, 12),
            row("a", 10, 20, 1, 12),
        ]
    );
}

#[test]
fn windowed_aggregate_and_reduce_after_rekeying() {
    let b = StreamsBuilder::new();
    let words =
        b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()));
    let grouped = words
        .group_by(|_k, v| v.clone(), Grouped::as_("by-word"))
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(100)));
    grouped
        .aggregate(
            String::new,
            |_k, v, agg| format!("{agg}{}", v.len()),
            Materialized::as_("agg"),
        )
        .to_stream()
        .map(|wk, v| {
            (
                format!("{}@{}", wk.key, wk.window.start),
                v.clone().unwrap_or_default(),
            )
        })
        .to("agg-out", Produced::default());
    grouped
        .reduce(|a, v| format!("{a}|{v}"), Materialized::as_("red"))
        .to_stream()
        .map(|wk, v| {
            (
                format!("{}@{}", wk.key, wk.window.start),
                v.clone().unwrap_or_default(),
            )
        })
        .to("red-out", Produced::default());
    let t = b.build().unwrap();
    assert_eq!(
        t.build(Some("app")).unwrap().internal_topics(),
        &["app-by-word-repartition".to_string()]
    );
    let d = TopologyTestDriver::new(t).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("1".into(), "ab".into(), 50);
    i.pipe_input_with_timestamp("2".into(), "ab".into(), 150);
    i.pipe_input_with_timestamp("3".into(), "ab".into(), 160);
    let agg: Vec<_> = d
        .output_topic::<String, String>("agg-out")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(
        agg,
        vec![
            ("ab@0".to_string(), "2".to_string(), 50),
            ("ab@100".to_string(), "2".to_string(), 150),
            ("ab@100".to_string(), "22".to_string(), 160),
        ]
    );
    let red = d
        .output_topic::<String, String>("red-out")
        .read_values_to_list();
    assert_eq!(red, vec!["ab", "ab", "ab|ab"]);
}

#[test]
fn windowed_serde_keys_compare_by_key_and_window() {
    let a = Windowed::new("k".to_string(), Window::new(0, 10));
    let b = Windowed::new("k".to_string(), Window::new(10, 20));
    assert!(a < b);
}

#[test]
fn suppress_until_window_closes_emits_one_final_result_per_window() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("win-counts"))
        .suppress(kstreams_dsl::Suppressed::until_window_closes().with_name("final"))
        .to_stream()
        .to("out", Produced::default());
    let t = b.build().unwrap();
    let desc = format!("{}", t.describe().unwrap());
    assert!(
        desc.contains("Processor: final (stores: [final-store])"),
        "{desc}"
    );
    let d = TopologyTestDriver::new(t).unwrap();
    pipe(&d, &[("a", 1), ("a", 4), ("b", 12)]);
    assert!(read(&d).is_empty(), "nothing closed yet");
    pipe(&d, &[("a", 16)]); // stream time 16 - grace 5 = 11 >= 10: [0,10) closes
    assert_eq!(read(&d), vec![row("a", 0, 10, 2, 4)]);
    pipe(&d, &[("a", 3)]); // late: dropped upstream, nothing emitted
    assert!(read(&d).is_empty());
    pipe(&d, &[("b", 24)]); // close 19 < 20: [10,20) still open
    assert!(read(&d).is_empty());
    pipe(&d, &[("c", 30)]); // close 25: [10,20) windows close, in buffer order
    assert_eq!(
        read(&d),
        vec![row("b", 10, 20, 1, 12), row("a", 10, 20, 1, 16)]
    );
}

#[test]
fn suppress_needs_a_windowed_aggregation() {
    let b = StreamsBuilder::new();
    let counts = b
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .map(|k, v| (Windowed::new(k.clone(), Window::new(0, 1)), v.clone()))
        .group_by_key(Grouped::with(
            Arc::new(WindowedSerde::new(Serdes::string())),
            Serdes::string(),
        ))
        .count(Materialized::as_("c"));
    counts.suppress(kstreams_dsl::Suppressed::until_window_closes());
    let err = b.build().err().expect("must fail").to_string();
    assert!(err.contains("windowed aggregation"), "{err}");
}

/// A windowed count (windows of 10 ms with `grace_ms`) suppressed until its windows close,
/// with `buffer`, into `out`.
fn bounded_final_counts(
    grace_ms: u64,
    buffer: kstreams_dsl::BufferConfig,
) -> Result<kstreams_core::Topology, kstreams_core::TopologyError> {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(grace_ms)))
        .count(Materialized::as_("win-counts"))
        .suppress(kstreams_dsl::Suppressed::until_window_closes().with_buffer(buffer))
        .to_stream()
        .to("out", Produced::default());
    b.build()
}

#[test]
fn a_bounded_suppress_buffer_stops_processing_when_full() {
    let strict = kstreams_dsl::BufferConfig::max_records(2).shut_down_when_full();
    let d = TopologyTestDriver::new(bounded_final_counts(100, strict).unwrap()).unwrap();
    // Two open windows, updated again and again: the buffer holds two, and stays at two.
    pipe(&d, &[("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)]);
    let input = d.input_topic::<String, String>("in");
    // A third window does not fit: a fatal error, not a silently dropped or early result.
    let err = input
        .try_pipe_record(kstreams_core::Record::new(
            "c".to_string(),
            "v".to_string(),
            6,
        ))
        .unwrap_err();
    assert!(
        matches!(&err, kstreams_core::StreamsError::Fatal(m) if m.contains("is full")),
        "{err}"
    );
    assert!(read(&d).is_empty());
    // A buffer that would emit early cannot hold final results back.
    let err = bounded_final_counts(100, kstreams_dsl::BufferConfig::max_records(2))
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("shut_down_when_full"), "{err}");
    // Emitting frees the buffer: once [0,10) closes, new windows fit again.
    let d = TopologyTestDriver::new(bounded_final_counts(0, strict).unwrap()).unwrap();
    pipe(
        &d,
        &[
            ("a", 1),
            ("b", 2),
            ("a", 12),
            ("b", 13),
            ("a", 24),
            ("b", 25),
        ],
    );
    assert_eq!(
        read(&d),
        vec![
            row("a", 0, 10, 1, 1),
            row("b", 0, 10, 1, 2),
            row("a", 10, 20, 1, 12),
            row("b", 10, 20, 1, 13)
        ]
    );
}
