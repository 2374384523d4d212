//! The fetcher: fetches assigned partitions from their leaders and buffers what `poll` returns.
//!
//! - [`records`] decodes record batches (all compressions) into [`ConsumerRecord`]s;
//! - [`transaction_filter`] applies the isolation level (read_committed by the aborted list
//!   or, when the broker sends none, by the markers in the log);
//! - [`partition_state`] keeps each partition's position, pause flag and bounded buffer;
//! - [`Fetcher`] does the I/O: one Fetch in flight per leader, sent for partitions that have
//!   a position, are not paused and whose buffer is below the bounds; responses are decoded
//!   on a background task so decoding overlaps the application's processing; leader errors
//!   invalidate the cached leader (the next fetch refreshes metadata), OFFSET_OUT_OF_RANGE
//!   asks for a reset by the reset strategy; positions are reset with ListOffsets.

pub mod decompress;
pub mod partition_state;
pub mod records;
pub mod transaction_filter;

pub use records::ConsumerRecord;
pub use transaction_filter::AbortedTransaction;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::client::Client;
use crate::error::{KafkaError, Result, broker_error};
use crate::types::{IsolationLevel, TopicPartition};
pub use decompress::DEFAULT_MAX_DECOMPRESSED_BYTES;
use partition_state::{PartitionState, PositionState};
use records::{DecodedBatch, decode_batches_with_limit};

/// What to do when a partition has no valid position (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OffsetResetStrategy {
    /// Start from the earliest offset.
    Earliest,
    /// Start from the end (the high watermark, or the last stable offset in read_committed).
    #[default]
    Latest,
    /// Fail with [`KafkaError::NoOffsetForPartition`].
    None,
}

/// Fetch settings (a subset of [`crate::consumer::ConsumerConfig`]).
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`.
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: i32,
    /// Buffered records per partition above which it is not fetched.
    pub max_buffered_records_per_partition: usize,
    /// Buffered bytes per partition above which it is not fetched.
    pub max_buffered_bytes_per_partition: usize,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
}

impl FetchConfig {
    /// The budget for the decompressed records of one partition in one fetch response:
    /// `fetch.max.bytes`, but at least [`DEFAULT_MAX_DECOMPRESSED_BYTES`]. A response beyond it
    /// is a protocol error (a decompression bomb), never an unbounded allocation.
    pub fn max_decompressed_bytes(&self) -> usize {
        usize::try_from(self.fetch_max_bytes)
            .unwrap_or(0)
            .max(DEFAULT_MAX_DECOMPRESSED_BYTES)
    }
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            isolation_level: IsolationLevel::ReadUncommitted,
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1_048_576,
            max_buffered_records_per_partition: 10_000,
            max_buffered_bytes_per_partition: 2 * 1_048_576,
            request_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// One partition's share of a fetch response, decoded off the consumer's task.
struct FetchedPartition {
    tp: TopicPartition,
    epoch: u64,
    result: std::result::Result<FetchedData, FetchError>,
}

struct FetchedData {
    batches: Vec<DecodedBatch>,
    aborted: Option<Vec<AbortedTransaction>>,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
}

enum FetchError {
    /// Not answered (request failed or partition missing from the response).
    NoAnswer,
    /// A broker error code for the partition.
    Code(i16),
    /// Undecodable data.
    Decode(KafkaError),
}

struct FetchOutcome {
    broker: i32,
    partitions: Vec<FetchedPartition>,
    error: Option<KafkaError>,
}

/// Error codes after which the partition's leader must be looked up again.
const LEADER_ERRORS: &[i16] = &[3, 5, 6, 9, 56, 74, 75, 100];
/// `OFFSET_OUT_OF_RANGE`.
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// Fetches the assigned partitions. Owned by the consumer.
#[derive(Debug)]
pub struct Fetcher {
    client: Client,
    config: FetchConfig,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    brokers_in_flight: HashSet<i32>,
    tx: mpsc::UnboundedSender<FetchOutcomeBox>,
    rx: mpsc::UnboundedReceiver<FetchOutcomeBox>,
    /// No fetch to a broker before this instant (after an error).
    backoff_until: HashMap<i32, Instant>,
    /// The partition `take` starts with (round robin).
    next_start: usize,
    /// A fatal error to surface from the next poll.
    pending_error: Option<KafkaError>,
}

/// Boxed to keep the channel's element small.
struct FetchOutcomeBox(Box<FetchOutcome>);

impl std::fmt::Debug for FetchOutcomeBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FetchOutcome(broker {})", self.0.broker)
    }
}

impl Fetcher {
    /// A fetcher with nothing assigned.
    pub fn new(client: Client, config: FetchConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Fetcher {
            client,
            config,
            partitions: BTreeMap::new(),
            brokers_in_flight: HashSet::new(),
            tx,
            rx,
            backoff_until: HashMap::new(),
            next_start: 0,
            pending_error: None,
        }
    }

    /// The fetch settings.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Replaces the assignment. Partitions kept keep their state; new ones await a position.
    pub fn assign(&mut self, partitions: &[TopicPartition]) {
        let wanted: HashSet<&TopicPartition> = partitions.iter().collect();
        self.partitions.retain(|tp, _| wanted.contains(tp));
        for tp in partitions {
            self.partitions
                .entry(tp.clone())
                .or_insert_with(|| PartitionState::new(self.config.isolation_level));
        }
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    fn state(&self, tp: &TopicPartition) -> Result<&PartitionState> {
        self.partitions
            .get(tp)
            .ok_or_else(|| KafkaError::IllegalState(format!("{tp} is not assigned")))
    }

    fn state_mut(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| KafkaError::IllegalState(format!("{tp} is not assigned")))
    }

    /// The position of a partition (`None` until known).
    pub fn position(&self, tp: &TopicPartition) -> Result<Option<i64>> {
        Ok(self.state(tp)?.position())
    }

    /// The positions of every partition that has one.
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.partitions
            .iter()
            .filter_map(|(tp, s)| s.position().map(|p| (tp.clone(), p)))
            .collect()
    }

    /// Sets the next offset to return for a partition.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(KafkaError::Config(format!("cannot seek {tp} to {offset}")));
        }
        self.state_mut(tp)?.seek(offset);
        Ok(())
    }

    /// Asks for a reset by the strategy (seek to beginning/end).
    pub fn request_reset(&mut self, tp: &TopicPartition) -> Result<()> {
        self.state_mut(tp)?.request_reset();
        Ok(())
    }

    /// Pauses or resumes a partition.
    pub fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> Result<()> {
        self.state_mut(tp)?.set_paused(paused);
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.is_paused())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Buffered (ready) records of a partition.
    pub fn buffered_records(&self, tp: &TopicPartition) -> Result<usize> {
        Ok(self.state(tp)?.buffered_records())
    }

    /// The last high watermark and last stable offset the broker reported for a partition.
    pub fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64)> {
        let s = self.state(tp)?;
        Ok((s.high_watermark(), s.last_stable_offset()))
    }

    /// Partitions without a valid position, with what they wait for.
    pub fn missing_positions(&self) -> Vec<(TopicPartition, PositionState)> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.position_state() != PositionState::Valid)
            .map(|(tp, s)| (tp.clone(), s.position_state()))
            .collect()
    }

    /// Whether any partition has ready records to return.
    pub fn has_ready(&self) -> bool {
        self.partitions
            .values()
            .any(|s| !s.is_paused() && s.buffered_records() > 0)
    }

    /// Takes up to `max` ready records, rotating the starting partition between calls.
    pub fn take(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let buffered: usize = self
            .partitions
            .values()
            .filter(|s| !s.is_paused())
            .map(PartitionState::buffered_records)
            .sum();
        let mut out = Vec::with_capacity(max.min(buffered));
        let n = self.partitions.len();
        if n == 0 {
            return out;
        }
        let start = self.next_start % n;
        self.next_start = self.next_start.wrapping_add(1);
        let states: Vec<&mut PartitionState> = self.partitions.values_mut().collect();
        let mut states = states;
        states.rotate_left(start);
        for s in states {
            if out.len() >= max {
                break;
            }
            s.take(max - out.len(), &mut out);
        }
        out
    }

    /// Surfaces a fatal fetch error, once.
    pub fn take_error(&mut self) -> Option<KafkaError> {
        self.pending_error.take()
    }

    /// Sends one Fetch per leader for the fetchable partitions that have none in flight.
    pub async fn send_fetches(&mut self) {
        let now = Instant::now();
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64, u64)>> = BTreeMap::new();
        let candidates: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| {
                s.is_fetchable(
                    self.config.max_buffered_records_per_partition,
                    self.config.max_buffered_bytes_per_partition,
                )
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in candidates {
            let leader = match self.client.metadata().leader(&tp.topic, tp.partition) {
                Some(l) => l,
                None => match self.client.leader_for(&tp.topic, tp.partition).await {
                    Ok(l) => l,
                    Err(e) => {
                        debug!(partition = %tp, error = %e, "no leader to fetch from");
                        continue;
                    }
                },
            };
            if self.brokers_in_flight.contains(&leader)
                || self.backoff_until.get(&leader).is_some_and(|t| *t > now)
            {
                continue;
            }
            if let Some(s) = self.partitions.get(&tp) {
                by_leader.entry(leader).or_default().push((
                    tp.clone(),
                    s.fetch_offset(),
                    s.epoch(),
                ));
            }
        }
        for (leader, parts) in by_leader {
            let conn = match self.client.connection(leader).await {
                Ok(c) => c,
                Err(e) => {
                    debug!(broker = leader, error = %e, "cannot connect to leader");
                    self.backoff_until
                        .insert(leader, now + self.config.retry_backoff);
                    for (tp, _, _) in &parts {
                        self.client.invalidate_leader(&tp.topic, tp.partition);
                    }
                    continue;
                }
            };
            for (tp, _, _) in &parts {
                if let Some(s) = self.partitions.get_mut(tp) {
                    s.set_in_flight(true);
                }
            }
            self.brokers_in_flight.insert(leader);
            let request = self.fetch_request(&parts);
            let timeout = self.config.request_timeout + self.config.fetch_max_wait;
            let max_decompressed = self.config.max_decompressed_bytes();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let outcome = match conn.send_with_timeout(request, timeout).await {
                    Ok(resp) => decode_response(leader, resp, &parts, max_decompressed),
                    Err(e) => FetchOutcome {
                        broker: leader,
                        partitions: parts
                            .iter()
                            .map(|(tp, _, epoch)| FetchedPartition {
                                tp: tp.clone(),
                                epoch: *epoch,
                                result: Err(FetchError::NoAnswer),
                            })
                            .collect(),
                        error: Some(e),
                    },
                };
                let _ = tx.send(FetchOutcomeBox(Box::new(outcome)));
            });
        }
    }

    fn fetch_request(&self, parts: &[(TopicPartition, i64, u64)]) -> FetchRequest {
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, offset, _) in parts {
            topics.entry(tp.topic.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_fetch_offset(*offset)
                    .with_partition_max_bytes(self.config.max_partition_fetch_bytes),
            );
        }
        FetchRequest::default()
            .with_max_wait_ms(self.config.fetch_max_wait.as_millis().min(i32::MAX as u128) as i32)
            .with_min_bytes(self.config.fetch_min_bytes)
            .with_max_bytes(self.config.fetch_max_bytes)
            .with_isolation_level(self.config.isolation_level.as_i8())
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(t.to_owned())))
                            .with_partitions(ps)
                    })
                    .collect(),
            )
    }

    /// Whether any fetch is in flight.
    pub fn has_in_flight(&self) -> bool {
        !self.brokers_in_flight.is_empty()
    }

    /// Waits until a fetch response arrives or `deadline` passes, then applies every response
    /// that has arrived. Returns whether any response was applied.
    pub async fn wait_for_responses(&mut self, deadline: Instant) -> bool {
        if !self.has_in_flight() {
            return false;
        }
        let first = match tokio::time::timeout_at(deadline.into(), self.rx.recv()).await {
            Ok(Some(o)) => o,
            Ok(None) | Err(_) => return false,
        };
        self.apply(*first.0);
        while let Ok(o) = self.rx.try_recv() {
            self.apply(*o.0);
        }
        true
    }

    /// Applies responses that already arrived, without waiting.
    pub fn apply_arrived(&mut self) {
        while let Ok(o) = self.rx.try_recv() {
            self.apply(*o.0);
        }
    }

    fn apply(&mut self, outcome: FetchOutcome) {
        self.brokers_in_flight.remove(&outcome.broker);
        if let Some(e) = &outcome.error {
            debug!(broker = outcome.broker, error = %e, "fetch failed");
            self.backoff_until
                .insert(outcome.broker, Instant::now() + self.config.retry_backoff);
        }
        for p in outcome.partitions {
            let Some(state) = self.partitions.get_mut(&p.tp) else {
                continue;
            };
            match p.result {
                Ok(d) => {
                    // Kafka answers OFFSET_OUT_OF_RANGE here; tansu answers an empty set.
                    let out_of_range = d.batches.is_empty()
                        && p.epoch == state.epoch()
                        && (d.high_watermark >= 0 && state.fetch_offset() > d.high_watermark
                            || d.log_start_offset >= 0
                                && state.fetch_offset() < d.log_start_offset);
                    if out_of_range {
                        debug!(partition = %p.tp, offset = state.fetch_offset(), "fetch offset outside the log, resetting");
                        state.request_reset();
                        continue;
                    }
                    state.on_fetched(
                        p.epoch,
                        d.batches,
                        d.aborted.as_deref(),
                        d.high_watermark,
                        d.last_stable_offset,
                    );
                }
                Err(FetchError::NoAnswer) => {
                    state.on_fetch_failed(p.epoch);
                    if outcome.error.is_some() {
                        self.client.invalidate_leader(&p.tp.topic, p.tp.partition);
                    }
                }
                Err(FetchError::Code(code)) => {
                    state.on_fetch_failed(p.epoch);
                    if code == OFFSET_OUT_OF_RANGE {
                        if p.epoch == state.epoch() {
                            debug!(partition = %p.tp, "offset out of range, resetting");
                            state.request_reset();
                        }
                    } else if LEADER_ERRORS.contains(&code) {
                        self.client.invalidate_leader(&p.tp.topic, p.tp.partition);
                        self.backoff_until
                            .insert(outcome.broker, Instant::now() + self.config.retry_backoff);
                    } else if crate::error::is_retriable_code(code) {
                        self.backoff_until
                            .insert(outcome.broker, Instant::now() + self.config.retry_backoff);
                    } else {
                        warn!(partition = %p.tp, code, "fetch failed");
                        self.pending_error = Some(broker_error(
                            "Fetch",
                            code,
                            Some(format!("partition {}", p.tp)),
                        ));
                    }
                }
                Err(FetchError::Decode(e)) => {
                    state.on_fetch_failed(p.epoch);
                    warn!(partition = %p.tp, error = %e, "undecodable fetch data");
                    self.pending_error = Some(e);
                }
            }
        }
    }

    /// Looks up offsets with ListOffsets (`timestamp` -2 earliest, -1 latest, or a time).
    pub async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let mut by_leader: BTreeMap<i32, Vec<&TopicPartition>> = BTreeMap::new();
        for tp in partitions {
            let leader = self.client.leader_for(&tp.topic, tp.partition).await?;
            by_leader.entry(leader).or_default().push(tp);
        }
        let mut out = BTreeMap::new();
        for (leader, tps) in by_leader {
            let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
            for tp in &tps {
                topics.entry(tp.topic.as_str()).or_default().push(
                    ListOffsetsPartition::default()
                        .with_partition_index(tp.partition)
                        .with_timestamp(timestamp),
                );
            }
            let conn = self.client.connection(leader).await?;
            let version = conn.version_of::<ListOffsetsRequest>()?;
            let mut req = ListOffsetsRequest::default()
                .with_replica_id((-1).into())
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(t.to_owned())))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            if version >= 2 {
                req = req.with_isolation_level(self.config.isolation_level.as_i8());
            }
            if version >= 10 {
                req = req.with_timeout_ms(
                    self.config
                        .request_timeout
                        .as_millis()
                        .min(i32::MAX as u128) as i32,
                );
            }
            let resp = match conn.send(req).await {
                Ok(r) => r,
                Err(e) => {
                    for tp in &tps {
                        self.client.invalidate_leader(&tp.topic, tp.partition);
                    }
                    return Err(e);
                }
            };
            for topic in resp.topics {
                for p in topic.partitions {
                    let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
                    if p.error_code != 0 {
                        if LEADER_ERRORS.contains(&p.error_code) {
                            self.client.invalidate_leader(&tp.topic, tp.partition);
                        }
                        return Err(broker_error(
                            "ListOffsets",
                            p.error_code,
                            Some(format!("partition {tp}")),
                        ));
                    }
                    out.insert(tp, p.offset);
                }
            }
        }
        for tp in partitions {
            if !out.contains_key(tp) {
                return Err(KafkaError::Protocol {
                    broker: String::new(),
                    message: format!("ListOffsets response lacks {tp}"),
                });
            }
        }
        Ok(out)
    }

    /// Resets the given partitions by `strategy` (ListOffsets earliest or latest).
    pub async fn reset_positions(
        &mut self,
        partitions: &[TopicPartition],
        strategy: OffsetResetStrategy,
    ) -> Result<()> {
        let timestamp = match strategy {
            OffsetResetStrategy::Earliest => -2,
            OffsetResetStrategy::Latest => -1,
            OffsetResetStrategy::None => {
                let tp = partitions
                    .first()
                    .cloned()
                    .unwrap_or_else(|| TopicPartition::new("", -1));
                return Err(KafkaError::NoOffsetForPartition {
                    topic: tp.topic,
                    partition: tp.partition,
                });
            }
        };
        if partitions.is_empty() {
            return Ok(());
        }
        let mut offsets = self.list_offsets(partitions, timestamp).await?;
        if strategy == OffsetResetStrategy::Latest {
            // tansu answers ListOffsets(latest) with the last batch's base offset + 1; the
            // end a Fetch reports is right there and on Kafka (where both agree).
            for (tp, end) in self.fetch_ends(&offsets).await? {
                if let Some(o) = offsets.get_mut(&tp) {
                    *o = (*o).max(end);
                }
            }
        }
        for (tp, offset) in offsets {
            if let Some(s) = self.partitions.get_mut(&tp)
                && s.position_state() != PositionState::Valid
            {
                debug!(partition = %tp, offset, ?strategy, "reset position");
                s.seek(offset.max(0));
            }
        }
        Ok(())
    }
}

impl Fetcher {
    /// The log end each partition's leader reports in an (almost empty) Fetch at `offsets`:
    /// the high watermark, or the last stable offset in read_committed.
    async fn fetch_ends(
        &self,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64, u64)>> = BTreeMap::new();
        for (tp, offset) in offsets {
            let leader = self.client.leader_for(&tp.topic, tp.partition).await?;
            by_leader
                .entry(leader)
                .or_default()
                .push((tp.clone(), (*offset).max(0), 0));
        }
        let mut out = BTreeMap::new();
        for (leader, parts) in by_leader {
            let conn = self.client.connection(leader).await?;
            // (tansu answers a Fetch with max_wait 0 with no partitions at all.)
            let mut request = self
                .fetch_request(&parts)
                .with_max_wait_ms(50)
                .with_min_bytes(0)
                .with_max_bytes(1);
            for t in &mut request.topics {
                for p in &mut t.partitions {
                    p.partition_max_bytes = 1;
                }
            }
            let resp = conn.send(request).await?;
            for topic in resp.responses {
                for p in topic.partitions {
                    if p.error_code != 0 {
                        continue;
                    }
                    let end = match self.config.isolation_level {
                        IsolationLevel::ReadCommitted if p.last_stable_offset >= 0 => {
                            p.last_stable_offset
                        }
                        _ => p.high_watermark,
                    };
                    out.insert(
                        TopicPartition::new(topic.topic.0.to_string(), p.partition_index),
                        end,
                    );
                }
            }
        }
        Ok(out)
    }
}

/// Decodes a fetch response (run on the fetch task).
fn decode_response(
    broker: i32,
    resp: kafka_protocol::messages::FetchResponse,
    requested: &[(TopicPartition, i64, u64)],
    max_decompressed: usize,
) -> FetchOutcome {
    let epochs: HashMap<&TopicPartition, u64> =
        requested.iter().map(|(tp, _, e)| (tp, *e)).collect();
    let mut answered: HashSet<TopicPartition> = HashSet::new();
    let mut partitions = Vec::new();
    let top_error = (resp.error_code != 0).then(|| broker_error("Fetch", resp.error_code, None));
    if top_error.is_none() {
        for topic in resp.responses {
            let name = topic.topic.0.to_string();
            for p in topic.partitions {
                let tp = TopicPartition::new(name.clone(), p.partition_index);
                let Some(&epoch) = epochs.get(&tp) else {
                    continue;
                };
                answered.insert(tp.clone());
                let result = if p.error_code != 0 {
                    Err(FetchError::Code(p.error_code))
                } else {
                    match decode_batches_with_limit(
                        &tp.topic,
                        tp.partition,
                        p.records.unwrap_or_default(),
                        max_decompressed,
                    ) {
                        Ok(batches) => Ok(FetchedData {
                            batches,
                            aborted: p.aborted_transactions.map(|list| {
                                list.into_iter()
                                    .map(|a| AbortedTransaction {
                                        producer_id: a.producer_id.0,
                                        first_offset: a.first_offset,
                                    })
                                    .collect()
                            }),
                            high_watermark: p.high_watermark,
                            last_stable_offset: p.last_stable_offset,
                            log_start_offset: p.log_start_offset,
                        }),
                        Err(e) => Err(FetchError::Decode(e)),
                    }
                };
                partitions.push(FetchedPartition { tp, epoch, result });
            }
        }
    }
    for (tp, _, epoch) in requested {
        if !answered.contains(tp) {
            partitions.push(FetchedPartition {
                tp: tp.clone(),
                epoch: *epoch,
                result: Err(FetchError::NoAnswer),
            });
        }
    }
    FetchOutcome {
        broker,
        partitions,
        error: top_error,
    }
}
