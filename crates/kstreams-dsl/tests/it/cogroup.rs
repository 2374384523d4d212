//! `cogroup` through the TopologyTestDriver: two grouped streams fold into one aggregate per
//! key through one store, with the highest timestamp so far; a re-keyed input goes through its
//! own repartition topic first.

use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use kstreams_test_driver::TopologyTestDriver;

/// Clicks add 1, views add 100, into one activity score per user.
fn activity(rekey_views: bool) -> TopologyTestDriver {
    let b = StreamsBuilder::new();
    let clicks = b
        .stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default());
    let views =
        b.stream::<String, String>("views", Consumed::with(Serdes::string(), Serdes::string()));
    // Views arrive keyed by page, with the user as value, when re-keyed.
    let views = if rekey_views {
        views
            .select_key(|_page, user| user.clone())
            .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
    } else {
        views.group_by_key(Grouped::default())
    };
    clicks
        .cogroup(|_user, _click, score: i64| score + 1)
        .cogroup(&views, |_user, _view, score| score + 100)
        .aggregate(
            || 0,
            Materialized::as_("activity").with_value_serde(Serdes::i64()),
        )
        .to_stream()
        .to(
            "scores",
            Produced::with(Serdes::string(), Serdes::option(Serdes::i64())),
        );
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

fn pipe(d: &TopologyTestDriver, topic: &str, records: &[(&str, &str, i64)]) {
    let i = d.create_input_topic::<String, String>(topic, Serdes::string(), Serdes::string());
    for (k, v, ts) in records {
        i.pipe_input_with_timestamp(k.to_string(), v.to_string(), *ts);
    }
}

fn read(d: &TopologyTestDriver) -> Vec<(String, Option<i64>, i64)> {
    d.create_output_topic::<String, Option<i64>>(
        "scores",
        Serdes::string(),
        Serdes::option(Serdes::i64()),
    )
    .read_records_to_list()
    .into_iter()
    .map(|r| (r.key, r.value, r.timestamp))
    .collect()
}

#[test]
fn two_streams_fold_into_one_aggregate_per_key() {
    let d = activity(false);
    pipe(&d, "clicks", &[("ann", "c", 1)]);
    pipe(&d, "views", &[("ann", "v", 5)]);
    pipe(&d, "clicks", &[("bob", "c", 3), ("ann", "c", 2)]);
    assert_eq!(
        read(&d),
        vec![
            ("ann".into(), Some(1), 1),
            ("ann".into(), Some(101), 5),
            ("bob".into(), Some(1), 3),
            ("ann".into(), Some(102), 5),
        ]
    );
    let store = d.key_value_store::<String, i64>("activity").unwrap();
    assert_eq!(store.get(&"ann".into()).unwrap(), Some(102));
    assert_eq!(store.get(&"bob".into()).unwrap(), Some(1));
}

#[test]
fn a_rekeyed_input_is_repartitioned_before_it_joins_the_aggregate() {
    let b = StreamsBuilder::new();
    let clicks = b
        .stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default());
    let views = b
        .stream::<String, String>("views", Consumed::with(Serdes::string(), Serdes::string()))
        .select_key(|_page, user| user.clone())
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()));
    clicks
        .cogroup(|_u, _c, n: i64| n + 1)
        .cogroup(&views, |_u, _v, n| n + 100)
        .aggregate(
            || 0,
            Materialized::as_("activity").with_value_serde(Serdes::i64()),
        );
    let topology = b.build().unwrap();
    let desc = topology.describe().unwrap().to_string();
    assert!(desc.contains("activity-1-repartition"), "{desc}");
    assert!(desc.contains("COGROUPKSTREAM-MERGE-"), "{desc}");
    // The inputs must be co-partitioned: the runtime checks them at start-up.
    let built = topology.build(Some("app")).unwrap();
    let group = built
        .copartition_groups()
        .iter()
        .find(|g| g.contains(&"clicks".to_string()))
        .expect("a co-partition group with the clicks");
    assert!(
        group.contains(&"app-activity-1-repartition".to_string()),
        "{group:?}"
    );

    let d = activity(true);
    pipe(&d, "views", &[("home", "ann", 1), ("about", "ann", 2)]);
    pipe(&d, "clicks", &[("ann", "c", 3)]);
    assert_eq!(
        read(&d),
        vec![
            ("ann".into(), Some(100), 1),
            ("ann".into(), Some(200), 2),
            ("ann".into(), Some(201), 3),
        ]
    );
}
