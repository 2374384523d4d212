//! The producer's background task: owns the record accumulator, sends ready batches to
//! partition leaders (one Produce request per leader), handles acknowledgements and retries,
//! adds partitions to the open transaction before their first batch, and answers flushes.

use super::accumulator::RecordAccumulator;
use super::batch::{PendingRecord, ProducerBatch, clone_error};
use super::sequence::{
    BatchOutcome, ProducerIdAndEpoch, SequenceTracker, classify_produce_error, requires_epoch_bump,
};
use super::{ProducerShared, init_idempotent_from};
use crate::error::{KafkaError, Result, broker_error};
use crate::protocol_util::{topic_name, transactional_id};
use crate::types::TopicPartition;
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Requests from the producer handle.
pub(crate) enum Command {
    Append(TopicPartition, PendingRecord),
    /// Records of one `send_all`, in order, each with the index of its partition in the
    /// first vector (a partition named once per call, not once per record).
    AppendAll(
        Vec<TopicPartition>,
        Vec<(usize, PendingRecord)>,
        tokio::sync::OwnedSemaphorePermit,
    ),
    Flush(oneshot::Sender<()>),
    /// Close the open batches so they go out now (linger cut short), without a reply.
    SendNow,
    Close(oneshot::Sender<()>),
}

enum Event {
    Produced {
        batches: Vec<(TopicPartition, u64)>,
        result: Result<ProduceResponse>,
        /// Whether the request reached a connection (the broker may have written it).
        reached: bool,
    },
    Added {
        tps: Vec<TopicPartition>,
        result: Result<()>,
    },
    Refreshed,
    /// The answer to a KIP-360 epoch bump of the idempotent producer.
    Bumped(Result<ProducerIdAndEpoch>),
}

/// A pending KIP-360 epoch bump of the idempotent (non-transactional) producer. While one is
/// pending nothing is sent; it starts once no batch is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bump {
    Required,
    InFlight,
}

/// One partition's answer in a Produce response.
struct PartitionResult {
    code: i16,
    base_offset: i64,
    log_append_time: i64,
    /// The partition's log start offset (-1 from brokers before Produce v5).
    log_start_offset: i64,
    message: Option<String>,
}

const PARKED: Duration = Duration::from_secs(3600);
const UNKNOWN_PRODUCER_ID: i16 = 59;
const MESSAGE_TOO_LARGE: i16 = 10;

pub(crate) struct Sender {
    shared: Arc<ProducerShared>,
    rx: mpsc::UnboundedReceiver<Command>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    acc: RecordAccumulator,
    seq: SequenceTracker,
    seq_ident: ProducerIdAndEpoch,
    waiters: Vec<(HashSet<u64>, oneshot::Sender<()>)>,
    adding: bool,
    waiting_add: HashSet<TopicPartition>,
    refreshing: bool,
    bump: Option<Bump>,
    /// Offset of the last record acknowledged per partition (KIP-360 UNKNOWN_PRODUCER_ID).
    last_acked: HashMap<TopicPartition, i64>,
    closing: Option<Option<oneshot::Sender<()>>>,
}

impl Sender {
    pub fn new(shared: Arc<ProducerShared>, rx: mpsc::UnboundedReceiver<Command>) -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let c = &shared.config;
        let acc = RecordAccumulator::new(c.batch_size, c.linger, c.delivery_timeout);
        Sender {
            shared,
            rx,
            events_tx,
            events_rx,
            acc,
            seq: SequenceTracker::default(),
            seq_ident: ProducerIdAndEpoch::NONE,
            waiters: Vec::new(),
            adding: false,
            waiting_add: HashSet::new(),
            refreshing: false,
            bump: None,
            last_acked: HashMap::new(),
            closing: None,
        }
    }

    pub async fn run(mut self) {
        loop {
            let now = Instant::now();
            for b in self.acc.expired(now) {
                let id = b.id;
                let what = format!("delivery of a batch to {} (delivery.timeout)", b.tp);
                b.fail(&KafkaError::Timeout { what });
                self.done(id);
            }
            self.dispatch(now);
            if self.closing.is_some() && self.acc.is_empty() {
                if let Some(Some(reply)) = self.closing.take() {
                    let _ = reply.send(());
                }
                return;
            }
            // While an epoch bump is pending nothing is sent: wait for its events.
            let wake = if self.bump.is_some() {
                now + PARKED
            } else {
                self.acc
                    .next_wake()
                    .unwrap_or_else(|| now + PARKED)
                    .max(now)
            };
            tokio::select! {
                biased;
                ev = self.events_rx.recv() => {
                    if let Some(ev) = ev {
                        self.on_event(ev);
                    }
                }
                cmd = self.rx.recv(), if self.closing.is_none() => {
                    match cmd {
                        Some(cmd) => {
                            self.on_command(cmd);
                            // Take what else is queued before dispatching.
                            for _ in 0..10_000 {
                                match self.rx.try_recv() {
                                    Ok(cmd) => self.on_command(cmd),
                                    Err(_) => break,
                                }
                            }
                        }
                        None => {
                            self.acc.close_all();
                            self.closing = Some(None);
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Append(tp, record) => {
                if let Some(err) = self.shared.fatal_error() {
                    record.reply.send(Err(err));
                    return;
                }
                self.acc.append(&tp, record, Instant::now());
            }
            Command::AppendAll(partitions, records, memory) => {
                if let Some(err) = self.shared.fatal_error() {
                    for (_, record) in records {
                        record.reply.send(Err(clone_error(&err)));
                    }
                    return;
                }
                // Unplaced records are unreachable: `send_all` indexes its own partition list.
                for record in self
                    .acc
                    .append_all(partitions, records, memory, Instant::now())
                {
                    record.reply.send(Err(KafkaError::IllegalState(
                        "record without a partition".into(),
                    )));
                }
            }
            Command::Flush(reply) => {
                self.acc.close_all();
                let ids: HashSet<u64> = self.acc.batch_ids().into_iter().collect();
                if ids.is_empty() {
                    let _ = reply.send(());
                } else {
                    self.waiters.push((ids, reply));
                }
            }
            Command::SendNow => self.acc.close_all(),
            Command::Close(reply) => {
                self.acc.close_all();
                self.closing = Some(Some(reply));
            }
        }
    }

    fn done(&mut self, id: u64) {
        let mut i = 0;
        while i < self.waiters.len() {
            self.waiters[i].0.remove(&id);
            if self.waiters[i].0.is_empty() {
                let (_, reply) = self.waiters.swap_remove(i);
                let _ = reply.send(());
            } else {
                i += 1;
            }
        }
    }

    fn fail_batch(&mut self, batch: ProducerBatch, err: &KafkaError) {
        let id = batch.id;
        batch.fail(err);
        self.done(id);
    }

    fn go_fatal(&mut self, err: &KafkaError) {
        self.shared.set_fatal(clone_error(err));
        if let Some(txn) = &self.shared.txn {
            txn.set_fatal(err.to_string());
        }
        for b in self.acc.drain_all() {
            self.fail_batch(b, err);
        }
    }

    fn dispatch(&mut self, now: Instant) {
        if let Some(bump) = self.bump {
            let in_flight = self.acc.queues.values().any(|q| q.in_flight);
            if bump == Bump::Required && !in_flight && self.shared.fatal_error().is_none() {
                self.spawn_bump();
            }
            return;
        }
        let ready = self.acc.ready(now);
        if ready.is_empty() {
            return;
        }
        let metadata = self.shared.client.metadata();
        let mut per_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        let mut to_add = Vec::new();
        let mut refresh: HashSet<String> = HashSet::new();
        for tp in ready {
            if let Some(txn) = &self.shared.txn
                && !txn.is_added(&tp)
            {
                to_add.push(tp);
                continue;
            }
            match metadata.leader(&tp.topic, tp.partition) {
                Some(l) => per_leader.entry(l).or_default().push(tp),
                None => {
                    refresh.insert(tp.topic.clone());
                    if let Some(q) = self.acc.queues.get_mut(&tp) {
                        q.retry_at = Some(now + self.shared.config.retry_backoff);
                    }
                }
            }
        }
        if !to_add.is_empty() {
            for tp in &to_add {
                if let Some(q) = self.acc.queues.get_mut(tp) {
                    q.retry_at = Some(now + PARKED);
                }
                self.waiting_add.insert(tp.clone());
            }
            if !self.adding {
                self.spawn_add(to_add);
            }
        }
        if !refresh.is_empty() && !self.refreshing {
            self.refreshing = true;
            let client = self.shared.client.clone();
            let events = self.events_tx.clone();
            let topics: Vec<String> = refresh.into_iter().collect();
            tokio::spawn(async move {
                if let Err(e) = client.refresh_metadata(Some(&topics)).await {
                    tracing::debug!(error = %e, "metadata refresh failed");
                }
                let _ = events.send(Event::Refreshed);
            });
        }
        for (leader, tps) in per_leader {
            self.send_to_leader(leader, tps);
        }
    }

    /// Requests a KIP-360 epoch bump (idempotent, non-transactional producers only).
    fn request_bump(&mut self) {
        if self.shared.txn.is_none() && self.bump.is_none() {
            tracing::info!(ident = ?self.seq_ident, "bumping the idempotent producer's epoch");
            self.bump = Some(Bump::Required);
        }
    }

    fn spawn_bump(&mut self) {
        self.bump = Some(Bump::InFlight);
        let shared = self.shared.clone();
        let events = self.events_tx.clone();
        let current = self.shared.ident();
        tokio::spawn(async move {
            let result = init_idempotent_from(&shared, current).await;
            let _ = events.send(Event::Bumped(result));
        });
    }

    fn on_bumped(&mut self, result: Result<ProducerIdAndEpoch>) {
        self.bump = None;
        match result {
            Ok(ident) => {
                tracing::info!(?ident, "idempotent producer epoch bumped");
                self.shared.set_ident(ident);
                // Batches waiting for a retry restart with the new epoch and fresh sequences.
                for q in self.acc.queues.values_mut() {
                    for b in q.batches.iter_mut() {
                        if b.encoded.as_ref().is_some_and(|e| e.ident != ident) {
                            b.encoded = None;
                            b.maybe_written = false;
                        }
                    }
                }
            }
            Err(e) => self.go_fatal(&e),
        }
    }

    fn spawn_add(&mut self, tps: Vec<TopicPartition>) {
        self.adding = true;
        let shared = self.shared.clone();
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let result = match &shared.txn {
                Some(txn) => {
                    let deadline = Instant::now() + shared.config.max_block;
                    txn.add_partitions(
                        &shared.client,
                        shared.ident(),
                        &tps,
                        deadline,
                        shared.config.retry_backoff,
                    )
                    .await
                }
                None => Ok(()),
            };
            let _ = events.send(Event::Added { tps, result });
        });
    }

    fn send_to_leader(&mut self, leader: i32, tps: Vec<TopicPartition>) {
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let ident = self.shared.ident();
        if ident != self.seq_ident {
            self.seq.reset();
            self.seq_ident = ident;
        }
        let idempotent = cfg.enable_idempotence && ident.is_valid();
        let transactional = self.shared.txn.is_some();
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        for tp in tps {
            let Some(q) = self.acc.queues.get_mut(&tp) else {
                continue;
            };
            let Some(batch) = q.batches.front_mut() else {
                continue;
            };
            let base = match &batch.encoded {
                Some(e) => e.base_sequence,
                None if idempotent => self.seq.next_sequence(&tp),
                None => -1,
            };
            match batch.encode(ident, base, transactional, cfg.compression) {
                Ok(enc) => {
                    topics.entry(tp.topic.clone()).or_default().push(
                        PartitionProduceData::default()
                            .with_index(tp.partition)
                            .with_records(Some(enc.bytes.clone())),
                    );
                    q.in_flight = true;
                    q.retry_at = None;
                    sent.push((tp, batch.id));
                }
                Err(e) => {
                    if let Some(b) = q.batches.pop_front() {
                        failed.push((b, e));
                    }
                }
            }
        }
        for (b, e) in failed {
            self.fail_batch(b, &e);
        }
        if sent.is_empty() {
            return;
        }
        let timeout_ms = i32::try_from(cfg.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let req = ProduceRequest::default()
            .with_transactional_id(
                self.shared
                    .txn
                    .as_ref()
                    .map(|t| transactional_id(&t.transactional_id)),
            )
            .with_acks(cfg.acks.wire())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        TopicProduceData::default()
                            .with_name(topic_name(&t))
                            .with_partition_data(ps)
                    })
                    .collect(),
            );
        let client = self.shared.client.clone();
        let events = self.events_tx.clone();
        let timeout = cfg.request_timeout + Duration::from_secs(5);
        tokio::spawn(async move {
            // Only a request handed to a connection may have been written by the broker.
            let (result, reached) = match client.connection(leader).await {
                Ok(conn) => (conn.send_with_timeout(req, timeout).await, true),
                Err(e) => (Err(e), false),
            };
            let _ = events.send(Event::Produced {
                batches: sent,
                result,
                reached,
            });
        });
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Refreshed => self.refreshing = false,
            Event::Bumped(result) => self.on_bumped(result),
            Event::Added { tps, result } => {
                self.adding = false;
                let waiting: Vec<TopicPartition> = self.waiting_add.drain().collect();
                for tp in &waiting {
                    if let Some(q) = self.acc.queues.get_mut(tp) {
                        q.retry_at = None;
                    }
                }
                match result {
                    Ok(()) => {
                        if let Some(txn) = &self.shared.txn {
                            txn.mark_added(&tps);
                        }
                    }
                    Err(e) if e.is_fenced() => self.go_fatal(&e),
                    Err(e) => {
                        if let Some(txn) = &self.shared.txn {
                            txn.set_abortable(format!("AddPartitionsToTxn failed: {e}"));
                        }
                        for tp in &tps {
                            for b in self.acc.drain_partition(tp) {
                                self.fail_batch(b, &e);
                            }
                        }
                    }
                }
            }
            Event::Produced {
                batches,
                result,
                reached,
            } => match result {
                Ok(resp) => {
                    self.mark_written(&batches);
                    let mut by_tp: HashMap<(String, i32), PartitionResult> = HashMap::new();
                    for t in resp.responses {
                        let topic = t.name.0.to_string();
                        for p in t.partition_responses {
                            by_tp.insert(
                                (topic.clone(), p.index),
                                PartitionResult {
                                    code: p.error_code,
                                    base_offset: p.base_offset,
                                    log_append_time: p.log_append_time_ms,
                                    log_start_offset: p.log_start_offset,
                                    message: p.error_message.map(|m| m.to_string()),
                                },
                            );
                        }
                    }
                    for (tp, id) in batches {
                        match by_tp.remove(&(tp.topic.clone(), tp.partition)) {
                            Some(result) => self.on_partition_result(&tp, id, result),
                            None => {
                                let e = KafkaError::Protocol {
                                    broker: "leader".into(),
                                    message: format!("Produce response lacks {tp}"),
                                };
                                self.retry_or_fail(&tp, id, true, e);
                            }
                        }
                    }
                }
                Err(e) => {
                    if reached {
                        self.mark_written(&batches);
                    }
                    let retriable = e.is_retriable();
                    for (tp, id) in batches {
                        if retriable {
                            self.retry_or_fail(&tp, id, true, clone_error(&e));
                        } else {
                            self.finish_failed(&tp, id, &e);
                        }
                    }
                }
            },
        }
    }

    fn mark_written(&mut self, batches: &[(TopicPartition, u64)]) {
        for (tp, id) in batches {
            if let Some(b) = self
                .acc
                .queues
                .get_mut(tp)
                .and_then(|q| q.batches.front_mut())
                .filter(|b| b.id == *id)
            {
                b.maybe_written = true;
            }
        }
    }

    fn on_partition_result(&mut self, tp: &TopicPartition, id: u64, result: PartitionResult) {
        let PartitionResult {
            code,
            base_offset,
            log_append_time,
            log_start_offset,
            message,
        } = result;
        if code == MESSAGE_TOO_LARGE
            && let Some(second) = self.acc.split_front(tp, id)
        {
            // The batch is larger than the topic allows (max.message.bytes may be below
            // batch.size): send its records again in two smaller batches, as Kafka's producer
            // does. Only a single record that is too large fails.
            tracing::debug!(%tp, batch = id, second, "batch too large for the broker: split in two");
            for (ids, _) in &mut self.waiters {
                if ids.contains(&id) {
                    ids.insert(second);
                }
            }
            return;
        }
        let idempotent_only = self.shared.txn.is_none() && self.seq_ident.is_valid();
        if code == UNKNOWN_PRODUCER_ID
            && idempotent_only
            && log_start_offset >= 0
            && self.last_acked.get(tp).copied().unwrap_or(-1) < log_start_offset
        {
            // KIP-360: the log's head (and with it this producer's state) was removed by
            // retention after our last acknowledged write: nothing is lost, so bump the epoch
            // and send the batch again from sequence 0 instead of failing it.
            let e = broker_error("Produce", code, message.or(Some(tp.to_string())));
            self.retry_or_fail(tp, id, false, e);
            self.request_bump();
            return;
        }
        if requires_epoch_bump(code) && idempotent_only {
            // KIP-360: the broker lost this producer's sequence state for the partition. Fail
            // the batch, then bump the epoch so every partition restarts at sequence 0.
            let e = broker_error("Produce", code, message.or(Some(tp.to_string())));
            self.finish_failed(tp, id, &e);
            self.request_bump();
            return;
        }
        match classify_produce_error(code) {
            BatchOutcome::Success | BatchOutcome::Duplicate => {
                let Some(q) = self.acc.queues.get_mut(tp) else {
                    return;
                };
                q.in_flight = false;
                if q.batches.front().map(|b| b.id) != Some(id) {
                    return;
                }
                let Some(batch) = q.batches.pop_front() else {
                    return;
                };
                if let Some(enc) = &batch.encoded
                    && enc.base_sequence >= 0
                    && enc.ident == self.seq_ident
                {
                    self.seq
                        .acknowledge(tp, enc.base_sequence, batch.records.len() as i32);
                }
                if code == 0 && base_offset >= 0 {
                    self.last_acked
                        .insert(tp.clone(), base_offset + batch.records.len() as i64 - 1);
                }
                let base = if code == 0 { base_offset } else { -1 };
                let records = batch.complete(base, log_append_time);
                self.acc.recycle(records);
                self.done(id);
            }
            BatchOutcome::Retry { refresh } => {
                self.retry_or_fail(tp, id, refresh, broker_error("Produce", code, message))
            }
            BatchOutcome::Fenced => {
                if let Some(q) = self.acc.queues.get_mut(tp) {
                    q.in_flight = false;
                }
                let e = broker_error("Produce", code, message);
                self.go_fatal(&e);
            }
            BatchOutcome::Fail => {
                let e = broker_error("Produce", code, message.or(Some(tp.to_string())));
                self.finish_failed(tp, id, &e);
            }
        }
    }

    fn finish_failed(&mut self, tp: &TopicPartition, id: u64, e: &KafkaError) {
        let Some(q) = self.acc.queues.get_mut(tp) else {
            return;
        };
        q.in_flight = false;
        if q.batches.front().map(|b| b.id) != Some(id) {
            return;
        }
        if let Some(b) = q.batches.pop_front() {
            if let Some(txn) = &self.shared.txn {
                txn.set_abortable(format!("send to {tp} failed: {e}"));
            }
            let had_sequence = b
                .encoded
                .as_ref()
                .is_some_and(|enc| enc.base_sequence >= 0 && enc.ident == self.seq_ident);
            self.fail_batch(b, e);
            if had_sequence && self.seq_ident.is_valid() {
                // The broker rejected the batch (e.g. MESSAGE_TOO_LARGE) without using its
                // sequence numbers: the partition's next batch would be out of sequence.
                // An idempotent producer restarts its sequences under a bumped epoch, as
                // Kafka's does (KIP-360); a transactional one aborts instead.
                self.request_bump();
            }
        }
    }

    fn retry_or_fail(&mut self, tp: &TopicPartition, id: u64, refresh: bool, e: KafkaError) {
        let cfg = &self.shared.config;
        let now = Instant::now();
        let Some(q) = self.acc.queues.get_mut(tp) else {
            return;
        };
        q.in_flight = false;
        let Some(front) = q.batches.front_mut() else {
            return;
        };
        if front.id != id {
            return;
        }
        front.attempts = front.attempts.saturating_add(1);
        if front.attempts <= cfg.retries && now < front.deadline {
            tracing::debug!(%tp, attempt = front.attempts, error = %e, "retrying batch");
            q.retry_at = Some(now + cfg.retry_backoff);
            if refresh {
                self.shared
                    .client
                    .invalidate_leader(&tp.topic, tp.partition);
            }
            return;
        }
        let sent = front.maybe_written;
        if let Some(b) = q.batches.pop_front() {
            self.fail_batch(b, &e);
        }
        if sent && self.seq_ident.is_valid() && self.shared.txn.is_none() {
            // The outcome of a sent batch is unknown, so is the partition's sequence state:
            // bump the epoch (KIP-360) rather than give up on the producer.
            self.request_bump();
        } else if sent && self.seq_ident.is_valid() {
            // The outcome of a sent batch is unknown: the sequence state is lost.
            self.go_fatal(&KafkaError::IllegalState(format!(
                "gave up on a sent batch to {tp} ({e}); idempotent sequence state is unknown"
            )));
        } else if let Some(txn) = &self.shared.txn {
            txn.set_abortable(format!("send to {tp} failed: {e}"));
        }
    }
}
