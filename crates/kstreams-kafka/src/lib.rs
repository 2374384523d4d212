//! The kstreams Kafka client: connections, metadata, admin, idempotent and transactional
//! producer, read_committed fetcher and classic consumer groups, on the `kafka-protocol` codecs.

pub mod admin;
pub mod assignor;
pub mod client;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod fetcher;
pub mod group;
pub mod metadata;
pub mod producer;
mod protocol_util;
pub mod transaction;
pub mod types;

pub use admin::Admin;
pub use client::{Client, ClientConfig, CoordinatorType};
pub use consumer::{
    Consumer, ConsumerConfig, ConsumerRebalanceListener, ConsumerRecord, NoOpRebalanceListener,
    OffsetResetStrategy,
};
pub use error::{ErrorClass, KafkaError, Result};
pub use producer::{Delivered, DeliveryFuture, Producer, ProducerConfig, SendAllDelivery};
pub use types::{
    BrokerInfo, CompressionType, ConsumerGroupMetadata, Header, IsolationLevel, OffsetAndMetadata,
    ProducerRecord, RecordMetadata, TopicPartition,
};
