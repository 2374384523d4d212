//! [`StreamsConfig`]: the settings of a [`crate::KafkaStreams`] instance, validated up front.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kstreams_core::processor::{
    DeserializationExceptionHandler, ProcessingExceptionHandler, ProductionExceptionHandler,
};

use crate::exception_handlers::ExceptionHandlers;

/// The processing guarantee (`processing.guarantee`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingGuarantee {
    /// `at_least_once`: flush the producer, then commit the input offsets.
    #[default]
    AtLeastOnce,
    /// `exactly_once_v2`: one transactional producer per stream thread; output, changelog
    /// writes and input offsets commit atomically.
    ExactlyOnceV2,
}

impl std::str::FromStr for ProcessingGuarantee {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "at_least_once" => Ok(ProcessingGuarantee::AtLeastOnce),
            "exactly_once_v2" | "exactly_once" => Ok(ProcessingGuarantee::ExactlyOnceV2),
            _ => Err(ConfigError::Invalid {
                key: "processing.guarantee",
                message: format!("'{s}' is not at_least_once or exactly_once_v2"),
            }),
        }
    }
}

/// A configuration error, naming the offending setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is missing or empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A setting has an invalid value.
    #[error("invalid {key}: {message}")]
    Invalid {
        /// The setting (Kafka Streams property name).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A property name this configuration does not have (a typo, or a Kafka Streams setting
    /// kstreams does not support).
    #[error("unknown property '{0}'")]
    Unknown(String),
    /// A line of a properties file that is not `name=value`.
    #[error("line {line} of the properties is not name=value: '{text}'")]
    Malformed {
        /// The line's number, from 1.
        line: usize,
        /// The line.
        text: String,
    },
}

/// Settings of a Kafka Streams application instance. Names follow the Kafka Streams
/// properties (`application.id` → `application_id`).
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// `application.id`: the consumer group, the prefix of internal topics and of the state
    /// directory.
    pub application_id: String,
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// `num.stream.threads` (1).
    pub num_stream_threads: usize,
    /// `processing.guarantee` (at_least_once).
    pub processing_guarantee: ProcessingGuarantee,
    /// `commit.interval.ms`, from one commit's start to the next one's (a commit that takes
    /// longer than the interval is followed by the next one at once); `None` means the Kafka
    /// Streams default: 30 s under at_least_once, 100 ms under exactly_once_v2.
    pub commit_interval: Option<Duration>,
    /// `state.dir` (`<tmp>/kstreams`).
    pub state_dir: PathBuf,
    /// `num.standby.replicas` (0): warm copies of each task's stores on other instances.
    pub num_standby_replicas: usize,
    /// `statestore.cache.max.bytes` (10 MiB).
    pub cache_max_bytes: usize,
    /// `session.timeout.ms` of the group (45 s).
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`, also the rebalance timeout (300 s).
    pub max_poll_interval: Duration,
    /// `request.timeout.ms` of client requests (30 s).
    pub request_timeout: Duration,
    /// `transaction.timeout.ms` under exactly_once_v2 (10 s, as Kafka Streams).
    pub transaction_timeout: Duration,
    /// `buffered.records.per.partition` (1000): above it, a partition's fetch is paused.
    pub buffered_records_per_partition: usize,
    /// `max.poll.records` of the stream threads' consumers (500, Kafka's consumer default):
    /// the most records one poll hands to the tasks.
    pub max_poll_records: usize,
    /// `poll.ms` (100 ms): how long a stream thread waits for records. With processed records
    /// not yet committed, the wait ends at the latest one `fetch_max_wait` after the next commit
    /// is due, so a commit is never late by a whole poll.
    pub poll_interval: Duration,
    /// `fetch.max.wait.ms` of the stream threads' consumers (500 ms, Kafka's default): how
    /// long the broker may hold a fetch that finds no new data. Apache Kafka answers such a
    /// fetch as soon as data arrives, so the default costs no latency there; tansu holds it for
    /// the whole wait, so against tansu this bounds the end-to-end latency (see
    /// BENCHMARKS.md) and a few milliseconds is the right setting.
    pub fetch_max_wait: Duration,
    /// `linger.ms` of the stream threads' producers (100 ms, Kafka Streams' default for its
    /// producers): how long a batch waits for more records while the thread is busy. A
    /// thread that has processed everything it fetched sends its open batches at once, so a
    /// pipeline that keeps up does not wait out the linger; one that is behind sends full
    /// batches, fewer requests for the broker (BENCHMARKS.md, round 11).
    pub linger: Duration,
    /// Whether each stream thread has a network thread of its own (true): its clients'
    /// requests and responses, the decoding of fetched batches, the encoding of produced ones
    /// and the group heartbeats run there, as Kafka's producer has its network thread and its
    /// consumer a heartbeat thread, and the stream thread only polls, processes and commits.
    /// Off, all of it shares the stream thread: one thread fewer per stream thread, for less
    /// throughput (BENCHMARKS.md, round 10). No Kafka Streams property.
    pub network_thread: bool,
    /// `replication.factor` of internal topics (1; -1 uses the broker default).
    pub replication_factor: i16,
    /// `group.instance.id` (none): makes each stream thread a static member
    /// (`<group.instance.id>-<thread>`), so a restart within the session timeout gets its
    /// tasks back without a rebalance.
    pub group_instance_id: Option<String>,
    /// `application.server` (none): this instance's `host:port` for interactive queries. The
    /// group learns which endpoint hosts which tasks, so any instance can tell where a key's
    /// store lives ([`crate::KafkaStreams::query_metadata_for_key`]). The engine serves
    /// nothing on it: the application's own server answers queries there.
    pub application_server: Option<String>,
    /// `errors.dead.letter.queue.topic.name`: where failed records go (`None`:
    /// `<application.id>-dlq`); created at start-up if missing.
    pub dead_letter_topic: Option<String>,
    /// The deserialization, processing and production exception handlers.
    pub exception_handlers: ExceptionHandlers,
    /// `max.request.size` (1 MiB): larger output records go to the production exception
    /// handler instead of the producer.
    pub max_request_size: usize,
    /// Test seam: makes chosen output records fail as if the broker rejected them (off by
    /// default; see [`crate::send_failure::SendFaultInjector`]).
    pub send_fault_injection: crate::send_failure::FaultInjection,
}

impl StreamsConfig {
    /// Defaults with the two required settings.
    pub fn new(application_id: impl Into<String>, bootstrap_servers: impl Into<String>) -> Self {
        StreamsConfig {
            application_id: application_id.into(),
            bootstrap_servers: bootstrap_servers.into(),
            num_stream_threads: 1,
            processing_guarantee: ProcessingGuarantee::AtLeastOnce,
            commit_interval: None,
            state_dir: std::env::temp_dir().join("kstreams"),
            num_standby_replicas: 0,
            cache_max_bytes: 10 * 1024 * 1024,
            session_timeout: Duration::from_secs(45),
            max_poll_interval: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            transaction_timeout: Duration::from_secs(10),
            buffered_records_per_partition: 1000,
            max_poll_records: 500,
            poll_interval: Duration::from_millis(100),
            fetch_max_wait: Duration::from_millis(500),
            linger: Duration::from_millis(100),
            network_thread: true,
            replication_factor: 1,
            group_instance_id: None,
            application_server: None,
            dead_letter_topic: None,
            exception_handlers: ExceptionHandlers::default(),
            max_request_size: 1024 * 1024,
            send_fault_injection: Default::default(),
        }
    }

    /// Sets `application.server` (`host:port`).
    pub fn with_application_server(mut self, endpoint: impl Into<String>) -> Self {
        self.application_server = Some(endpoint.into());
        self
    }

    /// Sets the dead-letter topic.
    pub fn with_dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }

    /// The effective dead-letter topic.
    pub fn effective_dead_letter_topic(&self) -> String {
        self.dead_letter_topic.clone().unwrap_or_else(|| {
            kstreams_core::failure::default_dead_letter_topic(&self.application_id)
        })
    }

    /// Sets the deserialization exception handler.
    pub fn with_deserialization_exception_handler(
        mut self,
        h: impl DeserializationExceptionHandler,
    ) -> Self {
        self.exception_handlers.deserialization = Arc::new(h);
        self
    }

    /// Sets the processing exception handler.
    pub fn with_processing_exception_handler(mut self, h: impl ProcessingExceptionHandler) -> Self {
        self.exception_handlers.processing = Arc::new(h);
        self
    }

    /// Sets the production exception handler.
    pub fn with_production_exception_handler(mut self, h: impl ProductionExceptionHandler) -> Self {
        self.exception_handlers.production = Arc::new(h);
        self
    }

    /// Sets what happens when a stream thread fails (Kafka Streams'
    /// `setUncaughtExceptionHandler`): by default the instance shuts down.
    pub fn with_uncaught_exception_handler(
        mut self,
        h: impl crate::exception_handlers::StreamsUncaughtExceptionHandler,
    ) -> Self {
        self.exception_handlers.uncaught = Arc::new(h);
        self
    }

    /// Sets `processing.guarantee`.
    pub fn with_guarantee(mut self, g: ProcessingGuarantee) -> Self {
        self.processing_guarantee = g;
        self
    }

    /// Sets `num.stream.threads`.
    pub fn with_threads(mut self, n: usize) -> Self {
        self.num_stream_threads = n;
        self
    }

    /// Sets `state.dir`.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// Sets `commit.interval.ms`.
    pub fn with_commit_interval(mut self, d: Duration) -> Self {
        self.commit_interval = Some(d);
        self
    }

    /// Sets the group's session timeout and rebalance timeout (`max.poll.interval.ms`).
    pub fn with_group_timeouts(mut self, session: Duration, rebalance: Duration) -> Self {
        self.session_timeout = session;
        self.max_poll_interval = rebalance;
        self
    }

    /// The effective commit interval.
    pub fn effective_commit_interval(&self) -> Duration {
        self.commit_interval
            .unwrap_or(match self.processing_guarantee {
                ProcessingGuarantee::AtLeastOnce => Duration::from_secs(30),
                ProcessingGuarantee::ExactlyOnceV2 => Duration::from_millis(100),
            })
    }

    /// Whether the guarantee is exactly-once.
    pub fn is_exactly_once(&self) -> bool {
        self.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
    }

    /// Checks every setting; the error names the first invalid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let app = self.application_id.trim();
        if app.is_empty() {
            return Err(ConfigError::Missing("application.id"));
        }
        if !app
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(ConfigError::Invalid {
                key: "application.id",
                message: format!(
                    "'{app}' may only contain ASCII alphanumerics, '.', '_' and '-' (it prefixes topic names)"
                ),
            });
        }
        if self.bootstrap_servers.trim().is_empty() {
            return Err(ConfigError::Missing("bootstrap.servers"));
        }
        for server in self.bootstrap_servers.split(',') {
            let server = server.trim();
            let ok = server
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "bootstrap.servers",
                    message: format!("'{server}' is not host:port"),
                });
            }
        }
        if self.num_stream_threads == 0 {
            return Err(ConfigError::Invalid {
                key: "num.stream.threads",
                message: "must be at least 1".into(),
            });
        }
        if self.effective_commit_interval().is_zero() {
            return Err(ConfigError::Invalid {
                key: "commit.interval.ms",
                message: "must be positive".into(),
            });
        }
        if let Some(endpoint) = &self.application_server
            && crate::streams_metadata::HostInfo::parse(endpoint).is_none()
        {
            return Err(ConfigError::Invalid {
                key: "application.server",
                message: format!("'{endpoint}' is not host:port"),
            });
        }
        if self.num_standby_replicas > 8 {
            return Err(ConfigError::Invalid {
                key: "num.standby.replicas",
                message: format!("{} is more than the supported 8", self.num_standby_replicas),
            });
        }
        if self.session_timeout.is_zero() || self.max_poll_interval.is_zero() {
            return Err(ConfigError::Invalid {
                key: "session.timeout.ms",
                message: "session timeout and max.poll.interval.ms must be positive".into(),
            });
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                key: "request.timeout.ms",
                message: "must be positive".into(),
            });
        }
        if self.is_exactly_once() && self.transaction_timeout < self.effective_commit_interval() {
            return Err(ConfigError::Invalid {
                key: "transaction.timeout.ms",
                message: "must not be shorter than commit.interval.ms".into(),
            });
        }
        if self.fetch_max_wait > Duration::from_millis(i32::MAX as u64) {
            return Err(ConfigError::Invalid {
                key: "fetch.max.wait.ms",
                message: format!(
                    "{:?} does not fit the protocol's i32 milliseconds",
                    self.fetch_max_wait
                ),
            });
        }
        if self.linger > Duration::from_secs(900) {
            return Err(ConfigError::Invalid {
                key: "linger.ms",
                message: format!("{:?} is longer than the supported 900 s", self.linger),
            });
        }
        if self.buffered_records_per_partition == 0 {
            return Err(ConfigError::Invalid {
                key: "buffered.records.per.partition",
                message: "must be at least 1".into(),
            });
        }
        if self.max_poll_records == 0 {
            return Err(ConfigError::Invalid {
                key: "max.poll.records",
                message: "must be at least 1".into(),
            });
        }
        if self
            .group_instance_id
            .as_ref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "group.instance.id",
                message: "must not be empty".into(),
            });
        }
        if let Some(t) = &self.dead_letter_topic
            && (t.trim().is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(ConfigError::Invalid {
                key: "errors.dead.letter.queue.topic.name",
                message: format!("'{t}' is not a valid topic name"),
            });
        }
        if self.max_request_size == 0 {
            return Err(ConfigError::Invalid {
                key: "max.request.size",
                message: "must be positive".into(),
            });
        }
        if self.replication_factor == 0 || self.replication_factor < -1 {
            return Err(ConfigError::Invalid {
                key: "replication.factor",
                message: "must be positive or -1".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_kafka_streams() {
        let c = StreamsConfig::new("app", "localhost:9092");
        assert!(c.validate().is_ok());
        assert_eq!(c.effective_commit_interval(), Duration::from_secs(30));
        let c = c.with_guarantee(ProcessingGuarantee::ExactlyOnceV2);
        assert_eq!(c.effective_commit_interval(), Duration::from_millis(100));
    }

    #[test]
    fn invalid_settings_are_named() {
        let c = StreamsConfig::new("", "localhost:9092");
        assert_eq!(c.validate(), Err(ConfigError::Missing("application.id")));
        let c = StreamsConfig::new("a b", "localhost:9092");
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                key: "application.id",
                ..
            })
        ));
        let c = StreamsConfig::new("a", "localhost");
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                key: "bootstrap.servers",
                ..
            })
        ));
        let c = StreamsConfig::new("a", "h:1").with_threads(0);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                key: "num.stream.threads",
                ..
            })
        ));
        let mut c = StreamsConfig::new("a", "h:1");
        c.num_standby_replicas = 1;
        assert!(c.validate().is_ok());
        c.num_standby_replicas = 9;
        assert!(c.validate().is_err());
        let mut c = StreamsConfig::new("a", "h:1");
        assert_eq!(
            c.fetch_max_wait,
            Duration::from_millis(500),
            "Kafka's default"
        );
        c.fetch_max_wait = Duration::from_millis(5);
        c.linger = Duration::ZERO;
        assert!(c.validate().is_ok());
        c.fetch_max_wait = Duration::from_millis(i32::MAX as u64 + 1);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                key: "fetch.max.wait.ms",
                ..
            })
        ));
        let mut c = StreamsConfig::new("a", "h:1");
        c.linger = Duration::from_secs(901);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                key: "linger.ms",
                ..
            })
        ));
        let mut c = StreamsConfig::new("a", "h:1");
        c.max_poll_records = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                key: "max.poll.records",
                ..
            })
        ));
        for bad in ["localhost", "h:port", ":8080", "two words:1"] {
            assert!(
                matches!(
                    StreamsConfig::new("a", "h:1")
                        .with_application_server(bad)
                        .validate(),
                    Err(ConfigError::Invalid {
                        key: "application.server",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        let ok = StreamsConfig::new("a", "h:1").with_application_server("node-1:8080");
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn dead_letter_topic_defaults_and_validates() {
        let c = StreamsConfig::new("app", "h:1");
        assert_eq!(c.effective_dead_letter_topic(), "app-dlq");
        let c = c.with_dead_letter_topic("errors");
        assert_eq!(c.effective_dead_letter_topic(), "errors");
        assert!(c.validate().is_ok());
        let c = StreamsConfig::new("app", "h:1").with_dead_letter_topic("bad topic");
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                key: "errors.dead.letter.queue.topic.name",
                ..
            })
        ));
    }

    #[test]
    fn guarantee_parses() {
        assert_eq!(
            "exactly-once".parse::<ProcessingGuarantee>().unwrap(),
            ProcessingGuarantee::ExactlyOnceV2
        );
        assert_eq!(
            "at_least_once".parse::<ProcessingGuarantee>().unwrap(),
            ProcessingGuarantee::AtLeastOnce
        );
        assert!("maybe".parse::<ProcessingGuarantee>().is_err());
    }
}
