//! The benchmark binary: runs one workload on `KafkaStreams` (or the baseline loop) until
//! SIGTERM/SIGINT, printing progress every 5 seconds, then commits and closes cleanly.
//!
//! ```text
//! cargo run --release -p kstreams-bench -- --bootstrap HOST:PORT --input TOPIC \
//!     --output TOPIC --application-id ID --workload w1|w2|w3|baseline \
//!     [--guarantee exactly-once|at-least-once] [--threads N] [--query-rate N]
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kstreams::{KafkaStreams, StreamsConfig};
use kstreams_bench::baseline::{self, BaselineConfig};
use kstreams_bench::cli::{self, BenchArgs};
use kstreams_bench::queries::QueryLoad;
use kstreams_bench::wait_for_signal;
use kstreams_bench::workload::Workload;

/// mimalloc instead of glibc's allocator: the engine allocates per record (decoded values,
/// output buffers) and glibc's free-list upkeep took about a quarter of the stream thread's
/// time (BENCHMARKS.md). The baseline runs in the same binary, so it gets the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROGRESS_EVERY: Duration = Duration::from_secs(5);

type BoxError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,kstreams_runtime=info,kstreams_bench=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let r = match args.workload {
        Workload::Baseline => run_baseline(&args),
        _ => run_streams(&args),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kstreams-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a progress line: records processed since the last line and the rate.
struct Progress {
    started: Instant,
    last: Instant,
    last_count: u64,
}

impl Progress {
    fn new() -> Self {
        Progress {
            started: Instant::now(),
            last: Instant::now(),
            last_count: 0,
        }
    }

    fn print(&mut self, processed: u64) {
        let dt = self.last.elapsed().as_secs_f64();
        let rate = if dt > 0.0 {
            (processed - self.last_count.min(processed)) as f64 / dt
        } else {
            0.0
        };
        eprintln!(
            "kstreams-bench: t={:.1}s processed={processed} rate={rate:.0}/s",
            self.started.elapsed().as_secs_f64()
        );
        self.last = Instant::now();
        self.last_count = processed;
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The runtime of a baseline loop: with `--network-thread on`, one worker thread for the tasks
/// its clients spawn, as a stream thread's network thread (`StreamsConfig::network_thread`).
fn loop_runtime(network_thread: bool, index: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if !network_thread {
        return runtime();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(format!("baseline-{index}-network"))
        .enable_all()
        .build()
}

fn run_streams(args: &BenchArgs) -> Result<(), BoxError> {
    let topology = args
        .workload
        .topology(&args.input, &args.output)
        .ok_or("the baseline has no topology")??;
    let mut config = StreamsConfig::new(&args.application_id, &args.bootstrap)
        .with_guarantee(args.guarantee)
        .with_threads(args.threads)
        // Short group timeouts: tansu completes a join only after the rebalance timeout.
        .with_group_timeouts(Duration::from_secs(6), Duration::from_secs(8));
    if let Some(dir) = &args.state_dir {
        config = config.with_state_dir(dir.clone());
    }
    if let Some(ci) = args.commit_interval {
        config = config.with_commit_interval(ci);
    }
    config.fetch_max_wait = args.fetch_max_wait;
    if let Some(linger) = args.linger {
        config.linger = linger;
    }
    if let Some(n) = args.max_poll_records {
        config.max_poll_records = n;
    }
    config.network_thread = args.network_thread;
    let mut streams = KafkaStreams::new(topology, config)?;
    streams.set_state_listener(Box::new(|new, old| {
        eprintln!("kstreams-bench: state {old:?} -> {new:?}");
    }));
    streams.start()?;
    let query_load = match args.query_rate {
        Some(rate) => Some(QueryLoad::start(streams.interactive_queries(), rate)?),
        None => None,
    };
    let rt = runtime()?;
    let mut progress = Progress::new();
    rt.block_on(async {
        let signal = wait_for_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => break,
                _ = tokio::time::sleep(PROGRESS_EVERY) => {
                    progress.print(streams.metrics().processed);
                    if streams.state() == kstreams::KafkaStreamsState::Error {
                        break;
                    }
                }
            }
        }
    });
    eprintln!("kstreams-bench: shutting down");
    if let Some(report) = query_load.and_then(QueryLoad::stop) {
        eprintln!("kstreams-bench: {}", report.line());
    }
    let closed = streams.close();
    let m = streams.metrics();
    eprintln!(
        "kstreams-bench: closed processed={} commits={} process_latency={:?} commit_latency={:?}",
        m.processed, m.commits, m.process_latency, m.commit_latency
    );
    Ok(closed?)
}

fn run_baseline(args: &BenchArgs) -> Result<(), BoxError> {
    // What the engine would use where the flags are silent: the loop commits and batches as
    // the stream threads do.
    let engine =
        StreamsConfig::new(&args.application_id, &args.bootstrap).with_guarantee(args.guarantee);
    let cfg = BaselineConfig {
        bootstrap: args.bootstrap.clone(),
        input: args.input.clone(),
        output: args.output.clone(),
        group_id: args.application_id.clone(),
        commit_interval: args
            .commit_interval
            .unwrap_or(engine.effective_commit_interval()),
        fetch_max_wait: args.fetch_max_wait,
        linger: args.linger.unwrap_or(engine.linger),
        max_poll_records: args.max_poll_records,
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let processed = Arc::new(AtomicU64::new(0));
    let rt = runtime()?;
    rt.block_on(async {
        let flag = shutdown.clone();
        let count = processed.clone();
        tokio::spawn(async move {
            let mut progress = Progress::new();
            let signal = wait_for_signal();
            tokio::pin!(signal);
            loop {
                tokio::select! {
                    _ = &mut signal => break,
                    _ = tokio::time::sleep(PROGRESS_EVERY) => progress.print(count.load(Ordering::Relaxed)),
                }
            }
            flag.store(true, Ordering::SeqCst);
        });
        // `--threads N` runs N loops in one consumer group, each on its own thread with its
        // own consumer and producer, as the engine runs N stream threads.
        let loops: Vec<_> = (0..args.threads.max(1))
            .map(|i| {
                let (cfg, shutdown, processed) = (cfg.clone(), shutdown.clone(), processed.clone());
                let network_thread = args.network_thread;
                std::thread::Builder::new()
                    .name(format!("baseline-{i}"))
                    .spawn(move || -> Result<(), String> {
                        loop_runtime(network_thread, i)
                            .map_err(|e| e.to_string())?
                            .block_on(baseline::run(cfg, shutdown, processed))
                            .map_err(|e| e.to_string())
                    })
            })
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let mut result = Ok(());
        for handle in loops {
            let joined = tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| e.to_string())?;
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err("a baseline loop panicked".to_string()),
            }
        }
        result
    })?;
    eprintln!(
        "kstreams-bench: closed processed={}",
        processed.load(Ordering::Relaxed)
    );
    Ok(())
}
