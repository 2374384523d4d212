//! A stream thread that fails with an error no other handler took: the uncaught exception
//! handler replaces it (the new thread takes the tasks again from the committed offsets), or,
//! by default, shuts the instance down.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use kstreams_core::{Processor, ProcessorContext, Record, Result, StreamsError, Topology};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State, StreamThreadExceptionResponse};
use kstreams_testkit::{TansuBroker, random_topic};

/// Keys each line by itself; fails on the line "poison" while `failures` is above zero.
struct FailOnPoison {
    failures: Arc<AtomicUsize>,
}

impl Processor<Option<String>, String, String, String> for FailOnPoison {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<Option<String>, String>,
    ) -> Result<()> {
        if record.value == "poison"
            && self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StreamsError::processing("poison line"));
        }
        ctx.forward(Record::new(
            record.value.clone(),
            record.value,
            record.timestamp,
        ))
    }
}

fn topology(input: &str, output: &str, failures: Arc<AtomicUsize>) -> Topology {
    lines_through(input, output, "fail-on-poison", move || FailOnPoison {
        failures: failures.clone(),
    })
}

#[test]
fn a_failed_thread_is_replaced_and_the_new_one_processes_everything() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("replace-in");
    let output = random_topic("replace-out");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &random_topic("replace-app"),
        &bs,
        ProcessingGuarantee::ExactlyOnceV2,
        dir.path(),
    )
    .with_uncaught_exception_handler(|_: &kstreams_runtime::RuntimeError| {
        StreamThreadExceptionResponse::ReplaceThread
    });
    // The first thread fails on the poison line; its replacement processes it.
    let failures = Arc::new(AtomicUsize::new(1));
    let mut streams = KafkaStreams::new(topology(&input, &output, failures.clone()), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    assert_eq!(streams.alive_stream_threads(), 1);
    let text: Vec<String> = ["a", "b", "poison", "c", "d", "e"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    rt.block_on(produce_lines(&bs, &input, &text));
    let got = rt.block_on(read_output(&bs, &output, 2, 6, Duration::from_secs(60)));
    let mut values: Vec<String> = got.into_iter().map(|(_, v)| v).collect();
    values.sort();
    assert_eq!(
        values,
        ["a", "b", "c", "d", "e", "poison"],
        "exactly once, across the replacement"
    );
    assert_eq!(failures.load(Ordering::SeqCst), 0, "the thread failed once");
    assert_eq!(streams.metrics().replaced_threads, 1);
    assert_eq!(streams.alive_stream_threads(), 1, "the replacement runs");
    assert_ne!(streams.state(), State::Error);
    streams.close().unwrap();
}

#[test]
fn by_default_a_failed_thread_shuts_the_instance_down() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("shutdown-in");
    let output = random_topic("shutdown-out");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &random_topic("shutdown-app"),
        &bs,
        ProcessingGuarantee::AtLeastOnce,
        dir.path(),
    )
    .with_threads(2);
    // One failure: a thread that went on running would take the failed one's partition over
    // (after the session timeout) and process the poison line.
    let failures = Arc::new(AtomicUsize::new(1));
    let mut streams = KafkaStreams::new(topology(&input, &output, failures), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let text: Vec<String> = ["a", "poison"].iter().map(|s| s.to_string()).collect();
    rt.block_on(produce_lines(&bs, &input, &text));
    let deadline = Instant::now() + Duration::from_secs(30);
    while streams.state() != State::Error && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(streams.state(), State::Error);
    // The other thread stops too, without close() being called.
    while streams.alive_stream_threads() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        streams.alive_stream_threads(),
        0,
        "every stream thread stopped"
    );
    let err = streams.close().unwrap_err();
    assert!(err.to_string().contains("poison"), "{err}");
    assert_eq!(streams.metrics().replaced_threads, 0);
}
