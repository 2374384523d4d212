//! The load tool of the benchmarks:
//!
//! ```text
//! kstreams-load --bootstrap HOST:PORT --topic TOPIC create PARTITIONS
//! kstreams-load --bootstrap HOST:PORT --topic TOPIC preload N [--first I]
//! kstreams-load --bootstrap HOST:PORT --topic TOPIC rate R --duration S [--linger-ms MS]
//! kstreams-load --bootstrap HOST:PORT --topic TOPIC measure [--from beginning|end]
//!     [--expect N] [--idle-secs S] [--timeout-secs S] [--inputs N] [--fetch-max-wait-ms MS]
//! ```
//!
//! `create` creates the topic; `preload` writes N generated page views as fast as possible; `rate` writes R per second for
//! S seconds, each with its send time in the `kstreams-bench-sent-us` header; `measure` reads
//! the (output) topic read_committed and prints throughput and, for stamped records, the
//! end-to-end latency percentiles; its fetch wait defaults to the bench binary's (5 ms), since
//! tansu holds a fetch without new data for the whole wait. Each prints one summary line on
//! stdout.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use kstreams_bench::load::{self, StartAt, StopWhen};

const USAGE: &str = "usage: kstreams-load --bootstrap HOST:PORT --topic TOPIC \
(create PARTITIONS | preload N [--first I] | rate R --duration S [--linger-ms MS] | measure [--from beginning|end] \
[--expect N] [--idle-secs S] [--timeout-secs S] [--inputs N] [--fetch-max-wait-ms MS])";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(std::env::args().skip(1).collect()) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kstreams-load: {e}");
            ExitCode::from(2)
        }
    }
}

struct Parsed {
    command: String,
    count: Option<u64>,
    flags: HashMap<String, String>,
}

fn parse(args: Vec<String>) -> Result<Parsed, String> {
    let mut flags = HashMap::new();
    let mut positional = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" {
            return Err(USAGE.into());
        }
        if let Some(name) = a.strip_prefix("--") {
            let v = it
                .next()
                .ok_or_else(|| format!("--{name} needs a value\n{USAGE}"))?;
            flags.insert(name.to_string(), v);
        } else {
            positional.push(a);
        }
    }
    let mut pos = positional.into_iter();
    let command = pos.next().ok_or_else(|| USAGE.to_string())?;
    let count = match pos.next() {
        Some(n) => Some(
            n.parse()
                .map_err(|_| format!("'{n}' is not a number\n{USAGE}"))?,
        ),
        None => None,
    };
    if let Some(extra) = pos.next() {
        return Err(format!("unexpected argument '{extra}'\n{USAGE}"));
    }
    Ok(Parsed {
        command,
        count,
        flags,
    })
}

fn num(flags: &mut HashMap<String, String>, name: &str) -> Result<Option<u64>, String> {
    flags
        .remove(name)
        .map(|v| {
            v.parse()
                .map_err(|_| format!("--{name} needs a number\n{USAGE}"))
        })
        .transpose()
}

fn run(args: Vec<String>) -> Result<String, String> {
    let Parsed {
        command,
        count,
        mut flags,
    } = parse(args)?;
    let bootstrap = flags
        .remove("bootstrap")
        .ok_or_else(|| format!("--bootstrap is required\n{USAGE}"))?;
    let topic = flags
        .remove("topic")
        .ok_or_else(|| format!("--topic is required\n{USAGE}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let line = match command.as_str() {
        "create" => {
            let p = count.ok_or_else(|| format!("create needs PARTITIONS\n{USAGE}"))?;
            let p = i32::try_from(p).map_err(|_| format!("{p} partitions is too many"))?;
            reject_rest(&flags)?;
            rt.block_on(load::create_topic(&bootstrap, &topic, p))
                .map_err(|e| e.to_string())?;
            format!("create: topic={topic} partitions={p}")
        }
        "preload" => {
            let n = count.ok_or_else(|| format!("preload needs N\n{USAGE}"))?;
            let first = num(&mut flags, "first")?.unwrap_or(0);
            reject_rest(&flags)?;
            let s = rt
                .block_on(load::preload(&bootstrap, &topic, first, n))
                .map_err(|e| e.to_string())?;
            format!(
                "preload: records={} amount_ge_50={} elapsed={:.3}s rate={:.0}/s",
                s.records,
                s.amount_at_least_50,
                s.elapsed.as_secs_f64(),
                s.rate()
            )
        }
        "rate" => {
            let r = count.ok_or_else(|| format!("rate needs R\n{USAGE}"))?;
            let secs = num(&mut flags, "duration")?
                .ok_or_else(|| format!("rate needs --duration\n{USAGE}"))?;
            let linger = num(&mut flags, "linger-ms")?.unwrap_or(1);
            reject_rest(&flags)?;
            let s = rt
                .block_on(load::produce_at_rate(
                    &bootstrap,
                    &topic,
                    r,
                    Duration::from_secs(secs),
                    Duration::from_millis(linger),
                ))
                .map_err(|e| e.to_string())?;
            format!(
                "rate: target={r}/s records={} amount_ge_50={} elapsed={:.3}s achieved={:.0}/s",
                s.records,
                s.amount_at_least_50,
                s.elapsed.as_secs_f64(),
                s.rate()
            )
        }
        "measure" => {
            let start = match flags.remove("from").as_deref() {
                None | Some("beginning") => StartAt::Beginning,
                Some("end") => StartAt::End,
                Some(o) => return Err(format!("--from {o}: beginning or end\n{USAGE}")),
            };
            let stop = StopWhen {
                records: num(&mut flags, "expect")?,
                idle: Duration::from_secs(num(&mut flags, "idle-secs")?.unwrap_or(5)),
                timeout: Duration::from_secs(num(&mut flags, "timeout-secs")?.unwrap_or(600)),
            };
            let inputs = num(&mut flags, "inputs")?;
            let fetch_max_wait = num(&mut flags, "fetch-max-wait-ms")?.map_or(
                kstreams_bench::cli::DEFAULT_FETCH_MAX_WAIT,
                Duration::from_millis,
            );
            reject_rest(&flags)?;
            let rep = rt
                .block_on(load::measure(
                    &bootstrap,
                    &topic,
                    start,
                    stop,
                    fetch_max_wait,
                ))
                .map_err(|e| e.to_string())?;
            let mut line = format!("measure: {rep}");
            if let Some(n) = inputs {
                let s = rep.arrival_span.as_secs_f64();
                if s > 0.0 {
                    line.push_str(&format!(" input_throughput={:.0}/s", n as f64 / s));
                }
            }
            line
        }
        other => return Err(format!("unknown command '{other}'\n{USAGE}")),
    };
    Ok(line)
}

fn reject_rest(flags: &HashMap<String, String>) -> Result<(), String> {
    match flags.keys().next() {
        Some(k) => Err(format!("unknown argument '--{k}'\n{USAGE}")),
        None => Ok(()),
    }
}
