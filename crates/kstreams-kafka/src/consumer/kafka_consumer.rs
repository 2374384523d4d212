//! [`Consumer`]: subscribe or assign, poll, commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::consumer_config::ConsumerConfig;
use super::rebalance_listener::{ConsumerRebalanceListener, NoOpRebalanceListener};
use super::wakeup::ConsumerWakeup;
use crate::assignor::{PartitionAssignor, RangeAssignor};
use crate::client::{Client, ClientConfig};
use crate::error::{KafkaError, Result};
use crate::fetcher::partition_state::PositionState;
use crate::fetcher::{ConsumerRecord, Fetcher, OffsetResetStrategy};
use crate::group::consumer_coordinator::{ConsumerCoordinator, GroupEvent};
use crate::group::{MemberState, PartitionFate};
use crate::types::{ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition};

enum Mode {
    None,
    Subscribed {
        topics: Vec<String>,
        listener: Box<dyn ConsumerRebalanceListener>,
    },
    Assigned,
}

/// A Kafka consumer: group subscription (classic protocol, pluggable assignors) or manual
/// assignment, poll, positions, pause/resume, committed offsets and commits.
///
/// ```no_run
/// # async fn demo() -> kstreams_kafka::Result<()> {
/// use kstreams_kafka::consumer::{Consumer, ConsumerConfig, NoOpRebalanceListener};
/// use std::time::Duration;
///
/// let config = ConsumerConfig::new("127.0.0.1:9092").with_group_id("app");
/// let mut consumer = Consumer::connect(config).await?;
/// consumer.subscribe(&["orders"], Box::new(NoOpRebalanceListener), Vec::new())?;
/// loop {
///     for record in consumer.poll(Duration::from_millis(500)).await? {
///         println!("{}-{}@{}", record.topic, record.partition, record.offset);
///     }
///     consumer.commit_sync().await?;
/// }
/// # }
/// ```
///
/// Dropping a consumer without [`Consumer::close`] stops its heartbeat without leaving the
/// group: the coordinator evicts it after `session.timeout.ms` (as a crashed process).
pub struct Consumer {
    client: Client,
    config: ConsumerConfig,
    fetcher: Fetcher,
    coordinator: Option<ConsumerCoordinator>,
    mode: Mode,
    rejoin_requested: bool,
    /// Partitions owned before the last revocation, sent in the next subscription.
    previous_owned: (Vec<TopicPartition>, i32),
    next_auto_commit: Instant,
    closed: bool,
    /// Group events taken from the coordinator by [`Consumer::rejoin_pending`], not yet acted on.
    stashed_events: Vec<GroupEvent>,
    /// Whether `poll` returns early (empty) when a rejoin becomes due while it waits.
    return_before_rejoin: bool,
    wakeup: ConsumerWakeup,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .field("assignment", &self.fetcher.assignment())
            .finish()
    }
}

impl Consumer {
    /// Validates the configuration and connects to the cluster.
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let client_config = ClientConfig::new(&config.bootstrap_servers)
            .with_client_id(config.client_id.clone())
            .with_request_timeout(config.request_timeout);
        let client = Client::connect(client_config).await?;
        Consumer::with_client(client, config)
    }

    /// A consumer on an existing client (shares its connections and metadata).
    pub fn with_client(client: Client, config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let fetcher = Fetcher::new(client.clone(), config.fetch_config());
        let coordinator = config
            .group_config()
            .map(|g| ConsumerCoordinator::new(client.clone(), g, vec![Arc::new(RangeAssignor)]));
        Ok(Consumer {
            client,
            next_auto_commit: Instant::now() + config.auto_commit_interval,
            config,
            fetcher,
            coordinator,
            mode: Mode::None,
            rejoin_requested: false,
            previous_owned: (Vec::new(), -1),
            closed: false,
            stashed_events: Vec::new(),
            return_before_rejoin: false,
            wakeup: ConsumerWakeup::default(),
        })
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            Err(KafkaError::Closed)
        } else {
            Ok(())
        }
    }

    /// Subscribes to `topics` through the group (`group.id` required). `assignors` are
    /// offered to the group in order of preference (empty: range). The group is joined by
    /// the next [`Consumer::poll`].
    pub fn subscribe(
        &mut self,
        topics: &[&str],
        listener: Box<dyn ConsumerRebalanceListener>,
        assignors: Vec<Arc<dyn PartitionAssignor>>,
    ) -> Result<()> {
        self.check_open()?;
        let Some(coordinator) = self.coordinator.as_mut() else {
            return Err(KafkaError::Config("subscribe needs a group.id".into()));
        };
        if matches!(self.mode, Mode::Assigned) {
            return Err(KafkaError::IllegalState(
                "subscribe after assign: call unsubscribe first".into(),
            ));
        }
        if topics.is_empty() {
            return Err(KafkaError::Config("subscribe to no topics".into()));
        }
        if !assignors.is_empty() {
            coordinator.set_assignors(assignors);
        }
        let mut topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        topics.sort();
        topics.dedup();
        self.mode = Mode::Subscribed { topics, listener };
        self.rejoin_requested = true;
        Ok(())
    }

    /// Assigns partitions manually (no group membership; committed offsets are still used
    /// when `group.id` is set).
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_open()?;
        if matches!(self.mode, Mode::Subscribed { .. }) {
            return Err(KafkaError::IllegalState(
                "assign after subscribe: call unsubscribe first".into(),
            ));
        }
        self.fetcher.assign(partitions);
        self.mode = if partitions.is_empty() {
            Mode::None
        } else {
            Mode::Assigned
        };
        Ok(())
    }

    /// Drops the subscription or manual assignment (a group member revokes its partitions
    /// and leaves the group).
    pub async fn unsubscribe(&mut self) -> Result<()> {
        self.check_open()?;
        if let Mode::Subscribed { listener, .. } = &mut self.mode {
            let owned = self.fetcher.assignment();
            if !owned.is_empty() {
                listener.on_partitions_revoked(&owned);
            }
        }
        let result = match (&self.mode, self.coordinator.as_mut()) {
            (Mode::Subscribed { .. }, Some(c)) => {
                let r = c.leave_group().await;
                // A fresh member for a later subscribe.
                if let Some(g) = self.config.group_config() {
                    *c = ConsumerCoordinator::new(
                        self.client.clone(),
                        g,
                        vec![Arc::new(RangeAssignor)],
                    );
                }
                r
            }
            _ => Ok(()),
        };
        self.fetcher.assign(&[]);
        self.mode = Mode::None;
        self.stashed_events.clear();
        result
    }

    /// The partitions currently assigned.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.fetcher.assignment()
    }

    /// The subscribed topics (empty when not subscribed).
    pub fn subscription(&self) -> Vec<String> {
        match &self.mode {
            Mode::Subscribed { topics, .. } => topics.clone(),
            _ => Vec::new(),
        }
    }

    /// Whether the next [`Consumer::poll`] will (re)join the group, revoking the owned
    /// partitions first: an application that commits its own offsets commits before calling
    /// `poll` again. Only for subscribed consumers.
    pub fn rejoin_pending(&mut self) -> bool {
        if !matches!(self.mode, Mode::Subscribed { .. }) {
            return false;
        }
        let Some(c) = self.coordinator.as_ref() else {
            return false;
        };
        self.stashed_events.extend(c.take_events());
        self.rejoin_requested || !self.stashed_events.is_empty() || c.state() != MemberState::Stable
    }

    /// Makes [`Consumer::poll`] return early, without records, when a rejoin becomes due while
    /// it waits (the first round of a `poll` always joins), so that the caller can commit
    /// before its partitions are revoked (see [`Consumer::rejoin_pending`]).
    pub fn set_return_before_rejoin(&mut self, enabled: bool) {
        self.return_before_rejoin = enabled;
    }

    /// Fetches records, waiting up to `timeout` when none are buffered. Joins or rejoins the
    /// group first when needed (which can take up to the rebalance timeout), resolves missing
    /// positions (committed offset, else `auto.offset.reset`) and surfaces fetch errors.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.check_open()?;
        let deadline = Instant::now() + timeout;
        let mut first_round = true;
        loop {
            // A poll in progress counts as polling (max.poll.interval).
            if let Some(c) = &self.coordinator {
                c.record_poll();
            }
            if let Some(e) = self.fetcher.take_error() {
                return Err(e);
            }
            if !first_round
                && self.return_before_rejoin
                && !self.fetcher.assignment().is_empty()
                && self.rejoin_pending()
            {
                return Ok(Vec::new());
            }
            first_round = false;
            self.ensure_group().await?;
            self.update_positions().await?;
            self.maybe_auto_commit().await;
            self.fetcher.apply_arrived();
            if self.fetcher.has_ready() {
                let records = self.fetcher.take(self.config.max_poll_records);
                // Keep the pipeline full while the application processes these.
                self.fetcher.send_fetches().await;
                return Ok(records);
            }
            self.fetcher.send_fetches().await;
            let now = Instant::now();
            if now >= deadline || self.wakeup.take() {
                return Ok(Vec::new());
            }
            // Wake up at least every heartbeat interval to look at group events. Only this
            // wait (for responses, then a retry pause if none came) gives way to a wakeup; it
            // is cancel-safe: nothing is received before it completes.
            let wake = deadline.min(now + self.config.heartbeat_interval);
            let wait = async {
                if !self.fetcher.wait_for_responses(wake).await {
                    let pause = self
                        .config
                        .retry_backoff
                        .min(wake.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(pause).await;
                }
            };
            tokio::select! {
                _ = wait => {}
                _ = self.wakeup.requested() => {}
            }
        }
    }

    /// A handle that ends this consumer's poll early ([`ConsumerWakeup`]).
    pub fn wakeup_handle(&self) -> ConsumerWakeup {
        self.wakeup.clone()
    }

    /// Joins the group if the subscription, a heartbeat or a commit asked for it.
    async fn ensure_group(&mut self) -> Result<()> {
        let Mode::Subscribed { topics, listener } = &mut self.mode else {
            return Ok(());
        };
        let Some(coordinator) = self.coordinator.as_mut() else {
            return Ok(());
        };
        let mut fate: Option<PartitionFate> = None;
        let mut events = std::mem::take(&mut self.stashed_events);
        events.extend(coordinator.take_events());
        for event in events {
            match event {
                GroupEvent::Fatal(e) => return Err(e),
                GroupEvent::Rejoin(f) => {
                    fate = match (fate, f) {
                        (Some(PartitionFate::Lose), _) | (_, PartitionFate::Lose) => {
                            Some(PartitionFate::Lose)
                        }
                        _ => Some(PartitionFate::Revoke),
                    }
                }
            }
        }
        let needs_join =
            self.rejoin_requested || fate.is_some() || coordinator.state() != MemberState::Stable;
        if !needs_join {
            return Ok(());
        }
        let owned = self.fetcher.assignment();
        let generation = coordinator.group_metadata().generation_id;
        if !owned.is_empty() {
            if fate == Some(PartitionFate::Lose) {
                debug!(partitions = owned.len(), "partitions lost");
                listener.on_partitions_lost(&owned);
                self.previous_owned = (Vec::new(), -1);
            } else {
                if self.config.enable_auto_commit {
                    let positions: BTreeMap<TopicPartition, OffsetAndMetadata> = self
                        .fetcher
                        .positions()
                        .into_iter()
                        .map(|(tp, o)| (tp, OffsetAndMetadata::new(o)))
                        .collect();
                    if let Err(e) = coordinator.commit_offsets(&positions).await {
                        warn!(error = %e, "commit before revocation failed");
                    }
                }
                listener.on_partitions_revoked(&owned);
                self.previous_owned = (owned, generation);
            }
            self.fetcher.assign(&[]);
        }
        let topics = topics.clone();
        let (prev, prev_gen) = self.previous_owned.clone();
        let assignment = coordinator.join_group(&topics, &prev, prev_gen).await?;
        // Drop events that predate this generation.
        let _ = coordinator.take_events();
        self.rejoin_requested = false;
        self.fetcher.assign(&assignment.partitions);
        if let Mode::Subscribed { listener, .. } = &mut self.mode {
            listener.on_partitions_assigned(&assignment.partitions);
        }
        Ok(())
    }

    /// Gives partitions without a position one: the committed offset, else the reset
    /// strategy (an error with `none`).
    async fn update_positions(&mut self) -> Result<()> {
        let missing = self.fetcher.missing_positions();
        if missing.is_empty() {
            return Ok(());
        }
        let mut to_reset = Vec::new();
        let mut initial = Vec::new();
        for (tp, state) in missing {
            match state {
                PositionState::AwaitingInitial => initial.push(tp),
                _ => to_reset.push(tp),
            }
        }
        if !initial.is_empty() {
            match &self.coordinator {
                Some(c) => {
                    let committed = c.fetch_committed(&initial).await?;
                    for (tp, om) in committed {
                        match om {
                            Some(om) => self.fetcher.seek(&tp, om.offset)?,
                            None => to_reset.push(tp),
                        }
                    }
                }
                None => to_reset.extend(initial),
            }
        }
        if to_reset.is_empty() {
            return Ok(());
        }
        if self.config.auto_offset_reset == OffsetResetStrategy::None {
            let tp = &to_reset[0];
            return Err(KafkaError::NoOffsetForPartition {
                topic: tp.topic.clone(),
                partition: tp.partition,
            });
        }
        self.fetcher
            .reset_positions(&to_reset, self.config.auto_offset_reset)
            .await
    }

    async fn maybe_auto_commit(&mut self) {
        if !self.config.enable_auto_commit || Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        if let Some(c) = &self.coordinator {
            let positions = self.current_positions();
            if let Err(e) = c.commit_offsets(&positions).await {
                warn!(error = %e, "auto-commit failed");
            }
        }
    }

    fn current_positions(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.fetcher
            .positions()
            .into_iter()
            .map(|(tp, o)| (tp, OffsetAndMetadata::new(o)))
            .collect()
    }

    /// The next offset `poll` returns for a partition, resolving it (committed offset or
    /// reset strategy) if not known yet.
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.check_open()?;
        if let Some(p) = self.fetcher.position(tp)? {
            return Ok(p);
        }
        self.update_positions().await?;
        self.fetcher
            .position(tp)?
            .ok_or_else(|| KafkaError::IllegalState(format!("no position for {tp}")))
    }

    /// The next offset `poll` returns for a partition, if known (no look-up).
    pub fn current_position(&self, tp: &TopicPartition) -> Option<i64> {
        self.fetcher.position(tp).ok().flatten()
    }

    /// Makes the next `poll` return records of `tp` from `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.check_open()?;
        self.fetcher.seek(tp, offset)
    }

    /// Seeks partitions to their first offset.
    pub async fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.reset_to(partitions, OffsetResetStrategy::Earliest)
            .await
    }

    /// Seeks partitions to their end (high watermark, or last stable offset in
    /// read_committed).
    pub async fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.reset_to(partitions, OffsetResetStrategy::Latest).await
    }

    async fn reset_to(
        &mut self,
        partitions: &[TopicPartition],
        strategy: OffsetResetStrategy,
    ) -> Result<()> {
        self.check_open()?;
        for tp in partitions {
            self.fetcher.request_reset(tp)?;
        }
        self.fetcher.reset_positions(partitions, strategy).await
    }

    /// Stops returning and fetching records of these partitions (buffered records are kept).
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.fetcher.set_paused(tp, true)?;
        }
        Ok(())
    }

    /// Resumes paused partitions.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.fetcher.set_paused(tp, false)?;
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.fetcher.paused()
    }

    /// Whether records already fetched wait for the next `poll` (on a partition not paused).
    pub fn has_buffered(&self) -> bool {
        self.fetcher.has_ready()
    }

    /// Records buffered for a partition (fetched, not yet returned by `poll`).
    pub fn buffered_records(&self, tp: &TopicPartition) -> Result<usize> {
        self.fetcher.buffered_records(tp)
    }

    /// The last (high watermark, last stable offset) a fetch reported for a partition.
    pub fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64)> {
        self.fetcher.watermarks(tp)
    }

    /// Looks up the earliest (`-2`), latest (`-1`) or by-timestamp offsets of partitions.
    pub async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.fetcher.list_offsets(partitions, timestamp).await
    }

    fn coordinator(&self) -> Result<&ConsumerCoordinator> {
        self.coordinator
            .as_ref()
            .ok_or_else(|| KafkaError::Config("this needs a group.id".into()))
    }

    /// The committed offsets of partitions (`None` where nothing is committed).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        self.check_open()?;
        self.coordinator()?.fetch_committed(partitions).await
    }

    /// Commits the current positions of all assigned partitions.
    pub async fn commit_sync(&mut self) -> Result<()> {
        self.check_open()?;
        let positions = self.current_positions();
        self.coordinator()?.commit_offsets(&positions).await
    }

    /// Commits the given offsets (each the next offset to consume).
    pub async fn commit_offsets_sync(
        &mut self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        self.check_open()?;
        self.coordinator()?.commit_offsets(offsets).await
    }

    /// The group metadata to send with offsets in a transaction (KIP-447).
    pub fn group_metadata(&self) -> Result<ConsumerGroupMetadata> {
        Ok(self.coordinator()?.group_metadata())
    }

    /// Commits (with auto-commit), revokes the partitions through the listener and leaves the
    /// group (a static member does not send LeaveGroup).
    pub async fn close(mut self) -> Result<()> {
        self.check_open()?;
        self.closed = true;
        if self.config.enable_auto_commit
            && let Some(c) = &self.coordinator
        {
            let positions = self.current_positions();
            if let Err(e) = c.commit_offsets(&positions).await {
                warn!(error = %e, "commit on close failed");
            }
        }
        let owned = self.fetcher.assignment();
        if let Mode::Subscribed { listener, .. } = &mut self.mode
            && !owned.is_empty()
        {
            listener.on_partitions_revoked(&owned);
        }
        self.fetcher.assign(&[]);
        let result = match (&self.mode, self.coordinator.as_mut()) {
            (Mode::Subscribed { .. }, Some(c)) => c.leave_group().await,
            _ => Ok(()),
        };
        self.mode = Mode::Subscribed {
            topics: Vec::new(),
            listener: Box::new(NoOpRebalanceListener),
        };
        result
    }
}
