//! A pipeline calling a flaky downstream service (simulated), with retries through a retry
//! topic, a dead-letter topic and replay (`examples/dlq_replay.rs`):
//!
//! `stream(input)` → `try_map_values` (node `call-downstream`: the simulated call; retry topic
//! `<application.id>-call-downstream-retry`, scheduler store
//! `call-downstream-retry-store`) → `to(output)` with the downstream's answer
//! (`ok:<value>`). Records whose value contains `poison` are rejected by the downstream with
//! a 400 (non-retryable: straight to `<application.id>-dlq`); other calls fail with a 503
//! (retryable) with probability `--failure-rate` percent, decided by a hash of the value and
//! the attempt so runs are reproducible. Records still failing after `--max-attempts` go to
//! the DLQ with reason `max-attempts`.
//!
//! ```text
//! cargo run --release --example flaky_downstream -- --bootstrap 127.0.0.1:9092 \
//!     --input requests --output responses --application-id flaky \
//!     [--guarantee exactly-once|at-least-once] [--state-dir DIR] [--threads N] \
//!     [--failure-rate 30] [--max-attempts 4] [--backoff-ms 500]
//! ```
//!
//! After a fix, send dead-lettered records back with
//! `cargo run --example dlq_replay -- --bootstrap ... --dlq flaky-dlq`.

mod common;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kstreams::failure::{ProcessingError, RetryPolicy};
use kstreams::prelude::*;

/// The name of the failing node (and of its retry topic and store).
pub const NODE: &str = "call-downstream";

/// The simulated downstream: remembers how often each value was sent, fails retryably with
/// probability `failure_rate` percent per call, and rejects poison.
#[derive(Clone)]
pub struct FlakyDownstream {
    failure_rate: u64,
    calls: Arc<Mutex<HashMap<String, u32>>>,
}

impl FlakyDownstream {
    /// A downstream failing `failure_rate` percent of the calls (0..=100).
    pub fn new(failure_rate: u64) -> Self {
        FlakyDownstream {
            failure_rate: failure_rate.min(100),
            calls: Arc::default(),
        }
    }

    /// Calls made so far with `value`.
    pub fn calls(&self, value: &str) -> u32 {
        self.calls
            .lock()
            .map(|c| c.get(value).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// One call.
    pub fn call(&self, value: &str) -> std::result::Result<String, ProcessingError> {
        let n = {
            let mut c = self
                .calls
                .lock()
                .map_err(|_| ProcessingError::non_retryable("downstream state poisoned"))?;
            let n = c.entry(value.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        if value.contains("poison") {
            return Err(ProcessingError::from_status(400, "bad request: poison"));
        }
        let mut h = DefaultHasher::new();
        (value, n).hash(&mut h);
        if h.finish() % 100 < self.failure_rate {
            return Err(ProcessingError::from_status(
                503,
                format!("unavailable (call {n})"),
            ));
        }
        Ok(format!("ok:{value}"))
    }
}

/// The pipeline from `input` requests to `output` responses.
pub fn topology(
    input: &str,
    output: &str,
    downstream: FlakyDownstream,
    policy: RetryPolicy,
) -> std::result::Result<Topology, kstreams::TopologyError> {
    let b = StreamsBuilder::new();
    b.stream::<Option<String>, String>(
        input,
        Consumed::with(Serdes::option(Serdes::string()), Serdes::string()),
    )
    .try_map_values(
        move |_key, value: &String| downstream.call(value),
        Retried::with_policy(policy).with_name(NODE),
    )
    .to(
        output,
        Produced::with(Serdes::option(Serdes::string()), Serdes::string()),
    );
    b.build()
}

fn number(args: &common::Args, name: &str, default: u64) -> std::result::Result<u64, String> {
    args.extra_or(name, &default.to_string())
        .parse()
        .map_err(|_| format!("--{name} needs a number"))
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    common::run(
        "flaky_downstream",
        &["failure-rate", "max-attempts", "backoff-ms"],
        |args| {
            let policy = RetryPolicy::default()
                .with_max_attempts(number(args, "max-attempts", 4)? as u32)
                .with_initial_backoff(Duration::from_millis(number(args, "backoff-ms", 500)?))
                .with_max_delay(Duration::from_secs(30));
            let downstream = FlakyDownstream::new(number(args, "failure-rate", 30)?);
            Ok(topology(&args.input, &args.output, downstream, policy)?)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams::failure::{DeadLetterReason, FailureMetadata, FailureMetric};
    use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

    fn driver(rate: u64) -> (TopologyTestDriver, FlakyDownstream) {
        let downstream = FlakyDownstream::new(rate);
        let policy = RetryPolicy::default()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1))
            .with_poll_interval(Duration::from_millis(10));
        let t = topology("requests", "responses", downstream.clone(), policy).unwrap();
        let cfg = DriverConfig {
            application_id: "flaky".into(),
            initial_wall_clock_ms: 0,
            ..Default::default()
        };
        (TopologyTestDriver::with_config(t, cfg).unwrap(), downstream)
    }

    #[test]
    fn retries_until_success_and_dead_letters_poison_and_hopeless_records() {
        let (d, downstream) = driver(40);
        let input = d.create_input_topic(
            "requests",
            Serdes::option(Serdes::string()),
            Serdes::string(),
        );
        let values: Vec<String> = (0..40).map(|i| format!("req-{i}")).collect();
        for v in &values {
            input.pipe_input(None, v.clone());
        }
        input.pipe_input(None, "poison-1".to_string());
        // Enough wall-clock time for every retry (backoff <= 1 s, 3 attempts).
        for _ in 0..50 {
            d.advance_wall_clock_time(Duration::from_millis(100));
        }
        let out: Vec<String> = d
            .create_output_topic(
                "responses",
                Serdes::option(Serdes::string()),
                Serdes::string(),
            )
            .read_values_to_list();
        let dlq = d
            .dead_letter_topic::<Option<String>, String>()
            .read_records_to_list();
        // Every request is answered or dead-lettered, once.
        let mut answered: Vec<String> = out
            .iter()
            .map(|v| v.strip_prefix("ok:").unwrap().to_string())
            .collect();
        let mut dead: Vec<String> = dlq.iter().map(|r| r.value.clone()).collect();
        let poison = dead.iter().position(|v| v == "poison-1").unwrap();
        dead.remove(poison);
        answered.extend(dead.iter().cloned());
        answered.sort();
        let mut want = values.clone();
        want.sort();
        assert_eq!(answered, want);
        // With 40 % failures some records needed retries, and some exhausted them.
        let m = d.node_metrics();
        assert!(m.get(FailureMetric::RetryScheduled, NODE, "retryable") > 0);
        assert!(
            !dead.is_empty(),
            "some records should exhaust 3 attempts at 40 %"
        );
        for r in &dlq {
            let meta = FailureMetadata::read_from(&r.headers).unwrap().unwrap();
            if r.value == "poison-1" {
                assert_eq!(meta.dlq_reason, Some(DeadLetterReason::NonRetryable));
                assert_eq!(meta.attempt, 1);
                assert_eq!(downstream.calls("poison-1"), 1);
            } else {
                assert_eq!(meta.dlq_reason, Some(DeadLetterReason::MaxAttempts));
                assert_eq!(meta.attempt, 3);
                assert_eq!(downstream.calls(&r.value), 3);
            }
        }
        assert_eq!(
            m.get(FailureMetric::DeadLetter, NODE, "max-attempts") as usize,
            dead.len()
        );
    }

    #[test]
    fn a_reliable_downstream_needs_no_retry_topic() {
        let (d, _) = driver(0);
        let input = d.create_input_topic(
            "requests",
            Serdes::option(Serdes::string()),
            Serdes::string(),
        );
        input.pipe_input_with_timestamp(Some("k".into()), "a".to_string(), 42);
        let r = d
            .create_output_topic(
                "responses",
                Serdes::option(Serdes::string()),
                Serdes::string(),
            )
            .read_record();
        assert_eq!(
            (r.key.as_deref(), r.value.as_str(), r.timestamp),
            (Some("k"), "ok:a", 42)
        );
        assert!(
            !d.produced_topic_names()
                .contains(&"flaky-call-downstream-retry".to_string())
        );
    }
}
