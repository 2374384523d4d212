//! An idempotent sink across a crash, against tansu under at-least-once: records written to
//! the sink but not committed are processed again by the next instance, and every repeated
//! write carries the id of the first, so the sink applies each record once.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kstreams_core::Serdes;
use kstreams_core::failure::RetryPolicy;
use kstreams_dsl::{Consumed, Retried, StreamsBuilder, WriteId};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee};
use kstreams_testkit::{TansuBroker, random_topic};

type Calls = Arc<Mutex<Vec<(WriteId, String)>>>;

fn topology(input: &str, calls: Calls) -> kstreams_core::Topology {
    let b = StreamsBuilder::new();
    b.stream::<Option<String>, String>(
        input,
        Consumed::with(Serdes::option(Serdes::string()), Serdes::string()),
    )
    .to_idempotent_sink(
        move |id: &WriteId, _k: &Option<String>, v: &String| {
            calls.lock().unwrap().push((id.clone(), v.clone()));
            Ok(())
        },
        Retried::with_policy(RetryPolicy::default()).with_name("db"),
    );
    b.build().unwrap()
}

fn wait_calls(calls: &Calls, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while calls.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "{:?}", calls.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn writes_repeated_after_a_crash_carry_their_first_ids() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("sink-in");
    let app = random_topic("sink-app");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2)]));
    let dir = tempfile::tempdir().unwrap();
    // Nothing commits before the kill.
    let cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir.path())
        .with_commit_interval(Duration::from_secs(600));
    let calls: Calls = Arc::default();
    let mut first = KafkaStreams::new(topology(&input, calls.clone()), cfg.clone()).unwrap();
    first.start().unwrap();
    wait_running(&first, Duration::from_secs(60));
    let records = lines("s", 20);
    rt.block_on(produce_lines(&bs, &input, &records));
    wait_calls(&calls, 20);
    first.kill();

    let mut second = KafkaStreams::new(topology(&input, calls.clone()), cfg).unwrap();
    second.start().unwrap();
    wait_calls(&calls, 40);
    second.close().unwrap();

    // Every record was written twice, both times under the same id; applied by id, once.
    let calls = calls.lock().unwrap().clone();
    let mut per_id: BTreeMap<WriteId, Vec<String>> = BTreeMap::new();
    for (id, v) in &calls {
        per_id.entry(id.clone()).or_default().push(v.clone());
    }
    assert_eq!(per_id.len(), 20, "{per_id:?}");
    for (id, values) in &per_id {
        assert_eq!(values.len(), 2, "{id}: {values:?}");
        assert_eq!(values[0], values[1], "{id}");
        assert_eq!(&*id.topic, input.as_str());
    }
    let mut applied: Vec<String> = per_id.into_values().map(|v| v[0].clone()).collect();
    applied.sort();
    let mut want = records.clone();
    want.sort();
    assert_eq!(applied, want);
}
