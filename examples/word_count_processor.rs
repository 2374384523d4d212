//! Word count with the Processor API and a RocksDB store.
//!
//! A source reads lines of text (null keys allowed), a processor splits them into lower-cased
//! words, keeps each word's count in the RocksDB key-value store `word-counts` (change-logged)
//! and forwards the running count as a decimal string, keyed by the word.
//!
//! Run it in process through the `TopologyTestDriver` on text from the arguments or stdin:
//!
//! ```text
//! echo "the quick brown fox jumps over the lazy dog" | cargo run --example word_count_processor
//! ```

use std::io::Read;

use kstreams::prelude::*;
use kstreams_test_driver::TopologyTestDriver;

/// Name of the count store.
pub const STORE: &str = "word-counts";

/// Splits lines into words and counts them.
pub struct WordCountProcessor;

impl Processor<Option<String>, String, String, String> for WordCountProcessor {
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
            let store = ctx.key_value_store::<String, i64>(STORE)?;
            let word = word.to_string();
            let count = store.get(&word)?.unwrap_or(0) + 1;
            store.put(&word, &count)?;
            let out = Record {
                key: word,
                value: count.to_string(),
                timestamp: record.timestamp,
                headers: record.headers.clone(),
            };
            ctx.forward(out)?;
        }
        Ok(())
    }
}

/// The word-count topology: `input` lines to `output` counts.
pub fn topology(
    input: &str,
    output: &str,
) -> std::result::Result<Topology, kstreams::TopologyError> {
    let mut t = Topology::new();
    t.add_source::<Option<String>, String>(
        "lines",
        &[input],
        Serdes::option(Serdes::string()),
        Serdes::string(),
    )?;
    t.add_processor("count-words", || WordCountProcessor, &["lines"])?;
    t.add_state_store(
        Stores::key_value_store_builder::<String, i64>(STORE),
        &["count-words"],
    )?;
    t.add_sink::<String, String>(
        "counts",
        output,
        Serdes::string(),
        Serdes::string(),
        &["count-words"],
    )?;
    Ok(t)
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut text: Vec<String> = std::env::args().skip(1).collect();
    if text.is_empty() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        text = s.lines().map(str::to_string).collect();
    }
    let t = topology("text-input", "word-counts-output")?;
    println!("{}", t.describe()?);
    let driver = TopologyTestDriver::new(t)?;
    let input = driver.create_input_topic(
        "text-input",
        Serdes::option(Serdes::string()),
        Serdes::string(),
    );
    let output =
        driver.create_output_topic("word-counts-output", Serdes::string(), Serdes::string());
    for line in text {
        input.try_pipe_input(None, line)?;
    }
    let mut counts: Vec<(String, String)> = output.read_key_values_to_map().into_iter().collect();
    counts.sort();
    for (word, count) in counts {
        println!("{word}\t{count}");
    }
    driver.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver() -> (
        TopologyTestDriver,
        kstreams_test_driver::TestInputTopic<Option<String>, String>,
        kstreams_test_driver::TestOutputTopic<String, String>,
    ) {
        let driver = TopologyTestDriver::new(topology("in", "out").unwrap()).unwrap();
        let input =
            driver.create_input_topic("in", Serdes::option(Serdes::string()), Serdes::string());
        let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
        (driver, input, output)
    }

    #[test]
    fn counts_words_across_lines() {
        let (driver, input, output) = driver();
        input.pipe_value("Hello Kafka Streams".into());
        input.pipe_value("hello, kafka!".into());
        input.pipe_input(Some("k".into()), "".into());
        let kv = output.read_key_values_to_list();
        let expected: Vec<(String, String)> = [
            ("hello", "1"),
            ("kafka", "1"),
            ("streams", "1"),
            ("hello", "2"),
            ("kafka", "2"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(kv, expected);
        let store = driver.key_value_store::<String, i64>(STORE).unwrap();
        assert_eq!(store.get(&"hello".into()).unwrap(), Some(2));
        assert_eq!(store.get(&"missing".into()).unwrap(), None);
        assert_eq!(store.all().unwrap().len(), 3);
    }

    #[test]
    fn the_store_is_rocksdb_and_change_logged() {
        let (driver, input, _output) = driver();
        let persistent = driver.with_state_store(STORE, |s| s.persistent()).unwrap();
        assert!(persistent);
        input.pipe_value("a a".into());
        let changelog = driver.create_output_topic(
            "topology-test-driver-word-counts-changelog",
            Serdes::string(),
            Serdes::i64(),
        );
        assert_eq!(changelog.read_values_to_list(), vec![1, 2]);
    }

    #[test]
    fn output_keeps_the_input_timestamp() {
        let (_driver, input, output) = driver();
        input.pipe_input_with_timestamp(None, "x".into(), 1234);
        assert_eq!(output.read_record().timestamp, 1234);
    }
}
