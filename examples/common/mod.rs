//! The command-line contract every runnable example shares:
//!
//! ```text
//! --bootstrap HOST:PORT --input TOPIC --output TOPIC --application-id ID
//!     [--guarantee exactly-once|at-least-once] [--state-dir DIR] [--threads N]
//!     [--extra NAME=VALUE ...]
//! ```
//!
//! [`run`] starts `KafkaStreams` with the example's topology, processes until SIGTERM or
//! SIGINT, then commits and closes cleanly; after a SIGKILL the same command resumes.

#![allow(dead_code)] // each example uses part of this module

pub mod query_server;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kstreams::{
    InteractiveQueries, KafkaStreams, MetricsReader, ProcessingGuarantee, StreamsConfig, Topology,
};

/// Parsed command-line arguments.
pub struct Args {
    /// `--bootstrap`.
    pub bootstrap: String,
    /// `--input`.
    pub input: String,
    /// `--output`.
    pub output: String,
    /// `--application-id`.
    pub application_id: String,
    /// `--guarantee`.
    pub guarantee: ProcessingGuarantee,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--threads`.
    pub threads: usize,
    /// Example-specific `--NAME VALUE` flags not listed above.
    pub extra: HashMap<String, String>,
}

impl Args {
    /// An example-specific flag's value, or `default`.
    pub fn extra_or(&self, name: &str, default: &str) -> String {
        self.extra
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
}

fn usage(example: &str, extra: &[&str]) -> String {
    let mut u = format!(
        "usage: {example} --bootstrap HOST:PORT --input TOPIC --output TOPIC --application-id ID \
         [--guarantee exactly-once|at-least-once] [--state-dir DIR] [--threads N]"
    );
    for e in extra {
        u.push_str(&format!(" [--{e} VALUE]"));
    }
    u
}

/// Parses `args` (without the program name); `extra` names the example's own flags.
pub fn parse_args(
    example: &str,
    extra: &[&str],
    args: impl IntoIterator<Item = String>,
) -> Result<Args, String> {
    let usage = usage(example, extra);
    let mut flags: HashMap<String, String> = HashMap::new();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(usage);
        }
        let Some(name) = flag.strip_prefix("--") else {
            return Err(format!("unexpected argument '{flag}'\n{usage}"));
        };
        let known = [
            "bootstrap",
            "input",
            "output",
            "application-id",
            "guarantee",
            "state-dir",
            "threads",
        ];
        if !known.contains(&name) && !extra.contains(&name) {
            return Err(format!("unknown argument '{flag}'\n{usage}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        flags.insert(name.to_string(), value);
    }
    let mut need = |name: &str| {
        flags
            .remove(name)
            .ok_or_else(|| format!("--{name} is required\n{usage}"))
    };
    let bootstrap = need("bootstrap")?;
    let input = need("input")?;
    let output = need("output")?;
    let application_id = need("application-id")?;
    let guarantee = match flags.remove("guarantee") {
        Some(g) => g.parse().map_err(|e| format!("--guarantee: {e}"))?,
        None => ProcessingGuarantee::AtLeastOnce,
    };
    let threads = match flags.remove("threads") {
        Some(t) => t
            .parse()
            .map_err(|_| format!("--threads needs a number\n{usage}"))?,
        None => 1,
    };
    let state_dir = flags.remove("state-dir").map(PathBuf::from);
    Ok(Args {
        bootstrap,
        input,
        output,
        application_id,
        guarantee,
        state_dir,
        threads,
        extra: flags,
    })
}

async fn wait_for_signal() {
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

/// Parses the command line, builds the topology with `topology(&args)` and runs it until
/// SIGTERM/SIGINT. Exits with status 2 on bad arguments.
pub fn run(
    example: &str,
    extra: &[&str],
    topology: impl FnOnce(&Args) -> Result<Topology, Box<dyn std::error::Error>>,
) -> Result<(), Box<dyn std::error::Error>> {
    run_with(example, extra, topology, |_, _| Ok(()))
}

/// What a started instance offers a server next to it.
pub struct Started {
    /// Its interactive queries.
    pub queries: InteractiveQueries,
    /// Its live metrics.
    pub metrics: MetricsReader,
}

/// [`run`], and `on_start` gets the instance's interactive queries and metrics once it has
/// started (to serve them). With `--application-server HOST:PORT` among the example's flags,
/// the instance announces that endpoint to its group (`application.server`).
pub fn run_with(
    example: &str,
    extra: &[&str],
    topology: impl FnOnce(&Args) -> Result<Topology, Box<dyn std::error::Error>>,
    on_start: impl FnOnce(&Args, Started) -> Result<(), Box<dyn std::error::Error>>,
) -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,kstreams_runtime=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args(example, extra, std::env::args().skip(1)) {
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
    if let Some(dir) = &args.state_dir {
        config = config.with_state_dir(dir.clone());
    }
    if let Some(endpoint) = args.extra.get("application-server") {
        config = config.with_application_server(endpoint);
    }
    let mut streams = KafkaStreams::new(topology(&args)?, config)?;
    let name = example.to_string();
    streams.set_state_listener(Box::new(move |new, old| {
        eprintln!("{name}: state {old:?} -> {new:?}");
    }));
    streams.start()?;
    on_start(
        &args,
        Started {
            queries: streams.interactive_queries(),
            metrics: streams.metrics_reader(),
        },
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(wait_for_signal());
    eprintln!("{example}: shutting down");
    streams.close()?;
    eprintln!("{example}: closed ({:?})", streams.metrics());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_contract() {
        let a = parse_args(
            "x",
            &["users"],
            args(&[
                "--bootstrap",
                "h:1",
                "--input",
                "i",
                "--output",
                "o",
                "--application-id",
                "app",
                "--guarantee",
                "exactly-once",
                "--threads",
                "3",
                "--state-dir",
                "/tmp/s",
                "--users",
                "u",
            ]),
        )
        .unwrap();
        assert_eq!(
            (a.bootstrap.as_str(), a.input.as_str(), a.output.as_str()),
            ("h:1", "i", "o")
        );
        assert_eq!(a.guarantee, ProcessingGuarantee::ExactlyOnceV2);
        assert_eq!(a.threads, 3);
        assert_eq!(a.state_dir, Some(PathBuf::from("/tmp/s")));
        assert_eq!(a.extra_or("users", "d"), "u");
    }

    #[test]
    fn bad_arguments_are_clear_errors() {
        let e = parse_args("x", &[], args(&["--input", "i"])).err().unwrap();
        assert!(e.contains("--bootstrap is required"), "{e}");
        let e = parse_args("x", &[], args(&["--nope", "1"])).err().unwrap();
        assert!(e.contains("unknown argument '--nope'"), "{e}");
        let e = parse_args("x", &[], args(&["--input"])).err().unwrap();
        assert!(e.contains("needs a value"), "{e}");
        let base = [
            "--bootstrap",
            "h",
            "--input",
            "i",
            "--output",
            "o",
            "--application-id",
            "a",
        ];
        let mut v = args(&base);
        v.extend(args(&["--guarantee", "maybe"]));
        assert!(
            parse_args("x", &[], v)
                .err()
                .unwrap()
                .contains("--guarantee")
        );
    }
}
