//! The admin client: create, describe and delete topics, list offsets, delete records.
//!
//! ```no_run
//! # async fn demo() -> kstreams_kafka::Result<()> {
//! use kstreams_kafka::admin::{Admin, NewTopic, OffsetSpec};
//! use kstreams_kafka::{ClientConfig, IsolationLevel, TopicPartition};
//!
//! let admin = Admin::connect(ClientConfig::new("127.0.0.1:9092")).await?;
//! admin
//!     .create_topics(&[NewTopic::new("changelog", 4, 1).with_config("cleanup.policy", "compact")])
//!     .await?;
//! let tp = TopicPartition::new("changelog", 0);
//! let lso = admin
//!     .list_offsets(&[(tp.clone(), OffsetSpec::Latest)], IsolationLevel::ReadCommitted)
//!     .await?;
//! # let _ = lso; Ok(()) }
//! ```

use crate::client::{Client, ClientConfig};
use crate::error::{KafkaError, Result, broker_error};
use crate::protocol_util::{is_leader_error, str_bytes, topic_name};
use crate::types::{IsolationLevel, TopicPartition};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest, ListOffsetsRequest,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Number of partitions (-1: the broker's default).
    pub num_partitions: i32,
    /// Replication factor (-1: the broker's default).
    pub replication_factor: i16,
    /// Topic configs, e.g. `("cleanup.policy", "compact")`.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with partitions and replication factor and no configs.
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            num_partitions,
            replication_factor,
            configs: Vec::new(),
        }
    }

    /// Adds a config.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark), or the last stable offset under read_committed.
    Latest,
    /// The earliest offset whose timestamp is at or after the given one (ms since epoch);
    /// -1 in the result if there is none.
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// A listed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListedOffset {
    /// The offset (-1 if a timestamp lookup found none).
    pub offset: i64,
    /// The timestamp of that record, -1 if not applicable.
    pub timestamp: i64,
    /// The leader epoch, if known.
    pub leader_epoch: Option<i32>,
}

const ATTEMPTS: usize = 5;

/// The admin client. Clone freely.
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
    timeout: Duration,
}

impl Admin {
    /// An admin client on an existing [`Client`].
    pub fn new(client: Client) -> Admin {
        let timeout = client.config().connection.request_timeout;
        Admin { client, timeout }
    }

    /// Connects a new [`Client`] and wraps it.
    pub async fn connect(config: ClientConfig) -> Result<Admin> {
        Ok(Admin::new(Client::connect(config).await?))
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX)
    }

    async fn controller_connection(&self) -> Result<std::sync::Arc<crate::connection::Connection>> {
        let controller = self.client.metadata().controller_id;
        if controller >= 0
            && let Ok(c) = self.client.connection(controller).await
        {
            return Ok(c);
        }
        self.client.any_connection().await
    }

    /// Creates topics. A topic that already exists with the requested partition count (or
    /// any count if `num_partitions` is -1) counts as created; with another count it is an
    /// error (TOPIC_ALREADY_EXISTS).
    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<()> {
        let mut remaining: Vec<&NewTopic> = topics.iter().collect();
        for attempt in 0..ATTEMPTS {
            if remaining.is_empty() {
                break;
            }
            let req = CreateTopicsRequest::default()
                .with_timeout_ms(self.timeout_ms())
                .with_topics(
                    remaining
                        .iter()
                        .map(|t| {
                            CreatableTopic::default()
                                .with_name(topic_name(&t.name))
                                .with_num_partitions(t.num_partitions)
                                .with_replication_factor(t.replication_factor)
                                .with_configs(
                                    t.configs
                                        .iter()
                                        .map(|(k, v)| {
                                            CreatableTopicConfig::default()
                                                .with_name(str_bytes(k))
                                                .with_value(Some(str_bytes(v)))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let resp = self.controller_connection().await?.send(req).await?;
            let mut retry = Vec::new();
            for r in resp.topics {
                let name = r.name.0.to_string();
                let Some(wanted) = remaining.iter().find(|t| t.name == name) else {
                    continue;
                };
                match r.error_code {
                    0 => {}
                    36 => self.check_existing(wanted).await?,
                    41 | 7 if attempt + 1 < ATTEMPTS => {
                        // NOT_CONTROLLER / REQUEST_TIMED_OUT: refresh and retry.
                        retry.push(*wanted);
                    }
                    code => {
                        return Err(broker_error(
                            "CreateTopics",
                            code,
                            Some(format!(
                                "{name}: {}",
                                r.error_message.map(|m| m.to_string()).unwrap_or_default()
                            )),
                        ));
                    }
                }
            }
            remaining = retry;
            if !remaining.is_empty() {
                self.client.refresh_metadata(Some(&[])).await?;
                tokio::time::sleep(self.client.config().retry_backoff).await;
            }
        }
        // Make the new topics visible in this client's metadata.
        let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
        for _ in 0..20 {
            self.client.refresh_metadata(Some(&names)).await?;
            let md = self.client.metadata();
            if names.iter().all(|n| md.partition_count(n).is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn check_existing(&self, wanted: &NewTopic) -> Result<()> {
        self.client
            .refresh_metadata(Some(std::slice::from_ref(&wanted.name)))
            .await?;
        let existing = self.client.partition_count(&wanted.name).await?;
        if wanted.num_partitions < 0 || existing == wanted.num_partitions as usize {
            Ok(())
        } else {
            Err(broker_error(
                "CreateTopics",
                36,
                Some(format!(
                    "{} exists with {existing} partitions, wanted {}",
                    wanted.name, wanted.num_partitions
                )),
            ))
        }
    }

    /// The partition count of each topic; topics that do not exist are absent from the map.
    pub async fn describe_partition_counts(
        &self,
        topics: &[String],
    ) -> Result<HashMap<String, usize>> {
        self.client.refresh_metadata(Some(topics)).await?;
        let md = self.client.metadata();
        let mut out = HashMap::new();
        for t in topics {
            match md.topics.get(t) {
                Some(tm) if tm.error_code == 0 => {
                    out.insert(t.clone(), tm.partitions.len());
                }
                Some(tm) if tm.error_code != 3 => {
                    return Err(broker_error("Metadata", tm.error_code, Some(t.clone())));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Deletes topics; topics that do not exist are ignored.
    pub async fn delete_topics(&self, topics: &[String]) -> Result<()> {
        let conn = self.controller_connection().await?;
        let version = conn.version_of::<DeleteTopicsRequest>()?;
        let mut req = DeleteTopicsRequest::default().with_timeout_ms(self.timeout_ms());
        if version >= 6 {
            req = req.with_topics(
                topics
                    .iter()
                    .map(|t| DeleteTopicState::default().with_name(Some(topic_name(t))))
                    .collect(),
            );
        } else {
            req = req.with_topic_names(topics.iter().map(|t| topic_name(t)).collect());
        }
        let resp = conn.send_versioned(req, version, None).await?;
        for r in resp.responses {
            if r.error_code != 0 && r.error_code != 3 {
                return Err(broker_error(
                    "DeleteTopics",
                    r.error_code,
                    r.name.map(|n| n.0.to_string()),
                ));
            }
        }
        self.client.refresh_metadata(Some(topics)).await?;
        Ok(())
    }

    /// Looks up offsets: earliest, latest (the last stable offset under
    /// [`IsolationLevel::ReadCommitted`]) or by timestamp. Retries leader errors.
    pub async fn list_offsets(
        &self,
        specs: &[(TopicPartition, OffsetSpec)],
        isolation: IsolationLevel,
    ) -> Result<HashMap<TopicPartition, ListedOffset>> {
        let mut out = HashMap::new();
        let mut todo: Vec<(TopicPartition, OffsetSpec)> = specs.to_vec();
        let mut last_err = None;
        for _ in 0..ATTEMPTS {
            if todo.is_empty() {
                return Ok(out);
            }
            let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, OffsetSpec)>> = BTreeMap::new();
            let mut retry = Vec::new();
            for (tp, spec) in todo {
                match self.client.leader_for(&tp.topic, tp.partition).await {
                    Ok(l) => by_leader.entry(l).or_default().push((tp, spec)),
                    Err(e) if e.is_retriable() => {
                        last_err = Some(e);
                        retry.push((tp, spec));
                    }
                    Err(e) => return Err(e),
                }
            }
            for (leader, items) in by_leader {
                let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
                for (tp, spec) in &items {
                    topics.entry(tp.topic.as_str()).or_default().push(
                        ListOffsetsPartition::default()
                            .with_partition_index(tp.partition)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(spec.wire()),
                    );
                }
                let req = ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_isolation_level(isolation.as_i8())
                    .with_timeout_ms(self.timeout_ms())
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(t, ps)| {
                                ListOffsetsTopic::default()
                                    .with_name(topic_name(t))
                                    .with_partitions(ps)
                            })
                            .collect(),
                    );
                let resp = match self.client.send_to(leader, req).await {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() => {
                        for (tp, _) in &items {
                            self.client.invalidate_leader(&tp.topic, tp.partition);
                        }
                        last_err = Some(e);
                        retry.extend(items);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let mut answered = HashMap::new();
                for t in resp.topics {
                    for p in t.partitions {
                        answered.insert(
                            TopicPartition::new(t.name.0.to_string(), p.partition_index),
                            p,
                        );
                    }
                }
                for (tp, spec) in items {
                    let Some(p) = answered.remove(&tp) else {
                        return Err(KafkaError::Protocol {
                            broker: format!("node {leader}"),
                            message: format!("ListOffsets response lacks {tp}"),
                        });
                    };
                    if p.error_code == 0 {
                        out.insert(
                            tp,
                            ListedOffset {
                                offset: p.offset,
                                timestamp: p.timestamp,
                                leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                            },
                        );
                    } else if is_leader_error(p.error_code) || p.error_code == 78 {
                        self.client.invalidate_leader(&tp.topic, tp.partition);
                        last_err = Some(broker_error(
                            "ListOffsets",
                            p.error_code,
                            Some(tp.to_string()),
                        ));
                        retry.push((tp, spec));
                    } else {
                        return Err(broker_error(
                            "ListOffsets",
                            p.error_code,
                            Some(tp.to_string()),
                        ));
                    }
                }
            }
            todo = retry;
            if !todo.is_empty() {
                tokio::time::sleep(self.client.config().retry_backoff).await;
            }
        }
        if todo.is_empty() {
            Ok(out)
        } else {
            Err(last_err.unwrap_or_else(|| KafkaError::Timeout {
                what: "ListOffsets retries".into(),
            }))
        }
    }

    /// Deletes the records before the given offsets (-1: the high watermark); returns the new
    /// low watermark of each partition.
    pub async fn delete_records(
        &self,
        before: &[(TopicPartition, i64)],
    ) -> Result<HashMap<TopicPartition, i64>> {
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        for (tp, off) in before {
            let leader = self.client.leader_for(&tp.topic, tp.partition).await?;
            by_leader
                .entry(leader)
                .or_default()
                .push((tp.clone(), *off));
        }
        let mut out = HashMap::new();
        for (leader, items) in by_leader {
            let mut topics: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
            for (tp, off) in &items {
                topics.entry(tp.topic.as_str()).or_default().push(
                    DeleteRecordsPartition::default()
                        .with_partition_index(tp.partition)
                        .with_offset(*off),
                );
            }
            let req = DeleteRecordsRequest::default()
                .with_timeout_ms(self.timeout_ms())
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            DeleteRecordsTopic::default()
                                .with_name(topic_name(t))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            let resp = self.client.send_to(leader, req).await?;
            for t in resp.topics {
                for p in t.partitions {
                    let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
                    if p.error_code != 0 {
                        if is_leader_error(p.error_code) {
                            self.client.invalidate_leader(&tp.topic, tp.partition);
                        }
                        return Err(broker_error(
                            "DeleteRecords",
                            p.error_code,
                            Some(tp.to_string()),
                        ));
                    }
                    out.insert(tp, p.low_watermark);
                }
            }
        }
        Ok(out)
    }
}
