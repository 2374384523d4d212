//! Stale responses: a response computed for another left value than the current one (its
//! hash differs) is dropped; one for the current value is joined. Responses are piped into
//! the response topic directly, as a late response from before an update would arrive.

use std::sync::Arc;

use kstreams_core::{Serdes, SharedSerde};
use kstreams_test_driver::TopologyTestDriver;

use super::wrappers::{ResponseWrapperSerde, SubscriptionResponseWrapper, hash_bytes};
use crate::{Consumed, Materialized, Named, Produced, StreamsBuilder};

fn driver() -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    let t = |topic: &str| {
        b.table::<String, String>(
            topic,
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::as_(format!("{topic}-store")),
        )
    };
    let (orders, customers) = (t("orders"), t("customers"));
    orders
        .join_foreign_key(
            &customers,
            |c| c.clone(),
            |c, n| format!("{c}:{n}"),
            Named::as_("fk"),
            Materialized::as_("joined"),
        )
        .to_stream()
        .to(
            "out",
            Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
        );
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

fn response(hash_of: Option<&str>, name: &str) -> SubscriptionResponseWrapper<String> {
    SubscriptionResponseWrapper {
        // The left values are strings: their serialized bytes are their UTF-8 bytes.
        hash: hash_of.map(|v| hash_bytes(v.as_bytes())),
        primary_partition: 0,
        foreign_value: Some(name.to_string()),
    }
}

#[test]
fn stale_responses_are_dropped() {
    let d = driver();
    let pipe = |topic: &str, k: &str, v: &str, ts: i64| {
        d.create_input_topic(topic, Serdes::string(), Serdes::option(Serdes::string()))
            .pipe_input_with_timestamp(k.to_string(), Some(v.to_string()), ts)
    };
    pipe("customers", "c1", "Ada", 1);
    pipe("orders", "o1", "c1", 2);
    let out = d.create_output_topic("out", Serdes::string(), Serdes::option(Serdes::string()));
    assert_eq!(out.read_value(), Some("c1:Ada".to_string()));

    let serde: SharedSerde<SubscriptionResponseWrapper<String>> = Arc::new(ResponseWrapperSerde {
        foreign_value: Serdes::string(),
    });
    let responses = d.create_input_topic(
        "topology-test-driver-fk-subscription-response-topic",
        Serdes::string(),
        serde,
    );
    // Computed for o1's earlier value "c0", or for a deleted o1: stale.
    responses.pipe_input_with_timestamp("o1".into(), response(Some("c0"), "Old"), 3);
    responses.pipe_input_with_timestamp("o1".into(), response(None, "Gone"), 4);
    assert!(out.is_empty());
    let store = d
        .key_value_store::<String, crate::ValueAndTimestamp<String>>("joined")
        .unwrap();
    assert_eq!(
        store.get(&"o1".to_string()).unwrap().map(|v| v.value),
        Some("c1:Ada".to_string())
    );
    // Computed for the current value: joined.
    responses.pipe_input_with_timestamp("o1".into(), response(Some("c1"), "Zed"), 5);
    let r = out.read_record();
    assert_eq!((r.value, r.timestamp), (Some("c1:Zed".to_string()), 5));
}
