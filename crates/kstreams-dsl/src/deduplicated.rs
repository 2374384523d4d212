//! `Deduplicated`: the settings of [`KStream::deduplicate`](crate::KStream::deduplicate).

use std::time::Duration;

use kstreams_core::PunctuationType;

use crate::StoreType;

/// How [`KStream::deduplicate`](crate::KStream::deduplicate) remembers ids: for how long
/// (the TTL), on which clock, how often expired ids are purged, and the store keeping them.
///
/// The clock (default [`PunctuationType::StreamTime`]):
/// - **Stream time** (the highest record timestamp the task has seen) is the default because
///   it is deterministic: a replay of the same input after a crash or a restore from the
///   changelog takes the same decisions, and a long outage does not expire every id at once
///   when the application comes back (wall-clock time would have moved on while the
///   upstream's retries still carry their old timestamps). Its limit: stream time only moves
///   with input, so ids are not purged while a task receives nothing.
/// - **Wall-clock time** suits upstreams whose timestamps are unreliable, and bounds the
///   store even when input stops; decisions then depend on when records are processed.
///
/// Expiry is exact whatever the punctuation interval: a record is compared with its id's
/// first-seen time, and the punctuator only removes ids older than the TTL from the store
/// (so an id stays stored for at most TTL + interval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deduplicated {
    pub(crate) name: Option<String>,
    pub(crate) store_name: Option<String>,
    pub(crate) ttl: Duration,
    pub(crate) time: PunctuationType,
    pub(crate) punctuation_interval: Option<Duration>,
    pub(crate) store_type: StoreType,
    pub(crate) logging: bool,
}

impl Deduplicated {
    /// Remembers each id for `ttl` after its first record passed; stream time, RocksDB,
    /// change-logged, purged every `ttl`.
    pub fn with_ttl(ttl: Duration) -> Self {
        Deduplicated {
            name: None,
            store_name: None,
            ttl,
            time: PunctuationType::StreamTime,
            punctuation_interval: None,
            store_type: StoreType::RocksDb,
            logging: true,
        }
    }

    /// Names the processor node (the store is then `<name>-store` unless named too).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Names the store (and so its changelog topic `<application.id>-<store>-changelog`).
    pub fn with_store_name(mut self, name: impl Into<String>) -> Self {
        self.store_name = Some(name.into());
        self
    }

    /// The clock the TTL is measured on (see the type's documentation).
    pub fn with_time_type(mut self, time: PunctuationType) -> Self {
        self.time = time;
        self
    }

    /// How often expired ids are purged from the store (default: the TTL).
    pub fn with_punctuation_interval(mut self, interval: Duration) -> Self {
        self.punctuation_interval = Some(interval);
        self
    }

    /// RocksDB (the default) or in-memory.
    pub fn with_store_type(mut self, store_type: StoreType) -> Self {
        self.store_type = store_type;
        self
    }

    /// Turns change-logging of the store on (the default) or off. Without it, ids seen before
    /// a task moves or restarts without local state are forgotten.
    pub fn with_logging_enabled(mut self, enabled: bool) -> Self {
        self.logging = enabled;
        self
    }

    /// The TTL in milliseconds (at least 1).
    pub(crate) fn ttl_ms(&self) -> i64 {
        duration_ms(self.ttl)
    }

    /// The purge interval in milliseconds (at least 1).
    pub(crate) fn interval_ms(&self) -> i64 {
        self.punctuation_interval.map_or(self.ttl_ms(), duration_ms)
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
