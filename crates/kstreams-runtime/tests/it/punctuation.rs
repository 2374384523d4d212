//! Wall-clock punctuators run under the runtime (no input needed), and under exactly_once_v2
//! what they forward is committed in the thread's transactions.

use crate::common;

use std::time::Duration;

use common::*;
use kstreams_core::{
    Processor, ProcessorContext, PunctuationType, Record, Result, Serdes, Topology,
};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee};
use kstreams_testkit::{TansuBroker, random_topic};

struct Ticker {
    ticks: i64,
}

impl Processor<String, String, String, String> for Ticker {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<()> {
        let partition = ctx.task_id().partition;
        let mut n = 0i64;
        ctx.schedule(
            Duration::from_millis(100),
            PunctuationType::WallClockTime,
            move |ctx, ts| {
                n += 1;
                ctx.forward(Record::new(format!("tick-{partition}"), n.to_string(), ts))
            },
        )?;
        Ok(())
    }

    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, String>,
        _record: Record<String, String>,
    ) -> Result<()> {
        self.ticks += 1;
        Ok(())
    }
}

/// input → ticker (a wall-clock punctuator every 100 ms per task) → output.
fn ticker(input: &str, output: &str) -> Topology {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &[input], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("ticker", || Ticker { ticks: 0 }, &["src"])
        .unwrap();
    t.add_sink::<String, String>(
        "sink",
        output,
        Serdes::string(),
        Serdes::string(),
        &["ticker"],
    )
    .unwrap();
    t
}

#[test]
fn wall_clock_punctuators_fire_and_commit_under_eos() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("p-in");
    let output = random_topic("p-out");
    let app = random_topic("punct");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let t = ticker(&input, &output);
    let cfg = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir.path());
    let mut streams = KafkaStreams::new(t, cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    let out = rt.block_on(read_output(&bs, &output, 2, 10, Duration::from_secs(30)));
    assert!(streams.metrics().commit_latency.count > 0);
    streams.close().unwrap();
    assert!(out.len() >= 10, "{out:?}");
    for p in 0..2 {
        let key = format!("tick-{p}");
        let ticks: Vec<i64> = out
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.parse().unwrap())
            .collect();
        assert!(!ticks.is_empty(), "task of partition {p} punctuated");
        assert_eq!(ticks, (1..=ticks.len() as i64).collect::<Vec<_>>());
    }
}

/// On an idle input a poll may wait `poll.ms` for records: a wall-clock punctuator due sooner
/// ends the wait, so it fires on time (here every 100 ms although a poll may wait 3 s).
#[test]
fn wall_clock_punctuators_fire_on_time_while_the_poll_waits_for_records() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("pt-in");
    let output = random_topic("pt-out");
    let app = random_topic("punct-time");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2), (&output, 2)]));
    let t = ticker(&input, &output);
    let mut cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir.path());
    cfg.poll_interval = Duration::from_secs(3);
    cfg.fetch_max_wait = Duration::from_millis(10);
    let mut streams = KafkaStreams::new(t, cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(60));
    // Two tasks ticking every 100 ms make about 40 ticks in 2 s; polls waiting out their 3 s
    // would make at most one per task.
    let out = rt.block_on(read_output(&bs, &output, 2, 12, Duration::from_secs(2)));
    streams.close().unwrap();
    assert!(
        out.len() >= 12,
        "{} ticks in 2 s with 100 ms punctuators: {out:?}",
        out.len()
    );
}
