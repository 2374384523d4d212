//! The I/O side of group membership: JoinGroup, SyncGroup, Heartbeat (on a background task),
//! LeaveGroup, OffsetCommit and OffsetFetch against the group coordinator, driving the pure
//! [`GroupMembership`] state machine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::group_membership::{
    COORDINATOR_NOT_AVAILABLE, GroupAction, GroupMembership, JoinResult, MemberState,
    NOT_COORDINATOR, PartitionFate, Transition,
};
use crate::assignor::consumer_protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
use crate::assignor::{Assignment, GroupMember, PartitionAssignor, Subscription};
use crate::client::{Client, CoordinatorType};
use crate::error::{KafkaError, Result, broker_error};
use crate::types::{ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition};

/// Timeouts of a group member.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id` (static membership).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`, sent as the rebalance timeout.
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
}

/// Something the heartbeat task observed that the consumer must act on.
#[derive(Debug)]
pub enum GroupEvent {
    /// Join again; first revoke or lose the owned partitions.
    Rejoin(PartitionFate),
    /// The member cannot continue.
    Fatal(KafkaError),
}

#[derive(Debug, Default)]
struct Shared {
    events: Vec<GroupEvent>,
    /// When the application last polled (or the member last joined): the heartbeat task
    /// leaves the group when this is older than `max.poll.interval.ms`.
    last_poll: Option<Instant>,
}

/// A member of a consumer group: the coordinator requests and the heartbeat task.
#[derive(Debug)]
pub struct ConsumerCoordinator {
    client: Client,
    config: GroupConfig,
    membership: Arc<Mutex<GroupMembership>>,
    shared: Arc<Mutex<Shared>>,
    heartbeat: Option<JoinHandle<()>>,
    assignors: Vec<Arc<dyn PartitionAssignor>>,
}

fn closed<T>(_: T) -> KafkaError {
    KafkaError::IllegalState("group state lock poisoned".into())
}

fn name(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

impl ConsumerCoordinator {
    /// A member that has not joined yet.
    pub fn new(
        client: Client,
        config: GroupConfig,
        assignors: Vec<Arc<dyn PartitionAssignor>>,
    ) -> Self {
        let membership =
            GroupMembership::new(config.group_id.clone(), config.group_instance_id.clone());
        ConsumerCoordinator {
            client,
            config,
            membership: Arc::new(Mutex::new(membership)),
            shared: Arc::new(Mutex::new(Shared::default())),
            heartbeat: None,
            assignors,
        }
    }

    /// Replaces the assignors (before the next join).
    pub fn set_assignors(&mut self, assignors: Vec<Arc<dyn PartitionAssignor>>) {
        self.assignors = assignors;
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.config.group_id
    }

    /// The member's state.
    pub fn state(&self) -> MemberState {
        self.membership
            .lock()
            .map(|m| m.state())
            .unwrap_or(MemberState::Dead)
    }

    /// The group metadata for transactional offset commits.
    pub fn group_metadata(&self) -> ConsumerGroupMetadata {
        match self.membership.lock() {
            Ok(m) => m.group_metadata(),
            Err(_) => ConsumerGroupMetadata::new(self.config.group_id.clone()),
        }
    }

    /// Records that the application polled: the member stays in the group only while it
    /// polls at least every `max.poll.interval.ms` (the rebalance timeout); otherwise the
    /// heartbeat task leaves the group and the next poll finds the partitions lost.
    pub fn record_poll(&self) {
        if let Ok(mut s) = self.shared.lock() {
            s.last_poll = Some(Instant::now());
        }
    }

    /// Takes the events the heartbeat task (or a commit) reported.
    pub fn take_events(&self) -> Vec<GroupEvent> {
        self.shared
            .lock()
            .map(|mut s| std::mem::take(&mut s.events))
            .unwrap_or_default()
    }

    fn push_transition(shared: &Mutex<Shared>, t: Transition) {
        let event = match t.action {
            GroupAction::Join => Some(GroupEvent::Rejoin(t.partitions)),
            GroupAction::Fail(e) => Some(GroupEvent::Fatal(e)),
            _ => None,
        };
        if let (Some(event), Ok(mut s)) = (event, shared.lock()) {
            s.events.push(event);
        }
    }

    /// Joins (or rejoins) the group: JoinGroup, then SyncGroup (computing the assignment when
    /// leader), retrying through coordinator changes and rebalances. `owned` and
    /// `owned_generation` are sent in the subscription so a sticky assignor can keep them.
    pub async fn join_group(
        &mut self,
        topics: &[String],
        owned: &[TopicPartition],
        owned_generation: i32,
    ) -> Result<Assignment> {
        if self.assignors.is_empty() {
            return Err(KafkaError::Config(
                "no partition assignor configured".into(),
            ));
        }
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if attempts > 1 {
                debug!(group = %self.config.group_id, attempts, "rejoining");
            }
            if !self.membership.lock().map_err(closed)?.begin_join() {
                return Err(KafkaError::Closed);
            }
            let (resp, version) = match self.send_join(topics, owned, owned_generation).await {
                Ok(r) => r,
                Err(e) if e.is_retriable() => {
                    warn!(group = %self.config.group_id, error = %e, "JoinGroup failed, retrying");
                    self.client
                        .invalidate_coordinator(CoordinatorType::Group, &self.config.group_id);
                    tokio::time::sleep(self.config.retry_backoff).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let _ = version;
            let join = JoinResult {
                error_code: resp.error_code,
                generation_id: resp.generation_id,
                member_id: resp.member_id.to_string(),
                leader: resp.leader.to_string(),
                protocol_name: resp.protocol_name.as_ref().map(|p| p.to_string()),
            };
            let t = self
                .membership
                .lock()
                .map_err(closed)?
                .on_join_response(&join);
            match t.action {
                GroupAction::Sync { leader } => {
                    let assignments = if leader {
                        self.leader_assign(&resp).await?
                    } else {
                        Vec::new()
                    };
                    match self.sync(assignments, &join).await? {
                        Some(assignment) => {
                            // The poll interval restarts with the new generation.
                            self.record_poll();
                            self.start_heartbeat();
                            info!(
                                group = %self.config.group_id,
                                generation = join.generation_id,
                                member = %join.member_id,
                                leader,
                                partitions = assignment.partitions.len(),
                                "joined group"
                            );
                            return Ok(assignment);
                        }
                        None => continue,
                    }
                }
                GroupAction::Join => continue,
                GroupAction::FindCoordinator => {
                    self.client
                        .invalidate_coordinator(CoordinatorType::Group, &self.config.group_id);
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                GroupAction::Backoff => tokio::time::sleep(self.config.retry_backoff).await,
                GroupAction::Fail(e) => return Err(e),
                GroupAction::None | GroupAction::Assigned(_) => continue,
            }
        }
    }

    async fn send_join(
        &self,
        topics: &[String],
        owned: &[TopicPartition],
        owned_generation: i32,
    ) -> Result<(JoinGroupResponse, i16)> {
        let conn = self
            .client
            .coordinator_connection(CoordinatorType::Group, &self.config.group_id)
            .await?;
        let version = conn.version_of::<JoinGroupRequest>()?;
        let member_id = self
            .membership
            .lock()
            .map_err(closed)?
            .member_id()
            .to_owned();
        let mut protocols = Vec::new();
        for a in &self.assignors {
            let sub = Subscription {
                topics: topics.to_vec(),
                user_data: a.subscription_user_data(topics),
                owned_partitions: owned.to_vec(),
                generation_id: owned_generation,
                rack_id: None,
            };
            protocols.push(
                JoinGroupRequestProtocol::default()
                    .with_name(name(a.name()))
                    .with_metadata(encode_subscription(&sub)?),
            );
        }
        let mut req = JoinGroupRequest::default()
            .with_group_id(GroupId(name(&self.config.group_id)))
            .with_session_timeout_ms(millis(self.config.session_timeout))
            .with_member_id(name(&member_id))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(protocols);
        if version >= 1 {
            req = req.with_rebalance_timeout_ms(millis(self.config.rebalance_timeout));
        }
        if version >= 5 {
            req = req.with_group_instance_id(self.config.group_instance_id.as_deref().map(name));
        }
        let timeout = self.config.rebalance_timeout + self.config.request_timeout;
        let resp = conn.send_with_timeout(req, timeout).await?;
        Ok((resp, version))
    }

    /// Runs the chosen assignor over the members (leader only).
    async fn leader_assign(&self, resp: &JoinGroupResponse) -> Result<Vec<(String, Bytes)>> {
        let protocol = resp
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let assignor = self
            .assignors
            .iter()
            .find(|a| a.name() == protocol)
            .cloned()
            .ok_or_else(|| {
                KafkaError::Config(format!(
                    "the group chose assignor {protocol:?}, unknown here"
                ))
            })?;
        let mut members = Vec::new();
        for m in &resp.members {
            let subscription = decode_subscription(&m.metadata)?;
            members.push(GroupMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                subscription,
            });
        }
        let mut all_topics: Vec<String> = members
            .iter()
            .flat_map(|m| m.subscription.topics.iter().cloned())
            .collect();
        all_topics.sort();
        all_topics.dedup();
        if !all_topics.is_empty() {
            // Fresh partition counts for the assignment.
            if let Err(e) = self.client.refresh_metadata(Some(&all_topics)).await {
                debug!(error = %e, "metadata refresh before assignment failed");
            }
        }
        let metadata = self.client.metadata();
        let mut counts = BTreeMap::new();
        for t in &all_topics {
            if let Some(n) = metadata.partition_count(t) {
                counts.insert(t.clone(), n as i32);
            }
        }
        let result = assignor.assign(&members, &counts)?;
        let mut out = Vec::new();
        for m in &members {
            let a = result.get(&m.member_id).cloned().unwrap_or_default();
            out.push((m.member_id.clone(), encode_assignment(&a)?));
        }
        debug!(group = %self.config.group_id, members = members.len(), assignor = %protocol, "computed assignment");
        Ok(out)
    }

    /// SyncGroup; `Ok(None)` means "join again".
    async fn sync(
        &mut self,
        assignments: Vec<(String, Bytes)>,
        join: &JoinResult,
    ) -> Result<Option<Assignment>> {
        let conn = match self
            .client
            .coordinator_connection(CoordinatorType::Group, &self.config.group_id)
            .await
        {
            Ok(c) => c,
            Err(e) if e.is_retriable() => {
                self.membership.lock().map_err(closed)?.on_sync_response(
                    COORDINATOR_NOT_AVAILABLE,
                    Bytes::new(),
                    None,
                );
                tokio::time::sleep(self.config.retry_backoff).await;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let version = conn.version_of::<SyncGroupRequest>()?;
        let mut req = SyncGroupRequest::default()
            .with_group_id(GroupId(name(&self.config.group_id)))
            .with_generation_id(join.generation_id)
            .with_member_id(name(&join.member_id))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(name(&m))
                            .with_assignment(a)
                    })
                    .collect(),
            );
        if version >= 3 {
            req = req.with_group_instance_id(self.config.group_instance_id.as_deref().map(name));
        }
        if version >= 5 {
            req = req
                .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                .with_protocol_name(join.protocol_name.as_deref().map(name));
        }
        let timeout = self.config.rebalance_timeout + self.config.request_timeout;
        let (code, bytes, protocol) = match conn.send_with_timeout(req, timeout).await {
            Ok(r) => (
                r.error_code,
                r.assignment,
                r.protocol_name.map(|p| p.to_string()),
            ),
            Err(e) if e.is_retriable() => {
                self.client
                    .invalidate_coordinator(CoordinatorType::Group, &self.config.group_id);
                (COORDINATOR_NOT_AVAILABLE, Bytes::new(), None)
            }
            Err(e) => return Err(e),
        };
        let t = self.membership.lock().map_err(closed)?.on_sync_response(
            code,
            bytes,
            protocol.as_deref(),
        );
        match t.action {
            GroupAction::Assigned(bytes) => {
                let assignment = decode_assignment(&bytes)?;
                if let Some(a) = self
                    .assignors
                    .iter()
                    .find(|a| Some(a.name()) == join.protocol_name.as_deref())
                {
                    a.on_assignment(&assignment, join.generation_id);
                }
                Ok(Some(assignment))
            }
            GroupAction::Fail(e) => Err(e),
            GroupAction::FindCoordinator => {
                self.client
                    .invalidate_coordinator(CoordinatorType::Group, &self.config.group_id);
                tokio::time::sleep(self.config.retry_backoff).await;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    fn start_heartbeat(&mut self) {
        if self.heartbeat.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let client = self.client.clone();
        let config = self.config.clone();
        let membership = self.membership.clone();
        let shared = self.shared.clone();
        self.heartbeat = Some(tokio::spawn(heartbeat_loop(
            client, config, membership, shared,
        )));
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    /// Leaves the group (dynamic members send LeaveGroup; static members only stop
    /// heartbeating so that they keep their assignment within the session timeout).
    pub async fn leave_group(&mut self) -> Result<()> {
        self.stop_heartbeat();
        let (send, member_id) = {
            let mut m = self.membership.lock().map_err(closed)?;
            let member_id = m.member_id().to_owned();
            (m.begin_leave(), member_id)
        };
        let result = if send {
            self.send_leave(&member_id).await
        } else {
            Ok(())
        };
        self.membership.lock().map_err(closed)?.on_left();
        result
    }

    async fn send_leave(&self, member_id: &str) -> Result<()> {
        send_leave(&self.client, &self.config, member_id).await
    }

    /// Commits offsets for the current generation (or as a simple consumer when the member
    /// is not in a generation).
    pub async fn commit_offsets(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            match self.try_commit(offsets).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let code = match &e {
                        KafkaError::Broker { code, .. } => Some(*code),
                        _ => None,
                    };
                    if matches!(code, Some(22 | 25 | 27)) {
                        // The generation moved on: the commit cannot succeed; rejoin.
                        if let Some(code) = code {
                            let t = self
                                .membership
                                .lock()
                                .map_err(closed)?
                                .on_heartbeat_response(code);
                            Self::push_transition(&self.shared, t);
                        }
                        return Err(e);
                    }
                    if !e.is_retriable() || Instant::now() >= deadline {
                        return Err(e);
                    }
                    if matches!(
                        code,
                        Some(NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE) | None
                    ) {
                        self.client
                            .invalidate_coordinator(CoordinatorType::Group, &self.config.group_id);
                    }
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
            }
        }
    }

    async fn try_commit(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        let conn = self
            .client
            .coordinator_connection(CoordinatorType::Group, &self.config.group_id)
            .await?;
        let version = conn.version_of::<OffsetCommitRequest>()?;
        let md = self.group_metadata();
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, om) in offsets {
            let mut p = OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(om.offset)
                .with_committed_metadata(Some(name(om.metadata.as_deref().unwrap_or(""))));
            if version >= 6 {
                p = p.with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1));
            }
            topics.entry(tp.topic.as_str()).or_default().push(p);
        }
        let mut req = OffsetCommitRequest::default()
            .with_group_id(GroupId(name(&self.config.group_id)))
            .with_generation_id_or_member_epoch(md.generation_id)
            .with_member_id(name(&md.member_id))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(name(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        if version >= 7 {
            req = req.with_group_instance_id(md.group_instance_id.as_deref().map(name));
        }
        let resp = conn.send(req).await?;
        for t in resp.topics {
            for p in t.partitions {
                if p.error_code != 0 {
                    return Err(broker_error(
                        "OffsetCommit",
                        p.error_code,
                        Some(format!("partition {}-{}", t.name.0, p.partition_index)),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The committed offsets of `partitions` (`None` where nothing is committed).
    pub async fn fetch_committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            match self.try_fetch_committed(partitions).await {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    if let KafkaError::Broker { code, .. } = &e
                        && matches!(*code, NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE)
                    {
                        self.client
                            .invalidate_coordinator(CoordinatorType::Group, &self.config.group_id);
                    }
                    if !matches!(e, KafkaError::Broker { .. }) {
                        self.client
                            .invalidate_coordinator(CoordinatorType::Group, &self.config.group_id);
                    }
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_fetch_committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        let conn = self
            .client
            .coordinator_connection(CoordinatorType::Group, &self.config.group_id)
            .await?;
        let version = conn.version_of::<OffsetFetchRequest>()?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic
                .entry(tp.topic.as_str())
                .or_default()
                .push(tp.partition);
        }
        let mut req = OffsetFetchRequest::default();
        if version >= 8 {
            req = req.with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(name(&self.config.group_id)))
                    .with_topics(Some(
                        by_topic
                            .iter()
                            .map(|(t, ps)| {
                                OffsetFetchRequestTopics::default()
                                    .with_name(TopicName(name(t)))
                                    .with_partition_indexes(ps.clone())
                            })
                            .collect(),
                    )),
            ]);
        } else {
            req = req
                .with_group_id(GroupId(name(&self.config.group_id)))
                .with_topics(Some(
                    by_topic
                        .iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopic::default()
                                .with_name(TopicName(name(t)))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect(),
                ));
        }
        if version >= 7 {
            req = req.with_require_stable(true);
        }
        let resp = conn.send(req).await?;
        let mut out: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> =
            partitions.iter().map(|tp| (tp.clone(), None)).collect();
        let mut apply = |topic: String,
                         partition: i32,
                         offset: i64,
                         epoch: i32,
                         metadata: Option<String>,
                         code: i16|
         -> Result<()> {
            if code != 0 {
                return Err(broker_error(
                    "OffsetFetch",
                    code,
                    Some(format!("partition {topic}-{partition}")),
                ));
            }
            let tp = TopicPartition::new(topic, partition);
            if offset >= 0 && out.contains_key(&tp) {
                out.insert(
                    tp,
                    Some(OffsetAndMetadata {
                        offset,
                        leader_epoch: (epoch >= 0).then_some(epoch),
                        metadata: metadata.filter(|m| !m.is_empty()),
                    }),
                );
            }
            Ok(())
        };
        if version >= 8 {
            for g in resp.groups {
                if g.error_code != 0 {
                    return Err(broker_error("OffsetFetch", g.error_code, None));
                }
                for t in g.topics {
                    for p in t.partitions {
                        apply(
                            t.name.0.to_string(),
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.metadata.map(|m| m.to_string()),
                            p.error_code,
                        )?;
                    }
                }
            }
        } else {
            if resp.error_code != 0 {
                return Err(broker_error("OffsetFetch", resp.error_code, None));
            }
            for t in resp.topics {
                for p in t.partitions {
                    apply(
                        t.name.0.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.map(|m| m.to_string()),
                        p.error_code,
                    )?;
                }
            }
        }
        Ok(out)
    }

    /// Stops the heartbeat without leaving (the member stays until its session times out).
    pub fn abandon(&mut self) {
        self.stop_heartbeat();
    }
}

impl Drop for ConsumerCoordinator {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// Sends LeaveGroup for `member_id` (UNKNOWN_MEMBER_ID counts as left).
async fn send_leave(client: &Client, config: &GroupConfig, member_id: &str) -> Result<()> {
    let conn = client
        .coordinator_connection(CoordinatorType::Group, &config.group_id)
        .await?;
    let version = conn.version_of::<LeaveGroupRequest>()?;
    let mut req = LeaveGroupRequest::default().with_group_id(GroupId(name(&config.group_id)));
    if version >= 3 {
        req = req.with_members(vec![
            MemberIdentity::default()
                .with_member_id(name(member_id))
                .with_group_instance_id(config.group_instance_id.as_deref().map(name)),
        ]);
    } else {
        req = req.with_member_id(name(member_id));
    }
    let resp = conn.send(req).await?;
    if resp.error_code != 0 && resp.error_code != 25 {
        return Err(broker_error("LeaveGroup", resp.error_code, None));
    }
    info!(group = %config.group_id, member = %member_id, "left group");
    Ok(())
}

fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

async fn heartbeat_loop(
    client: Client,
    config: GroupConfig,
    membership: Arc<Mutex<GroupMembership>>,
    shared: Arc<Mutex<Shared>>,
) {
    let mut last_ok = Instant::now();
    let mut next_heartbeat = Instant::now() + config.heartbeat_interval;
    loop {
        // Wake for the next heartbeat, or earlier when max.poll.interval runs out.
        let now = Instant::now();
        let poll_deadline = shared
            .lock()
            .ok()
            .and_then(|s| s.last_poll)
            .map(|t| t + config.rebalance_timeout + Duration::from_millis(1))
            .filter(|d| *d > now);
        let wake = poll_deadline.map_or(next_heartbeat, |d| d.min(next_heartbeat));
        tokio::time::sleep_until(wake.into()).await;
        let snapshot = match membership.lock() {
            Ok(m) if m.state() == MemberState::Dead => return,
            Ok(m) if m.should_heartbeat() => Some((
                m.member_id().to_owned(),
                m.generation_id(),
                m.group_instance_id().map(str::to_owned),
            )),
            Ok(_) => None,
            Err(_) => return,
        };
        let Some((member_id, generation, instance)) = snapshot else {
            last_ok = Instant::now();
            next_heartbeat = last_ok + config.heartbeat_interval;
            continue;
        };
        let poll_expired = shared
            .lock()
            .map(|s| {
                s.last_poll
                    .is_some_and(|t| t.elapsed() > config.rebalance_timeout)
            })
            .unwrap_or(false);
        if poll_expired {
            warn!(
                group = %config.group_id,
                member = %member_id,
                "no poll within max.poll.interval: leaving the group"
            );
            let (leave, t) = match membership.lock() {
                Ok(mut m) => m.on_poll_timeout(),
                Err(_) => return,
            };
            if let Some(member) = leave
                && let Err(e) = send_leave(&client, &config, &member).await
            {
                debug!(group = %config.group_id, error = %e, "LeaveGroup after poll timeout failed");
            }
            ConsumerCoordinator::push_transition(&shared, t);
            continue;
        }
        if Instant::now() < next_heartbeat {
            continue;
        }
        next_heartbeat = Instant::now() + config.heartbeat_interval;
        let result = async {
            let conn = client
                .coordinator_connection(CoordinatorType::Group, &config.group_id)
                .await?;
            let version = conn.version_of::<HeartbeatRequest>()?;
            let mut req = HeartbeatRequest::default()
                .with_group_id(GroupId(name(&config.group_id)))
                .with_generation_id(generation)
                .with_member_id(name(&member_id));
            if version >= 3 {
                req = req.with_group_instance_id(instance.as_deref().map(name));
            }
            conn.send_with_timeout(req, config.request_timeout).await
        }
        .await;
        match result {
            Ok(resp) => {
                if resp.error_code == 0 {
                    last_ok = Instant::now();
                } else {
                    debug!(group = %config.group_id, code = resp.error_code, "heartbeat error");
                }
                if matches!(resp.error_code, NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE) {
                    client.invalidate_coordinator(CoordinatorType::Group, &config.group_id);
                }
                let t = match membership.lock() {
                    Ok(mut m) => m.on_heartbeat_response(resp.error_code),
                    Err(_) => return,
                };
                ConsumerCoordinator::push_transition(&shared, t);
            }
            Err(e) => {
                debug!(group = %config.group_id, error = %e, "heartbeat failed");
                client.invalidate_coordinator(CoordinatorType::Group, &config.group_id);
            }
        }
        if last_ok.elapsed() > config.session_timeout {
            warn!(group = %config.group_id, "no successful heartbeat within the session timeout");
            let t = match membership.lock() {
                Ok(mut m) => m.on_session_timeout(),
                Err(_) => return,
            };
            ConsumerCoordinator::push_transition(&shared, t);
            last_ok = Instant::now();
        }
    }
}
