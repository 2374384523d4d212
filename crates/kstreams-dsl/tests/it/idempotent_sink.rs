//! `to_idempotent_sink` through the TopologyTestDriver: every write carries the id of its
//! input record, the same when a failed write is retried, so a sink that applies each id once
//! ends with each record once; non-retryable failures go to the dead-letter topic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kstreams_core::Serdes;
use kstreams_core::failure::{ProcessingError, RetryPolicy};
use kstreams_dsl::{Consumed, IdempotentSink, Retried, StreamsBuilder, WriteId};
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

/// An external table keyed by write id: a repeated id overwrites itself. "flaky" values fail
/// retryably on their first write, "bad" ones always and for good.
#[derive(Default, Clone)]
struct Table {
    rows: Arc<Mutex<BTreeMap<WriteId, (String, String)>>>,
    calls: Arc<Mutex<Vec<WriteId>>>,
}

impl IdempotentSink<String, String> for Table {
    fn write(&self, id: &WriteId, key: &String, value: &String) -> Result<(), ProcessingError> {
        let mut calls = self.calls.lock().unwrap();
        let first = !calls.contains(id);
        calls.push(id.clone());
        if value == "bad" {
            return Err(ProcessingError::non_retryable("rejected"));
        }
        if value == "flaky" && first {
            return Err(ProcessingError::retryable("timeout"));
        }
        self.rows
            .lock()
            .unwrap()
            .insert(id.clone(), (key.clone(), value.clone()));
        Ok(())
    }
}

#[test]
fn each_record_is_written_once_under_its_input_position_even_when_retried() {
    let table = Table::default();
    let b = StreamsBuilder::new();
    b.stream::<String, String>("orders", Consumed::with(Serdes::string(), Serdes::string()))
        .to_idempotent_sink(
            table.clone(),
            Retried::with_policy(
                RetryPolicy::default()
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_jitter(0.0)
                    .with_poll_interval(Duration::from_millis(10)),
            )
            .with_name("orders-db"),
        );
    let d = TopologyTestDriver::with_config(
        b.build().unwrap(),
        DriverConfig {
            application_id: "app".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let input = d.input_topic::<String, String>("orders");
    input.pipe_input("o1".into(), "ok".into());
    input.pipe_input("o2".into(), "flaky".into());
    input.pipe_input("o3".into(), "bad".into());
    d.advance_wall_clock_time(Duration::from_millis(200));

    let rows = table.rows.lock().unwrap().clone();
    let id = |offset| WriteId {
        topic: "orders".into(),
        partition: 0,
        offset,
    };
    assert_eq!(
        rows,
        BTreeMap::from([
            (id(0), ("o1".to_string(), "ok".to_string())),
            (id(1), ("o2".to_string(), "flaky".to_string())),
        ])
    );
    // The retried write came back with the id of its input record, not of the retry record.
    let calls = table.calls.lock().unwrap().clone();
    assert_eq!(calls, vec![id(0), id(1), id(2), id(1)]);
    assert_eq!(id(1).to_string(), "orders/0/1");
    let dead = d
        .dead_letter_topic::<String, String>()
        .read_records_to_list();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].key.as_str(), dead[0].value.as_str()),
        ("o3", "bad")
    );
}

#[test]
fn a_closure_is_a_sink() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .to_idempotent_sink(
            move |id: &WriteId, k: &String, _v: &String| {
                s.lock().unwrap().push(format!("{id} {k}"));
                Ok(())
            },
            Retried::with_policy(RetryPolicy::default()),
        );
    let d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    d.input_topic::<String, String>("in")
        .pipe_input("a".into(), "x".into());
    assert_eq!(*seen.lock().unwrap(), ["in/0/0 a"]);
}
