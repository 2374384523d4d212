//! Producer settings.

use super::partitioner::NullKeyPartitioning;
use crate::error::{KafkaError, Result};
use crate::types::CompressionType;
use std::time::Duration;

/// Which acknowledgement the producer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// All in-sync replicas (`acks=all`); required by idempotence and transactions.
    #[default]
    All,
    /// The leader only (`acks=1`).
    Leader,
}

impl Acks {
    pub(crate) fn wire(self) -> i16 {
        match self {
            Acks::All => -1,
            Acks::Leader => 1,
        }
    }
}

/// Settings of a [`crate::producer::Producer`] (names follow the Java client's configs).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `batch.size`: bytes of records per partition batch before it is sent.
    pub batch_size: usize,
    /// `linger.ms`: how long a batch that is not full waits for more records.
    pub linger: Duration,
    /// `compression.type`.
    pub compression: CompressionType,
    /// `acks`.
    pub acks: Acks,
    /// `enable.idempotence` (default on): producer id, epoch and sequence numbers.
    pub enable_idempotence: bool,
    /// `transactional.id`: enables transactions (implies idempotence).
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// `retries` of a batch on retriable errors (bounded by `delivery_timeout` too).
    pub retries: u32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `delivery.timeout.ms`: a record not acknowledged in this time fails.
    pub delivery_timeout: Duration,
    /// `request.timeout.ms` of Produce requests.
    pub request_timeout: Duration,
    /// `max.block.ms`: bound of blocking calls (transaction operations, metadata waits).
    pub max_block: Duration,
    /// `buffer.memory`: bytes of records buffered before `send` waits.
    pub buffer_memory: usize,
    /// Placement of records without key and partition.
    pub null_key_partitioning: NullKeyPartitioning,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            batch_size: 512 * 1024,
            linger: Duration::from_millis(5),
            compression: CompressionType::None,
            acks: Acks::All,
            enable_idempotence: true,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            retries: u32::MAX,
            retry_backoff: Duration::from_millis(100),
            delivery_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            max_block: Duration::from_secs(60),
            buffer_memory: 64 * 1024 * 1024,
            null_key_partitioning: NullKeyPartitioning::Sticky,
        }
    }
}

impl ProducerConfig {
    /// A transactional configuration with the given `transactional.id`.
    pub fn transactional(transactional_id: impl Into<String>) -> Self {
        ProducerConfig {
            transactional_id: Some(transactional_id.into()),
            ..Default::default()
        }
    }

    /// Checks consistency: transactions need idempotence, idempotence needs `acks=all`.
    pub fn validate(&self) -> Result<()> {
        if self.transactional_id.is_some() && !self.enable_idempotence {
            return Err(KafkaError::Config(
                "transactional.id requires enable.idempotence".into(),
            ));
        }
        if self.enable_idempotence && self.acks != Acks::All {
            return Err(KafkaError::Config(
                "enable.idempotence requires acks=all".into(),
            ));
        }
        if self.batch_size == 0 || self.buffer_memory < self.batch_size {
            return Err(KafkaError::Config(
                "batch.size must be > 0 and <= buffer.memory".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(ProducerConfig::default().validate().is_ok());
        assert!(ProducerConfig::transactional("t").validate().is_ok());
        let c = ProducerConfig {
            enable_idempotence: false,
            ..ProducerConfig::transactional("t")
        };
        assert!(c.validate().is_err());
        let c = ProducerConfig {
            acks: Acks::Leader,
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = ProducerConfig {
            acks: Acks::Leader,
            enable_idempotence: false,
            ..Default::default()
        };
        assert!(c.validate().is_ok());
    }
}
