//! The cluster client: bootstrap, broker connections, metadata and coordinators.
//!
//! # Usage
//!
//! ```no_run
//! # async fn demo() -> kstreams_kafka::Result<()> {
//! use kstreams_kafka::{Client, ClientConfig, CoordinatorType};
//! use kafka_protocol::messages::HeartbeatRequest;
//!
//! let client = Client::connect(ClientConfig::new("127.0.0.1:9092")).await?;
//! let leader = client.leader_for("orders", 0).await?;         // refreshes metadata if unknown
//! let conn = client.connection(leader).await?;                 // Arc<Connection>, reconnects
//! let coord = client.coordinator_connection(CoordinatorType::Group, "my-group").await?;
//! let version = coord.version_of::<HeartbeatRequest>()?;
//! // ... build the request for `version`, then:
//! // let resp = coord.send(req).await?;
//! // on NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE:
//! client.invalidate_coordinator(CoordinatorType::Group, "my-group");
//! // on NOT_LEADER_OR_FOLLOWER / UNKNOWN_TOPIC_OR_PARTITION / LEADER_NOT_AVAILABLE:
//! client.invalidate_leader("orders", 0);
//! # let _ = (conn, version); Ok(()) }
//! ```
//!
//! `Client` is cheap to clone (an `Arc` inside); share one per application. Connections are
//! kept per broker address and re-opened on demand after a failure, waiting an exponential
//! backoff (`reconnect_backoff` doubling up to `reconnect_backoff_max`) between attempts.

use crate::connection::{Connection, ConnectionConfig};
use crate::error::{KafkaError, Result, broker_error};
use crate::metadata::{ClusterMetadata, PartitionMetadata, TopicMetadata};
use crate::types::BrokerInfo;
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::{Request, StrBytes};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of one or more brokers to bootstrap from.
    pub bootstrap_servers: Vec<String>,
    /// Per-connection settings (client id, timeouts, version caps).
    pub connection: ConnectionConfig,
    /// First wait before reconnecting to a broker that failed.
    pub reconnect_backoff: Duration,
    /// Longest wait between reconnect attempts.
    pub reconnect_backoff_max: Duration,
    /// Wait between retries of retriable errors (coordinator lookups, metadata).
    pub retry_backoff: Duration,
}

impl ClientConfig {
    /// A configuration from a comma-separated `host:port` list, defaults elsewhere.
    pub fn new(bootstrap_servers: &str) -> Self {
        ClientConfig {
            bootstrap_servers: bootstrap_servers
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            connection: ConnectionConfig::default(),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(100),
        }
    }

    /// Sets the `client.id`.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.connection.client_id = client_id.into();
        self
    }

    /// Sets the default request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.connection.request_timeout = timeout;
        self
    }
}

/// Which kind of coordinator to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorType {
    /// The group coordinator of a consumer group id.
    Group,
    /// The transaction coordinator of a transactional id.
    Transaction,
}

/// Which connection to a broker a request takes. Coordinator requests (heartbeats, offset
/// commits, transaction markers) get a connection of their own, as in Kafka's clients: a broker
/// answers a connection's requests in order, so behind a fetch that waits for data (up to
/// `fetch.max.wait.ms`) they would wait too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lane {
    Data,
    Coordinator,
}

/// A connection slot per broker address and lane.
type SlotKey = (String, Lane);

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Connection>>,
    failures: u32,
    last_failure: Option<Instant>,
}

struct Inner {
    config: ClientConfig,
    metadata: RwLock<Arc<ClusterMetadata>>,
    slots: Mutex<HashMap<SlotKey, Arc<tokio::sync::Mutex<Slot>>>>,
    coordinators: Mutex<HashMap<(CoordinatorType, String), BrokerInfo>>,
}

/// A handle on the cluster. Clone freely.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("bootstrap", &self.inner.config.bootstrap_servers)
            .finish()
    }
}

impl Client {
    /// Connects to a bootstrap server and loads the broker list.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        if config.bootstrap_servers.is_empty() {
            return Err(KafkaError::Config("no bootstrap servers".into()));
        }
        let client = Client {
            inner: Arc::new(Inner {
                config,
                metadata: RwLock::new(Arc::new(ClusterMetadata::default())),
                slots: Mutex::new(HashMap::new()),
                coordinators: Mutex::new(HashMap::new()),
            }),
        };
        client.refresh_metadata(Some(&[])).await?;
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A snapshot of the cluster metadata.
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        match self.inner.metadata.read() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn update_metadata(&self, f: impl FnOnce(&mut ClusterMetadata)) {
        let mut guard = match self.inner.metadata.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut m = (**guard).clone();
        f(&mut m);
        *guard = Arc::new(m);
    }

    /// A connection to a `host:port`, re-opened (after the backoff) if closed.
    pub async fn connection_to_address(&self, address: &str) -> Result<Arc<Connection>> {
        self.connection_in_lane(address, Lane::Data).await
    }

    async fn connection_in_lane(&self, address: &str, lane: Lane) -> Result<Arc<Connection>> {
        let slot = {
            let mut slots = self.inner.slots.lock().map_err(|_| KafkaError::Closed)?;
            slots
                .entry((address.to_string(), lane))
                .or_default()
                .clone()
        };
        let mut slot = slot.lock().await;
        if let Some(c) = &slot.conn {
            if !c.is_closed() {
                return Ok(c.clone());
            }
            slot.conn = None;
        }
        if let (Some(last), true) = (slot.last_failure, slot.failures > 0) {
            let cfg = &self.inner.config;
            let exp = slot.failures.saturating_sub(1).min(16);
            let backoff = cfg
                .reconnect_backoff
                .saturating_mul(1u32 << exp)
                .min(cfg.reconnect_backoff_max);
            let elapsed = last.elapsed();
            if elapsed < backoff {
                tokio::time::sleep(backoff - elapsed).await;
            }
        }
        match Connection::connect(address, &self.inner.config.connection).await {
            Ok(c) => {
                let c = Arc::new(c);
                slot.conn = Some(c.clone());
                slot.failures = 0;
                slot.last_failure = None;
                Ok(c)
            }
            Err(e) => {
                slot.failures = slot.failures.saturating_add(1);
                slot.last_failure = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// A connection to a broker by node id (refreshing metadata if the id is unknown).
    pub async fn connection(&self, broker_id: i32) -> Result<Arc<Connection>> {
        let address = match self.metadata().brokers.get(&broker_id) {
            Some(b) => b.address(),
            None => {
                self.refresh_metadata(Some(&[])).await?;
                self.metadata()
                    .brokers
                    .get(&broker_id)
                    .map(|b| b.address())
                    .ok_or_else(|| {
                        broker_error(
                            "Metadata",
                            8,
                            Some(format!("unknown broker id {broker_id}")),
                        )
                    })?
            }
        };
        self.connection_to_address(&address).await
    }

    /// A connection to any reachable broker (known brokers first, then bootstrap servers).
    pub async fn any_connection(&self) -> Result<Arc<Connection>> {
        let mut candidates: Vec<String> = {
            let m = self.metadata();
            let mut ids: Vec<&i32> = m.brokers.keys().collect();
            ids.sort();
            ids.iter()
                .filter_map(|id| m.brokers.get(id).map(|b| b.address()))
                .collect()
        };
        candidates.extend(self.inner.config.bootstrap_servers.iter().cloned());
        let mut last = None;
        for address in candidates {
            match self.connection_to_address(&address).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::debug!(broker = %address, error = %e, "broker unreachable");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(KafkaError::Config("no brokers".into())))
    }

    /// Sends a request to a broker by node id.
    pub async fn send_to<Req: Request>(&self, broker_id: i32, req: Req) -> Result<Req::Response> {
        self.connection(broker_id).await?.send(req).await
    }

    /// Sends a request to any broker.
    pub async fn send_any<Req: Request>(&self, req: Req) -> Result<Req::Response> {
        self.any_connection().await?.send(req).await
    }

    /// Refreshes metadata: `None` for all topics, `Some(&[])` for brokers only, or the given
    /// topics (never auto-creating them).
    pub async fn refresh_metadata(&self, topics: Option<&[String]>) -> Result<()> {
        let conn = self.any_connection().await?;
        let req = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        let resp = conn.send(req).await?;
        let (cluster_id, controller, brokers, topics_md) = convert_metadata(resp);
        self.update_metadata(|m| {
            m.update(cluster_id, controller, brokers, topics_md, topics.is_none())
        });
        Ok(())
    }

    /// The leader of a partition, refreshing the topic's metadata if it is not known.
    pub async fn leader_for(&self, topic: &str, partition: i32) -> Result<i32> {
        if let Some(l) = self.metadata().leader(topic, partition) {
            return Ok(l);
        }
        self.refresh_metadata(Some(&[topic.to_string()])).await?;
        let m = self.metadata();
        if let Some(l) = m.leader(topic, partition) {
            return Ok(l);
        }
        Err(missing_partition_error(&m, topic, partition))
    }

    /// The number of partitions of a topic, refreshing metadata if it is not known.
    pub async fn partition_count(&self, topic: &str) -> Result<usize> {
        if let Some(n) = self.metadata().partition_count(topic) {
            return Ok(n);
        }
        self.refresh_metadata(Some(&[topic.to_string()])).await?;
        let m = self.metadata();
        m.partition_count(topic).ok_or_else(|| {
            let code = m
                .topics
                .get(topic)
                .map(|t| t.error_code)
                .filter(|c| *c != 0)
                .unwrap_or(3);
            broker_error("Metadata", code, Some(format!("topic {topic}")))
        })
    }

    /// The partition metadata of a topic, refreshing if unknown.
    pub async fn topic_metadata(&self, topic: &str) -> Result<TopicMetadata> {
        self.partition_count(topic).await?;
        self.metadata()
            .topics
            .get(topic)
            .cloned()
            .ok_or_else(|| broker_error("Metadata", 3, Some(format!("topic {topic}"))))
    }

    /// Forgets a partition's leader so that the next lookup refreshes metadata. Call after
    /// NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION,
    /// FENCED_LEADER_EPOCH or a connection failure to the leader.
    pub fn invalidate_leader(&self, topic: &str, partition: i32) {
        self.update_metadata(|m| m.invalidate_leader(topic, partition));
    }

    /// The coordinator of a group or transactional id (cached; retries while the coordinator
    /// is loading or not available, up to the request timeout).
    pub async fn find_coordinator(&self, kind: CoordinatorType, key: &str) -> Result<BrokerInfo> {
        if let Some(b) = self
            .inner
            .coordinators
            .lock()
            .map_err(|_| KafkaError::Closed)?
            .get(&(kind, key.to_string()))
        {
            return Ok(b.clone());
        }
        let deadline = Instant::now() + self.inner.config.connection.request_timeout;
        loop {
            match self.lookup_coordinator(kind, key).await {
                Ok(b) => {
                    if let Ok(mut c) = self.inner.coordinators.lock() {
                        c.insert((kind, key.to_string()), b.clone());
                    }
                    return Ok(b);
                }
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    tracing::debug!(key, error = %e, "coordinator lookup failed, retrying");
                    tokio::time::sleep(self.inner.config.retry_backoff).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn lookup_coordinator(&self, kind: CoordinatorType, key: &str) -> Result<BrokerInfo> {
        let conn = self.any_connection().await?;
        let version = conn.version_of::<FindCoordinatorRequest>()?;
        let key_type = match kind {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        };
        if kind == CoordinatorType::Transaction && version < 1 {
            return Err(KafkaError::UnsupportedVersion {
                broker: conn.broker().to_string(),
                api: "FindCoordinator",
                min: 1,
                max: 6,
            });
        }
        let key_bytes = StrBytes::from_string(key.to_string());
        let mut req = FindCoordinatorRequest::default().with_key_type(key_type);
        if version >= 4 {
            req = req.with_coordinator_keys(vec![key_bytes]);
        } else {
            req = req.with_key(key_bytes);
        }
        let resp = conn.send_versioned(req, version, None).await?;
        let (code, msg, node, host, port) = if version >= 4 {
            let c = resp
                .coordinators
                .into_iter()
                .next()
                .ok_or_else(|| KafkaError::Protocol {
                    broker: conn.broker().to_string(),
                    message: "FindCoordinator response without coordinators".into(),
                })?;
            (c.error_code, c.error_message, c.node_id.0, c.host, c.port)
        } else {
            (
                resp.error_code,
                resp.error_message,
                resp.node_id.0,
                resp.host,
                resp.port,
            )
        };
        if code != 0 {
            return Err(broker_error(
                "FindCoordinator",
                code,
                msg.map(|m| m.to_string()),
            ));
        }
        Ok(BrokerInfo {
            node_id: node,
            host: host.to_string(),
            port,
            rack: None,
        })
    }

    /// A connection to the coordinator of a group or transactional id.
    pub async fn coordinator_connection(
        &self,
        kind: CoordinatorType,
        key: &str,
    ) -> Result<Arc<Connection>> {
        let b = self.find_coordinator(kind, key).await?;
        match self
            .connection_in_lane(&b.address(), Lane::Coordinator)
            .await
        {
            Ok(c) => Ok(c),
            Err(e) => {
                self.invalidate_coordinator(kind, key);
                Err(e)
            }
        }
    }

    /// Forgets a cached coordinator (after NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE).
    pub fn invalidate_coordinator(&self, kind: CoordinatorType, key: &str) {
        if let Ok(mut c) = self.inner.coordinators.lock() {
            c.remove(&(kind, key.to_string()));
        }
    }
}

fn missing_partition_error(m: &ClusterMetadata, topic: &str, partition: i32) -> KafkaError {
    let code = match m.topics.get(topic) {
        None => 3,
        Some(t) if t.error_code != 0 => t.error_code,
        Some(t) => match t.partitions.get(&partition) {
            None => 3,
            Some(p) if p.error_code != 0 => p.error_code,
            Some(_) => 5,
        },
    };
    broker_error("Metadata", code, Some(format!("{topic}-{partition}")))
}

type ConvertedMetadata = (Option<String>, i32, Vec<BrokerInfo>, Vec<TopicMetadata>);

fn convert_metadata(resp: MetadataResponse) -> ConvertedMetadata {
    let brokers = resp
        .brokers
        .into_iter()
        .map(|b| BrokerInfo {
            node_id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
            rack: b.rack.map(|r| r.to_string()),
        })
        .collect();
    let topics = resp
        .topics
        .into_iter()
        .filter_map(|t| {
            let name = t.name?.0.to_string();
            Some(TopicMetadata {
                name,
                topic_id: *t.topic_id.as_bytes(),
                error_code: t.error_code,
                is_internal: t.is_internal,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| {
                        (
                            p.partition_index,
                            PartitionMetadata {
                                partition: p.partition_index,
                                leader: p.leader_id.0,
                                leader_epoch: p.leader_epoch,
                                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                                error_code: p.error_code,
                            },
                        )
                    })
                    .collect(),
            })
        })
        .collect();
    (
        resp.cluster_id.map(|c| c.to_string()),
        resp.controller_id.0,
        brokers,
        topics,
    )
}
