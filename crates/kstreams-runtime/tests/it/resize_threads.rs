//! `add_stream_thread` and `remove_stream_thread` on a running instance: the group
//! rebalances the tasks over the threads there are, processing goes on, and every count is
//! right under exactly-once.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, RuntimeError};
use kstreams_testkit::{TansuBroker, random_topic};

/// Waits until `n` threads run, with all 8 tasks (2 sub-topologies x 4 partitions) between
/// them.
fn wait_threads(s: &KafkaStreams, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let threads = s.metadata_for_local_threads();
        let tasks: usize = threads.iter().map(|t| t.active_tasks.len()).sum();
        if threads.len() == n && threads.iter().all(|t| t.running) && tasks == 8 {
            return;
        }
        assert!(Instant::now() < deadline, "{threads:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn threads_are_added_and_removed_while_the_instance_runs() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("resize-in");
    let output = random_topic("resize-out");
    let app = random_topic("resize-app");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 4), (&output, 4)]));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir.path());
    let mut streams = KafkaStreams::new(word_count(&input, &output), cfg).unwrap();
    assert!(
        matches!(
            streams.add_stream_thread(),
            Err(RuntimeError::IllegalState(_))
        ),
        "not before start"
    );
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let mut all = lines("a", 30);
    rt.block_on(produce_lines(&bs, &input, &all));
    let check = |all: &[String]| {
        let want = count_words(all);
        let out = rt.block_on(read_output(
            &bs,
            &output,
            4,
            total(&want),
            Duration::from_secs(90),
        ));
        assert_eq!(final_counts(&out), want);
        assert_eq!(out.len(), total(&want), "every count once");
    };
    check(&all);

    // A second thread: the tasks spread over both.
    assert_eq!(
        streams.add_stream_thread().unwrap(),
        format!("{app}-StreamThread-1")
    );
    wait_threads(&streams, 2);
    assert_eq!(streams.alive_stream_threads(), 2);
    let threads = streams.metadata_for_local_threads();
    assert!(
        threads.iter().all(|t| !t.active_tasks.is_empty()),
        "{threads:?}"
    );
    all.extend(lines("b", 30));
    rt.block_on(produce_lines(&bs, &input, &all[30..]));
    check(&all);

    // Back to one: the remaining thread takes every task again.
    assert_eq!(
        streams.remove_stream_thread().unwrap(),
        Some(format!("{app}-StreamThread-1"))
    );
    wait_threads(&streams, 1);
    assert_eq!(streams.alive_stream_threads(), 1);
    all.extend(lines("c", 30));
    rt.block_on(produce_lines(&bs, &input, &all[60..]));
    check(&all);
    assert_eq!(
        streams.remove_stream_thread().unwrap(),
        None,
        "the last one stays"
    );
    streams.close().unwrap();
}
