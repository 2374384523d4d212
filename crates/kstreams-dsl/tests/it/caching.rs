//! The record cache of KTable stores: with caching, updates of a key between commits fold
//! into the latest one (forwarded on commit or on eviction, with the value forwarded before
//! as the old value); without it, or with `statestore.cache.max.bytes` 0, every update is
//! forwarded. The same for the window stores of time-windowed aggregations, per window.

use std::sync::Arc;
use std::time::Duration;

use kstreams_core::Serdes;
use kstreams_dsl::*;
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

use crate::session_windows;

type Out = Vec<(String, Option<String>, i64)>;

fn users_table(b: &StreamsBuilder, cached: bool) -> KTable<String, String> {
    let m = Materialized::as_("users").with_store_type(StoreType::InMemory);
    let m = if cached {
        m.with_caching_enabled(true)
    } else {
        m.with_caching_disabled()
    };
    b.table(
        "users",
        Consumed::with(Serdes::string(), Serdes::string()),
        m,
    )
}

fn manual_commits() -> DriverConfig {
    DriverConfig {
        commit_after_each_record: false,
        ..DriverConfig::default()
    }
}

fn read(d: &TopologyTestDriver, topic: &str) -> Out {
    d.create_output_topic(topic, Serdes::string(), Serdes::option(Serdes::string()))
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn rec(k: &str, v: Option<&str>, ts: i64) -> (String, Option<String>, i64) {
    (k.into(), v.map(Into::into), ts)
}

fn pipe_updates(d: &TopologyTestDriver) {
    let i = d.create_input_topic("users", Serdes::string(), Serdes::option(Serdes::string()));
    i.pipe_input_with_timestamp("alice".into(), Some("a".into()), 1);
    i.pipe_input_with_timestamp("alice".into(), Some("b".into()), 2);
    i.pipe_input_with_timestamp("bob".into(), Some("x".into()), 3);
    i.pipe_input_with_timestamp("alice".into(), Some("c".into()), 4);
    i.pipe_input_with_timestamp("carol".into(), Some("y".into()), 5);
    i.pipe_input_with_timestamp("carol".into(), None, 6);
}

fn source_to_stream(cached: bool, config: DriverConfig) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    users_table(&b, cached).to_stream().to(
        "out",
        Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
    );
    TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap()
}

#[test]
fn a_cached_table_forwards_only_the_latest_update_of_each_key_at_commit() {
    let d = source_to_stream(true, manual_commits());
    pipe_updates(&d);
    assert_eq!(
        read(&d, "out"),
        vec![],
        "nothing leaves the cache before a commit"
    );
    assert_eq!(
        d.key_value_store::<String, ValueAndTimestamp<String>>("users")
            .unwrap()
            .get(&"alice".to_string())
            .unwrap()
            .map(|v| v.value),
        Some("c".into()),
        "reads see the cache"
    );
    d.commit().unwrap();
    // In write order; carol was added and deleted between commits: nothing to forward.
    assert_eq!(
        read(&d, "out"),
        vec![rec("bob", Some("x"), 3), rec("alice", Some("c"), 4)]
    );
    d.commit().unwrap();
    assert_eq!(
        read(&d, "out"),
        vec![],
        "clean entries are not forwarded again"
    );
    // A delete of a forwarded key is forwarded as a tombstone at stream time.
    let i = d.create_input_topic("users", Serdes::string(), Serdes::option(Serdes::string()));
    i.pipe_input_with_timestamp("bob".into(), None, 9);
    d.commit().unwrap();
    assert_eq!(read(&d, "out"), vec![rec("bob", None, 9)]);
}

#[test]
fn without_caching_every_update_is_forwarded_at_once() {
    let d = source_to_stream(false, manual_commits());
    pipe_updates(&d);
    assert_eq!(
        read(&d, "out"),
        vec![
            rec("alice", Some("a"), 1),
            rec("alice", Some("b"), 2),
            rec("bob", Some("x"), 3),
            rec("alice", Some("c"), 4),
            rec("carol", Some("y"), 5),
            rec("carol", None, 6),
        ]
    );
}

#[test]
fn a_zero_cache_budget_forwards_every_update_of_a_cached_table() {
    let config = DriverConfig {
        cache_max_bytes: 0,
        ..manual_commits()
    };
    let d = source_to_stream(true, config);
    pipe_updates(&d);
    assert_eq!(read(&d, "out").len(), 6);
    assert_eq!(read(&d, "out"), vec![]);
}

#[test]
fn eviction_by_size_forwards_the_least_recently_written_entry() {
    // An entry of a one-letter key and value costs 3 * 1 + (8 + 1) + 96 = 108 bytes: the
    // thread's budget of 250 holds two.
    let config = DriverConfig {
        cache_max_bytes: 250,
        ..manual_commits()
    };
    let d = source_to_stream(true, config);
    let i = d.create_input_topic("users", Serdes::string(), Serdes::option(Serdes::string()));
    i.pipe_input_with_timestamp("a".into(), Some("1".into()), 1);
    i.pipe_input_with_timestamp("b".into(), Some("1".into()), 2);
    assert_eq!(read(&d, "out"), vec![]);
    i.pipe_input_with_timestamp("c".into(), Some("1".into()), 3);
    assert_eq!(read(&d, "out"), vec![rec("a", Some("1"), 1)]);
    // Re-writing "a" makes it the most recent: "b" is the one evicted.
    i.pipe_input_with_timestamp("a".into(), Some("2".into()), 4);
    assert_eq!(read(&d, "out"), vec![rec("b", Some("1"), 2)]);
    d.commit().unwrap();
    assert_eq!(
        read(&d, "out"),
        vec![rec("c", Some("1"), 3), rec("a", Some("2"), 4)]
    );
}

#[test]
fn old_values_are_the_ones_forwarded_before_so_re_aggregation_stays_right() {
    let b = StreamsBuilder::new();
    users_table(&b, true)
        .group_by(
            |_user, region: &String| (region.clone(), 1i64),
            Grouped::default(),
        )
        .count(Materialized::as_("per-region").with_store_type(StoreType::InMemory))
        .to_stream()
        .to(
            "counts",
            Produced::with(Serdes::string(), Serdes::option(Serdes::i64())),
        );
    let d = TopologyTestDriver::with_config(b.build().unwrap(), manual_commits()).unwrap();
    let counts = || -> Vec<(String, Option<i64>, i64)> {
        d.create_output_topic("counts", Serdes::string(), Serdes::option(Serdes::i64()))
            .read_records_to_list()
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect()
    };
    let i = d.create_input_topic("users", Serdes::string(), Serdes::option(Serdes::string()));
    i.pipe_input_with_timestamp("alice".into(), Some("eu".into()), 1);
    i.pipe_input_with_timestamp("alice".into(), Some("us".into()), 2);
    i.pipe_input_with_timestamp("bob".into(), Some("eu".into()), 3);
    d.commit().unwrap();
    assert_eq!(
        counts(),
        vec![("us".into(), Some(1), 2), ("eu".into(), Some(1), 3)]
    );
    // alice: us -> eu -> asia between commits. Only us -> asia is forwarded: subtracting the
    // intermediate "eu" would wrongly decrement eu.
    i.pipe_input_with_timestamp("alice".into(), Some("eu".into()), 4);
    i.pipe_input_with_timestamp("alice".into(), Some("asia".into()), 5);
    d.commit().unwrap();
    assert_eq!(
        counts(),
        vec![("us".into(), Some(0), 5), ("asia".into(), Some(1), 5)]
    );
    let per_region = d
        .key_value_store::<String, ValueAndTimestamp<i64>>("per-region")
        .unwrap();
    let eu = per_region.get(&"eu".to_string()).unwrap().map(|v| v.value);
    assert_eq!(eu, Some(1), "only bob");
}

#[test]
fn updates_caused_by_one_record_fold_into_one_output_per_key() {
    let build = |cached: bool| {
        let b = StreamsBuilder::new();
        b.stream::<String, String>("lines", Consumed::with(Serdes::string(), Serdes::string()))
            .flat_map_values(|line| line.split(' ').map(str::to_string).collect::<Vec<_>>())
            .group_by(|_k, word| word.clone(), Grouped::default())
            .count(
                Materialized::as_("words")
                    .with_store_type(StoreType::InMemory)
                    .with_caching_enabled(cached),
            )
            .to_stream()
            .to(
                "counts",
                Produced::with(Serdes::string(), Serdes::option(Serdes::i64())),
            );
        // The driver commits after each record (the default).
        TopologyTestDriver::new(b.build().unwrap()).unwrap()
    };
    let run = |d: &TopologyTestDriver| -> Vec<(String, Option<i64>, i64)> {
        let i = d.input_topic::<String, String>("lines");
        i.pipe_input_with_timestamp("l1".into(), "a a b a".into(), 10);
        d.create_output_topic("counts", Serdes::string(), Serdes::option(Serdes::i64()))
            .read_records_to_list()
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect()
    };
    assert_eq!(
        run(&build(true)),
        vec![("b".into(), Some(1), 10), ("a".into(), Some(3), 10)]
    );
    assert_eq!(
        run(&build(false)),
        vec![
            ("a".into(), Some(1), 10),
            ("a".into(), Some(2), 10),
            ("b".into(), Some(1), 10),
            ("a".into(), Some(3), 10)
        ]
    );
}

/// `with_store_cache_only`: a count forwards every update at once (as without caching), while
/// its changelog gets only the latest count of each key per commit (as with caching).
#[test]
fn a_store_cache_only_count_forwards_every_update_and_logs_the_latest_per_commit() {
    let b = StreamsBuilder::new();
    b.stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .count(Materialized::as_("clicks-per-user").with_store_cache_only())
        .to_stream()
        .to(
            "out",
            Produced::with(Serdes::string(), Serdes::option(Serdes::i64())),
        );
    let d = TopologyTestDriver::with_config(b.build().unwrap(), manual_commits()).unwrap();
    let i = d.create_input_topic("clicks", Serdes::string(), Serdes::string());
    for (k, ts) in [("alice", 1), ("alice", 2), ("bob", 3), ("alice", 4)] {
        i.pipe_input_with_timestamp(k.into(), "x".into(), ts);
    }
    let counts = |d: &TopologyTestDriver| -> Vec<(String, Option<i64>, i64)> {
        d.create_output_topic("out", Serdes::string(), Serdes::option(Serdes::i64()))
            .read_records_to_list()
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect()
    };
    let changelog = |d: &TopologyTestDriver| -> Vec<String> {
        d.create_output_topic(
            "topology-test-driver-clicks-per-user-changelog",
            Serdes::string(),
            Serdes::option(Serdes::bytes()),
        )
        .read_records_to_list()
        .into_iter()
        .map(|r| r.key)
        .collect()
    };
    assert_eq!(
        counts(&d),
        vec![
            ("alice".into(), Some(1), 1),
            ("alice".into(), Some(2), 2),
            ("bob".into(), Some(1), 3),
            ("alice".into(), Some(3), 4),
        ],
        "every update forwarded before any commit"
    );
    assert!(changelog(&d).is_empty(), "store writes wait in the cache");
    d.commit().unwrap();
    // One record per key, in key order (a flush nobody observes writes its batch sorted).
    assert_eq!(changelog(&d), vec!["alice".to_string(), "bob".to_string()]);
    assert!(counts(&d).is_empty(), "the commit forwards nothing more");
    assert_eq!(
        d.key_value_store::<String, ValueAndTimestamp<i64>>("clicks-per-user")
            .unwrap()
            .get(&"alice".to_string())
            .unwrap()
            .map(|v| v.value),
        Some(3)
    );
}

/// `(key, window start, count, timestamp)` of a windowed count's output.
type WindowRow = (String, i64, Option<i64>, i64);

fn windowed_count(
    materialized: Materialized<String, i64>,
    config: DriverConfig,
) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    b.stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
        .count(materialized)
        .to_stream()
        .to("out", Produced::default());
    TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap()
}

fn window_rows(d: &TopologyTestDriver) -> Vec<WindowRow> {
    d.create_output_topic::<Windowed<String>, Option<i64>>(
        "out",
        Arc::new(TimeWindowedSerde::new(Serdes::string(), 10)),
        Serdes::option(Serdes::i64()),
    )
    .read_records_to_list()
    .into_iter()
    .map(|r| (r.key.key, r.key.window.start, r.value, r.timestamp))
    .collect()
}

fn window_changelog_records(d: &TopologyTestDriver) -> usize {
    d.create_output_topic(
        "topology-test-driver-win-counts-changelog",
        Serdes::bytes(),
        Serdes::option(Serdes::bytes()),
    )
    .read_records_to_list()
    .len()
}

fn stored_window_counts(d: &TopologyTestDriver, key: &str) -> Vec<(i64, i64)> {
    d.window_store::<String, i64>("win-counts")
        .unwrap()
        .fetch_range(&key.to_string(), 0, 100)
        .unwrap()
}

fn pipe_clicks(d: &TopologyTestDriver, clicks: &[(&str, i64)]) {
    let i = d.create_input_topic("clicks", Serdes::string(), Serdes::string());
    for (k, ts) in clicks {
        i.pipe_input_with_timestamp(k.to_string(), "x".into(), *ts);
    }
}

fn wrow(k: &str, start: i64, n: i64, ts: i64) -> WindowRow {
    (k.into(), start, Some(n), ts)
}

#[test]
fn a_cached_windowed_count_forwards_the_latest_count_of_each_window_at_commit() {
    for store_type in [StoreType::RocksDb, StoreType::InMemory] {
        let m = Materialized::as_("win-counts")
            .with_store_type(store_type)
            .with_caching_enabled(true);
        let d = windowed_count(m, manual_commits());
        pipe_clicks(&d, &[("a", 1), ("b", 12), ("a", 7), ("a", 15), ("a", 3)]);
        assert_eq!(
            window_rows(&d),
            vec![],
            "{store_type:?}: nothing before a commit"
        );
        assert_eq!(window_changelog_records(&d), 0, "{store_type:?}");
        assert_eq!(
            stored_window_counts(&d, "a"),
            vec![(0, 3), (10, 1)],
            "{store_type:?}: reads see the cache"
        );
        d.commit().unwrap();
        // One update per window, in the order the windows were last written; each at the
        // window's highest record timestamp.
        assert_eq!(
            window_rows(&d),
            vec![
                wrow("b", 10, 1, 12),
                wrow("a", 10, 1, 15),
                wrow("a", 0, 3, 7)
            ],
            "{store_type:?}"
        );
        assert_eq!(window_changelog_records(&d), 3, "{store_type:?}");
        d.commit().unwrap();
        assert_eq!(
            window_rows(&d),
            vec![],
            "{store_type:?}: clean windows stay quiet"
        );
        pipe_clicks(&d, &[("a", 16), ("a", 18)]);
        d.commit().unwrap();
        assert_eq!(
            window_rows(&d),
            vec![wrow("a", 10, 3, 18)],
            "{store_type:?}"
        );
        assert_eq!(stored_window_counts(&d, "a"), vec![(0, 3), (10, 3)]);
    }
}

#[test]
fn a_cached_windowed_count_forwards_every_update_with_a_zero_cache_budget() {
    let config = DriverConfig {
        cache_max_bytes: 0,
        ..manual_commits()
    };
    let m = Materialized::as_("win-counts")
        .with_store_type(StoreType::InMemory)
        .with_caching_enabled(true);
    let d = windowed_count(m, config);
    pipe_clicks(&d, &[("a", 1), ("a", 2), ("b", 12)]);
    assert_eq!(
        window_rows(&d),
        vec![wrow("a", 0, 1, 1), wrow("a", 0, 2, 2), wrow("b", 10, 1, 12)]
    );
}

/// `with_store_cache_only` on a windowed count: every update is forwarded at once, while the
/// changelog gets the latest count of each window per commit.
#[test]
fn a_store_cache_only_windowed_count_forwards_every_update_and_logs_the_latest_per_commit() {
    let m = Materialized::as_("win-counts").with_store_cache_only();
    let d = windowed_count(m, manual_commits());
    pipe_clicks(&d, &[("a", 1), ("a", 2), ("a", 12), ("a", 4)]);
    assert_eq!(
        window_rows(&d),
        vec![
            wrow("a", 0, 1, 1),
            wrow("a", 0, 2, 2),
            wrow("a", 10, 1, 12),
            wrow("a", 0, 3, 4)
        ]
    );
    assert_eq!(
        window_changelog_records(&d),
        0,
        "store writes wait in the cache"
    );
    d.commit().unwrap();
    assert_eq!(window_changelog_records(&d), 2, "one record per window");
    assert_eq!(window_rows(&d), vec![], "the commit forwards nothing more");
    assert_eq!(stored_window_counts(&d, "a"), vec![(0, 3), (10, 1)]);
}

/// What a cached window store logs at commit restores a fresh cached store: counting goes on
/// from the restored windows.
#[test]
fn a_cached_windowed_count_restores_from_what_its_cache_logged() {
    let cached = || {
        Materialized::as_("win-counts")
            .with_store_type(StoreType::InMemory)
            .with_caching_enabled(true)
    };
    let first = windowed_count(cached(), manual_commits());
    pipe_clicks(&first, &[("a", 1), ("a", 2), ("b", 3), ("a", 14)]);
    first.commit().unwrap();
    let changelog: Vec<(Vec<u8>, Option<Vec<u8>>)> = first
        .create_output_topic(
            "topology-test-driver-win-counts-changelog",
            Serdes::bytes(),
            Serdes::option(Serdes::bytes()),
        )
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    assert_eq!(changelog.len(), 3, "one record per window");

    let second = windowed_count(cached(), manual_commits());
    second.restore_state_store("win-counts", changelog).unwrap();
    assert_eq!(stored_window_counts(&second, "a"), vec![(0, 2), (10, 1)]);
    pipe_clicks(&second, &[("a", 5), ("b", 6)]);
    second.commit().unwrap();
    assert_eq!(
        window_rows(&second),
        vec![wrow("a", 0, 3, 5), wrow("b", 0, 2, 6)]
    );
}

fn session_count(config: DriverConfig) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    b.stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
        .count(Materialized::as_("sessions").with_caching_enabled(true))
        .to_stream()
        .to("out", Produced::default());
    TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap()
}

fn srow(k: &str, start: i64, end: i64, n: Option<i64>) -> session_windows::Row {
    (k.into(), start, end, n, end)
}

/// A cached session count forwards the sessions a commit leaves: sessions merged away before
/// they were forwarded never show, ones merged away after come as deletes.
#[test]
fn a_cached_session_count_forwards_the_sessions_of_each_commit() {
    let d = session_count(manual_commits());
    // a: 1, 5 and 12 merge into [1, 12]; b: its own session; a: 40 starts another.
    pipe_clicks(&d, &[("a", 1), ("a", 5), ("b", 3), ("a", 12), ("a", 40)]);
    assert_eq!(session_windows::read(&d), vec![], "nothing before a commit");
    d.commit().unwrap();
    assert_eq!(
        session_windows::read(&d),
        vec![
            srow("b", 3, 3, Some(1)),
            srow("a", 1, 12, Some(3)),
            srow("a", 40, 40, Some(1)),
        ]
    );
    // 30 is within the gap of 40 only: [30, 40] replaces the forwarded [40, 40].
    pipe_clicks(&d, &[("a", 30), ("a", 31)]);
    d.commit().unwrap();
    assert_eq!(
        session_windows::read(&d),
        vec![srow("a", 40, 40, None), srow("a", 30, 40, Some(3))]
    );
    let stored: Vec<(i64, i64, i64)> = d
        .session_store::<String, i64>("sessions")
        .unwrap()
        .fetch(&"a".to_string())
        .unwrap()
        .into_iter()
        .map(|(w, n)| (w.start, w.end, n))
        .collect();
    assert_eq!(stored, vec![(1, 12, 3), (30, 40, 3)]);

    // What the cache logged restores a fresh cached store: 45 extends [30, 40].
    let changelog: Vec<(Vec<u8>, Option<Vec<u8>>)> = d
        .create_output_topic(
            "topology-test-driver-sessions-changelog",
            Serdes::bytes(),
            Serdes::option(Serdes::bytes()),
        )
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    let restored = session_count(manual_commits());
    restored.restore_state_store("sessions", changelog).unwrap();
    pipe_clicks(&restored, &[("a", 45)]);
    restored.commit().unwrap();
    assert_eq!(
        session_windows::read(&restored),
        vec![srow("a", 30, 40, None), srow("a", 30, 45, Some(4))]
    );
}
