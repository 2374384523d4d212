//! Interactive queries while a workload runs (`--query-rate N`): a thread reads the count of a
//! random user from w2's store N times a second through
//! [`kstreams::InteractiveQueries`], timing each read. What it measures: how long a point
//! query takes to travel to the stream threads and back while they process at full speed,
//! and (against a run without queries) what answering costs the processing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kstreams::{InteractiveQueries, StoreQueryParameters};

use crate::workload::W2_STORE;

/// What the query thread saw.
#[derive(Debug)]
pub struct QueryReport {
    /// Latency of each answered query (found or missing), in microseconds.
    pub latency_us: Histogram<u64>,
    /// Queries answered with a count.
    pub found: u64,
    /// Queries answered with nothing (a user not counted yet).
    pub missing: u64,
    /// Queries that failed (instance not running, a timeout, ...).
    pub failed: u64,
}

impl QueryReport {
    /// One line for the bench log.
    pub fn line(&self) -> String {
        let h = &self.latency_us;
        format!(
            "queries={} found={} missing={} failed={} latency_us p50={} p95={} p99={} max={}",
            h.len(),
            self.found,
            self.missing,
            self.failed,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.95),
            h.value_at_quantile(0.99),
            h.max()
        )
    }
}

/// A running query thread.
pub struct QueryLoad {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<QueryReport>,
}

impl QueryLoad {
    /// Starts querying `rate` times a second (users `u0..u9999`, in a fixed pseudo-random
    /// order).
    pub fn start(queries: InteractiveQueries, rate: u32) -> std::io::Result<QueryLoad> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("query-load".into())
            .spawn(move || run(&queries, rate, &flag))?;
        Ok(QueryLoad { stop, handle })
    }

    /// Stops the thread and returns what it saw.
    pub fn stop(self) -> Option<QueryReport> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().ok()
    }
}

fn run(queries: &InteractiveQueries, rate: u32, stop: &AtomicBool) -> QueryReport {
    let mut report = QueryReport {
        latency_us: Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits")),
        found: 0,
        missing: 0,
        failed: 0,
    };
    let store = match queries.key_value_store::<String, i64>(
        StoreQueryParameters::from_name(W2_STORE).with_timeout(Duration::from_secs(5)),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kstreams-bench: no queries: {e}");
            return report;
        }
    };
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut next = Instant::now();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    while !stop.load(Ordering::SeqCst) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let key = format!("u{}", seed % 10_000);
        let started = Instant::now();
        match store.get(&key) {
            Ok(count) => {
                if count.is_some() {
                    report.found += 1;
                } else {
                    report.missing += 1;
                }
                let _ = report
                    .latency_us
                    .record(started.elapsed().as_micros().max(1) as u64);
            }
            // Not running yet (or any more): counted, but not an answer with a latency.
            Err(_) => report.failed += 1,
        }
        next += every;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Behind (a slow answer): start again from now instead of bursting.
            next = now;
        }
    }
    report
}
