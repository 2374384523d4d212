//! `KStream::to_idempotent_sink`: writes to an external system once per input record, with a
//! write id that stays the same on every re-delivery of the record, so the system can apply
//! a repeated write once; failed writes go through retries and the dead-letter topic.

use std::fmt;
use std::sync::Arc;

use kstreams_core::RecordMetadata;
use kstreams_core::failure::ProcessingError;

use crate::retrying_processor::TryFn;
use crate::{Data, KStream, Retried};

/// The id of one write: the input record it comes from, as first read (its topic, partition
/// and offset). A record reprocessed after a crash (at-least-once) or re-delivered from the
/// retry topic writes with the same id; give the id to the external system as an idempotency
/// key (an upsert keyed by it, a unique constraint, an `Idempotency-Key` header).
///
/// Under at-least-once, a repartition topic upstream may hold a record twice (its writer
/// reprocessed): the copies are two records, with two ids. Exactly-once writes none twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriteId {
    /// The input topic.
    pub topic: Arc<str>,
    /// Its partition.
    pub partition: i32,
    /// The record's offset there.
    pub offset: i64,
}

impl fmt::Display for WriteId {
    /// `topic/partition/offset`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.topic, self.partition, self.offset)
    }
}

impl From<&RecordMetadata> for WriteId {
    fn from(m: &RecordMetadata) -> Self {
        WriteId {
            topic: m.topic.clone(),
            partition: m.partition,
            offset: m.offset,
        }
    }
}

/// An external system a stream is written to, one call per record (a database, an HTTP API).
/// `write` is called again with the same [`WriteId`] when the record is re-delivered, so it
/// must apply a repeated id once. Its errors are classified as the [`Retried`] settings say:
/// retryable ones are retried with backoff, the others (and retries past the maximum) go to
/// the dead-letter topic.
pub trait IdempotentSink<K, V>: Send + Sync + 'static {
    /// Writes `key` and `value` under `id`.
    fn write(&self, id: &WriteId, key: &K, value: &V) -> Result<(), ProcessingError>;
}

impl<K, V, F> IdempotentSink<K, V> for F
where
    F: Fn(&WriteId, &K, &V) -> Result<(), ProcessingError> + Send + Sync + 'static,
{
    fn write(&self, id: &WriteId, key: &K, value: &V) -> Result<(), ProcessingError> {
        self(id, key, value)
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Writes every record to `sink` (a terminal operator, like [`KStream::foreach`]), with
    /// the record's [`WriteId`]; failed writes are retried and dead-lettered as `retried`
    /// says, through the same retry topic and scheduler as `try_map_values`.
    pub fn to_idempotent_sink(&self, sink: impl IdempotentSink<K, V>, retried: Retried) {
        let f: TryFn<K, V, ()> = Arc::new(move |k, v, origin| {
            let id = origin.map(WriteId::from).ok_or_else(|| {
                ProcessingError::non_retryable(
                    "an idempotent sink needs an input record: this one came from a punctuator",
                )
            })?;
            sink.write(&id, k, v)?;
            Ok(Vec::new())
        });
        let _ = self.try_values(f, retried, "KSTREAM-IDEMPOTENTSINK-");
    }
}
