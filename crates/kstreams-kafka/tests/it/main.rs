//! Broker tests of the Kafka client, one module per area: against tansu on free ports, against
//! scripted in-process brokers where tansu cannot produce an error, and cross-checked with
//! librdkafka. One test binary for the crate, so the suite links once.

mod admin;
mod admin_offsets;
mod common;
mod connection;
mod consumer_fetch;
mod consumer_group;
mod leader_moves;
mod producer;
mod producer_epoch_bump;
mod request_timeout;
mod transaction_retries;
mod transactions;
