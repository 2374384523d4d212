//! Table-table foreign-key joins (inner and left) through the TopologyTestDriver: updates on
//! either side, foreign-key changes (the old key is unsubscribed), deletions on both sides,
//! left-join nulls, values without a foreign key, result timestamps, and the internal topics'
//! names.

use kstreams_core::Serdes;
use kstreams_dsl::{
    Consumed, KTable, Materialized, Named, Produced, StreamsBuilder, ValueAndTimestamp,
};
use kstreams_test_driver::TopologyTestDriver;

type Row = (String, Option<String>, i64);

/// orders: order id -> customer id; customers: customer id -> name.
fn tables(b: &StreamsBuilder) -> (KTable<String, String>, KTable<String, String>) {
    let t = |topic: &str| {
        b.table::<String, String>(
            topic,
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::as_(format!("{topic}-store")),
        )
    };
    (t("orders"), t("customers"))
}

fn inner() -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    let (orders, customers) = tables(&b);
    orders
        .join_foreign_key(
            &customers,
            |customer| customer.clone(),
            |customer, name| format!("{customer}:{name}"),
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

fn left() -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    let (orders, customers) = tables(&b);
    orders
        .left_join_foreign_key(
            &customers,
            |customer| customer.clone(),
            |customer, name| format!("{customer}:{}", name.map_or("?", String::as_str)),
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

fn pipe(d: &TopologyTestDriver, topic: &str, k: &str, v: Option<&str>, ts: i64) {
    d.create_input_topic::<String, Option<String>>(
        topic,
        Serdes::string(),
        Serdes::option(Serdes::string()),
    )
    .pipe_input_with_timestamp(k.into(), v.map(str::to_string), ts);
}

fn order(d: &TopologyTestDriver, id: &str, customer: Option<&str>, ts: i64) {
    pipe(d, "orders", id, customer, ts);
}

fn customer(d: &TopologyTestDriver, id: &str, name: Option<&str>, ts: i64) {
    pipe(d, "customers", id, name, ts);
}

fn read(d: &TopologyTestDriver) -> Vec<Row> {
    d.create_output_topic::<String, Option<String>>(
        "out",
        Serdes::string(),
        Serdes::option(Serdes::string()),
    )
    .read_records_to_list()
    .into_iter()
    .map(|r| (r.key, r.value, r.timestamp))
    .collect()
}

fn r(k: &str, v: Option<&str>, ts: i64) -> Row {
    (k.into(), v.map(str::to_string), ts)
}

#[test]
fn inner_join_updates_from_either_side() {
    let d = inner();
    order(&d, "o1", Some("c1"), 1); // no customer yet
    assert!(read(&d).is_empty());
    customer(&d, "c1", Some("Ada"), 2);
    customer(&d, "c1", Some("Bea"), 3);
    order(&d, "o2", Some("c1"), 7);
    customer(&d, "c2", Some("Cy"), 8); // nobody subscribes to c2
    customer(&d, "c1", Some("Dot"), 5); // out of order: the later subscription time wins
    assert_eq!(
        read(&d),
        vec![
            r("o1", Some("c1:Ada"), 2),
            r("o1", Some("c1:Bea"), 3),
            r("o2", Some("c1:Bea"), 7),
            r("o1", Some("c1:Dot"), 5),
            r("o2", Some("c1:Dot"), 7),
        ]
    );
    let store = d
        .key_value_store::<String, kstreams_dsl::ValueAndTimestamp<String>>("joined")
        .unwrap();
    assert_eq!(
        store
            .get(&"o2".to_string())
            .unwrap()
            .map(|v| (v.value, v.timestamp)),
        Some(("c1:Dot".to_string(), 7))
    );
}

#[test]
fn a_changed_foreign_key_unsubscribes_the_old_one() {
    let d = inner();
    customer(&d, "c1", Some("Ada"), 1);
    customer(&d, "c2", Some("Cy"), 2);
    order(&d, "o1", Some("c1"), 3);
    order(&d, "o1", Some("c2"), 4);
    customer(&d, "c1", Some("Ada2"), 5); // o1 left c1: nothing
    customer(&d, "c2", Some("Cy2"), 6);
    order(&d, "o1", Some("c3"), 7); // c3 has no customer: the result is retracted
    customer(&d, "c2", Some("Cy3"), 8); // o1 left c2 too
    customer(&d, "c3", Some("Eve"), 9);
    assert_eq!(
        read(&d),
        vec![
            r("o1", Some("c1:Ada"), 3),
            r("o1", Some("c2:Cy"), 4),
            r("o1", Some("c2:Cy2"), 6),
            r("o1", None, 7),
            r("o1", Some("c3:Eve"), 9),
        ]
    );
}

#[test]
fn inner_join_deletions_on_both_sides() {
    let d = inner();
    order(&d, "o1", Some("c1"), 1);
    customer(&d, "c1", Some("Ada"), 2);
    customer(&d, "c1", None, 3); // the customer goes: tombstone
    customer(&d, "c1", None, 4); // again: nothing to delete
    customer(&d, "c1", Some("Ada"), 5); // back
    order(&d, "o1", None, 6); // the order goes: tombstone
    customer(&d, "c1", Some("Bea"), 7); // o1 unsubscribed: nothing
    order(&d, "o9", Some("zz"), 8); // never joined ...
    order(&d, "o9", None, 9); // ... so its deletion emits nothing
    order(&d, "ghost", None, 10); // deleting an absent order: nothing
    assert_eq!(
        read(&d),
        vec![
            r("o1", Some("c1:Ada"), 2),
            r("o1", None, 3),
            r("o1", Some("c1:Ada"), 5),
            r("o1", None, 6),
        ]
    );
}

#[test]
fn left_join_keeps_orders_without_customers() {
    let d = left();
    order(&d, "o1", Some("c1"), 1);
    customer(&d, "c1", Some("Ada"), 2);
    customer(&d, "c1", None, 3);
    order(&d, "o1", Some("c2"), 4);
    customer(&d, "c1", Some("Bea"), 5); // unsubscribed
    customer(&d, "c2", Some("Cy"), 6);
    order(&d, "o1", None, 7);
    customer(&d, "c2", None, 8); // o1 gone: nothing
    assert_eq!(
        read(&d),
        vec![
            r("o1", Some("c1:?"), 1),
            r("o1", Some("c1:Ada"), 2),
            r("o1", Some("c1:?"), 3),
            r("o1", Some("c2:?"), 4),
            r("o1", Some("c2:Cy"), 6),
            r("o1", None, 7),
        ]
    );
}

#[test]
fn internal_topics_and_stores_are_named_after_the_join() {
    let b = StreamsBuilder::new();
    let (orders, customers) = tables(&b);
    orders.join_foreign_key(
        &customers,
        |c| c.clone(),
        |c, n| format!("{c}{n}"),
        Named::as_("fk"),
        Materialized::as_("joined"),
    );
    let topology = b.build().unwrap();
    let p = topology.build(Some("app")).unwrap();
    assert_eq!(
        p.internal_topics(),
        &[
            "app-fk-subscription-registration-topic".to_string(),
            "app-fk-subscription-response-topic".to_string()
        ]
    );
    let changelogs: Vec<&str> = p
        .changelog_topics()
        .iter()
        .map(|c| c.topic.as_str())
        .collect();
    assert!(
        changelogs.contains(&"app-fk-subscription-store-changelog"),
        "{changelogs:?}"
    );
    assert!(
        changelogs.contains(&"app-joined-changelog"),
        "{changelogs:?}"
    );
    // Subscriptions go with the right table's partitions, responses with the left one's.
    let groups: Vec<Vec<String>> = p
        .copartition_groups()
        .iter()
        .map(|g| {
            let mut g = g.clone();
            g.sort();
            g
        })
        .collect();
    assert!(
        groups.contains(&vec![
            "app-fk-subscription-registration-topic".to_string(),
            "customers".to_string()
        ]),
        "{groups:?}"
    );
    assert!(
        groups.contains(&vec![
            "app-fk-subscription-response-topic".to_string(),
            "orders".to_string()
        ]),
        "{groups:?}"
    );
    // Left and right sides are separate sub-topologies linked through the two topics.
    let left = p.subtopology_for_topic("orders").unwrap();
    let right = p.subtopology_for_topic("customers").unwrap();
    assert_ne!(left, right);
    assert_eq!(
        p.subtopology_for_topic("app-fk-subscription-registration-topic"),
        Some(right)
    );
    assert_eq!(
        p.subtopology_for_topic("app-fk-subscription-response-topic"),
        Some(left)
    );
    let text = topology.describe().unwrap().to_string();
    assert!(text.contains("Processor: fk-subscription-processor (stores: [customers-store, fk-subscription-store])"), "{text}");
    assert!(
        text.contains("Processor: fk-result (stores: [orders-store, joined])"),
        "{text}"
    );
    // Values without a foreign key are answered on the left side, through the response topic.
    assert!(
        text.contains("Processor: fk-null-foreign-key-processor"),
        "{text}"
    );
    assert!(
        text.contains("Sink: fk-null-foreign-key-sink (topic: fk-subscription-response-topic)"),
        "{text}"
    );
}

/// orders whose value is a customer id, or "" for an order without a customer (no foreign
/// key), joined with customers, inner or left.
fn optional_customer(left_join: bool) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    let (orders, customers) = tables(&b);
    let customer_of = |c: &String| (!c.is_empty()).then(|| c.clone());
    let joined = if left_join {
        orders.left_join_foreign_key(
            &customers,
            customer_of,
            |c, name| format!("{c}:{}", name.map_or("?", String::as_str)),
            Named::as_("fk"),
            Materialized::as_("joined"),
        )
    } else {
        orders.join_foreign_key(
            &customers,
            customer_of,
            |c, name| format!("{c}:{name}"),
            Named::as_("fk"),
            Materialized::as_("joined"),
        )
    };
    joined.to_stream().to(
        "out",
        Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
    );
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

#[test]
fn left_join_joins_a_value_without_foreign_key_with_none() {
    let d = optional_customer(true);
    customer(&d, "c1", Some("Ada"), 1);
    order(&d, "o1", Some(""), 2); // no customer: joined with None at once
    order(&d, "o1", Some("c1"), 3); // now one
    order(&d, "o1", Some(""), 4); // none again: c1 is unsubscribed
    customer(&d, "c1", Some("Bea"), 5); // nothing for o1
    order(&d, "o1", None, 6); // deleted: the result too
    order(&d, "o2", Some(""), 7);
    assert_eq!(
        read(&d),
        vec![
            r("o1", Some(":?"), 2),
            r("o1", Some("c1:Ada"), 3),
            r("o1", Some(":?"), 4),
            r("o1", None, 6),
            r("o2", Some(":?"), 7),
        ]
    );
    let joined = d
        .key_value_store::<String, ValueAndTimestamp<String>>("joined")
        .unwrap();
    assert_eq!(
        joined.get(&"o2".to_string()).unwrap(),
        Some(ValueAndTimestamp::make(":?".to_string(), 7))
    );
    assert_eq!(joined.get(&"o1".to_string()).unwrap(), None);
}

#[test]
fn inner_join_retracts_a_result_when_the_foreign_key_becomes_null() {
    let d = optional_customer(false);
    customer(&d, "c1", Some("Ada"), 1);
    order(&d, "o1", Some(""), 2); // no customer, no result: nothing
    order(&d, "o1", Some("c1"), 3);
    order(&d, "o1", Some(""), 4); // the result goes
    customer(&d, "c1", Some("Bea"), 5); // unsubscribed: nothing
    order(&d, "o1", None, 6); // no result to delete: nothing
    order(&d, "o2", Some("c1"), 7);
    order(&d, "o2", None, 8);
    assert_eq!(
        read(&d),
        vec![
            r("o1", Some("c1:Ada"), 3),
            r("o1", None, 4),
            r("o2", Some("c1:Bea"), 7),
            r("o2", None, 8),
        ]
    );
}

#[test]
fn generated_names_and_missing_serdes() {
    let b = StreamsBuilder::new();
    let (orders, customers) = tables(&b);
    let j = orders.join_foreign_key(
        &customers,
        |c| c.clone(),
        |c, n| format!("{c}{n}"),
        Named::generated(),
        Materialized::default(),
    );
    assert!(
        j.node_name().starts_with("KTABLE-FK-JOIN-"),
        "{}",
        j.node_name()
    );
    assert!(j.node_name().ends_with("-result"));
    let p = b.build().unwrap().build(None).unwrap();
    assert!(
        p.internal_topics()
            .iter()
            .all(|t| t.starts_with("KTABLE-FK-JOIN-") && t.ends_with("-topic"))
    );

    // A result type without a registered serde and none in Materialized fails the build.
    #[derive(Clone)]
    struct Custom;
    let b = StreamsBuilder::new();
    let (orders, customers) = tables(&b);
    orders.join_foreign_key(
        &customers,
        |c| c.clone(),
        |_c, _n| Custom,
        Named::as_("fk"),
        Materialized::default(),
    );
    let e = b.build().err().expect("no serde for the result");
    assert!(e.to_string().contains("fk"), "{e}");
}
