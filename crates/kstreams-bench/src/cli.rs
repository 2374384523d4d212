//! Command line of the benchmark binary:
//!
//! ```text
//! kstreams-bench --bootstrap HOST:PORT --input TOPIC --output TOPIC --application-id ID
//!     --workload w1|w2|w3|baseline [--guarantee exactly-once|at-least-once] [--threads N]
//!     [--state-dir DIR] [--commit-interval-ms MS] [--fetch-max-wait-ms MS] [--linger-ms MS]
//!     [--max-poll-records N] [--network-thread on|off] [--query-rate N]
//! ```
//!
//! `--fetch-max-wait-ms` defaults to 5 ms, not Kafka's 500 ms: tansu holds a fetch that finds no
//! data for the whole wait (Apache Kafka answers when data arrives), so against tansu the
//! default would put up to 500 ms into every hop. `--linger-ms` is the producer's linger and
//! `--max-poll-records` the consumer's, for the engine and the baseline loop alike (the
//! engine's defaults, 100 ms and 500, when absent). `--network-thread`
//! (on) gives each stream thread a network thread (`StreamsConfig::network_thread`), and each
//! baseline loop a runtime with one worker thread for its clients in the same way, so both are
//! measured in the same thread layout. `--query-rate` (w2 only) reads counts from w2's store
//! N times a second through interactive queries while the workload runs
//! ([`crate::queries`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kstreams::ProcessingGuarantee;

use crate::workload::Workload;

/// Parsed arguments of the benchmark binary.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchArgs {
    /// `--bootstrap`.
    pub bootstrap: String,
    /// `--input`.
    pub input: String,
    /// `--output`.
    pub output: String,
    /// `--application-id` (also the baseline's consumer group).
    pub application_id: String,
    /// `--workload`.
    pub workload: Workload,
    /// `--guarantee` (at-least-once).
    pub guarantee: ProcessingGuarantee,
    /// `--threads` (1).
    pub threads: usize,
    /// `--state-dir` (the engine's default when absent).
    pub state_dir: Option<PathBuf>,
    /// `--commit-interval-ms` (the guarantee's default when absent).
    pub commit_interval: Option<Duration>,
    /// `--fetch-max-wait-ms` (5 ms).
    pub fetch_max_wait: Duration,
    /// `--linger-ms` (the engine's default when absent).
    pub linger: Option<Duration>,
    /// `--max-poll-records` (the engine's default when absent).
    pub max_poll_records: Option<usize>,
    /// `--network-thread` (on).
    pub network_thread: bool,
    /// `--query-rate`: interactive queries per second (none when absent; w2 only).
    pub query_rate: Option<u32>,
}

/// The default `--fetch-max-wait-ms`.
pub const DEFAULT_FETCH_MAX_WAIT: Duration = Duration::from_millis(5);

/// The usage line.
pub const USAGE: &str = "usage: kstreams-bench --bootstrap HOST:PORT --input TOPIC --output TOPIC \
--application-id ID --workload w1|w2|w3|baseline [--guarantee exactly-once|at-least-once] \
[--threads N] [--state-dir DIR] [--commit-interval-ms MS] [--fetch-max-wait-ms MS] [--linger-ms MS] \
[--max-poll-records N] [--network-thread on|off] [--query-rate N]";

const FLAGS: [&str; 14] = [
    "query-rate",
    "network-thread",
    "max-poll-records",
    "fetch-max-wait-ms",
    "linger-ms",
    "bootstrap",
    "input",
    "output",
    "application-id",
    "workload",
    "guarantee",
    "threads",
    "state-dir",
    "commit-interval-ms",
];

/// Parses the arguments (without the program name). The error is a message with the usage.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<BenchArgs, String> {
    let mut flags: HashMap<String, String> = HashMap::new();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let Some(name) = flag.strip_prefix("--").filter(|n| FLAGS.contains(n)) else {
            return Err(format!("unknown argument '{flag}'\n{USAGE}"));
        };
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        flags.insert(name.to_string(), value);
    }
    let mut need = |name: &str| {
        flags
            .remove(name)
            .ok_or_else(|| format!("--{name} is required\n{USAGE}"))
    };
    let bootstrap = need("bootstrap")?;
    let input = need("input")?;
    let output = need("output")?;
    let application_id = need("application-id")?;
    let workload = need("workload")?
        .parse()
        .map_err(|e| format!("--workload: {e}\n{USAGE}"))?;
    let guarantee = match flags.remove("guarantee") {
        Some(g) => g
            .parse()
            .map_err(|e| format!("--guarantee: {e}\n{USAGE}"))?,
        None => ProcessingGuarantee::AtLeastOnce,
    };
    let threads = positive(&mut flags, "threads")?.unwrap_or(1);
    let max_poll_records = positive(&mut flags, "max-poll-records")?;
    let commit_interval = millis(&mut flags, "commit-interval-ms", 1)?;
    let fetch_max_wait =
        millis(&mut flags, "fetch-max-wait-ms", 0)?.unwrap_or(DEFAULT_FETCH_MAX_WAIT);
    let linger = millis(&mut flags, "linger-ms", 0)?;
    let query_rate =
        positive(&mut flags, "query-rate")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    if query_rate.is_some() && workload != Workload::W2 {
        return Err(format!(
            "--query-rate reads w2's store: it needs --workload w2\n{USAGE}"
        ));
    }
    let network_thread = match flags.remove("network-thread").as_deref() {
        None | Some("on") => true,
        Some("off") => false,
        Some(v) => return Err(format!("--network-thread is on or off, not '{v}'\n{USAGE}")),
    };
    Ok(BenchArgs {
        bootstrap,
        input,
        output,
        application_id,
        workload,
        guarantee,
        threads,
        state_dir: flags.remove("state-dir").map(PathBuf::from),
        commit_interval,
        fetch_max_wait,
        linger,
        max_poll_records,
        network_thread,
        query_rate,
    })
}

/// The flag `name` as a positive number, if given.
fn positive(flags: &mut HashMap<String, String>, name: &str) -> Result<Option<usize>, String> {
    let Some(v) = flags.remove(name) else {
        return Ok(None);
    };
    v.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| format!("--{name} needs a positive number, not '{v}'\n{USAGE}"))
}

/// The flag `name` as milliseconds of at least `min`, if given.
fn millis(
    flags: &mut HashMap<String, String>,
    name: &str,
    min: u64,
) -> Result<Option<Duration>, String> {
    let Some(v) = flags.remove(name) else {
        return Ok(None);
    };
    v.parse::<u64>()
        .ok()
        .filter(|n| *n >= min && *n <= i32::MAX as u64)
        .map(|n| Some(Duration::from_millis(n)))
        .ok_or_else(|| {
            format!("--{name} needs a number of milliseconds >= {min}, not '{v}'\n{USAGE}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const BASE: [&str; 10] = [
        "--bootstrap",
        "127.0.0.1:9092",
        "--input",
        "in",
        "--output",
        "out",
        "--application-id",
        "app",
        "--workload",
        "w2",
    ];

    #[test]
    fn parses_the_contract_with_defaults() {
        let a = parse(args(&BASE)).unwrap();
        assert_eq!(a.bootstrap, "127.0.0.1:9092");
        assert_eq!((a.input.as_str(), a.output.as_str()), ("in", "out"));
        assert_eq!(a.application_id, "app");
        assert_eq!(a.workload, Workload::W2);
        assert_eq!(a.guarantee, ProcessingGuarantee::AtLeastOnce);
        assert_eq!(a.threads, 1);
        assert_eq!(a.state_dir, None);
        assert_eq!(a.commit_interval, None);
        assert_eq!(a.fetch_max_wait, DEFAULT_FETCH_MAX_WAIT);
        assert_eq!(a.linger, None);
        assert_eq!(a.max_poll_records, None);
        assert!(a.network_thread);
        assert_eq!(a.query_rate, None);
    }

    #[test]
    fn parses_the_options() {
        let mut v = args(&BASE);
        v.extend(args(&[
            "--guarantee",
            "exactly-once",
            "--threads",
            "2",
            "--state-dir",
            "/tmp/x",
            "--commit-interval-ms",
            "50",
            "--fetch-max-wait-ms",
            "0",
            "--linger-ms",
            "20",
            "--max-poll-records",
            "1000",
            "--network-thread",
            "off",
            "--query-rate",
            "500",
        ]));
        let a = parse(v).unwrap();
        assert_eq!(a.guarantee, ProcessingGuarantee::ExactlyOnceV2);
        assert_eq!(a.threads, 2);
        assert_eq!(a.state_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(a.commit_interval, Some(Duration::from_millis(50)));
        assert_eq!(a.fetch_max_wait, Duration::ZERO);
        assert_eq!(a.linger, Some(Duration::from_millis(20)));
        assert_eq!(a.max_poll_records, Some(1000));
        assert!(!a.network_thread);
        assert_eq!(a.query_rate, Some(500));
    }

    #[test]
    fn bad_arguments_are_clear_errors() {
        let e = parse(args(&["--input", "i"])).unwrap_err();
        assert!(e.contains("--bootstrap is required"), "{e}");
        let e = parse(args(&["--nope", "1"])).unwrap_err();
        assert!(e.contains("unknown argument '--nope'"), "{e}");
        let e = parse(args(&["--input"])).unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        for (flag, value, msg) in [
            ("--workload", "w9", "--workload"),
            ("--guarantee", "maybe", "--guarantee"),
            ("--threads", "0", "--threads"),
            ("--commit-interval-ms", "x", "--commit-interval-ms"),
            ("--commit-interval-ms", "0", "--commit-interval-ms"),
            ("--fetch-max-wait-ms", "-1", "--fetch-max-wait-ms"),
            ("--linger-ms", "soon", "--linger-ms"),
            ("--max-poll-records", "0", "--max-poll-records"),
            ("--network-thread", "yes", "--network-thread"),
            ("--query-rate", "0", "--query-rate"),
        ] {
            let mut v: Vec<String> = args(&BASE)
                .into_iter()
                .filter(|a| a != "--workload" && a != "w2")
                .collect();
            if flag != "--workload" {
                v.extend(args(&["--workload", "w1"]));
            }
            v.extend(args(&[flag, value]));
            let e = parse(v).unwrap_err();
            assert!(e.contains(msg), "{flag}: {e}");
        }
        let mut v: Vec<String> = args(&BASE)
            .into_iter()
            .map(|a| if a == "w2" { "w1".into() } else { a })
            .collect();
        v.extend(args(&["--query-rate", "5"]));
        let e = parse(v).unwrap_err();
        assert!(e.contains("needs --workload w2"), "{e}");
    }
}
