//! `KStream::deduplicate` through the TopologyTestDriver: TTL on stream time and wall-clock
//! time, null ids, purging by the punctuator, restart with persisted state, restore from the
//! changelog, value hashes, timestamps and headers of the output.

use std::time::Duration;

use kstreams_core::{Headers, PunctuationType, Record, Serdes};
use kstreams_dsl::*;
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

const NODE: &str = "dedup";
const STORE: &str = "dedup-store";

fn by_key(d: Deduplicated) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .deduplicate(|k: &String, _v, _h| Some(k.clone()), d.with_name(NODE))
        .to("out", Produced::default());
    b
}

fn in_memory(ttl_ms: u64) -> Deduplicated {
    Deduplicated::with_ttl(Duration::from_millis(ttl_ms)).with_store_type(StoreType::InMemory)
}

fn out(d: &TopologyTestDriver) -> Vec<(String, String, i64)> {
    d.output_topic::<String, String>("out")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

/// Ids remembered by the store (the id layout, `0x00 ++ id`) and time-index entries.
fn stored(d: &TopologyTestDriver) -> (Vec<String>, usize) {
    let all = d
        .key_value_store::<Vec<u8>, Vec<u8>>(STORE)
        .unwrap()
        .all()
        .unwrap();
    let ids = all
        .iter()
        .filter(|(k, _)| k[0] == 0)
        .map(|(k, _)| String::from_utf8(k[1..].to_vec()).unwrap())
        .collect();
    let index = all.iter().filter(|(k, _)| k[0] == 1).count();
    (ids, index)
}

fn triple(k: &str, v: &str, ts: i64) -> (String, String, i64) {
    (k.into(), v.into(), ts)
}

#[test]
fn duplicates_within_the_ttl_are_dropped_and_counted() {
    let d = TopologyTestDriver::new(by_key(in_memory(10_000)).build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("a".into(), "1".into(), 1_000);
    i.pipe_input_with_timestamp("a".into(), "2".into(), 5_000);
    i.pipe_input_with_timestamp("b".into(), "3".into(), 6_000);
    // 9 999 ms after the first "a": still a duplicate.
    i.pipe_input_with_timestamp("a".into(), "4".into(), 10_999);
    // Exactly the TTL after it: the id expired, the record passes and is remembered anew.
    i.pipe_input_with_timestamp("a".into(), "5".into(), 11_000);
    i.pipe_input_with_timestamp("a".into(), "6".into(), 11_001);
    assert_eq!(
        out(&d),
        vec![
            triple("a", "1", 1_000),
            triple("b", "3", 6_000),
            triple("a", "5", 11_000)
        ]
    );
    assert_eq!(d.node_counter(NODE, DEDUP_HITS), 3);
    assert_eq!(d.node_counter("other", DEDUP_HITS), 0);
}

#[test]
fn the_ttl_runs_on_stream_time_so_late_records_are_still_duplicates() {
    let d = TopologyTestDriver::new(by_key(in_memory(100)).build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("a".into(), "1".into(), 1_000);
    // An out-of-order copy with an older timestamp: stream time is still 1 000.
    i.pipe_input_with_timestamp("a".into(), "2".into(), 10);
    i.pipe_input_with_timestamp("z".into(), "3".into(), 1_050);
    i.pipe_input_with_timestamp("a".into(), "4".into(), 20);
    // Stream time reaches 1 100: "a" (seen at 1 000) expires even for an old-stamped record.
    i.pipe_input_with_timestamp("z".into(), "5".into(), 1_100);
    i.pipe_input_with_timestamp("a".into(), "6".into(), 30);
    assert_eq!(
        out(&d),
        vec![
            triple("a", "1", 1_000),
            triple("z", "3", 1_050),
            triple("a", "6", 30)
        ]
    );
    assert_eq!(d.node_counter(NODE, DEDUP_HITS), 3);
}

#[test]
fn records_without_an_id_pass_and_are_not_remembered() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .deduplicate(
            |_k, _v, h: &Headers| {
                h.last_value("msg-id")
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            },
            in_memory(1_000).with_name(NODE),
        )
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    let with_id = |v: &str, id: &str, ts| {
        Record::new("k".to_string(), v.to_string(), ts)
            .with_headers(Headers::new().with("msg-id", id).with("trace", "t1"))
    };
    i.pipe_record(with_id("1", "m1", 10));
    i.pipe_input_with_timestamp("k".into(), "no-id".into(), 11);
    i.pipe_input_with_timestamp("k".into(), "no-id".into(), 12);
    i.pipe_record(with_id("2", "m1", 13));
    i.pipe_record(with_id("3", "m2", 14));
    let records = d
        .output_topic::<String, String>("out")
        .read_records_to_list();
    let got: Vec<(String, i64)> = records
        .iter()
        .map(|r| (r.value.clone(), r.timestamp))
        .collect();
    assert_eq!(
        got,
        vec![
            ("1".into(), 10),
            ("no-id".into(), 11),
            ("no-id".into(), 12),
            ("3".into(), 14)
        ]
    );
    assert_eq!(
        records[0].headers.last_value("trace"),
        Some(&b"t1"[..]),
        "headers are kept"
    );
    assert_eq!(d.node_counter(NODE, DEDUP_HITS), 1);
    assert_eq!(stored(&d), (vec!["m1".to_string(), "m2".to_string()], 2));
}

#[test]
fn the_stream_time_punctuator_purges_expired_ids_through_the_time_index() {
    for store_type in [StoreType::InMemory, StoreType::RocksDb] {
        purge_by_stream_time(store_type);
    }
}

fn purge_by_stream_time(store_type: StoreType) {
    let d = TopologyTestDriver::new(
        by_key(
            Deduplicated::with_ttl(Duration::from_millis(100))
                .with_store_type(store_type)
                .with_punctuation_interval(Duration::from_millis(50)),
        )
        .build()
        .unwrap(),
    )
    .unwrap();
    let i = d.input_topic::<String, String>("in");
    for (n, ts) in [0, 10, 20, 60].into_iter().enumerate() {
        i.pipe_input_with_timestamp(format!("id{n}"), "v".into(), ts);
    }
    assert_eq!(stored(&d).0.len(), 4);
    assert_eq!(stored(&d).1, 4);
    // Stream time 115 fires the punctuator at 115 (> 100): cutoff 15 purges id0 and id1.
    i.pipe_input_with_timestamp("late".into(), "v".into(), 115);
    assert_eq!(
        stored(&d),
        (
            vec!["id2".to_string(), "id3".to_string(), "late".to_string()],
            3
        )
    );
    // Stream time 160 (> 150): cutoff 60 purges id2 and id3 (seen at 20 and 60).
    i.pipe_input_with_timestamp("later".into(), "v".into(), 160);
    assert_eq!(
        stored(&d),
        (vec!["late".to_string(), "later".to_string()], 2)
    );
    // A purged id passes again.
    i.pipe_input_with_timestamp("id0".into(), "again".into(), 161);
    assert_eq!(out(&d).last(), Some(&triple("id0", "again", 161)));
    assert_eq!(d.node_counter(NODE, DEDUP_HITS), 0);
}

#[test]
fn wall_clock_ttl_and_purge() {
    let cfg = DriverConfig {
        initial_wall_clock_ms: 1_000_000,
        ..DriverConfig::default()
    };
    let d = TopologyTestDriver::with_config(
        by_key(in_memory(1_000).with_time_type(PunctuationType::WallClockTime))
            .build()
            .unwrap(),
        cfg,
    )
    .unwrap();
    let i = d.input_topic::<String, String>("in");
    // Record timestamps do not matter on the wall clock.
    i.pipe_input_with_timestamp("a".into(), "1".into(), 5);
    i.pipe_input_with_timestamp("a".into(), "2".into(), 999_999_999);
    d.advance_wall_clock_time(Duration::from_millis(999));
    i.pipe_input_with_timestamp("a".into(), "3".into(), 6);
    assert_eq!(stored(&d).0, vec!["a".to_string()]);
    // The punctuator (every TTL) fires at 1 001 000 and purges "a" (seen at 1 000 000).
    d.advance_wall_clock_time(Duration::from_millis(1));
    assert_eq!(stored(&d), (vec![], 0));
    i.pipe_input_with_timestamp("a".into(), "4".into(), 7);
    assert_eq!(out(&d), vec![triple("a", "1", 5), triple("a", "4", 7)]);
    assert_eq!(d.node_counter(NODE, DEDUP_HITS), 2);
}

#[test]
fn ids_survive_a_restart_with_persisted_rocksdb_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DriverConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..DriverConfig::default()
    };
    let ttl = || Deduplicated::with_ttl(Duration::from_secs(60));
    let d = TopologyTestDriver::with_config(by_key(ttl()).build().unwrap(), cfg.clone()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("a".into(), "1".into(), 1_000);
    assert_eq!(out(&d), vec![triple("a", "1", 1_000)]);
    d.close().unwrap();

    let d = TopologyTestDriver::with_config(by_key(ttl()).build().unwrap(), cfg).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("a".into(), "replayed".into(), 1_000);
    i.pipe_input_with_timestamp("b".into(), "2".into(), 2_000);
    assert_eq!(out(&d), vec![triple("b", "2", 2_000)]);
    assert_eq!(d.node_counter(NODE, DEDUP_HITS), 1);
}

#[test]
fn the_changelog_restores_ids_and_purges() {
    let build = || by_key(in_memory(100)).build().unwrap();
    let d1 = TopologyTestDriver::new(build()).unwrap();
    let i = d1.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("a".into(), "1".into(), 0);
    i.pipe_input_with_timestamp("b".into(), "2".into(), 60);
    // Stream time 150 purges "a" (seen at 0), not "b": the changelog gets tombstones for "a".
    i.pipe_input_with_timestamp("c".into(), "3".into(), 150);
    assert_eq!(stored(&d1).0, vec!["b".to_string(), "c".to_string()]);
    let changelog: Vec<(Vec<u8>, Option<Vec<u8>>)> = d1
        .create_output_topic(
            &format!("topology-test-driver-{STORE}-changelog"),
            Serdes::bytes(),
            Serdes::option(Serdes::bytes()),
        )
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    assert_eq!(
        changelog.len(),
        3 * 2 + 2,
        "two layouts per id, two tombstones"
    );
    assert_eq!(changelog.iter().filter(|(_, v)| v.is_none()).count(), 2);

    let d2 = TopologyTestDriver::new(build()).unwrap();
    d2.restore_state_store(STORE, changelog).unwrap();
    assert_eq!(stored(&d2), stored(&d1));
    let i = d2.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("b".into(), "dup".into(), 155);
    i.pipe_input_with_timestamp("c".into(), "dup".into(), 155);
    i.pipe_input_with_timestamp("a".into(), "new".into(), 155);
    assert_eq!(out(&d2), vec![triple("a", "new", 155)]);
    assert_eq!(d2.node_counter(NODE, DEDUP_HITS), 2);
}

#[test]
fn value_hash_ids_drop_identical_payloads_whatever_the_key() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .deduplicate_by_value_hash(in_memory(1_000).with_name(NODE))
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("k1".into(), "payload".into(), 1);
    i.pipe_input_with_timestamp("k2".into(), "payload".into(), 2);
    i.pipe_input_with_timestamp("k1".into(), "other".into(), 3);
    assert_eq!(
        out(&d),
        vec![triple("k1", "payload", 1), triple("k1", "other", 3)]
    );
    assert_eq!(d.node_counter(NODE, DEDUP_HITS), 1);
    let ids: Vec<Vec<u8>> = d
        .key_value_store::<Vec<u8>, Vec<u8>>(STORE)
        .unwrap()
        .all()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k[0] == 0)
        .map(|(k, _)| k[1..].to_vec())
        .collect();
    assert!(ids.contains(&value_hash(b"payload").to_vec()));
}

#[test]
fn bad_settings_fail_the_build() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .deduplicate(|k: &String, _v, _h| Some(k.clone()), in_memory(0))
        .to("out", Produced::default());
    assert!(b.build().is_err(), "a zero TTL is rejected");

    #[derive(Clone)]
    struct Unregistered;
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .deduplicate(|_k, _v, _h| Some(Unregistered), in_memory(10))
        .to("out", Produced::default());
    let err = b.build().err().unwrap().to_string();
    assert!(err.contains("id serde"), "{err}");
}
