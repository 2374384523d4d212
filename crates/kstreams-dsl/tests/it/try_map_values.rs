//! `try_map_values` / `try_flat_map_values` through the TopologyTestDriver with its mock
//! clock: backoff timing, jitter windows, maximum attempts, dead-letter headers, no DLQ loop,
//! ordering, metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kstreams_core::failure::{
    DeadLetterReason, FailureClass, FailureMetadata, FailureMetric, ProcessingError, RetryPolicy,
    SplitMixJitter, header,
};
use kstreams_core::{Headers, Record, Serdes};
use kstreams_dsl::{Consumed, KStream, Produced, Retried, StreamsBuilder};
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

const APP: &str = "app";
const START: i64 = 1_000_000;
const RETRY_TOPIC: &str = "app-flaky-retry";

fn policy() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_initial_backoff(Duration::from_millis(1_000))
        .with_multiplier(2.0)
        .with_max_delay(Duration::from_secs(10))
        .with_jitter(0.2)
        .with_poll_interval(Duration::from_millis(10))
}

/// "ok" succeeds; "retry-N" fails retryably N times then succeeds; "poison" fails
/// non-retryably; "always" always fails retryably. Successes upper-case the value.
fn flaky(
    calls: Arc<Mutex<HashMap<String, u32>>>,
) -> impl Fn(&String, &String) -> Result<String, ProcessingError> {
    move |_k, v| {
        let mut c = calls.lock().unwrap();
        let n = c.entry(v.clone()).or_insert(0);
        *n += 1;
        let n = *n;
        if v == "poison" {
            return Err(ProcessingError::non_retryable("cannot parse poison"));
        }
        if v == "always" {
            return Err(ProcessingError::from_status(503, "downstream unavailable"));
        }
        if let Some(k) = v.strip_prefix("retry-") {
            let k: u32 = k.parse().unwrap();
            if n <= k {
                return Err(ProcessingError::retryable(format!("timeout #{n}")));
            }
        }
        Ok(v.to_uppercase())
    }
}

fn config() -> DriverConfig {
    DriverConfig {
        application_id: APP.into(),
        initial_wall_clock_ms: START,
        ..Default::default()
    }
}

fn topology(retried: Retried) -> (kstreams_core::Topology, Arc<Mutex<HashMap<String, u32>>>) {
    let calls = Arc::new(Mutex::new(HashMap::new()));
    let b = StreamsBuilder::new();
    let s: KStream<String, String> =
        b.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    s.try_map_values(flaky(calls.clone()), retried.with_name("flaky"))
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    (b.build().unwrap(), calls)
}

fn pinned(u: f64) -> Retried {
    Retried::with_policy(policy()).with_jitter(move || Box::new(move || u))
}

fn meta(r: &Record<String, String>) -> FailureMetadata {
    FailureMetadata::read_from(&r.headers).unwrap().unwrap()
}

#[test]
fn retryable_failure_is_retried_after_its_backoff_and_then_succeeds() {
    let (t, calls) = topology(pinned(0.0));
    let d = TopologyTestDriver::with_config(t, config()).unwrap();
    let input = d.input_topic::<String, String>("in");
    let out = d.output_topic::<String, String>("out");
    let retry = d.output_topic::<String, String>(RETRY_TOPIC);
    input.pipe_record(
        Record::new("k".to_string(), "retry-2".to_string(), 5)
            .with_headers(Headers::new().with("trace", "t1")),
    );
    assert!(out.is_empty());
    let r1 = retry.read_record();
    assert_eq!(
        (r1.key.as_str(), r1.value.as_str(), r1.timestamp),
        ("k", "retry-2", 5)
    );
    let m1 = meta(&r1);
    assert_eq!(m1.attempt, 1);
    assert_eq!(m1.first_failure_ms, START);
    // Jitter pinned at the low edge: 1000 ms * (1 - 0.2).
    assert_eq!(m1.due_ms, Some(START + 800));
    assert_eq!(m1.error_class, FailureClass::Retryable);
    assert_eq!(m1.error_message, "timeout #1");
    assert_eq!(m1.failed_node, "flaky");
    assert_eq!(m1.application_id, APP);
    let o = m1.original.clone().unwrap();
    assert_eq!(
        (
            &*o.metadata.topic,
            o.metadata.partition,
            o.metadata.offset,
            o.timestamp
        ),
        ("in", 0, 0, 5)
    );
    assert_eq!(r1.headers.last_value("trace"), Some(&b"t1"[..]));
    // Not due yet: nothing happens.
    d.advance_wall_clock_time(Duration::from_millis(799));
    assert!(out.is_empty() && retry.is_empty());
    assert_eq!(calls.lock().unwrap()["retry-2"], 1);
    // Due: the second attempt fails too, and is scheduled 2000 * 0.8 ms later.
    d.advance_wall_clock_time(Duration::from_millis(1));
    assert!(out.is_empty());
    let r2 = retry.read_record();
    let m2 = meta(&r2);
    assert_eq!(m2.attempt, 2);
    assert_eq!(m2.first_failure_ms, START);
    assert_eq!(m2.due_ms, Some(START + 800 + 1_600));
    assert_eq!(m2.original, m1.original);
    d.advance_wall_clock_time(Duration::from_millis(1_599));
    assert!(out.is_empty());
    d.advance_wall_clock_time(Duration::from_millis(1));
    let done = out.read_record();
    assert_eq!(
        (done.key.as_str(), done.value.as_str(), done.timestamp),
        ("k", "RETRY-2", 5)
    );
    // The output keeps user headers but no failure metadata.
    assert_eq!(done.headers.last_value("trace"), Some(&b"t1"[..]));
    assert!(
        header::ALL
            .iter()
            .all(|h| done.headers.last_header(h).is_none())
    );
    assert!(retry.is_empty());
    assert!(d.dead_letter_topic::<String, String>().is_empty());
    let m = d.node_metrics();
    assert_eq!(
        m.get(FailureMetric::RetryScheduled, "flaky", "retryable"),
        2
    );
    assert_eq!(m.get(FailureMetric::RetryRedelivered, "flaky", "due"), 2);
    assert_eq!(m.total(FailureMetric::DeadLetter), 0);
    // The scheduler store is empty again.
    let store = d
        .key_value_store::<Vec<u8>, Vec<u8>>("flaky-retry-store")
        .unwrap();
    assert_eq!(store.approximate_num_entries().unwrap(), 0);
}

#[test]
fn attempt_n_is_due_within_its_jittered_window_until_max_attempts() {
    let p = policy();
    let (t, calls) =
        topology(Retried::with_policy(p.clone()).with_jitter(|| Box::new(SplitMixJitter::new(42))));
    let d = TopologyTestDriver::with_config(t, config()).unwrap();
    let input = d.input_topic::<String, String>("in");
    let retry = d.output_topic::<String, String>(RETRY_TOPIC);
    let dlq = d.dead_letter_topic::<String, String>();
    input.pipe_record(
        Record::new("k".to_string(), "always".to_string(), 7)
            .with_headers(Headers::new().with("trace", "t2")),
    );
    let mut dues = Vec::new();
    for attempt in 1..=3u32 {
        let failed_at = d.wall_clock_time_ms();
        let r = retry.read_record();
        let m = meta(&r);
        assert_eq!(m.attempt, attempt);
        let due = m.due_ms.unwrap();
        let (lo, hi) = p.delay_window_ms(attempt);
        assert!(
            (failed_at + lo..=failed_at + hi).contains(&due),
            "attempt {attempt}: due {due} outside [{}, {}]",
            failed_at + lo,
            failed_at + hi
        );
        dues.push(due - failed_at);
        // One ms early: not re-delivered.
        d.advance_wall_clock_time(Duration::from_millis((due - failed_at - 1) as u64));
        assert!(
            retry.is_empty() && dlq.is_empty(),
            "attempt {attempt} re-delivered early"
        );
        // Due: re-delivered by the next scheduler poll (every 10 ms).
        d.advance_wall_clock_time(Duration::from_millis(10));
    }
    // Seeded jitter actually moved the delays off their bases.
    assert_ne!(dues, vec![1_000, 2_000, 4_000]);
    // The 4th attempt was the last allowed one.
    assert!(retry.is_empty());
    let r = dlq.read_record();
    assert_eq!(
        (r.key.as_str(), r.value.as_str(), r.timestamp),
        ("k", "always", 7)
    );
    let m = meta(&r);
    assert_eq!(m.attempt, 4);
    assert_eq!(m.dlq_reason, Some(DeadLetterReason::MaxAttempts));
    assert_eq!(m.due_ms, None);
    assert_eq!(m.first_failure_ms, START);
    assert_eq!(m.error_class, FailureClass::Retryable);
    assert_eq!(m.error_message, "status 503: downstream unavailable");
    assert_eq!(m.failed_node, "flaky");
    let o = m.original.unwrap();
    assert_eq!(
        (&*o.metadata.topic, o.metadata.offset, o.timestamp),
        ("in", 0, 7)
    );
    assert_eq!(r.headers.last_value("trace"), Some(&b"t2"[..]));
    assert_eq!(
        r.headers.last_value(header::DLQ_REASON),
        Some(&b"max-attempts"[..])
    );
    // Terminal: however long we wait, nothing comes back from the DLQ.
    d.advance_wall_clock_time(Duration::from_secs(3_600));
    assert!(retry.is_empty() && dlq.is_empty());
    assert_eq!(calls.lock().unwrap()["always"], 4);
    let fm = d.node_metrics();
    assert_eq!(
        fm.get(FailureMetric::DeadLetter, "flaky", "max-attempts"),
        1
    );
    assert_eq!(
        fm.get(FailureMetric::RetryScheduled, "flaky", "retryable"),
        3
    );
    assert_eq!(fm.get(FailureMetric::RetryRedelivered, "flaky", "due"), 3);
}

#[test]
fn non_retryable_failure_goes_straight_to_the_dlq_and_does_not_block() {
    let (t, _) = topology(pinned(0.5));
    let d = TopologyTestDriver::with_config(t, config()).unwrap();
    let input = d.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("a".into(), "poison".into(), 1);
    input.pipe_input_with_timestamp("a".into(), "ok".into(), 2);
    let out = d
        .output_topic::<String, String>("out")
        .read_records_to_list();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].value.as_str(), out[0].timestamp), ("OK", 2));
    assert!(d.output_topic::<String, String>(RETRY_TOPIC).is_empty());
    let r = d.dead_letter_topic::<String, String>().read_record();
    assert_eq!((r.key.as_str(), r.value.as_str()), ("a", "poison"));
    let m = meta(&r);
    assert_eq!(m.attempt, 1);
    assert_eq!(m.dlq_reason, Some(DeadLetterReason::NonRetryable));
    assert_eq!(m.error_class, FailureClass::NonRetryable);
    assert_eq!(m.error_message, "cannot parse poison");
    assert_eq!(d.dead_letter_topic_name(), "app-dlq");
    assert_eq!(
        d.node_metrics()
            .get(FailureMetric::DeadLetter, "flaky", "non-retryable"),
        1
    );
}

#[test]
fn a_waiting_record_is_overtaken_by_later_records_of_its_key() {
    let (t, _) = topology(pinned(0.5));
    let d = TopologyTestDriver::with_config(t, config()).unwrap();
    let input = d.input_topic::<String, String>("in");
    let out = d.output_topic::<String, String>("out");
    input.pipe_input_with_timestamp("k".into(), "retry-1".into(), 1);
    input.pipe_input_with_timestamp("k".into(), "ok".into(), 2);
    input.pipe_input_with_timestamp("k".into(), "ok2".into(), 3);
    assert_eq!(out.read_values_to_list(), vec!["OK", "OK2"]);
    d.advance_wall_clock_time(Duration::from_millis(1_000));
    let late = out.read_record();
    assert_eq!((late.value.as_str(), late.timestamp), ("RETRY-1", 1));
}

#[test]
fn parked_records_are_redelivered_in_due_order() {
    // Two records fail at different times with different delays; the earlier due goes first.
    let (t, _) = topology(pinned(0.5));
    let d = TopologyTestDriver::with_config(t, config()).unwrap();
    let input = d.input_topic::<String, String>("in");
    let out = d.output_topic::<String, String>("out");
    input.pipe_input_with_timestamp("a".into(), "retry-2".into(), 1);
    d.advance_wall_clock_time(Duration::from_millis(1_000)); // a fails again: due +2000
    input.pipe_input_with_timestamp("b".into(), "retry-1".into(), 2); // due +1000
    d.advance_wall_clock_time(Duration::from_millis(3_000));
    assert_eq!(out.read_values_to_list(), vec!["RETRY-1", "RETRY-2"]);
}

#[test]
fn try_flat_map_values_emits_every_value_after_a_retry() {
    let calls = Arc::new(Mutex::new(0u32));
    let c = calls.clone();
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .try_flat_map_values(
            move |_k, v: &String| {
                let mut n = c.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    Err(ProcessingError::retryable("busy"))
                } else {
                    Ok(v.split(',').map(str::to_string).collect::<Vec<_>>())
                }
            },
            Retried::with_policy(policy()).with_jitter(|| Box::new(|| 0.5)),
        )
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let d = TopologyTestDriver::with_config(b.build().unwrap(), config()).unwrap();
    d.input_topic::<String, String>("in")
        .pipe_input_with_timestamp("k".into(), "x,y".into(), 9);
    let out = d.output_topic::<String, String>("out");
    assert!(out.is_empty());
    d.advance_wall_clock_time(Duration::from_millis(1_000));
    let rs = out.read_records_to_list();
    assert_eq!(
        rs.iter()
            .map(|r| (r.value.as_str(), r.timestamp))
            .collect::<Vec<_>>(),
        vec![("x", 9), ("y", 9)]
    );
}

#[test]
fn a_replayed_record_failing_again_shows_its_replay_count() {
    let (t, _) = topology(pinned(0.5));
    let d = TopologyTestDriver::with_config(t, config()).unwrap();
    // What the replay tool sends back: the DLQ record's headers with `replayed` incremented.
    let mut h = Headers::new().with(header::REPLAYED, "1");
    FailureMetadata {
        attempt: 4,
        first_failure_ms: 1,
        due_ms: None,
        error_class: FailureClass::Retryable,
        error_message: "old".into(),
        dlq_reason: Some(DeadLetterReason::MaxAttempts),
        failed_node: "flaky".into(),
        application_id: APP.into(),
        original: None,
    }
    .write_to(&mut h);
    d.input_topic::<String, String>("in")
        .pipe_record(Record::new("k".to_string(), "poison".to_string(), 3).with_headers(h));
    let r = d.dead_letter_topic::<String, String>().read_record();
    let m = meta(&r);
    // A fresh failure (attempt 1, new reason), and the replay count survives.
    assert_eq!(m.attempt, 1);
    assert_eq!(m.dlq_reason, Some(DeadLetterReason::NonRetryable));
    assert_eq!(kstreams_core::failure::replay_count(&r.headers), 1);
    assert!(d.dead_letter_topic::<String, String>().is_empty());
}

#[test]
fn a_configured_dead_letter_topic_is_used() {
    let (t, _) = topology(pinned(0.5));
    let cfg = DriverConfig {
        dead_letter_topic: Some("poison-records".into()),
        ..config()
    };
    let d = TopologyTestDriver::with_config(t, cfg).unwrap();
    d.input_topic::<String, String>("in")
        .pipe_input("k".into(), "poison".into());
    assert_eq!(d.dead_letter_topic_name(), "poison-records");
    assert_eq!(
        d.output_topic::<String, String>("poison-records")
            .read_value(),
        "poison"
    );
    assert!(d.output_topic::<String, String>("app-dlq").is_empty());
}

#[test]
fn a_topology_reading_the_dlq_is_rejected() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(
        "app-dlq",
        Consumed::with(Serdes::string(), Serdes::string()),
    )
    .to("in", Produced::with(Serdes::string(), Serdes::string()));
    let err = TopologyTestDriver::with_config(b.build().unwrap(), config())
        .err()
        .expect("reading the DLQ must be rejected");
    assert!(
        err.to_string().contains("dead-letter topic 'app-dlq'"),
        "{err}"
    );
}

#[test]
fn an_invalid_policy_fails_the_build_naming_the_node() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .try_map_values(
            |_k, v: &String| Ok::<_, ProcessingError>(v.clone()),
            Retried::with_policy(RetryPolicy::default().with_jitter(1.5)).with_name("bad"),
        );
    let err = b.build().err().expect("invalid policy");
    let text = err.to_string();
    assert!(text.contains("bad") && text.contains("jitter"), "{text}");
}

#[test]
fn the_lowering_adds_a_retry_source_topic_and_store() {
    let (t, _) = topology(pinned(0.5));
    let built = t.build(Some(APP)).unwrap();
    assert!(built.internal_topics().contains(&RETRY_TOPIC.to_string()));
    assert_eq!(
        built.changelog_topics()[0].topic,
        "app-flaky-retry-store-changelog"
    );
    // One sub-topology: the retry topic is read by the task that writes it.
    assert_eq!(built.subtopology_ids().count(), 1);
    assert_eq!(
        built.source_topics(0),
        vec![RETRY_TOPIC.to_string(), "in".to_string()]
    );
}
