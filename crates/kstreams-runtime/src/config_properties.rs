//! [`StreamsConfig`] from Kafka Streams properties (`application.id=...` pairs or the text of a
//! `.properties` file), as operators configure a Kafka Streams application.
//!
//! Every property [`StreamsConfig`] has is read by its Kafka Streams name (and
//! `kstreams.network.thread` for the one setting Kafka Streams does not have). A name it does
//! not know is an error naming it, not a silent no-op: a typo would otherwise run the
//! application with the default. The result is validated as [`StreamsConfig::validate`] does.

use std::time::Duration;

use crate::config::{ConfigError, ProcessingGuarantee, StreamsConfig};

type Setter = fn(&mut StreamsConfig, &'static str, &str) -> Result<(), ConfigError>;

fn invalid(key: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { key, message }
}

fn number<T: std::str::FromStr>(key: &'static str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, format!("'{value}' is not a number of the right range")))
}

fn millis(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    number::<u64>(key, value).map(Duration::from_millis)
}

fn text(value: &str) -> String {
    value.trim().to_string()
}

/// Each property with the setter that applies it.
const PROPERTIES: &[(&str, Setter)] = &[
    ("application.id", |c, _, v| {
        c.application_id = text(v);
        Ok(())
    }),
    ("bootstrap.servers", |c, _, v| {
        c.bootstrap_servers = text(v);
        Ok(())
    }),
    ("num.stream.threads", |c, k, v| {
        c.num_stream_threads = number(k, v)?;
        Ok(())
    }),
    ("processing.guarantee", |c, _, v| {
        c.processing_guarantee = v.trim().parse::<ProcessingGuarantee>()?;
        Ok(())
    }),
    ("commit.interval.ms", |c, k, v| {
        c.commit_interval = Some(millis(k, v)?);
        Ok(())
    }),
    ("state.dir", |c, _, v| {
        c.state_dir = text(v).into();
        Ok(())
    }),
    ("num.standby.replicas", |c, k, v| {
        c.num_standby_replicas = number(k, v)?;
        Ok(())
    }),
    ("statestore.cache.max.bytes", |c, k, v| {
        c.cache_max_bytes = number(k, v)?;
        Ok(())
    }),
    // The name before Kafka 3.4.
    ("cache.max.bytes.buffering", |c, k, v| {
        c.cache_max_bytes = number(k, v)?;
        Ok(())
    }),
    ("session.timeout.ms", |c, k, v| {
        c.session_timeout = millis(k, v)?;
        Ok(())
    }),
    ("max.poll.interval.ms", |c, k, v| {
        c.max_poll_interval = millis(k, v)?;
        Ok(())
    }),
    ("request.timeout.ms", |c, k, v| {
        c.request_timeout = millis(k, v)?;
        Ok(())
    }),
    ("transaction.timeout.ms", |c, k, v| {
        c.transaction_timeout = millis(k, v)?;
        Ok(())
    }),
    ("buffered.records.per.partition", |c, k, v| {
        c.buffered_records_per_partition = number(k, v)?;
        Ok(())
    }),
    ("max.poll.records", |c, k, v| {
        c.max_poll_records = number(k, v)?;
        Ok(())
    }),
    ("poll.ms", |c, k, v| {
        c.poll_interval = millis(k, v)?;
        Ok(())
    }),
    ("fetch.max.wait.ms", |c, k, v| {
        c.fetch_max_wait = millis(k, v)?;
        Ok(())
    }),
    ("linger.ms", |c, k, v| {
        c.linger = millis(k, v)?;
        Ok(())
    }),
    ("replication.factor", |c, k, v| {
        c.replication_factor = number(k, v)?;
        Ok(())
    }),
    ("group.instance.id", |c, _, v| {
        c.group_instance_id = Some(text(v));
        Ok(())
    }),
    ("application.server", |c, _, v| {
        c.application_server = Some(text(v));
        Ok(())
    }),
    ("errors.dead.letter.queue.topic.name", |c, _, v| {
        c.dead_letter_topic = Some(text(v));
        Ok(())
    }),
    ("max.request.size", |c, k, v| {
        c.max_request_size = number(k, v)?;
        Ok(())
    }),
    ("kstreams.network.thread", |c, k, v| {
        c.network_thread = match v.trim() {
            "true" => true,
            "false" => false,
            other => return Err(invalid(k, format!("'{other}' is not true or false"))),
        };
        Ok(())
    }),
];

impl StreamsConfig {
    /// Sets one property by its Kafka Streams name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let (name, setter) = PROPERTIES
            .iter()
            .find(|(name, _)| *name == key.trim())
            .ok_or_else(|| ConfigError::Unknown(key.trim().to_string()))?;
        setter(self, name, value)
    }

    /// A validated configuration from `(name, value)` properties; `application.id` and
    /// `bootstrap.servers` are required, the rest default as in [`StreamsConfig::new`].
    pub fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<StreamsConfig, ConfigError> {
        let mut config = StreamsConfig::new("", "");
        for (key, value) in properties {
            config.set(key, value)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// A validated configuration from the text of a Java `.properties` file: `name=value` (or
    /// `name: value`) lines; blank lines and lines starting with `#` or `!` are skipped.
    pub fn from_properties_text(text: &str) -> Result<StreamsConfig, ConfigError> {
        let mut pairs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let split = line
                .find(['=', ':'])
                .ok_or_else(|| ConfigError::Malformed {
                    line: n + 1,
                    text: line.to_string(),
                })?;
            pairs.push((line[..split].trim(), line[split + 1..].trim()));
        }
        StreamsConfig::from_properties(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_is_read_by_its_kafka_streams_name() {
        let c = StreamsConfig::from_properties([
            ("application.id", "orders"),
            ("bootstrap.servers", "k1:9092,k2:9092"),
            ("num.stream.threads", "4"),
            ("processing.guarantee", "exactly_once_v2"),
            ("commit.interval.ms", "250"),
            ("state.dir", "/var/lib/orders"),
            ("num.standby.replicas", "1"),
            ("statestore.cache.max.bytes", "1048576"),
            ("session.timeout.ms", "6000"),
            ("max.poll.interval.ms", "8000"),
            ("request.timeout.ms", "5000"),
            ("transaction.timeout.ms", "20000"),
            ("buffered.records.per.partition", "2000"),
            ("max.poll.records", "1000"),
            ("poll.ms", "50"),
            ("fetch.max.wait.ms", "5"),
            ("linger.ms", "10"),
            ("replication.factor", "3"),
            ("group.instance.id", "orders-a"),
            ("application.server", "node-a:8080"),
            ("errors.dead.letter.queue.topic.name", "orders-dead"),
            ("max.request.size", "2097152"),
            ("kstreams.network.thread", "false"),
        ])
        .unwrap();
        assert_eq!(c.application_id, "orders");
        assert_eq!(c.bootstrap_servers, "k1:9092,k2:9092");
        assert_eq!(c.num_stream_threads, 4);
        assert!(c.is_exactly_once());
        assert_eq!(c.commit_interval, Some(Duration::from_millis(250)));
        assert_eq!(c.state_dir, std::path::PathBuf::from("/var/lib/orders"));
        assert_eq!(c.num_standby_replicas, 1);
        assert_eq!(c.cache_max_bytes, 1 << 20);
        assert_eq!(c.session_timeout, Duration::from_secs(6));
        assert_eq!(c.max_poll_interval, Duration::from_secs(8));
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.transaction_timeout, Duration::from_secs(20));
        assert_eq!(c.buffered_records_per_partition, 2000);
        assert_eq!(c.max_poll_records, 1000);
        assert_eq!(c.poll_interval, Duration::from_millis(50));
        assert_eq!(c.fetch_max_wait, Duration::from_millis(5));
        assert_eq!(c.linger, Duration::from_millis(10));
        assert_eq!(c.replication_factor, 3);
        assert_eq!(c.group_instance_id.as_deref(), Some("orders-a"));
        assert_eq!(c.application_server.as_deref(), Some("node-a:8080"));
        assert_eq!(c.effective_dead_letter_topic(), "orders-dead");
        assert_eq!(c.max_request_size, 2 << 20);
        assert!(!c.network_thread);
        // Every property of the table is covered above (the old cache name aside).
        assert_eq!(PROPERTIES.len(), 24);
    }

    #[test]
    fn a_properties_file_reads_with_comments_and_defaults() {
        let c = StreamsConfig::from_properties_text(
            "# the word count\n\
             application.id = wc\n\
             ! another comment\n\n\
             bootstrap.servers: localhost:9092\n\
             cache.max.bytes.buffering=0\n",
        )
        .unwrap();
        assert_eq!((c.application_id.as_str(), c.cache_max_bytes), ("wc", 0));
        assert_eq!(c.bootstrap_servers, "localhost:9092");
        assert_eq!(c.num_stream_threads, 1, "the default");
    }

    #[test]
    fn bad_properties_are_named() {
        let base = [("application.id", "a"), ("bootstrap.servers", "h:1")];
        let with = |k: &'static str, v: &'static str| {
            StreamsConfig::from_properties(base.iter().copied().chain([(k, v)]))
        };
        assert_eq!(
            with("num.stream.thread", "2").unwrap_err(),
            ConfigError::Unknown("num.stream.thread".into())
        );
        for (k, v) in [
            ("num.stream.threads", "two"),
            ("commit.interval.ms", "-1"),
            ("processing.guarantee", "sometimes"),
            ("kstreams.network.thread", "yes"),
            ("replication.factor", "40000"),
        ] {
            assert!(
                matches!(with(k, v), Err(ConfigError::Invalid { key, .. }) if key == k),
                "{k}={v}"
            );
        }
        // Values are read, then the whole is validated.
        assert!(matches!(
            with("num.stream.threads", "0"),
            Err(ConfigError::Invalid {
                key: "num.stream.threads",
                ..
            })
        ));
        assert_eq!(
            StreamsConfig::from_properties([("bootstrap.servers", "h:1")]).unwrap_err(),
            ConfigError::Missing("application.id")
        );
        assert_eq!(
            StreamsConfig::from_properties_text("application.id=a\njust words\n").unwrap_err(),
            ConfigError::Malformed {
                line: 2,
                text: "just words".into()
            }
        );
    }
}
