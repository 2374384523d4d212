//! The three workloads through the TopologyTestDriver: values, keys, timestamps, headers (the
//! load tool's send time must survive every workload) and malformed input.

use kstreams::{Headers, Record, Serdes};
use kstreams_bench::event::{Enriched, generate};
use kstreams_bench::latency::SEND_TIME_HEADER;
use kstreams_bench::workload::{W2_STORE, W3_REPARTITION, w1, w2, w3};
use kstreams_test_driver::TopologyTestDriver;

fn view(user: &str, page: &str, amount: i64, ts: i64) -> String {
    format!(r#"{{"user":"{user}","page":"{page}","amount":{amount},"ts":{ts}}}"#)
}

fn stamped(key: &str, value: String, ts: i64, sent: &str) -> Record<String, String> {
    Record::new(key.to_string(), value, ts)
        .with_headers(Headers::new().with(SEND_TIME_HEADER, sent.as_bytes().to_vec()))
}

fn sent_header<K, V>(r: &Record<K, V>) -> Option<&[u8]> {
    r.headers.last_value(SEND_TIME_HEADER)
}

#[test]
fn w1_keeps_amounts_of_50_and_more_upper_cases_the_page_and_keeps_key_and_timestamp() {
    let driver = TopologyTestDriver::new(w1("in", "out").unwrap()).unwrap();
    let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    input.pipe_record(stamped("u1", view("u1", "p7", 50, 1), 100, "111"));
    input.pipe_input_with_timestamp("u2".into(), view("u2", "p8", 49, 2), 200);
    input.pipe_input_with_timestamp("u3".into(), "{broken".into(), 300);
    input.pipe_input_with_timestamp("u4".into(), view("u4", "p99", 99, 4), 400);
    let got = out.read_records_to_list();
    assert_eq!(got.len(), 2, "amount 49 and the malformed view are dropped");
    assert_eq!(got[0].key, "u1");
    assert_eq!(got[0].value, r#"{"user":"u1","page":"P7","amount":50}"#);
    assert_eq!(got[0].timestamp, 100);
    assert_eq!(sent_header(&got[0]), Some(&b"111"[..]));
    assert_eq!(
        serde_json::from_str::<Enriched>(&got[1].value).unwrap(),
        Enriched {
            user: "u4".into(),
            page: "P99".into(),
            amount: 99
        }
    );
    assert_eq!((got[1].key.as_str(), got[1].timestamp), ("u4", 400));
}

#[test]
fn w1_output_count_matches_the_generator() {
    let driver = TopologyTestDriver::new(w1("in", "out").unwrap()).unwrap();
    let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    let mut want = 0;
    for n in 0..1000 {
        let (k, v) = generate(n, n as i64);
        if v.amount >= 50 {
            want += 1;
        }
        input.pipe_input_with_timestamp(k, serde_json::to_string(&v).unwrap(), n as i64);
    }
    assert_eq!(want, 500);
    assert_eq!(out.read_records_to_list().len(), want);
}

#[test]
fn w2_emits_the_running_count_per_user_for_every_record() {
    let driver = TopologyTestDriver::new(w2("in", "out").unwrap()).unwrap();
    let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    input.pipe_record(stamped("u1", view("u1", "p1", 1, 1), 10, "5"));
    input.pipe_input_with_timestamp("u2".into(), view("u2", "p1", 1, 1), 20);
    input.pipe_input_with_timestamp("u1".into(), "not even json".into(), 30);
    input.pipe_input_with_timestamp("u1".into(), view("u1", "p2", 1, 1), 25);
    let got: Vec<(String, String, i64)> = out
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(
        got,
        vec![
            ("u1".into(), "1".into(), 10),
            ("u2".into(), "1".into(), 20),
            ("u1".into(), "2".into(), 30),
            ("u1".into(), "3".into(), 30), // an aggregate keeps the newest timestamp
        ]
    );
    let changelog = format!("topology-test-driver-{W2_STORE}-changelog");
    assert!(
        driver.produced_topic_names().contains(&changelog),
        "{:?}",
        driver.produced_topic_names()
    );
}

#[test]
fn w2_carries_the_send_time_header() {
    let driver = TopologyTestDriver::new(w2("in", "out").unwrap()).unwrap();
    let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    input.pipe_record(stamped("u1", view("u1", "p1", 1, 1), 10, "42"));
    let r = out.read_record();
    assert_eq!(sent_header(&r), Some(&b"42"[..]));
}

#[test]
fn w3_counts_views_per_page_and_event_time_minute() {
    let driver = TopologyTestDriver::new(w3("in", "out").unwrap()).unwrap();
    let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    // The record timestamps (7) are not the event times: `ts` in the value is.
    input.pipe_record(stamped("u1", view("u1", "p1", 1, 1_000), 7, "9"));
    input.pipe_input_with_timestamp("u2".into(), view("u2", "p1", 1, 30_000), 7);
    input.pipe_input_with_timestamp("u3".into(), view("u3", "p2", 1, 59_999), 7);
    input.pipe_input_with_timestamp("u4".into(), view("u4", "p1", 1, 60_000), 7);
    input.pipe_input_with_timestamp("u5".into(), "{bad".into(), 7);
    // Within the 5 s grace of [0, 60 s): still counted.
    input.pipe_input_with_timestamp("u6".into(), view("u6", "p1", 1, 59_000), 7);
    // Stream time 70 s closes [0, 60 s); a later view for it is dropped.
    input.pipe_input_with_timestamp("u7".into(), view("u7", "p2", 1, 70_000), 7);
    input.pipe_input_with_timestamp("u8".into(), view("u8", "p1", 1, 2_000), 7);
    let got = out.read_records_to_list();
    let triples: Vec<(String, String, i64)> = got
        .iter()
        .map(|r| (r.key.clone(), r.value.clone(), r.timestamp))
        .collect();
    assert_eq!(
        triples,
        vec![
            ("p1@0".into(), "1".into(), 1_000),
            ("p1@0".into(), "2".into(), 30_000),
            ("p2@0".into(), "1".into(), 59_999),
            ("p1@60000".into(), "1".into(), 60_000),
            ("p1@0".into(), "3".into(), 59_000),
            ("p2@60000".into(), "1".into(), 70_000),
        ]
    );
    assert_eq!(
        sent_header(&got[0]),
        Some(&b"9"[..]),
        "the header crosses the repartition topic"
    );
    // The malformed view is skipped by the extractor (-1); the late one counts as dropped.
    assert_eq!(driver.dropped_records(), 1, "the late view");
    let names = driver.produced_topic_names();
    assert!(
        names.contains(&format!(
            "topology-test-driver-{W3_REPARTITION}-repartition"
        )),
        "{names:?}"
    );
}
