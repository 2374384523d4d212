//! When the stream thread commits besides the commit interval: a processor's
//! `ProcessorContext::commit` commits at once, and processed records are committed when the
//! interval is due although no more input comes and the poll could wait much longer. Both under
//! exactly-once, where the output becomes visible only with the commit.

use crate::common;

use std::time::Duration;

use common::*;
use kstreams_core::{Processor, ProcessorContext, Record, Result, Topology};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee};
use kstreams_testkit::{TansuBroker, random_topic};

/// Keys each line by itself and asks for a commit after a line "commit".
struct CommitOnRequest;

impl Processor<Option<String>, String, String, String> for CommitOnRequest {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<Option<String>, String>,
    ) -> Result<()> {
        let commit = record.value == "commit";
        ctx.forward(Record::new(
            record.value.clone(),
            record.value,
            record.timestamp,
        ))?;
        if commit {
            ctx.commit();
        }
        Ok(())
    }
}

fn committing(input: &str, output: &str) -> Topology {
    lines_through(input, output, "commit-on-request", || CommitOnRequest)
}

#[test]
fn a_processor_asking_for_a_commit_gets_one_before_the_interval() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("request-in");
    let output = random_topic("request-out");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &random_topic("request-app"),
        &bs,
        ProcessingGuarantee::ExactlyOnceV2,
        dir.path(),
    )
    // No interval commit within the test.
    .with_commit_interval(Duration::from_secs(600));
    let mut cfg = cfg;
    cfg.transaction_timeout = Duration::from_secs(600);
    let mut streams = KafkaStreams::new(committing(&input, &output), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    // Lines go to partitions 0, 1, 0, 1: each partition's last line asks for a commit, after
    // that partition's other line.
    let text: Vec<String> = ["a", "b", "commit", "commit"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    rt.block_on(produce_lines(&bs, &input, &text));
    let got = rt.block_on(read_output(&bs, &output, 2, 4, Duration::from_secs(20)));
    let mut values: Vec<String> = got.into_iter().map(|(_, v)| v).collect();
    values.sort();
    assert_eq!(
        values,
        ["a", "b", "commit", "commit"],
        "the requested commit made the output visible (read_committed) long before the 600 s interval"
    );
    streams.close().unwrap();
}

#[test]
fn processed_records_are_committed_when_due_although_the_poll_could_wait_longer() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("due-in");
    let output = random_topic("due-out");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        &random_topic("due-app"),
        &bs,
        ProcessingGuarantee::ExactlyOnceV2,
        dir.path(),
    )
    .with_commit_interval(Duration::from_millis(100));
    // Commits every 100 ms; a poll without records may wait 4 s. The word count goes through a
    // repartition topic read read_committed, so each stage's records reach the next only with a
    // commit: polls that waited for records before committing would take two of those waits.
    cfg.poll_interval = Duration::from_secs(4);
    cfg.fetch_max_wait = Duration::from_millis(10);
    let mut streams = KafkaStreams::new(word_count(&input, &output), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let text = lines("due", 20);
    rt.block_on(produce_lines(&bs, &input, &text));
    let want = count_words(&text);
    let got = rt.block_on(read_output(
        &bs,
        &output,
        2,
        total(&want),
        Duration::from_secs(3),
    ));
    assert_eq!(
        final_counts(&got),
        want,
        "every count was committed within 3 s, although a poll may wait 4 s"
    );
    streams.close().unwrap();
}
