//! Session-windowed aggregations through the TopologyTestDriver: session creation, merges
//! (with deletes of the merged sessions), grace, late records, suppress.

use std::sync::Arc;
use std::time::Duration;

use kstreams_core::Serdes;
use kstreams_dsl::{
    Consumed, Grouped, Materialized, Produced, SessionWindowedSerde, SessionWindows, StoreType,
    StreamsBuilder, Suppressed, Windowed,
};
use kstreams_test_driver::TopologyTestDriver;

/// `(key, session start, session end, value, timestamp)` per output record of topic `out`.
pub(crate) type Row = (String, i64, i64, Option<i64>, i64);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn read(d: &TopologyTestDriver) -> Vec<Row> {
    d.create_output_topic::<Windowed<String>, Option<i64>>(
        "out",
        Arc::new(SessionWindowedSerde::new(Serdes::string())),
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

fn pipe(d: &TopologyTestDriver, records: &[(&str, i64)]) {
    let i = d.input_topic::<String, String>("in");
    for (k, ts) in records {
        i.pipe_input_with_timestamp(k.to_string(), "v".into(), *ts);
    }
}

fn row(k: &str, s: i64, e: i64, n: Option<i64>, ts: i64) -> Row {
    (k.into(), s, e, n, ts)
}

fn session_counts(suppress: bool, store_type: StoreType) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    let counts = b
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(10)))
        .count(Materialized::as_("sessions").with_store_type(store_type));
    let counts = if suppress {
        counts.suppress(Suppressed::until_window_closes())
    } else {
        counts
    };
    counts.to_stream().to("out", Produced::default());
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

#[test]
fn sessions_grow_merge_and_drop_late_records() {
    for store_type in [StoreType::RocksDb, StoreType::InMemory] {
        let d = session_counts(false, store_type);
        pipe(
            &d,
            &[
                ("a", 0),
                ("a", 5),  // within the gap: [0,5]
                ("a", 30), // new session
                ("a", 18), // out of order, within grace: new session [18,18]
                ("a", 24), // bridges [18,18] and [30,30]
                ("b", 1),  // stream time 30 - grace 10 - gap 10 = 10 > 1: dropped
            ],
        );
        assert_eq!(
            read(&d),
            vec![
                row("a", 0, 0, Some(1), 0),
                row("a", 0, 0, None, 0),
                row("a", 0, 5, Some(2), 5),
                row("a", 30, 30, Some(1), 30),
                row("a", 18, 18, Some(1), 18),
                row("a", 18, 18, None, 18),
                row("a", 30, 30, None, 30),
                row("a", 18, 30, Some(3), 30),
            ],
            "{store_type:?}"
        );
        let store = d.session_store::<String, i64>("sessions").unwrap();
        let sessions: Vec<(i64, i64, i64)> = store
            .fetch(&"a".to_string())
            .unwrap()
            .into_iter()
            .map(|(w, n)| (w.start, w.end, n))
            .collect();
        // [0,5] is past the store's retention (gap + grace = 20 behind stream time 30).
        assert_eq!(sessions, vec![(18, 30, 3)]);
        assert_eq!(d.dropped_records(), 1, "b@1 is counted");
        let found = store.find_sessions(&"a".to_string(), 25, 30).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            store.fetch_session(&"a".to_string(), found[0].0).unwrap(),
            Some(3)
        );
        assert!(
            store
                .find_sessions(&"a".to_string(), 31, 40)
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn suppressed_sessions_emit_once_after_gap_and_grace() {
    let d = session_counts(true, StoreType::InMemory);
    pipe(&d, &[("a", 0), ("a", 5), ("b", 20)]);
    assert!(read(&d).is_empty(), "[0,5] closes at 5 + 10 + 10");
    pipe(&d, &[("b", 25)]);
    assert_eq!(read(&d), vec![row("a", 0, 5, Some(2), 5)]);
}

#[test]
fn session_reduce_and_aggregate_merge_aggregates() {
    let b = StreamsBuilder::new();
    let sessions = b
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(10)));
    sessions
        .reduce(|a, v| format!("{a}{v}"), Materialized::as_("reduced"))
        .to_stream()
        .filter(|_k, v| v.is_some())
        .map(|k, v| {
            (
                format!("{}@{}-{}", k.key, k.window.start, k.window.end),
                v.clone().unwrap_or_default(),
            )
        })
        .to("reduced", Produced::default());
    sessions
        .aggregate(
            || 100i64,
            |_k, v: &String, agg| agg + v.len() as i64,
            |_k, a, b| a + b - 100,
            Materialized::as_("agg"),
        )
        .to_stream()
        .filter(|_k, v| v.is_some())
        .map(|k, v| {
            (
                format!("{}@{}-{}", k.key, k.window.start, k.window.end),
                v.unwrap_or_default(),
            )
        })
        .to("agg", Produced::with(Serdes::string(), Serdes::i64()));
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("k".into(), "x".into(), 0);
    i.pipe_input_with_timestamp("k".into(), "yy".into(), 20);
    i.pipe_input_with_timestamp("k".into(), "zzz".into(), 10); // bridges both (within grace)
    let reduced = d
        .output_topic::<String, String>("reduced")
        .read_key_values_to_list();
    assert_eq!(
        reduced,
        vec![
            ("k@0-0".to_string(), "x".to_string()),
            ("k@20-20".to_string(), "yy".to_string()),
            ("k@0-20".to_string(), "xyyzzz".to_string()),
        ]
    );
    let agg = d.output_topic::<String, i64>("agg").read_values_to_list();
    assert_eq!(agg, vec![101, 102, 106]);
}

#[test]
fn without_grace_a_session_past_its_gap_is_closed_and_not_merged() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .count(Materialized::as_("s"))
        .to_stream()
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    // Stream time 20 closes [0,0] (0 + gap 10 < 20): the record at 10 starts a new session
    // merged only with [20,20].
    pipe(&d, &[("k", 0), ("k", 20), ("k", 10), ("k", 5)]);
    assert_eq!(
        read(&d),
        vec![
            row("k", 0, 0, Some(1), 0),
            row("k", 20, 20, Some(1), 20),
            row("k", 20, 20, None, 20),
            row("k", 10, 20, Some(2), 20),
            // 5 would merge into [5,20], whose end 20 is not closed: accepted.
            row("k", 10, 20, None, 20),
            row("k", 5, 20, Some(3), 20),
        ]
    );
}
