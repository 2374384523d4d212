//! `KafkaStreams::close_timeout`: a thread stuck in a processor makes the close time out
//! (`false`, the instance stays PendingShutdown) without losing anything; once the processor
//! returns, `close` finishes and the records are committed. An idle instance closes in time.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kstreams_core::{Processor, ProcessorContext, Record, Result};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State};
use kstreams_testkit::{TansuBroker, random_topic};

/// Lets the line "block" through only once `gate` opens; tells `entered` it waits.
#[derive(Clone, Default)]
struct Gate {
    entered: Arc<AtomicBool>,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    fn release(&self) {
        let (lock, cv) = &*self.open;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}

struct Blocking(Gate);

impl Processor<Option<String>, String, String, String> for Blocking {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<Option<String>, String>,
    ) -> Result<()> {
        if record.value == "block" {
            self.0.entered.store(true, Ordering::SeqCst);
            let (lock, cv) = &*self.0.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        }
        ctx.forward(Record::new(
            record.value.clone(),
            record.value,
            record.timestamp,
        ))
    }
}

#[test]
fn a_close_that_times_out_leaves_the_threads_finishing_in_the_background() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("close-in");
    let output = random_topic("close-out");
    let app = random_topic("close-app");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir.path());
    let gate = Gate::default();
    let g = gate.clone();
    let topology = lines_through(&input, &output, "blocking", move || Blocking(g.clone()));
    let mut streams = KafkaStreams::new(topology, cfg.clone()).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let lines: Vec<String> = ["a", "block"].iter().map(|s| s.to_string()).collect();
    rt.block_on(produce_lines(&bs, &input, &lines));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gate.entered.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the processor never saw 'block'");
        std::thread::sleep(Duration::from_millis(20));
    }

    let started = Instant::now();
    assert!(!streams.close_timeout(Duration::from_millis(300)).unwrap());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(streams.state(), State::PendingShutdown);

    // The processor returns: the thread processes, commits and stops; close waits for it.
    gate.release();
    streams.close().unwrap();
    assert_eq!(streams.state(), State::NotRunning);
    let out = rt.block_on(read_output(&bs, &output, 2, 2, Duration::from_secs(30)));
    let mut values: Vec<String> = out.into_iter().map(|(_, v)| v).collect();
    values.sort();
    assert_eq!(values, ["a", "block"]);
    drop(streams);

    // An idle instance closes within the timeout.
    let open = Gate::default();
    open.release();
    let topology = lines_through(&input, &output, "blocking", move || Blocking(open.clone()));
    let mut streams = KafkaStreams::new(topology, cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    assert!(streams.close_timeout(Duration::from_secs(60)).unwrap());
    assert_eq!(streams.state(), State::NotRunning);
    assert!(
        streams.close_timeout(Duration::ZERO).unwrap(),
        "closing again is a no-op"
    );
}
