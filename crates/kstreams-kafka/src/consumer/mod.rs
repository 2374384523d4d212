//! The consumer: [`Consumer`], its [`ConsumerConfig`] and the [`ConsumerRebalanceListener`].

pub mod consumer_config;
pub mod kafka_consumer;
pub mod rebalance_listener;
pub mod wakeup;

pub use crate::fetcher::{ConsumerRecord, OffsetResetStrategy};
pub use consumer_config::ConsumerConfig;
pub use kafka_consumer::Consumer;
pub use rebalance_listener::{ConsumerRebalanceListener, NoOpRebalanceListener};
pub use wakeup::ConsumerWakeup;
