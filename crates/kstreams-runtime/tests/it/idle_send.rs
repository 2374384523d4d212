//! A stream thread that has processed everything it fetched sends its output at once, even
//! with a linger far longer than the test and no commit in sight: output does not wait for
//! `linger.ms` or for the commit that would flush it.

use crate::common;

use std::time::Duration;

use common::*;
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee};
use kstreams_testkit::{TansuBroker, random_topic};

#[test]
fn output_leaves_before_the_linger_and_the_commit_when_the_thread_is_idle() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("idle-in");
    let output = random_topic("idle-out");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        &random_topic("idle-app"),
        &bs,
        ProcessingGuarantee::AtLeastOnce,
        dir.path(),
    )
    // Neither a commit nor the linger comes within the test's time.
    .with_commit_interval(Duration::from_secs(600));
    cfg.linger = Duration::from_secs(600);
    cfg.fetch_max_wait = Duration::from_millis(10);
    let mut streams = KafkaStreams::new(word_count(&input, &output), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let text = lines("idle", 20);
    rt.block_on(produce_lines(&bs, &input, &text));
    let want = count_words(&text);
    let got = rt.block_on(read_output(
        &bs,
        &output,
        2,
        total(&want),
        Duration::from_secs(30),
    ));
    assert_eq!(
        final_counts(&got),
        want,
        "every count arrived within 30 s although linger and commit interval are 600 s"
    );
    streams.close().unwrap();
}
