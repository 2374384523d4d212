//! `suppress(until_time_limit)` through the TopologyTestDriver: at most one update per key and
//! period of stream time, the latest value with the timestamp of its record, deletes held
//! back like updates, old values kept for downstream re-aggregation, and bounded buffers that
//! emit early or stop.

use std::time::Duration;

use kstreams_core::{Record, Serdes, StreamsError};
use kstreams_dsl::{
    BufferConfig, Consumed, Grouped, Materialized, Produced, StreamsBuilder, Suppressed,
};
use kstreams_test_driver::TopologyTestDriver;

use crate::ktable::pipe;

fn read(d: &TopologyTestDriver, topic: &str) -> crate::ktable::Out<i64> {
    crate::ktable::read::<i64>(d, topic)
}

/// The `users` table through `suppressed` to `out`.
fn suppressed_table(suppressed: Suppressed) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    b.table::<String, i64>(
        "users",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::as_("users-store"),
    )
    .suppress(suppressed)
    .to_stream()
    .to("out", Produced::default());
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn each_key_emits_its_latest_update_once_per_period() {
    let d = suppressed_table(Suppressed::until_time_limit(
        ms(10),
        BufferConfig::unbounded(),
    ));
    pipe(
        &d,
        &[
            ("a", Some(1), 0),
            ("a", Some(2), 3),
            ("b", Some(7), 5),
            ("a", Some(3), 9),
        ],
    );
    assert!(read(&d, "out").is_empty(), "nothing is 10 ms old yet");
    // Stream time 10: a (held since 0) is due, with its latest value and timestamp.
    pipe(&d, &[("c", Some(1), 10)]);
    assert_eq!(read(&d, "out"), vec![("a".into(), Some(3), 9)]);
    // a comes back: held again from 12; b (since 5) goes at 15, c (since 10) at 20.
    pipe(&d, &[("a", Some(4), 12), ("x", Some(0), 15)]);
    assert_eq!(read(&d, "out"), vec![("b".into(), Some(7), 5)]);
    // A delete is held back like an update; the key's last state wins (c, created and
    // deleted while held back, goes out as a delete, as in Kafka Streams).
    pipe(&d, &[("c", None, 16), ("x", Some(1), 22)]);
    assert_eq!(
        read(&d, "out"),
        vec![("c".into(), None, 16), ("a".into(), Some(4), 12)]
    );
}

#[test]
fn a_zero_limit_emits_every_update_at_once() {
    let d = suppressed_table(Suppressed::until_time_limit(
        Duration::ZERO,
        BufferConfig::unbounded(),
    ));
    pipe(
        &d,
        &[("a", Some(1), 0), ("a", Some(2), 0), ("b", Some(5), 1)],
    );
    assert_eq!(
        read(&d, "out"),
        vec![
            ("a".into(), Some(1), 0),
            ("a".into(), Some(2), 0),
            ("b".into(), Some(5), 1)
        ]
    );
}

/// Users move between regions; the rate-limited table feeds a count per region, which must
/// subtract from the region a user left: the emitted change carries the value from before the
/// first held-back update.
#[test]
fn downstream_re_aggregation_sees_the_value_from_before_the_held_back_updates() {
    let b = StreamsBuilder::new();
    b.table::<String, i64>(
        "users",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::as_("users-store"),
    )
    .suppress(Suppressed::until_time_limit(
        ms(10),
        BufferConfig::unbounded(),
    ))
    .group_by(
        |_user, region| (region.to_string(), *region),
        Grouped::with(Serdes::string(), Serdes::i64()).with_name("by-region"),
    )
    .count(Materialized::as_("per-region"))
    .to_stream()
    .to("counts", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(
        &d,
        &[
            ("u1", Some(1), 0),
            ("u2", Some(1), 1),
            ("tick", Some(9), 20),
        ],
    );
    // u1 moves 1 -> 2 -> 3 within one period: region 1 loses it, region 3 gains it, and
    // region 2 never sees it.
    pipe(
        &d,
        &[
            ("u1", Some(2), 21),
            ("u1", Some(3), 22),
            ("tick", Some(9), 40),
        ],
    );
    let counts = d.key_value_store::<String, i64>("per-region").unwrap();
    assert_eq!(counts.get(&"1".into()).unwrap(), Some(1), "u2 only");
    assert_eq!(counts.get(&"3".into()).unwrap(), Some(1), "u1");
    assert_eq!(
        counts.get(&"2".into()).unwrap(),
        None,
        "u1 passed through unseen"
    );
}

#[test]
fn a_full_buffer_emits_its_oldest_keys_early_or_stops() {
    let early = suppressed_table(Suppressed::until_time_limit(
        ms(100),
        BufferConfig::max_records(2),
    ));
    pipe(
        &early,
        &[("a", Some(1), 0), ("b", Some(2), 1), ("a", Some(3), 2)],
    );
    assert!(read(&early, "out").is_empty(), "two keys fit");
    pipe(&early, &[("c", Some(4), 3)]);
    assert_eq!(
        read(&early, "out"),
        vec![("a".into(), Some(3), 2)],
        "the oldest goes early"
    );
    pipe(&early, &[("d", Some(5), 4)]);
    assert_eq!(read(&early, "out"), vec![("b".into(), Some(2), 1)]);

    let strict = suppressed_table(Suppressed::until_time_limit(
        ms(100),
        BufferConfig::max_records(2).shut_down_when_full(),
    ));
    pipe(&strict, &[("a", Some(1), 0), ("b", Some(2), 1)]);
    let input = strict.create_input_topic::<String, Option<i64>>(
        "users",
        Serdes::string(),
        Serdes::option(Serdes::i64()),
    );
    let err = input
        .try_pipe_record(Record::new("c".to_string(), Some(3), 2))
        .unwrap_err();
    assert!(
        matches!(&err, StreamsError::Fatal(m) if m.contains("is full")),
        "{err}"
    );
}

#[test]
fn the_buffer_is_change_logged_and_restores() {
    let d = suppressed_table(
        Suppressed::until_time_limit(ms(10), BufferConfig::unbounded()).with_name("limit"),
    );
    pipe(&d, &[("a", Some(1), 0), ("b", Some(2), 3)]);
    assert!(read(&d, "out").is_empty());
    let changelog: Vec<(Vec<u8>, Option<Vec<u8>>)> = d
        .create_output_topic(
            "topology-test-driver-limit-store-changelog",
            Serdes::bytes(),
            Serdes::option(Serdes::bytes()),
        )
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    assert_eq!(changelog.len(), 2, "one record per held-back key");

    // A new instance restored from that changelog emits what the first one held back.
    drop(d);
    let d2 = suppressed_table(
        Suppressed::until_time_limit(ms(10), BufferConfig::unbounded()).with_name("limit"),
    );
    d2.restore_state_store("limit-store", changelog).unwrap();
    pipe(&d2, &[("z", Some(0), 13)]);
    assert_eq!(
        read(&d2, "out"),
        vec![("a".into(), Some(1), 0), ("b".into(), Some(2), 3)]
    );
}
