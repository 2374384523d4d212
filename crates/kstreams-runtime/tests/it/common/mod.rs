//! Helpers of the runtime's broker tests: the word-count topology (two sub-topologies through
//! a repartition topic), input producing and output reading with our client.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kstreams_core::{Processor, ProcessorContext, Record, Result, Serdes, Stores, Topology};
use kstreams_kafka::admin::{Admin, NewTopic};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, IsolationLevel, ProducerRecord, TopicPartition};
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State, StreamsConfig};

pub const STORE: &str = "word-counts";

struct Split;

impl Processor<Option<String>, String, String, String> for Split {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<Option<String>, String>,
    ) -> Result<()> {
        for w in record
            .value
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            ctx.forward(Record::new(w.to_string(), w.to_string(), record.timestamp))?;
        }
        Ok(())
    }
}

struct Count;

impl Processor<String, String, String, String> for Count {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<String, i64>(STORE)?;
        let n = store.get(&record.key)?.unwrap_or(0) + 1;
        store.put(&record.key, &n)?;
        ctx.forward(record.with_value(n.to_string()))
    }
}

/// The runtime the tests drive their clients on (two workers, as the machine has two cores).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Lines from `input` (no key) through one processor `name` that writes string keys and values
/// to `output`.
pub fn lines_through<P>(
    input: &str,
    output: &str,
    name: &str,
    supplier: impl Fn() -> P + Send + Sync + 'static,
) -> Topology
where
    P: Processor<Option<String>, String, String, String> + 'static,
{
    let mut t = Topology::new();
    t.add_source::<Option<String>, String>(
        "lines",
        &[input],
        Serdes::option(Serdes::string()),
        Serdes::string(),
    )
    .unwrap();
    t.add_processor(name, supplier, &["lines"]).unwrap();
    t.add_sink::<String, String>("out", output, Serdes::string(), Serdes::string(), &[name])
        .unwrap();
    t
}

pub fn word_count(input: &str, output: &str) -> Topology {
    let mut t = Topology::new();
    t.add_internal_topic("words");
    t.add_source::<Option<String>, String>(
        "lines",
        &[input],
        Serdes::option(Serdes::string()),
        Serdes::string(),
    )
    .unwrap();
    t.add_processor("split", || Split, &["lines"]).unwrap();
    t.add_sink::<String, String>(
        "to-words",
        "words",
        Serdes::string(),
        Serdes::string(),
        &["split"],
    )
    .unwrap();
    t.add_source::<String, String>("words", &["words"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("count", || Count, &["words"]).unwrap();
    t.add_state_store(
        Stores::key_value_store_builder::<String, i64>(STORE),
        &["count"],
    )
    .unwrap();
    t.add_sink::<String, String>(
        "out",
        output,
        Serdes::string(),
        Serdes::string(),
        &["count"],
    )
    .unwrap();
    t
}

pub fn config(
    app: &str,
    bootstrap: &str,
    g: ProcessingGuarantee,
    dir: &std::path::Path,
) -> StreamsConfig {
    StreamsConfig::new(app, bootstrap)
        .with_guarantee(g)
        .with_state_dir(dir)
        .with_commit_interval(Duration::from_millis(200))
        .with_group_timeouts(Duration::from_secs(6), Duration::from_secs(8))
}

pub async fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) {
    let admin = Admin::connect(ClientConfig::new(bootstrap)).await.unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(t, p)| NewTopic::new(*t, *p, 1))
        .collect();
    admin.create_topics(&new).await.unwrap();
}

pub async fn produce_lines(bootstrap: &str, topic: &str, lines: &[String]) {
    let p = Producer::connect(ClientConfig::new(bootstrap), ProducerConfig::default())
        .await
        .unwrap();
    let mut futs = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        futs.push(
            p.send(ProducerRecord::new(topic, l.clone()).with_partition((i % 2) as i32))
                .await
                .unwrap(),
        );
    }
    for f in futs {
        f.await.unwrap();
    }
    p.close().await.unwrap();
}

/// Reads `(key, value)` of every committed record of `topic` (all partitions) until `n` were
/// read or `timeout` passed.
pub async fn read_output(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    n: usize,
    timeout: Duration,
) -> Vec<(String, String)> {
    let cfg = ConsumerConfig::new(bootstrap)
        .with_isolation_level(IsolationLevel::ReadCommitted)
        .with_auto_offset_reset(OffsetResetStrategy::Earliest)
        .with_auto_commit(false);
    let mut c = Consumer::connect(cfg).await.unwrap();
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    c.assign(&tps).unwrap();
    c.seek_to_beginning(&tps).await.unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    while out.len() < n && Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(200)).await.unwrap() {
            let k = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            out.push((k, v));
        }
    }
    // Anything beyond `n` (duplicates) shows up in a short grace period.
    let grace = Instant::now() + Duration::from_millis(500);
    while Instant::now() < grace {
        for r in c.poll(Duration::from_millis(100)).await.unwrap() {
            let k = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            out.push((k, v));
        }
    }
    out
}

/// Word counts of the lines.
pub fn count_words(lines: &[String]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for l in lines {
        for w in l
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            *m.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    m
}

/// The latest count per word in the output.
pub fn final_counts(out: &[(String, String)]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for (k, v) in out {
        let v: i64 = v.parse().unwrap();
        let e = m.entry(k.clone()).or_insert(0);
        *e = (*e).max(v);
    }
    m
}

pub fn total(m: &BTreeMap<String, i64>) -> usize {
    m.values().map(|v| *v as usize).sum()
}

pub fn lines(prefix: &str, n: usize) -> Vec<String> {
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"];
    (0..n)
        .map(|i| {
            format!(
                "{} {} {prefix}{}",
                words[i % words.len()],
                words[(i * 3 + 1) % words.len()],
                i % 5
            )
        })
        .collect()
}

/// Waits (blocking) until the instance is Running.
pub fn wait_running(s: &KafkaStreams, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while s.state() != State::Running {
        assert!(
            Instant::now() < deadline,
            "not running after {timeout:?}: {:?}",
            s.state()
        );
        assert_ne!(s.state(), State::Error, "instance failed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A restore listener that keeps what it hears: `(event, partition, store, a, b)` with
/// `start`: (start offset, end offset), `batch`: (last offset, records), `end`: (total, 0).
#[derive(Clone, Default)]
pub struct RestoreLog(pub std::sync::Arc<std::sync::Mutex<Vec<RestoreEvent>>>);

/// One call a [`RestoreLog`] heard.
pub type RestoreEvent = (&'static str, String, String, i64, i64);

impl kstreams_runtime::StateRestoreListener for RestoreLog {
    fn on_restore_start(&self, tp: &TopicPartition, store: &str, start: i64, end: i64) {
        self.push(("start", tp.to_string(), store.into(), start, end));
    }
    fn on_batch_restored(&self, tp: &TopicPartition, store: &str, last: i64, n: u64) {
        self.push(("batch", tp.to_string(), store.into(), last, n as i64));
    }
    fn on_restore_end(&self, tp: &TopicPartition, store: &str, total: u64) {
        self.push(("end", tp.to_string(), store.into(), total as i64, 0));
    }
}

impl RestoreLog {
    fn push(&self, e: RestoreEvent) {
        self.0.lock().unwrap().push(e);
    }

    /// The events heard so far.
    pub fn events(&self) -> Vec<RestoreEvent> {
        self.0.lock().unwrap().clone()
    }

    /// Checks the calls' order and sums per partition (start, then batches whose records add
    /// up to the end's total) and returns the total restored over all partitions.
    pub fn check(&self) -> i64 {
        let events = self.events();
        let mut partitions: BTreeMap<String, (bool, i64, bool)> = BTreeMap::new();
        for (kind, tp, _, a, b) in &events {
            let p = partitions.entry(tp.clone()).or_default();
            match *kind {
                "start" => {
                    assert!(!p.0, "{tp} started twice: {events:?}");
                    assert!(*a <= *b, "start {a} after end {b}");
                    p.0 = true;
                }
                "batch" => {
                    assert!(p.0 && !p.2, "{tp}: a batch outside start..end: {events:?}");
                    p.1 += b;
                }
                _ => {
                    assert!(p.0 && !p.2, "{tp}: end without start: {events:?}");
                    assert_eq!(*a, p.1, "{tp}: the end's total is the batches' sum");
                    p.2 = true;
                }
            }
        }
        assert!(
            partitions.values().all(|p| p.2),
            "every partition ended: {events:?}"
        );
        partitions.values().map(|p| p.1).sum()
    }
}
