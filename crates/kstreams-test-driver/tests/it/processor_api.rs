//! Processor API semantics through the TopologyTestDriver: punctuation, forwarding, headers,
//! stores, internal topics, malformed input.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kstreams_core::processor::{
    Cancellable, LogAndContinueExceptionHandler, Processor, ProcessorContext, PunctuationType,
};
use kstreams_core::{Headers, Record, Result, Serdes, Stores, StreamsError, Topology};
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

type Log = Arc<Mutex<Vec<(String, i64)>>>;

/// Records every punctuation as ("stream"|"wall", time); cancels the stream one at `cancel_at`.
struct Punctuating {
    log: Log,
    cancel_stream_after: Option<usize>,
    handle: Option<Cancellable>,
}

impl Processor<String, String, String, String> for Punctuating {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<()> {
        let log = self.log.clone();
        let limit = self.cancel_stream_after;
        let count = Arc::new(Mutex::new(0usize));
        let handle_slot: Arc<Mutex<Option<Cancellable>>> = Arc::default();
        let slot = handle_slot.clone();
        let h = ctx.schedule(
            Duration::from_millis(10),
            PunctuationType::StreamTime,
            move |ctx, ts| {
                log.lock().unwrap().push(("stream".into(), ts));
                ctx.forward(Record::new("punct".into(), format!("stream@{ts}"), ts))?;
                let mut c = count.lock().unwrap();
                *c += 1;
                if Some(*c) == limit
                    && let Some(h) = slot.lock().unwrap().as_ref()
                {
                    h.cancel();
                }
                Ok(())
            },
        )?;
        *handle_slot.lock().unwrap() = Some(h.clone());
        self.handle = Some(h);
        let log = self.log.clone();
        ctx.schedule(
            Duration::from_millis(100),
            PunctuationType::WallClockTime,
            move |_ctx, ts| {
                log.lock().unwrap().push(("wall".into(), ts));
                Ok(())
            },
        )?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        ctx.forward(r)
    }
}

fn punctuation_topology(log: Log, cancel_stream_after: Option<usize>) -> Topology {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor(
        "p",
        move || Punctuating {
            log: log.clone(),
            cancel_stream_after,
            handle: None,
        },
        &["src"],
    )
    .unwrap();
    t.add_sink::<String, String>("sink", "out", Serdes::string(), Serdes::string(), &["p"])
        .unwrap();
    t
}

fn config_at(wall: i64) -> DriverConfig {
    DriverConfig {
        initial_wall_clock_ms: wall,
        ..DriverConfig::default()
    }
}

#[test]
fn stream_time_punctuation_fires_as_stream_time_passes_each_interval() {
    let log: Log = Arc::default();
    let driver =
        TopologyTestDriver::with_config(punctuation_topology(log.clone(), None), config_at(0))
            .unwrap();
    let input = driver.input_topic::<String, String>("in");
    // Aligned to 0: the first record (ts 3) fires at once; then at 10, 20, ... when reached.
    for ts in [3, 5, 9, 10, 12, 35, 36, 20, 41] {
        input.pipe_input_with_timestamp("k".into(), format!("v{ts}"), ts);
    }
    let stream: Vec<i64> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k == "stream")
        .map(|(_, t)| *t)
        .collect();
    // 3 (due 0), 10 (due 10), 35 (due 20, skips 30 as missed), 41 (due 40). The out-of-order 20
    // does not move stream time back.
    assert_eq!(stream, vec![3, 10, 35, 41]);
    let out = driver.output_topic::<String, String>("out");
    let values = out.read_values_to_list();
    assert!(values.contains(&"stream@35".to_string()));
    // A punctuation forwards with the punctuation time as the record timestamp.
    assert_eq!(
        values.iter().filter(|v| v.starts_with("stream@")).count(),
        4
    );
}

#[test]
fn wall_clock_punctuation_fires_exactly_on_schedule() {
    let log: Log = Arc::default();
    let driver =
        TopologyTestDriver::with_config(punctuation_topology(log.clone(), None), config_at(1_000))
            .unwrap();
    driver.advance_wall_clock_time(Duration::from_millis(99));
    assert!(
        log.lock().unwrap().iter().all(|(k, _)| k != "wall"),
        "must not fire before the interval"
    );
    driver.advance_wall_clock_time(Duration::from_millis(1)); // 1100
    driver.advance_wall_clock_time(Duration::from_millis(250)); // 1350: fires once, skips 1200/1300
    driver.advance_wall_clock_time(Duration::from_millis(50)); // 1400
    let wall: Vec<i64> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k == "wall")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(wall, vec![1100, 1350, 1400]);
    // Wall-clock time does not drive stream-time punctuators.
    assert!(log.lock().unwrap().iter().all(|(k, _)| k != "stream"));
}

#[test]
fn a_cancelled_punctuator_never_fires_again() {
    let log: Log = Arc::default();
    let driver =
        TopologyTestDriver::with_config(punctuation_topology(log.clone(), Some(2)), config_at(0))
            .unwrap();
    let input = driver.input_topic::<String, String>("in");
    for ts in [0, 10, 20, 30, 40] {
        input.pipe_input_with_timestamp("k".into(), "v".into(), ts);
    }
    let stream: Vec<i64> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k == "stream")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(stream, vec![0, 10]);
}

/// Routes records to a named child by the first letter of the value.
struct Router;
impl Processor<String, String, String, String> for Router {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        assert_eq!(ctx.child_names(), vec!["to-a", "to-b"]);
        if r.value.starts_with('a') {
            ctx.forward_to("to-a", r)
        } else if r.value.starts_with('b') {
            ctx.forward_to("to-b", r)
        } else if r.value == "nope" {
            ctx.forward_to("no-such-child", r)
        } else {
            ctx.forward(r)
        }
    }
}

/// Adds a header and checks the record metadata it sees.
struct Tagger(&'static str);
impl Processor<String, String, String, String> for Tagger {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        mut r: Record<String, String>,
    ) -> Result<()> {
        let md = ctx
            .record_metadata()
            .cloned()
            .ok_or_else(|| StreamsError::IllegalState("no metadata".into()))?;
        r.headers.add(
            "hop",
            Some(format!("{}:{}@{}", self.0, md.topic, md.offset).into_bytes()),
        );
        ctx.forward(r)
    }
}

fn routing_topology() -> Topology {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("router", || Router, &["src"]).unwrap();
    t.add_processor("to-a", || Tagger("a"), &["router"])
        .unwrap();
    t.add_processor("to-b", || Tagger("b"), &["router"])
        .unwrap();
    t.add_sink::<String, String>(
        "sink-a",
        "out-a",
        Serdes::string(),
        Serdes::string(),
        &["to-a"],
    )
    .unwrap();
    t.add_sink::<String, String>(
        "sink-b",
        "out-b",
        Serdes::string(),
        Serdes::string(),
        &["to-b"],
    )
    .unwrap();
    t
}

#[test]
fn forward_to_named_children_and_to_all() {
    let driver = TopologyTestDriver::new(routing_topology()).unwrap();
    let input = driver.input_topic::<String, String>("in");
    let a = driver.output_topic::<String, String>("out-a");
    let b = driver.output_topic::<String, String>("out-b");
    input.pipe_input("1".into(), "apple".into());
    input.pipe_input("2".into(), "banana".into());
    input.pipe_input("3".into(), "cherry".into());
    assert_eq!(a.read_values_to_list(), vec!["apple", "cherry"]);
    assert_eq!(b.read_values_to_list(), vec!["banana", "cherry"]);
    let err = input.try_pipe_input("4".into(), "nope".into()).unwrap_err();
    assert!(err.to_string().contains("no-such-child"), "{err}");
}

#[test]
fn headers_and_timestamps_survive_a_hop_and_duplicates_keep_order() {
    let driver = TopologyTestDriver::new(routing_topology()).unwrap();
    let input = driver.input_topic::<String, String>("in");
    let a = driver.output_topic::<String, String>("out-a");
    let headers = Headers::new().with("trace", "t1").with("trace", "t2");
    input
        .pipe_record(Record::new("k".to_string(), "avocado".to_string(), 42).with_headers(headers));
    let r = a.read_record();
    assert_eq!(r.timestamp, 42);
    let traces: Vec<_> = r
        .headers
        .headers("trace")
        .map(|h| h.value.clone().unwrap())
        .collect();
    assert_eq!(traces, vec![b"t1".to_vec(), b"t2".to_vec()]);
    assert_eq!(r.headers.last_value("hop"), Some(&b"a:in@0"[..]));
}

/// Counts per key in a store and forwards the running count.
struct Counter;
impl Processor<String, String, String, i64> for Counter {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, String>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<String, i64>("counts")?;
        let n = store.get(&r.key)?.unwrap_or(0) + 1;
        store.put(&r.key, &n)?;
        ctx.forward(r.with_value(n))
    }
}

fn counting_topology(persistent: bool, cached: bool) -> Topology {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("count", || Counter, &["src"]).unwrap();
    let b = if persistent {
        Stores::key_value_store_builder::<String, i64>("counts")
    } else {
        Stores::in_memory_key_value_store_builder::<String, i64>("counts")
    };
    let b = if cached {
        b.with_caching_enabled(1 << 20)
    } else {
        b
    };
    t.add_state_store(b, &["count"]).unwrap();
    t.add_sink::<String, i64>("sink", "out", Serdes::string(), Serdes::i64(), &["count"])
        .unwrap();
    t
}

#[test]
fn stores_on_both_backends_count_and_log_to_their_changelog() {
    for persistent in [false, true] {
        for cached in [false, true] {
            let driver = TopologyTestDriver::new(counting_topology(persistent, cached)).unwrap();
            let input = driver.input_topic::<String, String>("in");
            let out = driver.output_topic::<String, i64>("out");
            input.pipe_key_value_list(
                [("a", "x"), ("b", "y"), ("a", "z")].map(|(k, v)| (k.to_string(), v.to_string())),
            );
            assert_eq!(out.read_values_to_list(), vec![1, 1, 2]);
            let store = driver.key_value_store::<String, i64>("counts").unwrap();
            assert_eq!(store.get(&"a".into()).unwrap(), Some(2));
            assert_eq!(
                store.all().unwrap(),
                vec![("a".to_string(), 2), ("b".to_string(), 1)]
            );
            assert!(
                driver.key_value_store::<String, String>("counts").is_none(),
                "wrong types give no view"
            );
            // The changelog holds every write (the driver commits after each record, so the
            // cache de-duplicates nothing here).
            let changelog =
                driver.output_topic::<String, i64>("topology-test-driver-counts-changelog");
            assert_eq!(
                changelog.read_key_values_to_list(),
                vec![("a".into(), 1), ("b".into(), 1), ("a".into(), 2)],
                "persistent={persistent} cached={cached}"
            );
            driver.close().unwrap();
        }
    }
}

#[test]
fn a_store_not_connected_to_the_processor_is_an_error() {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("count", || Counter, &["src"]).unwrap();
    t.add_processor("other", || Tagger("x"), &["src"]).unwrap();
    t.add_state_store(
        Stores::in_memory_key_value_store_builder::<String, i64>("counts"),
        &["other"],
    )
    .unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let err = driver
        .input_topic::<String, String>("in")
        .try_pipe_input("k".into(), "v".into())
        .unwrap_err();
    assert!(err.to_string().contains("not connected"), "{err}");
}

/// Re-keys by value, then a second sub-topology reads the internal topic.
struct Rekey;
impl Processor<String, String, String, String> for Rekey {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        let k = r.value.clone();
        ctx.forward(r.with_key(k))
    }
}

#[test]
fn records_written_to_an_internal_topic_feed_back_into_its_source() {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("rekey", || Rekey, &["src"]).unwrap();
    t.add_internal_topic("rekeyed-repartition");
    t.add_sink::<String, String>(
        "repartition-sink",
        "rekeyed-repartition",
        Serdes::string(),
        Serdes::string(),
        &["rekey"],
    )
    .unwrap();
    t.add_source::<String, String>(
        "repartition-source",
        &["rekeyed-repartition"],
        Serdes::string(),
        Serdes::string(),
    )
    .unwrap();
    t.add_processor("count", || Counter, &["repartition-source"])
        .unwrap();
    t.add_state_store(
        Stores::key_value_store_builder::<String, i64>("counts"),
        &["count"],
    )
    .unwrap();
    t.add_sink::<String, i64>("sink", "out", Serdes::string(), Serdes::i64(), &["count"])
        .unwrap();
    let desc = t.describe().unwrap();
    assert_eq!(desc.subtopologies.len(), 2);
    let driver = TopologyTestDriver::new(t).unwrap();
    let input = driver.input_topic::<String, String>("in");
    input.pipe_input_with_timestamp("1".into(), "red".into(), 5);
    input.pipe_input_with_timestamp("2".into(), "red".into(), 6);
    input.pipe_input_with_timestamp("3".into(), "blue".into(), 7);
    let out = driver.output_topic::<String, i64>("out");
    let recs = out.read_records_to_list();
    let kv: Vec<_> = recs
        .iter()
        .map(|r| (r.key.clone(), r.value, r.timestamp))
        .collect();
    assert_eq!(
        kv,
        vec![
            ("red".into(), 1, 5),
            ("red".into(), 2, 6),
            ("blue".into(), 1, 7)
        ]
    );
    // The internal topic carries the application id prefix and can be read too.
    let rep = driver.output_topic::<String, String>("topology-test-driver-rekeyed-repartition");
    assert_eq!(rep.queue_size(), 3);
}

#[test]
fn malformed_input_fails_by_default_and_is_skipped_with_log_and_continue() {
    let mut t = Topology::new();
    t.add_source::<String, i64>("src", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_sink::<String, i64>("sink", "out", Serdes::string(), Serdes::i64(), &["src"])
        .unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    let input = driver.input_topic::<String, i64>("in");
    let err = input
        .try_pipe_raw(
            Some(b"k".to_vec()),
            Some(b"abc".to_vec()),
            0,
            Headers::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("deserialization"), "{err}");

    let mut t = Topology::new();
    t.add_source::<String, i64>("src", &["in"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_sink::<String, i64>("sink", "out", Serdes::string(), Serdes::i64(), &["src"])
        .unwrap();
    let cfg = DriverConfig {
        deserialization_handler: Arc::new(LogAndContinueExceptionHandler),
        ..DriverConfig::default()
    };
    let driver = TopologyTestDriver::with_config(t, cfg).unwrap();
    let input = driver.input_topic::<String, i64>("in");
    input
        .try_pipe_raw(
            Some(b"k".to_vec()),
            Some(b"abc".to_vec()),
            0,
            Headers::new(),
        )
        .unwrap();
    input
        .try_pipe_raw(Some(b"k".to_vec()), None, 0, Headers::new())
        .unwrap();
    input.pipe_input("k".into(), 7);
    let out = driver.output_topic::<String, i64>("out");
    assert_eq!(out.read_values_to_list(), vec![7]);
}

#[test]
fn unknown_input_topic_is_a_clear_error() {
    let driver = TopologyTestDriver::new(routing_topology()).unwrap();
    let err = driver
        .input_topic::<String, String>("nope")
        .try_pipe_input("k".into(), "v".into())
        .unwrap_err();
    assert!(err.to_string().contains("unknown topic 'nope'"), "{err}");
}

#[test]
fn auto_advancing_input_time() {
    let driver = TopologyTestDriver::new(routing_topology()).unwrap();
    let input = driver.create_input_topic_with_time(
        "in",
        Serdes::string(),
        Serdes::string(),
        1000,
        Duration::from_millis(10),
    );
    input.pipe_key_value_list([
        ("k".to_string(), "a1".to_string()),
        ("k".to_string(), "a2".to_string()),
    ]);
    input.advance_time(Duration::from_millis(100));
    input.pipe_input("k".into(), "a3".into());
    let ts: Vec<i64> = driver
        .output_topic::<String, String>("out-a")
        .read_records_to_list()
        .iter()
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(ts, vec![1000, 1010, 1120]);
}

/// Closes record processor lifecycle calls.
struct Lifecycle(Arc<Mutex<Vec<&'static str>>>);
impl Processor<String, String, String, String> for Lifecycle {
    fn init(&mut self, _ctx: &mut ProcessorContext<'_, String, String>) -> Result<()> {
        self.0.lock().unwrap().push("init");
        Ok(())
    }
    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, String>,
        _r: Record<String, String>,
    ) -> Result<()> {
        self.0.lock().unwrap().push("process");
        Ok(())
    }
    fn close(&mut self, _ctx: &mut ProcessorContext<'_, String, String>) -> Result<()> {
        self.0.lock().unwrap().push("close");
        Ok(())
    }
}

#[test]
fn processors_are_initialized_before_and_closed_after_processing() {
    let calls: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let c = calls.clone();
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("p", move || Lifecycle(c.clone()), &["src"])
        .unwrap();
    let driver = TopologyTestDriver::new(t).unwrap();
    driver
        .input_topic::<String, String>("in")
        .pipe_input("k".into(), "v".into());
    driver.close().unwrap();
    assert_eq!(*calls.lock().unwrap(), vec!["init", "process", "close"]);
}
