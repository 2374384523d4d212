//! The baseline the workloads are measured against: a plain consume-then-produce loop on the
//! project's own client, with the engine's at-least-once commit protocol (flush the producer,
//! then commit the consumed positions) and nothing else: records are copied through unchanged
//! (key, value, headers, timestamp; zero-copy `Bytes`), partitioned by key, each poll's records
//! in one `send_all` call: the client's fastest way to produce (a `send` per record costs
//! about twice the CPU, BENCHMARKS.md round 10), so the bar is the client at its best. The
//! benchmark binary's `--threads N` runs N such loops in one consumer group, each on its own
//! thread, as the engine runs N stream threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kstreams_kafka::consumer::{Consumer, ConsumerConfig, NoOpRebalanceListener};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig, SendAllDelivery};
use kstreams_kafka::{ClientConfig, KafkaError, ProducerRecord};
use tracing::info;

/// Unacknowledged sends kept before waiting for the older half (as the stream thread).
const MAX_PENDING: usize = 100_000;

/// Settings of the baseline loop.
#[derive(Debug, Clone)]
pub struct BaselineConfig {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// Input topic.
    pub input: String,
    /// Output topic.
    pub output: String,
    /// Consumer group.
    pub group_id: String,
    /// Commit interval (the engine's at-least-once default is 30 s).
    pub commit_interval: Duration,
    /// The consumer's `fetch.max.wait.ms` (as the engine's).
    pub fetch_max_wait: Duration,
    /// The producer's `linger.ms` (as the engine's stream threads').
    pub linger: Duration,
    /// The consumer's `max.poll.records` (the client default when `None`, as the engine's).
    pub max_poll_records: Option<usize>,
}

/// Runs the loop until `shutdown` is set, then commits and closes. `processed` counts the
/// records copied.
pub async fn run(
    cfg: BaselineConfig,
    shutdown: Arc<AtomicBool>,
    processed: Arc<AtomicU64>,
) -> Result<(), KafkaError> {
    let consumer_cfg = ConsumerConfig::new(cfg.bootstrap.clone())
        .with_group_id(cfg.group_id.clone())
        .with_auto_commit(false)
        .with_auto_offset_reset(OffsetResetStrategy::Earliest)
        // The engine's group timeouts in the benchmark binary.
        .with_group_timeouts(Duration::from_secs(6), Duration::from_secs(8));
    let mut consumer_cfg = consumer_cfg;
    consumer_cfg.fetch_max_wait = cfg.fetch_max_wait;
    if let Some(n) = cfg.max_poll_records {
        consumer_cfg.max_poll_records = n;
    }
    let producer_cfg = ProducerConfig {
        linger: cfg.linger,
        ..Default::default()
    };
    let mut consumer = Consumer::connect(consumer_cfg).await?;
    consumer.set_return_before_rejoin(true);
    consumer.subscribe(
        &[cfg.input.as_str()],
        Box::new(NoOpRebalanceListener),
        Vec::new(),
    )?;
    let producer = Producer::connect(
        ClientConfig::new(&cfg.bootstrap).with_client_id(format!("{}-producer", cfg.group_id)),
        producer_cfg,
    )
    .await?;
    let mut pending = Pending::default();
    let output: Arc<str> = cfg.output.as_str().into();
    let mut last_commit = Instant::now();
    info!(input = %cfg.input, output = %cfg.output, "baseline loop started");
    let mut assigned = false;
    while !shutdown.load(Ordering::SeqCst) {
        if consumer.rejoin_pending() {
            // Eager rebalance: commit what was copied before the partitions are revoked.
            commit(&mut consumer, &producer, &mut pending).await?;
        }
        let records = consumer.poll(Duration::from_millis(100)).await?;
        if !assigned && !consumer.assignment().is_empty() {
            // The group join completed (the first poll joins): what `scripts/bench.sh` waits
            // for before it starts a latency run, as it waits for the engine's RUNNING.
            assigned = true;
            info!(
                partitions = consumer.assignment().len(),
                "baseline loop assigned"
            );
        }
        let n = records.len() as u64;
        let out: Vec<ProducerRecord> = records
            .into_iter()
            .map(|r| ProducerRecord {
                topic: output.clone(),
                partition: None,
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp: Some(r.timestamp),
            })
            .collect();
        pending.push(producer.send_all(out).await?);
        if pending.records > MAX_PENDING {
            // Bound memory between commits, as the stream thread does (ending the linger of
            // open batches first).
            producer.send_now()?;
            pending.settle_older_half().await?;
        }
        processed.fetch_add(n, Ordering::Relaxed);
        if n > 0 && !consumer.has_buffered() {
            // As the stream thread: nothing more fetched, so send now rather than linger.
            producer.send_now()?;
        }
        if last_commit.elapsed() >= cfg.commit_interval {
            commit(&mut consumer, &producer, &mut pending).await?;
            last_commit = Instant::now();
        }
    }
    commit(&mut consumer, &producer, &mut pending).await?;
    consumer.close().await?;
    producer.close().await
}

/// The `send_all` calls not yet known to be acknowledged, oldest first.
#[derive(Default)]
struct Pending {
    calls: std::collections::VecDeque<SendAllDelivery>,
    records: usize,
}

impl Pending {
    fn push(&mut self, call: SendAllDelivery) {
        self.records += call.len();
        self.calls.push_back(call);
    }

    /// Waits for the oldest calls until at most half of `MAX_PENDING` records are pending.
    async fn settle_older_half(&mut self) -> Result<(), KafkaError> {
        while self.records > MAX_PENDING / 2 {
            let Some(call) = self.calls.pop_front() else {
                break;
            };
            self.records -= call.len();
            settle(&call).await?;
        }
        Ok(())
    }

    async fn settle_all(&mut self) -> Result<(), KafkaError> {
        for call in self.calls.drain(..) {
            settle(&call).await?;
        }
        self.records = 0;
        Ok(())
    }
}

/// Waits for every record of a call; the first failure is the loop's error.
async fn settle(call: &SendAllDelivery) -> Result<(), KafkaError> {
    call.settled(true).await;
    call.with_answers(|answers| {
        for i in 0..answers.len() {
            if let Some(Err(e)) = answers.take(i) {
                return Err(e);
            }
        }
        Ok(())
    })
}

/// At-least-once commit: every copied record acknowledged, then the positions committed.
async fn commit(
    consumer: &mut Consumer,
    producer: &Producer,
    pending: &mut Pending,
) -> Result<(), KafkaError> {
    producer.flush().await?;
    pending.settle_all().await?;
    if !consumer.assignment().is_empty() {
        consumer.commit_sync().await?;
    }
    Ok(())
}
