//! `Suppressed`: how `KTable::suppress` holds back updates.

/// Suppression settings. Only `until_window_closes` exists: one final result per window,
/// emitted once stream time passes the window's end plus the aggregation's grace period.
#[derive(Debug, Clone, Default)]
pub struct Suppressed {
    pub(crate) name: Option<String>,
    pub(crate) buffer: BufferConfig,
}

impl Suppressed {
    /// Emits only the final result of each window, with an unbounded buffer.
    pub fn until_window_closes() -> Self {
        Suppressed::default()
    }

    /// Names the suppress node (its buffer store is `<name>-store`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Bounds the buffer (Kafka Streams' strict buffer configs: a final result per window
    /// cannot be emitted early, so a full buffer stops processing).
    pub fn with_buffer(mut self, buffer: BufferConfig) -> Self {
        self.buffer = buffer;
        self
    }
}

/// How many windows a suppress node may hold back per task (Kafka Streams'
/// `BufferConfig`, strict form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferConfig {
    pub(crate) max_records: Option<usize>,
}

impl BufferConfig {
    /// No bound (the default): memory grows with the windows still open.
    pub fn unbounded() -> Self {
        BufferConfig { max_records: None }
    }

    /// At most `n` windows per task; one more is a fatal error that stops the stream
    /// thread (Kafka Streams' `maxRecords(n).shutDownWhenFull()`), rather than memory
    /// growing without bound or a final result emitted too early.
    pub fn max_records(n: usize) -> Self {
        BufferConfig {
            max_records: Some(n),
        }
    }
}
