//! `Suppressed`: how `KTable::suppress` holds back updates.

use std::time::Duration;

use crate::window_ms::saturated_ms;

/// Suppression settings (Kafka Streams' `Suppressed`).
#[derive(Debug, Clone)]
pub struct Suppressed {
    pub(crate) name: Option<String>,
    pub(crate) kind: SuppressKind,
    pub(crate) buffer: BufferConfig,
}

/// What a suppress node waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SuppressKind {
    /// A windowed table's window to close.
    UntilWindowCloses,
    /// This long (ms of stream time) after a key's first update held back.
    UntilTimeLimit(i64),
}

impl Suppressed {
    /// Emits only the final result of each window of a windowed aggregation, once stream
    /// time passes the window's end plus the grace period; the buffer is unbounded unless
    /// [`Self::with_buffer`] bounds it with a [`BufferConfig::shut_down_when_full`] config.
    pub fn until_window_closes() -> Self {
        Suppressed {
            name: None,
            kind: SuppressKind::UntilWindowCloses,
            buffer: BufferConfig::unbounded(),
        }
    }

    /// Holds each key's updates back for `time_to_wait_for_more_events` of stream time after
    /// the first one, then emits the latest (with the value before the first, so downstream
    /// re-aggregation subtracts right): at most one update per key and period. A full
    /// `buffer` emits its oldest keys early, or stops processing
    /// ([`BufferConfig::shut_down_when_full`]).
    pub fn until_time_limit(time_to_wait_for_more_events: Duration, buffer: BufferConfig) -> Self {
        Suppressed {
            name: None,
            kind: SuppressKind::UntilTimeLimit(saturated_ms(time_to_wait_for_more_events)),
            buffer,
        }
    }

    /// Names the suppress node (its buffer store is `<name>-store`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Bounds the buffer.
    pub fn with_buffer(mut self, buffer: BufferConfig) -> Self {
        self.buffer = buffer;
        self
    }
}

/// How many keys (or windows) a suppress node may hold back per task, and what happens when
/// one more comes (Kafka Streams' `BufferConfig`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferConfig {
    pub(crate) max_records: Option<usize>,
    pub(crate) shut_down_when_full: bool,
}

impl BufferConfig {
    /// No bound (the default): memory grows with what is held back.
    pub fn unbounded() -> Self {
        BufferConfig::default()
    }

    /// At most `n` keys per task; a full buffer emits its oldest early (for
    /// [`Suppressed::until_time_limit`]; see [`Self::shut_down_when_full`]).
    pub fn max_records(n: usize) -> Self {
        BufferConfig {
            max_records: Some(n),
            shut_down_when_full: false,
        }
    }

    /// A full buffer is a fatal error that stops the stream thread instead (the only choice
    /// for [`Suppressed::until_window_closes`], whose results may not come early).
    pub fn shut_down_when_full(mut self) -> Self {
        self.shut_down_when_full = true;
        self
    }
}
