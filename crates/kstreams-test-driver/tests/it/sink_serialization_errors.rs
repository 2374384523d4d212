//! KIP-1033 through the driver: a sink whose key or value does not serialize hands the record
//! to the production exception handler (fail, continue, or dead-letter the input record's
//! bytes with the failure metadata), as the runtime does.

use std::sync::Arc;

use kstreams_core::failure::{DeadLetterReason, FailureClass, FailureMetadata, FailureMetric};
use kstreams_core::processor::{
    DeadLetterProductionExceptionHandler, LogAndContinueProductionExceptionHandler,
    ProductionExceptionHandler,
};
use kstreams_core::{Headers, Record, Serde, SerdeError, Serdes, Topology};
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

/// Strings, except that "poison" does not serialize.
struct Picky;

impl Serde<String> for Picky {
    fn serialize(&self, topic: &str, value: &String) -> Result<Option<Vec<u8>>, SerdeError> {
        if value.contains("poison") {
            return Err(SerdeError::serialize(
                topic,
                "picky",
                "cannot encode poison",
            ));
        }
        Ok(Some(value.as_bytes().to_vec()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<String, SerdeError> {
        Serdes::string().deserialize(topic, data)
    }
}

fn driver(handler: Option<Arc<dyn ProductionExceptionHandler>>) -> TopologyTestDriver {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_sink::<String, String>("to-out", "out", Arc::new(Picky), Arc::new(Picky), &["src"])
        .unwrap();
    let mut cfg = DriverConfig {
        application_id: "app".into(),
        initial_wall_clock_ms: 1_000,
        ..Default::default()
    };
    if let Some(h) = handler {
        cfg.production_handler = h;
    }
    TopologyTestDriver::with_config(t, cfg).unwrap()
}

#[test]
fn unserializable_output_fails_by_default() {
    let d = driver(None);
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("k".into(), "fine".into(), 1);
    let err = input
        .try_pipe_input("k".into(), "poison".into())
        .unwrap_err();
    assert!(err.to_string().contains("cannot encode poison"), "{err}");
    assert_eq!(
        d.node_metrics()
            .get(FailureMetric::ProductionError, "to-out", "serialization"),
        1
    );
}

#[test]
fn unserializable_output_can_be_skipped() {
    let d = driver(Some(Arc::new(LogAndContinueProductionExceptionHandler)));
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("k1".into(), "a".into(), 10);
    input.pipe_input_with_timestamp("k2".into(), "poison".into(), 11);
    input.pipe_input_with_timestamp("poison-key".into(), "b".into(), 12);
    input.pipe_input_with_timestamp("k3".into(), "c".into(), 13);
    let out: Vec<(String, String, i64)> = d
        .output_topic::<String, String>("out")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    assert_eq!(
        out,
        vec![
            ("k1".to_string(), "a".to_string(), 10),
            ("k3".to_string(), "c".to_string(), 13)
        ]
    );
    assert_eq!(d.dropped_records(), 2);
    assert!(d.dead_letter_topic::<String, String>().is_empty());
    let m = d.node_metrics();
    assert_eq!(
        m.get(FailureMetric::ProductionError, "to-out", "serialization"),
        2
    );
    assert_eq!(
        m.get(FailureMetric::ProductionSkipped, "to-out", "serialization"),
        2
    );
    assert_eq!(m.total(FailureMetric::DeadLetter), 0);
}

#[test]
fn unserializable_output_dead_letters_the_input_bytes_with_metadata() {
    let d = driver(Some(Arc::new(DeadLetterProductionExceptionHandler)));
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("k1".into(), "a".into(), 10);
    input.pipe_record(
        Record::new("k2".to_string(), "poison-value".to_string(), 20)
            .with_headers(Headers::new().with("trace", "t-1")),
    );
    input.pipe_input_with_timestamp("poison-key".into(), "b".into(), 30);
    input.pipe_input_with_timestamp("k3".into(), "c".into(), 40);
    assert_eq!(
        d.output_topic::<String, String>("out")
            .read_values_to_list(),
        vec!["a", "c"]
    );
    let dlq = d
        .dead_letter_topic::<String, String>()
        .read_records_to_list();
    assert_eq!(dlq.len(), 2, "{dlq:?}");

    let (r, m) = (
        &dlq[0],
        FailureMetadata::read_from(&dlq[0].headers)
            .unwrap()
            .unwrap(),
    );
    assert_eq!(
        (r.key.as_str(), r.value.as_str(), r.timestamp),
        ("k2", "poison-value", 20),
        "the input record's bytes and timestamp"
    );
    assert_eq!(r.headers.last_value("trace"), Some(&b"t-1"[..]));
    assert_eq!(m.dlq_reason, Some(DeadLetterReason::Production));
    assert_eq!(m.error_class, FailureClass::NonRetryable);
    assert_eq!(m.failed_node, "to-out");
    assert_eq!(m.attempt, 1);
    assert_eq!(m.first_failure_ms, 1_000);
    assert!(
        m.error_message.contains("cannot encode poison"),
        "{}",
        m.error_message
    );
    let o = m.original.unwrap();
    assert_eq!(
        (
            &*o.metadata.topic,
            o.metadata.partition,
            o.metadata.offset,
            o.timestamp
        ),
        ("in", 0, 1, 20)
    );

    let (r, m) = (
        &dlq[1],
        FailureMetadata::read_from(&dlq[1].headers)
            .unwrap()
            .unwrap(),
    );
    assert_eq!(
        (r.key.as_str(), r.value.as_str(), r.timestamp),
        ("poison-key", "b", 30)
    );
    assert_eq!(m.original.unwrap().metadata.offset, 2);

    let metrics = d.node_metrics();
    assert_eq!(
        metrics.get(FailureMetric::DeadLetter, "to-out", "production"),
        2
    );
    assert_eq!(
        metrics.get(FailureMetric::ProductionError, "to-out", "serialization"),
        2
    );
    assert_eq!(metrics.total(FailureMetric::ProductionSkipped), 0);
    assert_eq!(d.dropped_records(), 0, "dead-lettered, not dropped");
}
