//! The load tool's three jobs: preload N records as fast as possible, produce at a fixed rate
//! with the send time in a header, and read an output topic to report end-to-end latency
//! percentiles and throughput.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{
    Admin, ClientConfig, DeliveryFuture, IsolationLevel, KafkaError, ProducerRecord, TopicPartition,
};

use crate::event::generate_bytes;
use crate::latency::{LatencyRecorder, LatencyReport, SEND_TIME_HEADER, encode_send_time, now_us};

/// Unacknowledged sends kept before waiting for the oldest (bounds the tool's memory).
const MAX_IN_FLIGHT: usize = 100_000;

/// What a producing run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProduceSummary {
    /// Records acknowledged.
    pub records: u64,
    /// Of those, records with `amount >= 50` (w1's output count).
    pub amount_at_least_50: u64,
    /// Wall time from the first send to the last acknowledgement.
    pub elapsed: Duration,
}

impl ProduceSummary {
    /// Acknowledged records per second.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.records as f64 / s
        } else {
            0.0
        }
    }
}

struct Sender {
    producer: Producer,
    topic: String,
    in_flight: VecDeque<DeliveryFuture>,
    summary: ProduceSummary,
    stamp: bool,
}

impl Sender {
    async fn new(
        bootstrap: &str,
        topic: &str,
        linger: Duration,
        stamp: bool,
    ) -> Result<Self, KafkaError> {
        let config = ProducerConfig {
            linger,
            ..ProducerConfig::default()
        };
        let producer = Producer::connect(
            ClientConfig::new(bootstrap).with_client_id("kstreams-load"),
            config,
        )
        .await?;
        Ok(Sender {
            producer,
            topic: topic.to_string(),
            in_flight: VecDeque::new(),
            summary: ProduceSummary {
                records: 0,
                amount_at_least_50: 0,
                elapsed: Duration::ZERO,
            },
            stamp,
        })
    }

    /// Sends generated record `n` with event time and record timestamp `now`.
    async fn send(&mut self, n: u64) -> Result<(), KafkaError> {
        let sent_us = now_us();
        let ts_ms = sent_us / 1000;
        let (key, value) = generate_bytes(n, ts_ms);
        if (n.wrapping_mul(37) % 100) >= 50 {
            self.summary.amount_at_least_50 += 1;
        }
        let mut r = ProducerRecord::new(self.topic.clone(), value)
            .with_key(key)
            .with_timestamp(ts_ms);
        if self.stamp {
            r = r.with_header(
                SEND_TIME_HEADER,
                Some(Bytes::from(encode_send_time(sent_us))),
            );
        }
        self.in_flight.push_back(self.producer.send(r).await?);
        while self.in_flight.len() > MAX_IN_FLIGHT {
            if let Some(f) = self.in_flight.pop_front() {
                f.await?;
                self.summary.records += 1;
            }
        }
        Ok(())
    }

    async fn finish(mut self, started: Instant) -> Result<ProduceSummary, KafkaError> {
        self.producer.flush().await?;
        while let Some(f) = self.in_flight.pop_front() {
            f.await?;
            self.summary.records += 1;
        }
        self.summary.elapsed = started.elapsed();
        self.producer.close().await?;
        Ok(self.summary)
    }
}

/// Creates `topic` with `partitions` partitions (replication factor 1).
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), KafkaError> {
    let admin = Admin::connect(ClientConfig::new(bootstrap)).await?;
    admin
        .create_topics(&[kstreams_kafka::admin::NewTopic::new(topic, partitions, 1)])
        .await
}

/// Produces records `first..first + n` as fast as the producer takes them (no send-time
/// header).
pub async fn preload(
    bootstrap: &str,
    topic: &str,
    first: u64,
    n: u64,
) -> Result<ProduceSummary, KafkaError> {
    let mut s = Sender::new(bootstrap, topic, Duration::from_millis(5), false).await?;
    let started = Instant::now();
    for i in first..first + n {
        s.send(i).await?;
    }
    s.finish(started).await
}

/// Produces `rate` records per second for `duration`, each stamped with its send time, paced
/// every millisecond. `linger` is the producer's linger (part of the measured latency).
pub async fn produce_at_rate(
    bootstrap: &str,
    topic: &str,
    rate: u64,
    duration: Duration,
    linger: Duration,
) -> Result<ProduceSummary, KafkaError> {
    let mut s = Sender::new(bootstrap, topic, linger, true).await?;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent = 0u64;
    loop {
        tick.tick().await;
        let elapsed = started.elapsed().min(duration);
        let due = due_by(rate, elapsed);
        while sent < due {
            s.send(sent).await?;
            sent += 1;
        }
        if elapsed >= duration {
            break;
        }
    }
    s.finish(started).await
}

/// Records due after `elapsed` at `rate` per second.
pub fn due_by(rate: u64, elapsed: Duration) -> u64 {
    (rate as u128 * elapsed.as_micros() / 1_000_000) as u64
}

/// Where [`measure`] starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The beginning of each partition.
    Beginning,
    /// The end: only records written after the start.
    End,
}

/// When [`measure`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopWhen {
    /// After this many records, if set.
    pub records: Option<u64>,
    /// After this long without a record once at least one arrived.
    pub idle: Duration,
    /// After this long in any case.
    pub timeout: Duration,
}

/// Reads every partition of `topic` (read_committed: only committed transactional output
/// counts) and records each record's latency from its send-time header to its arrival.
/// `fetch_max_wait` is the reader's `fetch.max.wait.ms`: tansu holds a fetch that finds no new
/// data for the whole wait, so it is part of the measured latency.
pub async fn measure(
    bootstrap: &str,
    topic: &str,
    start: StartAt,
    stop: StopWhen,
    fetch_max_wait: Duration,
) -> Result<LatencyReport, KafkaError> {
    let admin = Admin::connect(ClientConfig::new(bootstrap)).await?;
    let counts = admin
        .describe_partition_counts(&[topic.to_string()])
        .await?;
    let Some(&partitions) = counts.get(topic) else {
        return Err(KafkaError::Config(format!("topic {topic} does not exist")));
    };
    let mut cfg = ConsumerConfig::new(bootstrap)
        .with_isolation_level(IsolationLevel::ReadCommitted)
        .with_auto_offset_reset(OffsetResetStrategy::Earliest)
        .with_auto_commit(false);
    cfg.fetch_max_wait = fetch_max_wait;
    let mut c = Consumer::connect(cfg).await?;
    let tps: Vec<TopicPartition> = (0..partitions as i32)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    c.assign(&tps)?;
    match start {
        StartAt::Beginning => c.seek_to_beginning(&tps).await?,
        StartAt::End => c.seek_to_end(&tps).await?,
    }
    let mut rec = LatencyRecorder::new();
    let started = Instant::now();
    let mut last = Instant::now();
    loop {
        if stop.records.is_some_and(|n| rec.records() >= n) || started.elapsed() >= stop.timeout {
            break;
        }
        if rec.records() > 0 && last.elapsed() >= stop.idle {
            break;
        }
        let records = c.poll(Duration::from_millis(50)).await?;
        if records.is_empty() {
            continue;
        }
        let arrival = now_us();
        last = Instant::now();
        for r in records {
            let sent = r
                .headers
                .iter()
                .rev()
                .find(|(k, _)| k == SEND_TIME_HEADER)
                .and_then(|(_, v)| v.as_deref())
                .and_then(crate::latency::decode_send_time);
            rec.record(sent, arrival);
        }
    }
    c.close().await?;
    Ok(rec.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing() {
        assert_eq!(due_by(20_000, Duration::from_millis(1)), 20);
        assert_eq!(due_by(20_000, Duration::from_micros(1_500)), 30);
        assert_eq!(due_by(1, Duration::from_millis(999)), 0);
        assert_eq!(due_by(1, Duration::from_secs(1)), 1);
    }

    #[test]
    fn summary_rate() {
        let s = ProduceSummary {
            records: 1000,
            amount_at_least_50: 500,
            elapsed: Duration::from_millis(500),
        };
        assert_eq!(s.rate(), 2000.0);
        let s = ProduceSummary {
            elapsed: Duration::ZERO,
            ..s
        };
        assert_eq!(s.rate(), 0.0);
    }
}
