//! The deserialization, processing and production exception handlers through the driver:
//! fail, continue and dead-letter, with the DLQ records' bytes and headers.

use std::sync::Arc;

use kstreams_core::failure::{DeadLetterReason, FailureClass, FailureMetadata, FailureMetric};
use kstreams_core::processor::{
    DeadLetterProcessingExceptionHandler, DeadLetterProductionExceptionHandler,
    LogAndContinueExceptionHandler, LogAndContinueProcessingExceptionHandler,
    LogAndContinueProductionExceptionHandler, SendToDeadLetterExceptionHandler,
};
use kstreams_core::{
    Headers, Processor, ProcessorContext, Record, Result, Serdes, StreamsError, Topology,
};
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

struct FailOnBad;

impl Processor<String, String, String, String> for FailOnBad {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        if r.value == "bad" {
            return Err(StreamsError::processing("boom"));
        }
        let v = r.value.repeat(if r.value == "big" { 10 } else { 1 });
        ctx.forward(r.with_value(v))
    }
}

struct FailingPunctuator;

impl Processor<String, String, String, String> for FailingPunctuator {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<()> {
        ctx.schedule(
            std::time::Duration::from_millis(100),
            kstreams_core::PunctuationType::WallClockTime,
            |_ctx, _now| Err(StreamsError::processing("flush failed")),
        )?;
        Ok(())
    }
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        ctx.forward(r)
    }
}

fn punctuating(cfg: DriverConfig) -> TopologyTestDriver {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("flusher", || FailingPunctuator, &["src"])
        .unwrap();
    TopologyTestDriver::with_config(t, cfg).unwrap()
}

#[test]
fn punctuator_errors_go_to_the_processing_handler() {
    let d = punctuating(config());
    let err = d
        .try_advance_wall_clock_time(std::time::Duration::from_millis(100))
        .unwrap_err();
    assert!(err.to_string().contains("flush failed"), "{err}");
    let d = punctuating(DriverConfig {
        processing_handler: Arc::new(LogAndContinueProcessingExceptionHandler),
        ..config()
    });
    d.advance_wall_clock_time(std::time::Duration::from_millis(100));
    d.advance_wall_clock_time(std::time::Duration::from_millis(100));
    // Without a source record there is nothing to dead-letter: the DLQ handler fails.
    let d = punctuating(DriverConfig {
        processing_handler: Arc::new(DeadLetterProcessingExceptionHandler),
        ..config()
    });
    assert!(
        d.try_advance_wall_clock_time(std::time::Duration::from_millis(100))
            .is_err()
    );
    assert!(d.dead_letter_topic::<String, String>().is_empty());
}

fn topology() -> Topology {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("work", || FailOnBad, &["src"]).unwrap();
    t.add_sink::<String, String>("sink", "out", Serdes::string(), Serdes::string(), &["work"])
        .unwrap();
    t
}

fn config() -> DriverConfig {
    DriverConfig {
        application_id: "app".into(),
        initial_wall_clock_ms: 500,
        ..Default::default()
    }
}

fn dlq_meta(d: &TopologyTestDriver) -> (Record<String, String>, FailureMetadata) {
    let r = d.dead_letter_topic::<String, String>().read_record();
    let m = FailureMetadata::read_from(&r.headers).unwrap().unwrap();
    (r, m)
}

#[test]
fn processing_errors_fail_by_default() {
    let d = TopologyTestDriver::with_config(topology(), config()).unwrap();
    let err = d
        .input_topic::<String, String>("in")
        .try_pipe_input("k".into(), "bad".into())
        .unwrap_err();
    assert!(
        err.to_string().contains("'work'") && err.to_string().contains("boom"),
        "{err}"
    );
    assert!(d.dead_letter_topic::<String, String>().is_empty());
}

#[test]
fn processing_errors_can_be_skipped() {
    let cfg = DriverConfig {
        processing_handler: Arc::new(LogAndContinueProcessingExceptionHandler),
        ..config()
    };
    let d = TopologyTestDriver::with_config(topology(), cfg).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input("k".into(), "bad".into());
    input.pipe_input("k".into(), "good".into());
    assert_eq!(
        d.output_topic::<String, String>("out")
            .read_values_to_list(),
        vec!["good"]
    );
    assert_eq!(d.dropped_records(), 1);
    assert!(d.dead_letter_topic::<String, String>().is_empty());
}

#[test]
fn processing_errors_can_go_to_the_dlq_with_the_source_bytes() {
    let cfg = DriverConfig {
        processing_handler: Arc::new(DeadLetterProcessingExceptionHandler),
        ..config()
    };
    let d = TopologyTestDriver::with_config(topology(), cfg).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("k".into(), "good".into(), 1);
    input.pipe_record(
        Record::new("k2".to_string(), "bad".to_string(), 2)
            .with_headers(Headers::new().with("trace", "x")),
    );
    assert_eq!(
        d.output_topic::<String, String>("out")
            .read_values_to_list(),
        vec!["good"]
    );
    let (r, m) = dlq_meta(&d);
    assert_eq!(
        (r.key.as_str(), r.value.as_str(), r.timestamp),
        ("k2", "bad", 2)
    );
    assert_eq!(r.headers.last_value("trace"), Some(&b"x"[..]));
    assert_eq!(m.dlq_reason, Some(DeadLetterReason::Processing));
    assert_eq!(m.failed_node, "work");
    assert_eq!(m.error_class, FailureClass::NonRetryable);
    assert!(m.error_message.contains("boom"), "{}", m.error_message);
    assert_eq!(m.first_failure_ms, 500);
    let o = m.original.unwrap();
    assert_eq!((&*o.metadata.topic, o.metadata.offset), ("in", 1));
    assert_eq!(
        d.node_metrics()
            .get(FailureMetric::DeadLetter, "work", "processing"),
        1
    );
}

#[test]
fn undeserializable_input_can_go_to_the_dlq_as_raw_bytes() {
    let mut t = Topology::new();
    t.add_source::<String, i64>("numbers", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_sink::<String, i64>("sink", "out", Serdes::string(), Serdes::i64(), &["numbers"])
        .unwrap();
    let cfg = DriverConfig {
        deserialization_handler: Arc::new(SendToDeadLetterExceptionHandler),
        ..config()
    };
    let d = TopologyTestDriver::with_config(t, cfg).unwrap();
    let input = d.input_topic::<String, i64>("in");
    input
        .try_pipe_raw(
            Some(b"k".to_vec()),
            Some(b"abc".to_vec()),
            9,
            Headers::new(),
        )
        .unwrap();
    input.pipe_input_with_timestamp("k".into(), 7, 10);
    assert_eq!(
        d.output_topic::<String, i64>("out").read_values_to_list(),
        vec![7]
    );
    let r = d.dead_letter_topic::<Vec<u8>, Vec<u8>>().read_record();
    assert_eq!(
        (r.key.as_slice(), r.value.as_slice(), r.timestamp),
        (&b"k"[..], &b"abc"[..], 9)
    );
    let m = FailureMetadata::read_from(&r.headers).unwrap().unwrap();
    assert_eq!(m.dlq_reason, Some(DeadLetterReason::Deserialization));
    assert_eq!(m.failed_node, "numbers");
    assert!(
        m.error_message.contains("deserialization"),
        "{}",
        m.error_message
    );
    assert_eq!(m.original.unwrap().metadata.offset, 0);

    // Log-and-continue skips it instead.
    let mut t = Topology::new();
    t.add_source::<String, i64>("numbers", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_sink::<String, i64>("sink", "out", Serdes::string(), Serdes::i64(), &["numbers"])
        .unwrap();
    let cfg = DriverConfig {
        deserialization_handler: Arc::new(LogAndContinueExceptionHandler),
        ..config()
    };
    let d = TopologyTestDriver::with_config(t, cfg).unwrap();
    d.input_topic::<String, i64>("in")
        .try_pipe_raw(
            Some(b"k".to_vec()),
            Some(b"abc".to_vec()),
            9,
            Headers::new(),
        )
        .unwrap();
    assert!(d.dead_letter_topic::<Vec<u8>, Vec<u8>>().is_empty());
    assert!(d.output_topic::<String, i64>("out").is_empty());
}

fn production_driver(
    handler: Option<Arc<dyn kstreams_core::processor::ProductionExceptionHandler>>,
) -> TopologyTestDriver {
    let mut cfg = DriverConfig {
        max_record_bytes: Some(20),
        ..config()
    };
    if let Some(h) = handler {
        cfg.production_handler = h;
    }
    TopologyTestDriver::with_config(topology(), cfg).unwrap()
}

#[test]
fn too_large_output_fails_by_default() {
    let d = production_driver(None);
    let input = d.input_topic::<String, String>("in");
    input.pipe_input("k".into(), "small".into());
    let err = input.try_pipe_input("k".into(), "big".into()).unwrap_err();
    assert!(err.to_string().contains("max.request.size"), "{err}");
}

#[test]
fn too_large_output_can_be_dropped_or_dead_lettered() {
    let d = production_driver(Some(Arc::new(LogAndContinueProductionExceptionHandler)));
    let input = d.input_topic::<String, String>("in");
    input.pipe_input("k".into(), "big".into());
    input.pipe_input("k".into(), "small".into());
    assert_eq!(
        d.output_topic::<String, String>("out")
            .read_values_to_list(),
        vec!["small"]
    );
    assert_eq!(d.dropped_records(), 1);

    let d = production_driver(Some(Arc::new(DeadLetterProductionExceptionHandler)));
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("k".into(), "big".into(), 4);
    assert!(d.output_topic::<String, String>("out").is_empty());
    let (r, m) = dlq_meta(&d);
    assert_eq!(
        (r.value.as_str(), r.timestamp),
        ("big".repeat(10).as_str(), 4)
    );
    assert_eq!(m.dlq_reason, Some(DeadLetterReason::Production));
    assert_eq!(
        m.failed_node, "sink",
        "the sink node the record was bound through"
    );
    assert!(m.error_message.contains("31 bytes"), "{}", m.error_message);
}
