//! Output keys of windowed aggregations are in Kafka Streams' layouts: time windows as
//! `key ++ start` (8 bytes, big-endian), sessions as `key ++ end ++ start`; the serdes read
//! them back.

use std::sync::Arc;
use std::time::Duration;

use kstreams_core::{Serde, Serdes};
use kstreams_dsl::*;
use kstreams_test_driver::TopologyTestDriver;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn raw_keys(d: &TopologyTestDriver) -> Vec<Vec<u8>> {
    d.create_output_topic("out", Serdes::bytes(), Serdes::option(Serdes::i64()))
        .read_records_to_list()
        .into_iter()
        .map(|r| r.key)
        .collect()
}

fn key_then(times: &[i64]) -> Vec<u8> {
    let mut v = b"user".to_vec();
    for t in times {
        v.extend_from_slice(&t.to_be_bytes());
    }
    v
}

#[test]
fn tumbling_window_keys_are_key_and_start() {
    let build = || {
        let b = StreamsBuilder::new();
        b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default())
            .windowed_by(TimeWindows::of_size_with_no_grace(ms(100)))
            .count(Materialized::as_("c").with_store_type(StoreType::InMemory))
            .to_stream()
            .to("out", Produced::default());
        TopologyTestDriver::new(b.build().unwrap()).unwrap()
    };
    let d = build();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("user".into(), "v".into(), 250);
    i.pipe_input_with_timestamp("user".into(), "v".into(), 310);
    assert_eq!(raw_keys(&d), vec![key_then(&[200]), key_then(&[300])]);

    let d = build();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("user".into(), "v".into(), 250);
    let out = d
        .create_output_topic(
            "out",
            Arc::new(TimeWindowedSerde::new(Serdes::string(), 100)),
            Serdes::option(Serdes::i64()),
        )
        .read_records_to_list();
    assert_eq!(
        out[0].key,
        Windowed::new("user".to_string(), Window::new(200, 300))
    );
    assert_eq!((out[0].value, out[0].timestamp), (Some(1), 250));
}

#[test]
fn session_keys_are_key_end_and_start() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(50)))
        .count(Materialized::as_("s").with_store_type(StoreType::InMemory))
        .to_stream()
        .to("out", Produced::default());
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let i = d.input_topic::<String, String>("in");
    i.pipe_input_with_timestamp("user".into(), "v".into(), 10);
    i.pipe_input_with_timestamp("user".into(), "v".into(), 40);
    let raw = raw_keys(&d);
    assert_eq!(
        raw,
        vec![
            key_then(&[10, 10]),
            key_then(&[10, 10]),
            key_then(&[40, 10])
        ],
        "key, end, start"
    );
    let serde = SessionWindowedSerde::new(Serdes::string());
    let windows: Vec<Window> = raw
        .iter()
        .map(|k| serde.deserialize("out", Some(k)).unwrap().window)
        .collect();
    // The session [10, 10], then (its removal and) the merged [10, 40].
    assert_eq!(
        windows,
        vec![
            Window::new(10, 10),
            Window::new(10, 10),
            Window::new(10, 40)
        ]
    );
}
