//! The producer: batching, compression, the murmur2 partitioner, idempotence (on by default)
//! and transactions.
//!
//! ```no_run
//! # async fn demo() -> kstreams_kafka::Result<()> {
//! use kstreams_kafka::producer::{Producer, ProducerConfig};
//! use kstreams_kafka::{Client, ClientConfig, ProducerRecord};
//!
//! let client = Client::connect(ClientConfig::new("127.0.0.1:9092")).await?;
//! let producer = Producer::new(client, ProducerConfig::default()).await?;
//! let delivery = producer.send(ProducerRecord::new("orders", "v").with_key("k")).await?;
//! let metadata = delivery.await?; // RecordMetadata { topic, partition, offset, timestamp }
//! producer.flush().await?;
//! # let _ = metadata; Ok(()) }
//! ```
//!
//! `send` waits only while `buffer.memory` is exhausted; the returned [`DeliveryFuture`]
//! resolves when the broker acknowledged the record (or it failed). Records of one partition
//! are delivered in order: at most one batch per partition is in flight, and a retried batch
//! keeps its sequence number.
//!
//! Transactions (with [`ProducerConfig::transactional`]): `init_transactions` once (fences
//! older instances with the same transactional id), then per transaction
//! `begin_transaction`, sends (partitions are added to the transaction automatically),
//! optionally `send_offsets_to_transaction`, and `commit_transaction` or
//! `abort_transaction`. Errors of class [`crate::ErrorClass::Fenced`] mean another instance
//! took over: drop the producer.

mod accumulator;
mod batch;
pub mod config;
mod delivery;
pub mod partitioner;
mod sender;
pub mod sequence;

pub use config::{Acks, ProducerConfig};
pub use delivery::{Answers, Delivered, DeliveryFuture, SendAllDelivery, Settled};
pub use partitioner::NullKeyPartitioning;
pub use sequence::ProducerIdAndEpoch;

use crate::client::{Client, ClientConfig};
use crate::error::{KafkaError, Result, broker_error};
use crate::transaction::{TransactionManager, TransactionState};
use crate::types::{
    ConsumerGroupMetadata, OffsetAndMetadata, ProducerRecord, RecordMetadata, TopicPartition,
};
use batch::{PendingRecord, RECORD_OVERHEAD, clone_error};
use delivery::{Reply, SendGroup};
use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};
use partitioner::{NullKeyPartitioner, partition_for_key};
use sender::{Command, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// State shared by the producer handle and its sender task.
pub(crate) struct ProducerShared {
    pub client: Client,
    pub config: ProducerConfig,
    ident: Mutex<ProducerIdAndEpoch>,
    pub txn: Option<TransactionManager>,
    fatal: Mutex<Option<KafkaError>>,
}

impl ProducerShared {
    pub fn ident(&self) -> ProducerIdAndEpoch {
        match self.ident.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    pub(crate) fn set_ident(&self, ident: ProducerIdAndEpoch) {
        match self.ident.lock() {
            Ok(mut g) => *g = ident,
            Err(p) => *p.into_inner() = ident,
        }
    }

    pub fn fatal_error(&self) -> Option<KafkaError> {
        match self.fatal.lock() {
            Ok(g) => g.as_ref().map(clone_error),
            Err(p) => p.into_inner().as_ref().map(clone_error),
        }
    }

    pub fn set_fatal(&self, err: KafkaError) {
        if let Ok(mut g) = self.fatal.lock() {
            g.get_or_insert(err);
        }
    }
}

/// An asynchronous Kafka producer. Share it behind an `Arc`; all methods take `&self`.
pub struct Producer {
    shared: Arc<ProducerShared>,
    tx: mpsc::UnboundedSender<Command>,
    partitioner: Mutex<NullKeyPartitioner>,
    memory: Arc<Semaphore>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("transactional_id", &self.shared.config.transactional_id)
            .field("ident", &self.shared.ident())
            .finish()
    }
}

impl Producer {
    /// Creates a producer on a client. With idempotence and no transactional id this gets a
    /// producer id right away; a transactional producer needs [`Producer::init_transactions`].
    pub async fn new(client: Client, config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let txn = config
            .transactional_id
            .clone()
            .map(|id| TransactionManager::new(id, config.transaction_timeout));
        let shared = Arc::new(ProducerShared {
            client,
            ident: Mutex::new(ProducerIdAndEpoch::NONE),
            txn,
            fatal: Mutex::new(None),
            config,
        });
        if shared.config.enable_idempotence && shared.txn.is_none() {
            let ident = init_idempotent(&shared).await?;
            shared.set_ident(ident);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(Sender::new(shared.clone(), rx).run());
        let c = &shared.config;
        Ok(Producer {
            partitioner: Mutex::new(NullKeyPartitioner::new(
                c.null_key_partitioning,
                c.batch_size,
            )),
            memory: Arc::new(Semaphore::new(c.buffer_memory.min(Semaphore::MAX_PERMITS))),
            shared,
            tx,
        })
    }

    /// Connects a new client and creates a producer on it.
    pub async fn connect(client_config: ClientConfig, config: ProducerConfig) -> Result<Producer> {
        Producer::new(Client::connect(client_config).await?, config).await
    }

    /// The producer id and epoch (`ProducerIdAndEpoch::NONE` before one was assigned).
    pub fn producer_id_and_epoch(&self) -> ProducerIdAndEpoch {
        self.shared.ident()
    }

    /// The transaction state, for a transactional producer.
    pub fn transaction_state(&self) -> Option<TransactionState> {
        self.shared.txn.as_ref().map(|t| t.state())
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// Queues a record; the future resolves when it was acknowledged. Waits while the
    /// buffer is full. Fails at once if the producer is fenced or closed, or, for a
    /// transactional producer, outside a transaction.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        self.check_sendable()?;
        let size = record_size(&record);
        let n = self.shared.client.partition_count(&record.topic).await?;
        let partition = self.partition(&record, size, n)?;
        let permit = self.reserve_memory(size).await?;
        let (reply, rx) = oneshot::channel();
        let tp = TopicPartition::new(&*record.topic, partition);
        let pending = pending_record(record, size, reply.into(), Some(permit));
        self.tx
            .send(Command::Append(tp, pending))
            .map_err(|_| KafkaError::Closed)?;
        Ok(DeliveryFuture::one(rx))
    }

    /// Queues several records at once, in order; the returned [`SendAllDelivery`] answers
    /// each record, by index, as [`Producer::send`]'s future does. The same as sending them
    /// one by one, with the per-call costs (the state checks, the wait for buffer memory, the
    /// message to the sender task, a channel and a future per record) paid once: the stream
    /// thread sends what its tasks wrote this way. Waits while the buffer is full; fails
    /// before queueing anything if a record cannot be partitioned (unknown topic, partition
    /// out of range).
    pub async fn send_all(&self, records: Vec<ProducerRecord>) -> Result<SendAllDelivery> {
        self.check_sendable()?;
        if records.is_empty() {
            return Ok(SendAllDelivery::answered(Vec::new()));
        }
        let metadata = self.shared.client.metadata();
        // Each record's partition and size, computed by reference: the records themselves
        // move once, into the batches' pending records.
        let mut placed = Vec::with_capacity(records.len());
        let mut total = 0usize;
        // The previous record's topic and partition count: outputs mostly share a topic.
        let mut last: Option<(Arc<str>, usize)> = None;
        for record in &records {
            let size = record_size(record);
            let n = match &last {
                Some((topic, n)) if Arc::ptr_eq(topic, &record.topic) || *topic == record.topic => {
                    *n
                }
                // One metadata snapshot for the call; a topic not in it is looked up.
                _ => {
                    let n = match metadata.partition_count(&record.topic) {
                        Some(n) => n,
                        None => self.shared.client.partition_count(&record.topic).await?,
                    };
                    last = Some((record.topic.clone(), n));
                    n
                }
            };
            let partition = self.partition(record, size, n)?;
            total = total.saturating_add(size.max(1));
            placed.push((partition, size));
        }
        let permit = self.reserve_memory(total).await?;
        let (delivery, group) = SendGroup::open_shared(records.len());
        let mut appends = Vec::with_capacity(records.len());
        let mut partitions: Vec<TopicPartition> = Vec::new();
        for (i, (record, (partition, size))) in records.into_iter().zip(placed).enumerate() {
            let at = partition_index(&mut partitions, &record.topic, partition);
            let reply = Reply::in_group(&group, i);
            appends.push((at, pending_record(record, size, reply, None)));
        }
        // The call's memory goes along whole: the sender task splits it among the batches.
        // Split here, each record's share would take a reference to the semaphore on this
        // thread and give it back on the sender's, a cache line moving between the two per
        // record when the sender runs on a network thread of its own.
        self.tx
            .send(Command::AppendAll(partitions, appends, permit))
            .map_err(|_| KafkaError::Closed)?;
        Ok(delivery)
    }

    fn check_sendable(&self) -> Result<()> {
        if let Some(e) = self.shared.fatal_error() {
            return Err(e);
        }
        if let Some(txn) = &self.shared.txn {
            let s = txn.state();
            if !s.accepts_sends() {
                return Err(KafkaError::IllegalState(match txn.error() {
                    Some(cause) if s == TransactionState::AbortableError => {
                        format!("transaction must be aborted: {cause}")
                    }
                    _ => format!("send outside a transaction (state {s})"),
                }));
            }
        }
        Ok(())
    }

    /// Sends a record and waits for its acknowledgement.
    pub async fn send_and_wait(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.send(record).await?.await
    }

    /// Waits until `bytes` of `buffer.memory` are free (at most all of it) and takes them.
    async fn reserve_memory(&self, bytes: usize) -> Result<tokio::sync::OwnedSemaphorePermit> {
        let permits = bytes.clamp(1, self.shared.config.buffer_memory) as u32;
        self.memory
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| KafkaError::Closed)
    }

    /// The record's partition in a topic of `n` partitions: its own (checked), by key, or
    /// the null-key partitioner's.
    fn partition(&self, record: &ProducerRecord, size: usize, n: usize) -> Result<i32> {
        if let Some(p) = record.partition {
            if p < 0 || p as usize >= n {
                return Err(broker_error(
                    "Produce",
                    3,
                    Some(format!("{}-{p}: topic has {n} partitions", record.topic)),
                ));
            }
            return Ok(p);
        }
        Ok(match &record.key {
            Some(k) => partition_for_key(k, n),
            None => match self.partitioner.lock() {
                Ok(mut p) => p.partition(&record.topic, n, size),
                Err(p) => p.into_inner().partition(&record.topic, n, size),
            },
        })
    }

    /// Sends every buffered record now and waits until all records sent before this call
    /// completed (successfully or not).
    pub async fn flush(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Flush(reply))
            .map_err(|_| KafkaError::Closed)?;
        rx.await.map_err(|_| KafkaError::Closed)
    }

    /// Ends the linger of every buffered record: the open batches are sent as soon as the
    /// in-flight limits allow. Unlike [`Producer::flush`] it does not wait for
    /// acknowledgements; a caller that has nothing more to send right now uses it so its last
    /// records do not wait out `linger.ms`.
    pub fn send_now(&self) -> Result<()> {
        self.tx
            .send(Command::SendNow)
            .map_err(|_| KafkaError::Closed)
    }

    /// Flushes and stops the background task.
    pub async fn close(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Close(reply)).is_err() {
            return Ok(());
        }
        rx.await.map_err(|_| KafkaError::Closed)
    }

    fn txn(&self) -> Result<&TransactionManager> {
        self.shared.txn.as_ref().ok_or_else(|| {
            KafkaError::IllegalState("not a transactional producer (no transactional.id)".into())
        })
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.shared.config.max_block
    }

    fn check_fatal(&self) -> Result<()> {
        match self.shared.fatal_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn fail_txn(&self, e: KafkaError) -> KafkaError {
        if let Some(txn) = &self.shared.txn {
            if e.is_fenced() {
                txn.set_fatal(e.to_string());
                self.shared.set_fatal(clone_error(&e));
            } else if !e.is_retriable() {
                txn.set_abortable(e.to_string());
            }
        }
        e
    }

    /// Gets the producer id and epoch of the transactional id, fencing older producers with
    /// the same id and finishing their open transaction.
    pub async fn init_transactions(&self) -> Result<()> {
        self.check_fatal()?;
        let txn = self.txn()?;
        txn.transition(TransactionState::Initializing)?;
        match txn
            .init_producer_id(
                &self.shared.client,
                self.deadline(),
                self.shared.config.retry_backoff,
            )
            .await
        {
            Ok(ident) => {
                self.shared.set_ident(ident);
                txn.transition(TransactionState::Ready)
            }
            Err(e) => {
                if e.is_fenced() || e.class() == crate::error::ErrorClass::Fatal {
                    txn.set_fatal(e.to_string());
                    self.shared.set_fatal(clone_error(&e));
                } else {
                    txn.transition(TransactionState::Uninitialized)?;
                }
                Err(e)
            }
        }
    }

    /// Starts a transaction.
    pub fn begin_transaction(&self) -> Result<()> {
        self.check_fatal()?;
        self.txn()?.transition(TransactionState::InTransaction)
    }

    /// Adds consumer offsets to the transaction: they are committed if and only if the
    /// transaction commits. `group` carries the consumer's generation, member id and group
    /// instance id so the group coordinator fences zombies (KIP-447).
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        self.check_fatal()?;
        let txn = self.txn()?;
        if txn.state() != TransactionState::InTransaction {
            return Err(KafkaError::IllegalState(format!(
                "send_offsets_to_transaction in state {}",
                txn.state()
            )));
        }
        txn.send_offsets(
            &self.shared.client,
            self.shared.ident(),
            offsets,
            group,
            self.deadline(),
            self.shared.config.retry_backoff,
        )
        .await
        .map_err(|e| self.fail_txn(e))
    }

    /// Flushes, then commits the transaction. After an error of class `Fenced` drop the
    /// producer; after another error abort (a timed-out commit may also be retried).
    pub async fn commit_transaction(&self) -> Result<()> {
        self.check_fatal()?;
        let txn = self.txn()?;
        match txn.state() {
            TransactionState::Committing => {}
            TransactionState::AbortableError => {
                return Err(KafkaError::IllegalState(format!(
                    "transaction must be aborted: {}",
                    txn.error().unwrap_or_default()
                )));
            }
            _ => txn.transition(TransactionState::Committing)?,
        }
        self.flush().await?;
        self.check_fatal()?;
        if txn.state() == TransactionState::AbortableError {
            return Err(KafkaError::IllegalState(format!(
                "a send of the transaction failed, abort it: {}",
                txn.error().unwrap_or_default()
            )));
        }
        if txn.has_broker_state() {
            txn.end_txn(
                &self.shared.client,
                self.shared.ident(),
                true,
                self.deadline(),
                self.shared.config.retry_backoff,
            )
            .await
            .map_err(|e| if e.is_fenced() { self.fail_txn(e) } else { e })?;
        }
        txn.transition(TransactionState::Ready)
    }

    /// Flushes what is in flight, then aborts the transaction.
    pub async fn abort_transaction(&self) -> Result<()> {
        self.check_fatal()?;
        let txn = self.txn()?;
        if txn.state() != TransactionState::Aborting {
            txn.transition(TransactionState::Aborting)?;
        }
        self.flush().await?;
        self.check_fatal()?;
        if txn.has_broker_state() {
            txn.end_txn(
                &self.shared.client,
                self.shared.ident(),
                false,
                self.deadline(),
                self.shared.config.retry_backoff,
            )
            .await
            .map_err(|e| if e.is_fenced() { self.fail_txn(e) } else { e })?;
        }
        txn.transition(TransactionState::Ready)
    }
}

async fn init_idempotent(shared: &ProducerShared) -> Result<ProducerIdAndEpoch> {
    init_idempotent_from(shared, ProducerIdAndEpoch::NONE).await
}

/// InitProducerId without a transactional id: a new producer id, or (KIP-360) the epoch of
/// `current` bumped where the broker supports it (InitProducerId v3+). Retriable errors are
/// retried until `max.block`.
pub(crate) async fn init_idempotent_from(
    shared: &ProducerShared,
    current: ProducerIdAndEpoch,
) -> Result<ProducerIdAndEpoch> {
    let deadline = Instant::now() + shared.config.max_block;
    loop {
        let res: Result<ProducerIdAndEpoch> = async {
            let conn = shared.client.any_connection().await?;
            let version = conn.version_of::<InitProducerIdRequest>()?;
            let from = sequence::epoch_bump_request(current, version);
            let resp = conn
                .send(
                    InitProducerIdRequest::default()
                        .with_transactional_id(None)
                        .with_transaction_timeout_ms(-1)
                        .with_producer_id(ProducerId(from.producer_id))
                        .with_producer_epoch(from.epoch),
                )
                .await?;
            crate::error::check_code("InitProducerId", resp.error_code, None)?;
            Ok(ProducerIdAndEpoch {
                producer_id: resp.producer_id.0,
                epoch: resp.producer_epoch,
            })
        }
        .await;
        match res {
            Ok(i) => return Ok(i),
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(shared.config.retry_backoff).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A record's estimated size in a batch (what it holds of `buffer.memory`).
fn record_size(record: &ProducerRecord) -> usize {
    RECORD_OVERHEAD
        + record.key.as_ref().map_or(0, |k| k.len())
        + record.value.as_ref().map_or(0, |v| v.len())
        + record
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()) + 2)
            .sum::<usize>()
}

/// A record as the sender task appends it to its partition's batch.
fn pending_record(
    record: ProducerRecord,
    size: usize,
    reply: delivery::Reply,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> PendingRecord {
    let timestamp = record.timestamp.unwrap_or_else(now_ms);
    PendingRecord {
        key: record.key,
        value: record.value,
        headers: record.headers,
        timestamp,
        size,
        reply,
        permit,
    }
}

/// The index of `topic`-`partition` in `partitions`, added if missing. A call sends to few
/// partitions (the sinks' and changelogs' partitions of one thread), so a linear scan from
/// the most recently added stands in for a map keyed by topic name (not measured against one).
fn partition_index(partitions: &mut Vec<TopicPartition>, topic: &str, partition: i32) -> usize {
    match partitions
        .iter()
        .rposition(|tp| tp.partition == partition && tp.topic == topic)
    {
        Some(i) => i,
        None => {
            partitions.push(TopicPartition::new(topic, partition));
            partitions.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_index_names_each_partition_once_in_first_use_order() {
        let mut partitions = Vec::new();
        let seen: Vec<usize> = [("a", 0), ("a", 1), ("a", 0), ("b", 0), ("a", 1), ("b", 0)]
            .into_iter()
            .map(|(t, p)| partition_index(&mut partitions, t, p))
            .collect();
        assert_eq!(seen, vec![0, 1, 0, 2, 1, 2]);
        assert_eq!(
            partitions,
            vec![
                TopicPartition::new("a", 0),
                TopicPartition::new("a", 1),
                TopicPartition::new("b", 0)
            ]
        );
    }
}
