//! `KafkaStreams::pause` and `resume`: a paused instance stays in the group and Running but
//! processes nothing; what arrives meanwhile is processed after `resume`, exactly once.

use crate::common;

use std::time::Duration;

use common::*;
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State};
use kstreams_testkit::{TansuBroker, random_topic};

#[test]
fn a_paused_instance_processes_nothing_until_it_resumes() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("pause-in");
    let output = random_topic("pause-out");
    let app = random_topic("pause-app");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir.path());
    let mut streams = KafkaStreams::new(word_count(&input, &output), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let first = lines("a", 20);
    rt.block_on(produce_lines(&bs, &input, &first));
    let want = count_words(&first);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        2,
        total(&want),
        Duration::from_secs(60),
    ));
    assert_eq!(final_counts(&out), want);

    streams.pause();
    assert!(streams.is_paused());
    // Let a step take the pause before new input arrives.
    std::thread::sleep(Duration::from_millis(500));
    let processed = streams.metrics().processed;
    let second = lines("b", 20);
    rt.block_on(produce_lines(&bs, &input, &second));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        streams.metrics().processed,
        processed,
        "nothing processed while paused"
    );
    assert_eq!(
        streams.state(),
        State::Running,
        "still in the group, still Running"
    );
    let out = rt.block_on(read_output(
        &bs,
        &output,
        2,
        usize::MAX,
        Duration::from_millis(500),
    ));
    assert_eq!(out.len(), total(&want), "no new output while paused");

    streams.resume();
    assert!(!streams.is_paused());
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let want = count_words(&all);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        2,
        total(&want),
        Duration::from_secs(60),
    ));
    assert_eq!(final_counts(&out), want);
    assert_eq!(out.len(), total(&want), "every count once");
    streams.close().unwrap();
}
