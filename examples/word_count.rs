//! Word count, the canonical DSL program, run against Kafka:
//!
//! `stream(input)` → `flat_map_values` (lower-cased words) → `group_by(word)` (through the
//! repartition topic `<application.id>-words-by-word-repartition`) → `count` (RocksDB store
//! `word-counts`, change-logged to `<application.id>-word-counts-changelog`) → `to_stream` →
//! `to(output)` with key: the word, value: the running count as a decimal string.
//!
//! ```text
//! cargo run --release --example word_count -- --bootstrap 127.0.0.1:9092 \
//!     --input text --output counts --application-id wc \
//!     [--guarantee exactly-once|at-least-once] [--state-dir DIR] [--threads N] \
//!     [--application-server HOST:PORT]
//! ```
//!
//! It processes until SIGTERM or SIGINT, then commits and closes cleanly; after a SIGKILL the
//! same command resumes from the committed offsets, restoring the counts from the changelog.
//!
//! With `--application-server HOST:PORT`, the instance also serves interactive queries of its
//! counts over HTTP there (`examples/common/query_server.rs`): run several instances with one
//! application id and their own endpoints, and `curl http://HOST:PORT/keys/<word>` on any of
//! them answers with the word's count, wherever it is kept.

mod common;

use kstreams::prelude::*;

/// Name of the count store.
pub const STORE: &str = "word-counts";

/// The word-count topology from `input` lines to `output` counts.
pub fn topology(
    input: &str,
    output: &str,
) -> std::result::Result<Topology, kstreams::TopologyError> {
    let b = StreamsBuilder::new();
    b.stream::<Option<String>, String>(
        input,
        Consumed::with(Serdes::option(Serdes::string()), Serdes::string()),
    )
    .flat_map_values(|line| {
        line.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
    .group_by(
        |_key, word| word.clone(),
        Grouped::with(Serdes::string(), Serdes::string()).with_name("words-by-word"),
    )
    .count(Materialized::as_(STORE))
    .to_stream()
    .map_values(|count| count.map(|n| n.to_string()))
    .to(
        output,
        Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
    );
    b.build()
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    common::run_with(
        "word_count",
        &["application-server"],
        |args| Ok(topology(&args.input, &args.output)?),
        |args, started| {
            // Interactive queries: this instance answers for every word over HTTP, asking the
            // instance that holds a word when that is another one; its metrics are there too.
            if let Some(endpoint) = args.extra.get("application-server") {
                common::query_server::serve(endpoint, started, STORE)?;
                eprintln!("word_count: serving the counts on http://{endpoint}/keys/<word>");
            }
            Ok(())
        },
    )
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
        let output =
            driver.create_output_topic("out", Serdes::string(), Serdes::option(Serdes::string()));
        input.pipe_value("Hello, Kafka".into());
        input.pipe_value("hello".into());
        let kv = output.read_key_values_to_list();
        let expected: Vec<(String, Option<String>)> =
            [("hello", "1"), ("kafka", "1"), ("hello", "2")]
                .iter()
                .map(|(a, b)| (a.to_string(), Some(b.to_string())))
                .collect();
        assert_eq!(kv, expected);
        let desc = driver.describe();
        assert_eq!(desc.subtopologies.len(), 2);
        assert!(
            desc.to_string().contains("words-by-word-repartition"),
            "{desc}"
        );
        assert!(
            driver
                .produced_topic_names()
                .contains(&"topology-test-driver-word-counts-changelog".to_string())
        );
    }
}
