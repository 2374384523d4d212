//! One TCP connection to one broker, multiplexing several requests in flight.
//!
//! # Usage
//!
//! ```no_run
//! # async fn demo() -> kstreams_kafka::Result<()> {
//! use kstreams_kafka::connection::{Connection, ConnectionConfig};
//! use kafka_protocol::messages::MetadataRequest;
//!
//! let conn = Connection::connect("127.0.0.1:9092", &ConnectionConfig::default()).await?;
//! // The version is picked from the ApiVersions negotiation done by `connect`.
//! let version = conn.version_of::<MetadataRequest>()?; // when a field depends on it
//! let resp = conn.send(MetadataRequest::default()).await?;
//! # let _ = (version, resp); Ok(()) }
//! ```
//!
//! - [`Connection::connect`] opens the socket and negotiates versions (ApiVersions): for each
//!   API the highest version both sides support, capped by [`ConnectionConfig::version_caps`]
//!   (default: AddPartitionsToTxn ≤ 3, Produce ≤ 12 and Fetch ≤ 12 so topics go by name).
//! - [`Connection::send`] encodes with the negotiated version, waits for the response with
//!   the configured request timeout and decodes it. [`Connection::send_with_timeout`] takes
//!   an explicit timeout (use `request_timeout + max_wait` for long-polling fetches) and
//!   [`Connection::send_versioned`] an explicit version.
//! - Any number of requests may be in flight; a writer task writes frames in order and a
//!   reader task routes responses by correlation id. Both stop when the `Connection` is
//!   dropped.
//! - Errors: socket failures are [`KafkaError::Io`] (the connection is then closed: see
//!   [`Connection::is_closed`]; [`crate::client::Client`] reconnects with backoff), timeouts
//!   [`KafkaError::Timeout`], malformed responses [`KafkaError::Protocol`]. Error codes inside
//!   a decoded response are the caller's to check.

mod body_pool;
pub mod frame;
pub mod versions;

use body_pool::BodyPool;

use crate::error::{KafkaError, Result};
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::{Request, StrBytes};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use versions::{BrokerApiRange, VersionTable};

/// Settings of a connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// `client.id` sent in every request header.
    pub client_id: String,
    /// Timeout of the TCP connect.
    pub connect_timeout: Duration,
    /// Default timeout of one request.
    pub request_timeout: Duration,
    /// Largest response frame accepted (a larger length prefix is a protocol error).
    pub max_response_size: usize,
    /// API key → highest version to use.
    pub version_caps: HashMap<i16, i16>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "kstreams".to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_size: 256 * 1024 * 1024,
            version_caps: versions::default_version_caps(),
        }
    }
}

type Reply = oneshot::Sender<Result<Bytes>>;

struct Shared {
    broker: String,
    pending: Mutex<HashMap<i32, Reply>>,
    closed: AtomicBool,
}

impl Shared {
    fn close(&self, err: impl Fn() -> KafkaError) {
        self.closed.store(true, Ordering::SeqCst);
        let drained: Vec<Reply> = match self.pending.lock() {
            Ok(mut p) => p.drain().map(|(_, r)| r).collect(),
            Err(_) => Vec::new(),
        };
        for reply in drained {
            let _ = reply.send(Err(err()));
        }
    }

    fn io_error(&self, kind: std::io::ErrorKind, msg: &str) -> KafkaError {
        KafkaError::Io {
            broker: self.broker.clone(),
            source: std::io::Error::new(kind, msg.to_string()),
        }
    }
}

/// A connection to one broker. Cheap to share behind an `Arc`; dropping it closes the socket.
pub struct Connection {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Bytes>,
    next_correlation_id: AtomicI32,
    versions: VersionTable,
    config: ConnectionConfig,
    reader: AbortHandle,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("broker", &self.shared.broker)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.shared.close(|| KafkaError::Closed);
    }
}

impl Connection {
    /// Connects to `host:port` and negotiates API versions.
    pub async fn connect(address: &str, config: &ConnectionConfig) -> Result<Connection> {
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| KafkaError::Timeout {
                what: format!("connecting to {address}"),
            })?
            .map_err(|source| KafkaError::Io {
                broker: address.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            broker: address.to_string(),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(shared.clone(), write, rx));
        let reader =
            tokio::spawn(read_loop(shared.clone(), read, config.max_response_size)).abort_handle();
        let mut conn = Connection {
            shared,
            tx,
            next_correlation_id: AtomicI32::new(0),
            versions: VersionTable::default(),
            config: config.clone(),
            reader,
        };
        conn.versions = conn.negotiate_versions().await?;
        tracing::debug!(broker = address, "connected");
        Ok(conn)
    }

    async fn negotiate_versions(&self) -> Result<VersionTable> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kstreams"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = 3;
        loop {
            let resp = self.send_versioned(req.clone(), version, None).await?;
            if resp.error_code == 35 && version > 0 {
                // UNSUPPORTED_VERSION: the broker lists its ApiVersions range; retry with its max.
                let broker_max = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                version = broker_max.clamp(0, version - 1);
                continue;
            }
            if resp.error_code != 0 {
                return Err(crate::error::broker_error(
                    "ApiVersions",
                    resp.error_code,
                    None,
                ));
            }
            let ranges: Vec<BrokerApiRange> = resp
                .api_keys
                .iter()
                .map(|k| BrokerApiRange {
                    api_key: k.api_key,
                    min: k.min_version,
                    max: k.max_version,
                })
                .collect();
            return Ok(VersionTable::negotiate(&ranges, &self.config.version_caps));
        }
    }

    /// `host:port` of the broker.
    pub fn broker(&self) -> &str {
        &self.shared.broker
    }

    /// Whether the socket failed or was closed; a closed connection fails every request.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// The versions negotiated with this broker.
    pub fn versions(&self) -> &VersionTable {
        &self.versions
    }

    /// The negotiated version of a request type, or `UnsupportedVersion`.
    pub fn version_of<Req: Request>(&self) -> Result<i16> {
        self.versions
            .version(Req::KEY)
            .ok_or_else(|| KafkaError::UnsupportedVersion {
                broker: self.shared.broker.clone(),
                api: api_name(Req::KEY),
                min: Req::VERSIONS.min,
                max: Req::VERSIONS.max,
            })
    }

    /// Sends a request with the negotiated version and the default timeout.
    pub async fn send<Req: Request>(&self, req: Req) -> Result<Req::Response> {
        let version = self.version_of::<Req>()?;
        self.send_versioned(req, version, None).await
    }

    /// Sends a request with the negotiated version and an explicit timeout.
    pub async fn send_with_timeout<Req: Request>(
        &self,
        req: Req,
        timeout: Duration,
    ) -> Result<Req::Response> {
        let version = self.version_of::<Req>()?;
        self.send_versioned(req, version, Some(timeout)).await
    }

    /// Sends a request with an explicit version (and timeout, default if `None`).
    pub async fn send_versioned<Req: Request>(
        &self,
        req: Req,
        version: i16,
        timeout: Option<Duration>,
    ) -> Result<Req::Response> {
        if self.is_closed() {
            return Err(self
                .shared
                .io_error(std::io::ErrorKind::NotConnected, "connection is closed"));
        }
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = frame::encode_request(&req, version, correlation_id, &self.config.client_id)
            .map_err(|message| KafkaError::Protocol {
                broker: self.shared.broker.clone(),
                message,
            })?;
        let (reply_tx, reply_rx) = oneshot::channel();
        match self.shared.pending.lock() {
            Ok(mut p) => {
                p.insert(correlation_id, reply_tx);
            }
            Err(_) => return Err(KafkaError::Closed),
        }
        if self.tx.send(frame).is_err() {
            self.forget(correlation_id);
            return Err(self
                .shared
                .io_error(std::io::ErrorKind::BrokenPipe, "writer stopped"));
        }
        let timeout = timeout.unwrap_or(self.config.request_timeout);
        let body = match tokio::time::timeout(timeout, reply_rx).await {
            Err(_) => {
                self.forget(correlation_id);
                return Err(KafkaError::Timeout {
                    what: format!(
                        "{} v{version} to {} after {timeout:?}",
                        api_name(Req::KEY),
                        self.shared.broker
                    ),
                });
            }
            Ok(Err(_)) => return Err(KafkaError::Closed),
            Ok(Ok(r)) => r?,
        };
        frame::decode_response::<Req>(body, version, correlation_id).map_err(|message| {
            KafkaError::Protocol {
                broker: self.shared.broker.clone(),
                message,
            }
        })
    }

    fn forget(&self, correlation_id: i32) {
        if let Ok(mut p) = self.shared.pending.lock() {
            p.remove(&correlation_id);
        }
    }
}

/// The name of an API key, for messages.
pub fn api_name(key: i16) -> &'static str {
    match ApiKey::try_from(key) {
        Ok(k) => api_key_name(k),
        Err(_) => "Unknown",
    }
}

fn api_key_name(k: ApiKey) -> &'static str {
    match k {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
        ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
        ApiKey::EndTxn => "EndTxn",
        ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        _ => "Other",
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    write: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, write);
    while let Some(frame) = rx.recv().await {
        let mut result = w.write_all(&frame).await;
        // Drain what is already queued before flushing: one syscall for a burst.
        while result.is_ok() {
            match rx.try_recv() {
                Ok(f) => result = w.write_all(&f).await,
                Err(_) => break,
            }
        }
        if result.is_ok() {
            result = w.flush().await;
        }
        if let Err(e) = result {
            tracing::debug!(broker = %shared.broker, error = %e, "write failed");
            let kind = e.kind();
            let msg = e.to_string();
            shared.close(|| shared.io_error(kind, &msg));
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn read_loop(shared: Arc<Shared>, mut read: OwnedReadHalf, max_size: usize) {
    let bodies = Arc::new(BodyPool::default());
    // (is a protocol violation, message)
    let (protocol, message) = loop {
        let mut len = [0u8; 4];
        if let Err(e) = read.read_exact(&mut len).await {
            break (false, format!("reading response: {e}"));
        }
        let len = i32::from_be_bytes(len);
        if len < 4 || len as usize > max_size {
            break (true, format!("invalid response length {len}"));
        }
        let mut body = bodies.take(len as usize);
        if let Err(e) = read_body(&mut read, &mut body, len as usize).await {
            break (false, format!("reading response: {e}"));
        }
        let Some(correlation_id) = frame::peek_correlation_id(&body) else {
            continue;
        };
        let reply = match shared.pending.lock() {
            Ok(mut p) => p.remove(&correlation_id),
            Err(_) => None,
        };
        match reply {
            Some(reply) => {
                let _ = reply.send(Ok(bodies.freeze(body)));
            }
            None => {
                tracing::debug!(broker = %shared.broker, correlation_id, "response to a forgotten request");
            }
        }
    };
    tracing::debug!(broker = %shared.broker, error = %message, "connection closed");
    shared.close(|| {
        if protocol {
            KafkaError::Protocol {
                broker: shared.broker.clone(),
                message: message.clone(),
            }
        } else {
            shared.io_error(std::io::ErrorKind::ConnectionAborted, &message)
        }
    });
}

/// Reads exactly `len` bytes into `body` (empty, with room for them), without zeroing the
/// room first.
async fn read_body(
    read: &mut OwnedReadHalf,
    body: &mut Vec<u8>,
    len: usize,
) -> std::io::Result<()> {
    use bytes::BufMut;
    while body.len() < len {
        let want = len - body.len();
        if read.read_buf(&mut (&mut *body).limit(want)).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}
