//! The transaction manager: the coordinator side of a transactional producer (InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) and the lifecycle state.
//!
//! Used through [`crate::producer::Producer`]'s transactional methods. Coordinator errors
//! CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and
//! COORDINATOR_LOAD_IN_PROGRESS are retried (re-discovering the coordinator where needed)
//! until `max.block`; PRODUCER_FENCED and INVALID_PRODUCER_EPOCH surface as
//! [`crate::ErrorClass::Fenced`] errors and make the producer unusable.

pub mod transaction_state;

use crate::client::{Client, CoordinatorType};
use crate::connection::Connection;
use crate::error::{KafkaError, Result, broker_error};
use crate::producer::sequence::ProducerIdAndEpoch;
use crate::protocol_util::{str_bytes, topic_name, transactional_id};
use crate::types::{ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, GroupId,
    InitProducerIdRequest, ProducerId, TxnOffsetCommitRequest,
};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use transaction_state::TransactionState;

/// Retries `op` against the coordinator of `key` while it fails retriably, until `deadline`.
pub(crate) async fn with_coordinator<T, F, Fut>(
    client: &Client,
    kind: CoordinatorType,
    key: &str,
    deadline: Instant,
    backoff: Duration,
    mut op: F,
) -> Result<T>
where
    F: FnMut(Arc<Connection>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    loop {
        let res = match client.coordinator_connection(kind, key).await {
            Ok(c) => op(c).await,
            Err(e) => Err(e),
        };
        match res {
            Ok(v) => return Ok(v),
            Err(e) => {
                let moved = matches!(
                    e,
                    KafkaError::Broker { code: 15 | 16, .. }
                        | KafkaError::Io { .. }
                        | KafkaError::Timeout { .. }
                );
                if moved {
                    client.invalidate_coordinator(kind, key);
                }
                if e.is_retriable() && Instant::now() < deadline {
                    tracing::debug!(key, error = %e, "coordinator request failed, retrying");
                    tokio::time::sleep(retry_delay(&e, backoff)).await;
                    continue;
                }
                return Err(e);
            }
        }
    }
}

/// How long to wait before retrying a coordinator request that failed with `e`.
/// CONCURRENT_TRANSACTIONS (51) only says the coordinator is still completing the previous
/// transaction's commit, which takes milliseconds: waiting the full `retry.backoff.ms` (100 ms)
/// for it would stall every transaction that starts right after a commit (the Java client
/// uses a short fixed backoff for the same reason).
pub(crate) fn retry_delay(e: &KafkaError, backoff: Duration) -> Duration {
    const CONCURRENT_TRANSACTIONS_BACKOFF: Duration = Duration::from_millis(5);
    match e {
        KafkaError::Broker { code: 51, .. } => backoff.min(CONCURRENT_TRANSACTIONS_BACKOFF),
        _ => backoff,
    }
}

#[derive(Debug)]
struct TxnInner {
    state: TransactionState,
    added: HashSet<TopicPartition>,
    offsets_added: bool,
    error: Option<String>,
}

/// State and coordinator requests of one transactional id.
#[derive(Debug)]
pub(crate) struct TransactionManager {
    pub transactional_id: String,
    timeout: Duration,
    inner: Mutex<TxnInner>,
}

impl TransactionManager {
    pub fn new(transactional_id: String, timeout: Duration) -> Self {
        TransactionManager {
            transactional_id,
            timeout,
            inner: Mutex::new(TxnInner {
                state: TransactionState::Uninitialized,
                added: HashSet::new(),
                offsets_added: false,
                error: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TxnInner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn state(&self) -> TransactionState {
        self.lock().state
    }

    pub fn transition(&self, to: TransactionState) -> Result<()> {
        let mut g = self.lock();
        g.state = g.state.transition(to)?;
        if to == TransactionState::Ready {
            g.added.clear();
            g.offsets_added = false;
            g.error = None;
        }
        Ok(())
    }

    /// Enters AbortableError (from InTransaction or Committing) with a cause.
    pub fn set_abortable(&self, cause: String) {
        let mut g = self.lock();
        if g.state.can_transition_to(TransactionState::AbortableError) {
            g.state = TransactionState::AbortableError;
        }
        g.error.get_or_insert(cause);
    }

    pub fn set_fatal(&self, cause: String) {
        let mut g = self.lock();
        g.state = TransactionState::Fatal;
        g.error.get_or_insert(cause);
    }

    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    pub fn is_added(&self, tp: &TopicPartition) -> bool {
        self.lock().added.contains(tp)
    }

    pub fn mark_added(&self, tps: &[TopicPartition]) {
        self.lock().added.extend(tps.iter().cloned());
    }

    /// Whether the transaction touched anything on the broker (EndTxn needed).
    pub fn has_broker_state(&self) -> bool {
        let g = self.lock();
        !g.added.is_empty() || g.offsets_added
    }

    /// InitProducerId for the transactional id: fences older instances (bumps the epoch) and
    /// aborts or completes their open transaction.
    pub async fn init_producer_id(
        &self,
        client: &Client,
        deadline: Instant,
        backoff: Duration,
    ) -> Result<ProducerIdAndEpoch> {
        let timeout_ms = i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX);
        let id = self.transactional_id.clone();
        with_coordinator(
            client,
            CoordinatorType::Transaction,
            &self.transactional_id,
            deadline,
            backoff,
            |conn| {
                let id = id.clone();
                async move {
                    let req = InitProducerIdRequest::default()
                        .with_transactional_id(Some(transactional_id(&id)))
                        .with_transaction_timeout_ms(timeout_ms)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1);
                    let resp = conn.send(req).await?;
                    if resp.error_code != 0 {
                        return Err(broker_error("InitProducerId", resp.error_code, None));
                    }
                    Ok(ProducerIdAndEpoch {
                        producer_id: resp.producer_id.0,
                        epoch: resp.producer_epoch,
                    })
                }
            },
        )
        .await
    }

    /// AddPartitionsToTxn (v3 at most) for partitions about to receive their first batch.
    pub async fn add_partitions(
        &self,
        client: &Client,
        ident: ProducerIdAndEpoch,
        tps: &[TopicPartition],
        deadline: Instant,
        backoff: Duration,
    ) -> Result<()> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in tps {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let topics: Vec<AddPartitionsToTxnTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(ps)
            })
            .collect();
        let id = self.transactional_id.clone();
        with_coordinator(
            client,
            CoordinatorType::Transaction,
            &self.transactional_id,
            deadline,
            backoff,
            |conn| {
                let topics = topics.clone();
                let id = id.clone();
                async move {
                    let version = conn.version_of::<AddPartitionsToTxnRequest>()?.min(3);
                    let req = AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(transactional_id(&id))
                        .with_v3_and_below_producer_id(ProducerId(ident.producer_id))
                        .with_v3_and_below_producer_epoch(ident.epoch)
                        .with_v3_and_below_topics(topics);
                    let resp = conn.send_versioned(req, version, None).await?;
                    // The first error that is not OPERATION_NOT_ATTEMPTED (55) decides.
                    let mut first: Option<i16> = None;
                    for t in &resp.results_by_topic_v3_and_below {
                        for p in &t.results_by_partition {
                            let c = p.partition_error_code;
                            if c != 0 && c != 55 && first.is_none() {
                                first = Some(c);
                            }
                        }
                    }
                    match first {
                        None => Ok(()),
                        Some(c) => Err(broker_error("AddPartitionsToTxn", c, None)),
                    }
                }
            },
        )
        .await
    }

    /// AddOffsetsToTxn then TxnOffsetCommit to the group coordinator (KIP-447 metadata).
    pub async fn send_offsets(
        &self,
        client: &Client,
        ident: ProducerIdAndEpoch,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &ConsumerGroupMetadata,
        deadline: Instant,
        backoff: Duration,
    ) -> Result<()> {
        let id = self.transactional_id.clone();
        let group_id = group.group_id.clone();
        with_coordinator(
            client,
            CoordinatorType::Transaction,
            &self.transactional_id,
            deadline,
            backoff,
            |conn| {
                let id = id.clone();
                let group_id = group_id.clone();
                async move {
                    let req = AddOffsetsToTxnRequest::default()
                        .with_transactional_id(transactional_id(&id))
                        .with_producer_id(ProducerId(ident.producer_id))
                        .with_producer_epoch(ident.epoch)
                        .with_group_id(GroupId(str_bytes(&group_id)));
                    let resp = conn.send(req).await?;
                    crate::error::check_code("AddOffsetsToTxn", resp.error_code, None)
                }
            },
        )
        .await?;
        self.lock().offsets_added = true;

        let mut by_topic: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, om) in offsets {
            by_topic.entry(&tp.topic).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(om.offset)
                    .with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1))
                    .with_committed_metadata(Some(str_bytes(om.metadata.as_deref().unwrap_or("")))),
            );
        }
        let topics: Vec<TxnOffsetCommitRequestTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                TxnOffsetCommitRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(ps)
            })
            .collect();
        let group = group.clone();
        with_coordinator(
            client,
            CoordinatorType::Group,
            &group.group_id,
            deadline,
            backoff,
            |conn| {
                let id = id.clone();
                let topics = topics.clone();
                let group = group.clone();
                async move {
                    let req = TxnOffsetCommitRequest::default()
                        .with_transactional_id(transactional_id(&id))
                        .with_group_id(GroupId(str_bytes(&group.group_id)))
                        .with_producer_id(ProducerId(ident.producer_id))
                        .with_producer_epoch(ident.epoch)
                        .with_generation_id(group.generation_id)
                        .with_member_id(str_bytes(&group.member_id))
                        .with_group_instance_id(group.group_instance_id.as_deref().map(str_bytes))
                        .with_topics(topics);
                    let resp = conn.send(req).await?;
                    for t in &resp.topics {
                        for p in &t.partitions {
                            if p.error_code != 0 {
                                return Err(broker_error(
                                    "TxnOffsetCommit",
                                    p.error_code,
                                    Some(format!("{}-{}", t.name.0, p.partition_index)),
                                ));
                            }
                        }
                    }
                    Ok(())
                }
            },
        )
        .await
    }

    /// EndTxn (commit or abort).
    pub async fn end_txn(
        &self,
        client: &Client,
        ident: ProducerIdAndEpoch,
        commit: bool,
        deadline: Instant,
        backoff: Duration,
    ) -> Result<()> {
        let id = self.transactional_id.clone();
        with_coordinator(
            client,
            CoordinatorType::Transaction,
            &self.transactional_id,
            deadline,
            backoff,
            |conn| {
                let id = id.clone();
                async move {
                    let req = EndTxnRequest::default()
                        .with_transactional_id(transactional_id(&id))
                        .with_producer_id(ProducerId(ident.producer_id))
                        .with_producer_epoch(ident.epoch)
                        .with_committed(commit);
                    let resp = conn.send(req).await?;
                    crate::error::check_code("EndTxn", resp.error_code, None)
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_transactions_is_retried_sooner_than_other_errors() {
        let backoff = Duration::from_millis(100);
        let concurrent = broker_error("AddPartitionsToTxn", 51, None);
        let not_coordinator = broker_error("AddPartitionsToTxn", 16, None);
        assert_eq!(retry_delay(&concurrent, backoff), Duration::from_millis(5));
        assert_eq!(retry_delay(&not_coordinator, backoff), backoff);
        // Never longer than the configured backoff.
        assert_eq!(
            retry_delay(&concurrent, Duration::from_millis(1)),
            Duration::from_millis(1)
        );
    }
}
