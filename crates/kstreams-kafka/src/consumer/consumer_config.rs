//! [`ConsumerConfig`]: the consumer's settings, named after the Java client's properties.

use std::time::Duration;

use crate::error::{KafkaError, Result};
use crate::fetcher::{FetchConfig, OffsetResetStrategy};
use crate::group::consumer_coordinator::GroupConfig;
use crate::types::IsolationLevel;

/// Settings of a [`crate::consumer::Consumer`]. Field names follow the Java client's
/// properties (`group.id` → `group_id`), defaults are the Java client's unless noted.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// `client.id`.
    pub client_id: String,
    /// `group.id`: needed for `subscribe`, committed offsets and commits.
    pub group_id: Option<String>,
    /// `group.instance.id`: makes the member static (KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms` (45 s).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (3 s).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (5 min), sent as the rebalance timeout. A member whose
    /// application does not call `poll` within it leaves the group (LeaveGroup; a static
    /// member just stops heartbeating) and its next `poll` reports the partitions lost.
    pub max_poll_interval: Duration,
    /// `auto.offset.reset` (latest).
    pub auto_offset_reset: OffsetResetStrategy,
    /// `enable.auto.commit` (true): commit positions every `auto_commit_interval` from `poll`,
    /// before partitions are revoked and on close.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (5 s).
    pub auto_commit_interval: Duration,
    /// `isolation.level` (read_uncommitted).
    pub isolation_level: IsolationLevel,
    /// `max.poll.records` (500).
    pub max_poll_records: usize,
    /// `fetch.min.bytes` (1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes` (50 MiB).
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms` (500 ms).
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes` (1 MiB).
    pub max_partition_fetch_bytes: i32,
    /// Not in the Java client: buffered records per partition above which the partition is
    /// not fetched (10,000).
    pub max_buffered_records_per_partition: usize,
    /// Not in the Java client: buffered bytes per partition above which the partition is
    /// not fetched (2 MiB).
    pub max_buffered_bytes_per_partition: usize,
    /// `request.timeout.ms` (30 s).
    pub request_timeout: Duration,
    /// `retry.backoff.ms` (100 ms).
    pub retry_backoff: Duration,
}

impl ConsumerConfig {
    /// Defaults with the given bootstrap servers.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        ConsumerConfig {
            bootstrap_servers: bootstrap_servers.into(),
            client_id: "kstreams-consumer".into(),
            group_id: None,
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            auto_offset_reset: OffsetResetStrategy::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            isolation_level: IsolationLevel::ReadUncommitted,
            max_poll_records: 500,
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

    /// Sets `group.id`.
    pub fn with_group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    /// Sets `group.instance.id`.
    pub fn with_group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// Sets `isolation.level`.
    pub fn with_isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation_level = level;
        self
    }

    /// Sets `auto.offset.reset`.
    pub fn with_auto_offset_reset(mut self, strategy: OffsetResetStrategy) -> Self {
        self.auto_offset_reset = strategy;
        self
    }

    /// Sets `enable.auto.commit`.
    pub fn with_auto_commit(mut self, enabled: bool) -> Self {
        self.enable_auto_commit = enabled;
        self
    }

    /// Sets `session.timeout.ms` and `max.poll.interval.ms` (the rebalance timeout), and a
    /// heartbeat interval of a third of the session timeout.
    pub fn with_group_timeouts(mut self, session: Duration, rebalance: Duration) -> Self {
        self.session_timeout = session;
        self.max_poll_interval = rebalance;
        self.heartbeat_interval = session / 3;
        self
    }

    /// Checks the settings for consistency.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(KafkaError::Config("bootstrap.servers is empty".into()));
        }
        if self.max_poll_records == 0 {
            return Err(KafkaError::Config(
                "max.poll.records must be at least 1".into(),
            ));
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err(KafkaError::Config(
                "heartbeat.interval.ms must be lower than session.timeout.ms".into(),
            ));
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return Err(KafkaError::Config(
                "group.instance.id needs a group.id".into(),
            ));
        }
        if self.group_id.as_deref() == Some("") {
            return Err(KafkaError::Config("group.id is empty".into()));
        }
        Ok(())
    }

    pub(crate) fn fetch_config(&self) -> FetchConfig {
        FetchConfig {
            isolation_level: self.isolation_level,
            fetch_min_bytes: self.fetch_min_bytes,
            fetch_max_bytes: self.fetch_max_bytes,
            fetch_max_wait: self.fetch_max_wait,
            max_partition_fetch_bytes: self.max_partition_fetch_bytes,
            max_buffered_records_per_partition: self.max_buffered_records_per_partition,
            max_buffered_bytes_per_partition: self.max_buffered_bytes_per_partition,
            request_timeout: self.request_timeout,
            retry_backoff: self.retry_backoff,
        }
    }

    pub(crate) fn group_config(&self) -> Option<GroupConfig> {
        Some(GroupConfig {
            group_id: self.group_id.clone()?,
            group_instance_id: self.group_instance_id.clone(),
            session_timeout: self.session_timeout,
            rebalance_timeout: self.max_poll_interval,
            heartbeat_interval: self.heartbeat_interval,
            request_timeout: self.request_timeout,
            retry_backoff: self.retry_backoff,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_java_client_s() {
        let c = ConsumerConfig::new("localhost:9092");
        assert_eq!(c.session_timeout, Duration::from_secs(45));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.auto_offset_reset, OffsetResetStrategy::Latest);
        assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
        assert!(c.enable_auto_commit);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn inconsistent_settings_are_rejected() {
        assert!(ConsumerConfig::new("").validate().is_err());
        let mut c = ConsumerConfig::new("h:1");
        c.heartbeat_interval = c.session_timeout;
        assert!(c.validate().is_err());
        assert!(
            ConsumerConfig::new("h:1")
                .with_group_instance_id("i")
                .validate()
                .is_err()
        );
        assert!(
            ConsumerConfig::new("h:1")
                .with_group_id("")
                .validate()
                .is_err()
        );
        let c = ConsumerConfig::new("h:1")
            .with_group_id("g")
            .with_group_timeouts(Duration::from_secs(6), Duration::from_secs(8));
        assert!(c.validate().is_ok());
        assert_eq!(c.heartbeat_interval, Duration::from_secs(2));
        assert_eq!(
            c.group_config().unwrap().rebalance_timeout,
            Duration::from_secs(8)
        );
    }
}
