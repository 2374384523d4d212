//! Stream-stream windowed joins (inner, left, outer) through the TopologyTestDriver: window
//! edges, grace, late records, unmatched records emitted when their window closes.

use std::time::Duration;

use kstreams_core::Serdes;
use kstreams_dsl::{
    Consumed, JoinWindows, KStream, Produced, StoreType, StreamJoined, StreamsBuilder,
};
use kstreams_test_driver::TopologyTestDriver;

type Row = (String, String, i64);

fn windows() -> JoinWindows {
    JoinWindows::of_time_difference_and_grace(Duration::from_millis(10), Duration::from_millis(5))
}

fn streams(b: &StreamsBuilder) -> (KStream<String, String>, KStream<String, String>) {
    let s =
        |t: &str| b.stream::<String, String>(t, Consumed::with(Serdes::string(), Serdes::string()));
    (s("left"), s("right"))
}

fn show(v: Option<&String>) -> &str {
    v.map_or("null", String::as_str)
}

/// The same input for every join kind: `(side, key, value, timestamp)`.
const INPUT: &[(&str, &str, &str, i64)] = &[
    ("left", "a", "L1", 100),
    ("right", "a", "R1", 105), // joins L1 (within 10)
    ("right", "a", "R2", 120), // L1 too old
    ("left", "a", "L2", 115),  // joins R1 (edge: 115 - 10) and R2
    ("right", "b", "Rb", 200), // stream time 200
    ("left", "a", "Lx", 110),  // late: 110 + 10 + 5 < 200, dropped
    ("left", "c", "L3", 300),
    ("right", "z", "Rz", 316), // closes L3's window (300 + 10 + 5 < 316)
    ("left", "y", "Ly", 305),  // out of order, window passed but within grace
];

fn run(t: kstreams_core::Topology) -> Vec<Row> {
    let d = TopologyTestDriver::new(t).unwrap();
    let l = d.input_topic::<String, String>("left");
    let r = d.input_topic::<String, String>("right");
    for (side, k, v, ts) in INPUT {
        let topic = if *side == "left" { &l } else { &r };
        topic.pipe_input_with_timestamp(k.to_string(), v.to_string(), *ts);
    }
    assert_eq!(d.dropped_records(), 1, "Lx is late");
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
fn inner_join_within_the_window() {
    let b = StreamsBuilder::new();
    let (l, r) = streams(&b);
    l.join_stream(
        &r,
        |a, b| format!("{a}+{b}"),
        windows(),
        StreamJoined::default(),
    )
    .to("out", Produced::default());
    assert_eq!(
        run(b.build().unwrap()),
        vec![
            row("a", "L1+R1", 105),
            row("a", "L2+R1", 115),
            row("a", "L2+R2", 120),
        ]
    );
}

#[test]
fn left_join_emits_unmatched_left_records_when_their_window_closes() {
    let b = StreamsBuilder::new();
    let (l, r) = streams(&b);
    l.left_join_stream(
        &r,
        |a, b| format!("{a}+{}", show(b)),
        windows(),
        StreamJoined::default().with_store_type(StoreType::InMemory),
    )
    .to("out", Produced::default());
    assert_eq!(
        run(b.build().unwrap()),
        vec![
            // No "L1+null": R1 arrived within the window.
            row("a", "L1+R1", 105),
            row("a", "L2+R1", 115),
            row("a", "L2+R2", 120),
            row("c", "L3+null", 300), // emitted when stream time passed 315
            row("y", "Ly+null", 305), // its window already passed: emitted at once
        ]
    );
}

#[test]
fn outer_join_emits_unmatched_records_of_both_sides() {
    let b = StreamsBuilder::new();
    let (l, r) = streams(&b);
    l.outer_join_stream(
        &r,
        |a, b| format!("{}+{}", show(a), show(b)),
        windows(),
        StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string()).with_name("both"),
    )
    .to("out", Produced::default());
    let t = b.build().unwrap();
    let desc = format!("{}", t.describe().unwrap());
    assert!(desc.contains("both-this-join"), "{desc}");
    assert!(desc.contains("both-outer-shared-join-store"), "{desc}");
    assert_eq!(
        run(t),
        vec![
            row("a", "L1+R1", 105),
            row("a", "L2+R1", 115),
            row("a", "L2+R2", 120),
            row("b", "null+Rb", 200), // closed at 215 < 300
            row("c", "L3+null", 300),
            row("y", "Ly+null", 305),
        ]
    );
}

#[test]
fn asymmetric_windows_and_rekeyed_inputs_repartition() {
    let b = StreamsBuilder::new();
    let (l, r) = streams(&b);
    // Right records may be up to 5 before and 0 after the left one.
    let w = JoinWindows::of_time_difference_without_grace(Duration::ZERO)
        .before(Duration::from_millis(5));
    l.select_key(|_k, v| v[..1].to_string())
        .join_stream(
            &r,
            |a, b| format!("{a}+{b}"),
            w,
            StreamJoined::default().with_name("j"),
        )
        .to("out", Produced::default());
    let t = b.build().unwrap();
    let built = t.build(Some("app")).unwrap();
    assert_eq!(
        built.internal_topics(),
        &["app-j-left-repartition".to_string()]
    );
    let d = TopologyTestDriver::new(t).unwrap();
    let l = d.input_topic::<String, String>("left");
    let r = d.input_topic::<String, String>("right");
    r.pipe_input_with_timestamp("x".into(), "R0".into(), 10);
    l.pipe_input_with_timestamp("k".into(), "x1".into(), 15); // R0 is 5 before: joins
    l.pipe_input_with_timestamp("k".into(), "x2".into(), 16); // 6 before: no
    r.pipe_input_with_timestamp("x".into(), "R1".into(), 17); // after x2: no (after = 0)
    let out: Vec<_> = d
        .output_topic::<String, String>("out")
        .read_records_to_list();
    let out: Vec<_> = out
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(out, vec![row("x", "x1+R0", 15)]);
}
