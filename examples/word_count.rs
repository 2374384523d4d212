//! Word count against Kafka, written with the Processor API over two sub-topologies:
//!
//! 1. `split`: reads lines from `--input`, splits them into lower-cased words and re-keys each
//!    by the word into the repartition topic `<application.id>-words-by-word`;
//! 2. `count`: reads the repartition topic, keeps each word's count in the RocksDB store
//!    `word-counts` (change-logged to `<application.id>-word-counts-changelog`) and writes the
//!    running count to `--output` (key: the word, value: the count as a decimal string).
//!
//! ```text
//! cargo run --release --example word_count -- --bootstrap 127.0.0.1:9092 \
//!     --input text --output counts --application-id wc \
//!     [--guarantee exactly-once|at-least-once] [--state-dir DIR] [--threads N]
//! ```
//!
//! It processes until SIGTERM or SIGINT, then commits and closes cleanly; after a SIGKILL the
//! same command resumes from the committed offsets, restoring the counts from the changelog.

use std::path::PathBuf;
use std::time::Duration;

use kstreams::prelude::*;
use kstreams::{KafkaStreams, ProcessingGuarantee, StreamsConfig};

/// Name of the count store.
pub const STORE: &str = "word-counts";
/// The repartition topic (before the application-id prefix).
pub const REPARTITION: &str = "words-by-word";

/// Splits lines into lower-cased words, keyed by the word.
pub struct SplitProcessor;

impl Processor<Option<String>, String, String, String> for SplitProcessor {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<Option<String>, String>,
    ) -> Result<()> {
        let line = record.value.to_lowercase();
        for word in line
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            ctx.forward(Record {
                key: word.to_string(),
                value: word.to_string(),
                timestamp: record.timestamp,
                headers: record.headers.clone(),
            })?;
        }
        Ok(())
    }
}

/// Counts words in the store and forwards the running count.
pub struct CountProcessor;

impl Processor<String, String, String, String> for CountProcessor {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<String, i64>(STORE)?;
        let count = store.get(&record.key)?.unwrap_or(0) + 1;
        store.put(&record.key, &count)?;
        ctx.forward(record.with_value(count.to_string()))?;
        Ok(())
    }
}

/// The word-count topology: `input` lines to `output` running counts.
pub fn topology(
    input: &str,
    output: &str,
) -> std::result::Result<Topology, kstreams::TopologyError> {
    let mut t = Topology::new();
    t.add_internal_topic(REPARTITION);
    t.add_source::<Option<String>, String>(
        "lines",
        &[input],
        Serdes::option(Serdes::string()),
        Serdes::string(),
    )?;
    t.add_processor("split", || SplitProcessor, &["lines"])?;
    t.add_sink::<String, String>(
        "to-words-by-word",
        REPARTITION,
        Serdes::string(),
        Serdes::string(),
        &["split"],
    )?;
    t.add_source::<String, String>("words", &[REPARTITION], Serdes::string(), Serdes::string())?;
    t.add_processor("count", || CountProcessor, &["words"])?;
    t.add_state_store(
        Stores::key_value_store_builder::<String, i64>(STORE),
        &["count"],
    )?;
    t.add_sink::<String, String>(
        "counts",
        output,
        Serdes::string(),
        Serdes::string(),
        &["count"],
    )?;
    Ok(t)
}

struct Args {
    bootstrap: String,
    input: String,
    output: String,
    application_id: String,
    guarantee: ProcessingGuarantee,
    state_dir: Option<PathBuf>,
    threads: usize,
}

const USAGE: &str = "usage: word_count --bootstrap HOST:PORT --input TOPIC --output TOPIC \
--application-id ID [--guarantee exactly-once|at-least-once] [--state-dir DIR] [--threads N]";

fn parse_args() -> std::result::Result<Args, String> {
    let mut bootstrap = None;
    let mut input = None;
    let mut output = None;
    let mut application_id = None;
    let mut guarantee = ProcessingGuarantee::AtLeastOnce;
    let mut state_dir = None;
    let mut threads = 1;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--bootstrap" => bootstrap = Some(value()?),
            "--input" => input = Some(value()?),
            "--output" => output = Some(value()?),
            "--application-id" => application_id = Some(value()?),
            "--guarantee" => {
                guarantee = value()?.parse().map_err(|e| format!("--guarantee: {e}"))?
            }
            "--state-dir" => state_dir = Some(PathBuf::from(value()?)),
            "--threads" => {
                threads = value()?
                    .parse()
                    .map_err(|_| format!("--threads needs a number\n{USAGE}"))?
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    let need =
        |v: Option<String>, name: &str| v.ok_or_else(|| format!("{name} is required\n{USAGE}"));
    Ok(Args {
        bootstrap: need(bootstrap, "--bootstrap")?,
        input: need(input, "--input")?,
        output: need(output, "--output")?,
        application_id: need(application_id, "--application-id")?,
        guarantee,
        state_dir,
        threads,
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,kstreams_runtime=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut config = StreamsConfig::new(&args.application_id, &args.bootstrap)
        .with_guarantee(args.guarantee)
        .with_threads(args.threads)
        // Short group timeouts: a restarted instance takes its tasks back quickly.
        .with_group_timeouts(Duration::from_secs(6), Duration::from_secs(8));
    if let Some(dir) = args.state_dir {
        config = config.with_state_dir(dir);
    }
    let mut streams = KafkaStreams::new(topology(&args.input, &args.output)?, config)?;
    streams.set_state_listener(Box::new(|new, old| {
        eprintln!("word_count: state {old:?} -> {new:?}");
    }));
    streams.start()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(wait_for_signal());
    eprintln!("word_count: shutting down");
    streams.close()?;
    eprintln!("word_count: closed ({:?})", streams.metrics());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_test_driver::TopologyTestDriver;

    #[test]
    fn counts_words_through_the_repartition_topic() {
        let driver = TopologyTestDriver::new(topology("in", "out").unwrap()).unwrap();
        let input =
            driver.create_input_topic("in", Serdes::option(Serdes::string()), Serdes::string());
        let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
        input.pipe_value("Hello Kafka".into());
        input.pipe_value("hello".into());
        let kv = output.read_key_values_to_list();
        let expected: Vec<(String, String)> = [("hello", "1"), ("kafka", "1"), ("hello", "2")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(kv, expected);
        assert_eq!(driver.describe().subtopologies.len(), 2);
    }
}
