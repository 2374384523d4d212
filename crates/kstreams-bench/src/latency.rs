//! End-to-end latency: the load tool stamps each record with its send time in a header, the
//! workloads carry headers through to their output, and the reader records
//! `arrival - send time` in an hdrhistogram.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

/// The header holding the send time: microseconds since the epoch as a decimal string.
pub const SEND_TIME_HEADER: &str = "kstreams-bench-sent-us";

/// Microseconds since the epoch, now.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The header value for a send time.
pub fn encode_send_time(us: i64) -> Vec<u8> {
    us.to_string().into_bytes()
}

/// The send time in a header value; `None` if it is not a decimal number.
pub fn decode_send_time(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Latencies (µs, up to one hour at 3 significant digits) and the arrival span, for
/// throughput.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
    records: u64,
    first_arrival_us: Option<i64>,
    last_arrival_us: i64,
    /// Records without a readable send-time header.
    pub unstamped: u64,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        LatencyRecorder {
            // Constant, valid bounds: creation cannot fail.
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("1 µs..1 h at 3 digits is a valid histogram"),
            records: 0,
            first_arrival_us: None,
            last_arrival_us: 0,
            unstamped: 0,
        }
    }

    /// Counts a record that arrived at `arrival_us`, sent at `sent_us` if known.
    pub fn record(&mut self, sent_us: Option<i64>, arrival_us: i64) {
        self.records += 1;
        self.first_arrival_us.get_or_insert(arrival_us);
        self.last_arrival_us = self.last_arrival_us.max(arrival_us);
        match sent_us {
            Some(sent) => {
                // Clock steps can make this negative; count it as 1 µs rather than drop it.
                let us = (arrival_us - sent).max(1) as u64;
                self.histogram.saturating_record(us);
            }
            None => self.unstamped += 1,
        }
    }

    /// Records counted so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The summary so far.
    pub fn report(&self) -> LatencyReport {
        let span = self
            .first_arrival_us
            .map_or(0, |first| (self.last_arrival_us - first).max(0));
        let q = |p: f64| Duration::from_micros(self.histogram.value_at_quantile(p));
        LatencyReport {
            records: self.records,
            stamped: self.histogram.len(),
            p50: q(0.50),
            p95: q(0.95),
            p99: q(0.99),
            max: Duration::from_micros(self.histogram.max()),
            arrival_span: Duration::from_micros(span as u64),
        }
    }
}

/// A latency and throughput summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyReport {
    /// Records read.
    pub records: u64,
    /// Records with a send time (in the percentiles).
    pub stamped: u64,
    /// Median latency.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
    /// Time from the first to the last arrival.
    pub arrival_span: Duration,
}

impl LatencyReport {
    /// Records per second between the first and the last arrival (0 below two records).
    pub fn throughput(&self) -> f64 {
        let s = self.arrival_span.as_secs_f64();
        if self.records < 2 || s <= 0.0 {
            0.0
        } else {
            (self.records - 1) as f64 / s
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "records={} throughput={:.0}/s span={:.3}s",
            self.records,
            self.throughput(),
            self.arrival_span.as_secs_f64()
        )?;
        if self.stamped > 0 {
            write!(
                f,
                " latency_ms p50={:.2} p95={:.2} p99={:.2} max={:.2} (n={})",
                ms(self.p50),
                ms(self.p95),
                ms(self.p99),
                ms(self.max),
                self.stamped
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_time_round_trips_and_rejects_garbage() {
        assert_eq!(
            decode_send_time(&encode_send_time(1_700_000_000_123_456)),
            Some(1_700_000_000_123_456)
        );
        assert_eq!(decode_send_time(b"12x"), None);
        assert_eq!(decode_send_time(&[0xff, 0xfe]), None);
    }

    #[test]
    fn percentiles_and_throughput() {
        let mut r = LatencyRecorder::new();
        // 100 records arriving over 99 ms, latencies 1..=100 ms.
        for i in 0..100i64 {
            let arrival = 1_000_000 + i * 1_000;
            r.record(Some(arrival - (i + 1) * 1_000), arrival);
        }
        r.record(None, 1_000_000 + 99_000);
        let rep = r.report();
        assert_eq!(rep.records, 101);
        assert_eq!(rep.stamped, 100);
        assert_eq!(r.unstamped, 1);
        let close = |d: Duration, want_ms: u64| {
            let got = d.as_micros() as i64;
            let want = (want_ms * 1000) as i64;
            assert!(
                (got - want).abs() <= want / 100 + 1,
                "{d:?} vs {want_ms} ms"
            );
        };
        close(rep.p50, 50);
        close(rep.p95, 95);
        close(rep.p99, 99);
        close(rep.max, 100);
        assert_eq!(rep.arrival_span, Duration::from_millis(99));
        // 100 intervals in 99 ms.
        assert!(
            (rep.throughput() - 100.0 / 0.099).abs() < 1.0,
            "{}",
            rep.throughput()
        );
        let s = rep.to_string();
        assert!(s.contains("p95=95") && s.contains("records=101"), "{s}");
    }

    #[test]
    fn empty_and_clock_skew() {
        let r = LatencyRecorder::new();
        assert_eq!(r.report().throughput(), 0.0);
        assert!(!r.report().to_string().contains("latency"));
        let mut r = LatencyRecorder::new();
        r.record(Some(2_000), 1_000); // sent "after" arrival
        assert_eq!(r.report().max, Duration::from_micros(1));
    }
}
