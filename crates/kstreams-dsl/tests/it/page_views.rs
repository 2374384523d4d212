//! Page views per region: page views (keyed by user) joined with a user table (user →
//! region), re-keyed by region and counted; the users' table changes on the way.

use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, Grouped, Materialized, Named, Produced, StreamsBuilder};
use kstreams_test_driver::TopologyTestDriver;

fn topology() -> kstreams_core::Topology {
    let b = StreamsBuilder::new();
    let users = b.table::<String, String>(
        "users",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("users-store"),
    );
    b.stream::<String, String>(
        "page-views",
        Consumed::with(Serdes::string(), Serdes::string()),
    )
    .left_join(
        &users,
        |page, region| {
            (
                page.clone(),
                region.cloned().unwrap_or_else(|| "unknown".into()),
            )
        },
        Named::as_("views-with-region"),
    )
    .group_by(
        |_user, (_page, region)| region.clone(),
        Grouped::with(Serdes::string(), Serdes::json()).with_name("by-region"),
    )
    .count(Materialized::as_("views-per-region"))
    .to_stream()
    .to("views-per-region", Produced::default());
    b.build().unwrap()
}

#[test]
fn counts_views_per_region_as_users_move() {
    let t = topology();
    let desc = format!("{}", t.describe().unwrap());
    assert!(desc.contains("by-region-repartition"), "{desc}");
    let d = TopologyTestDriver::new(t).unwrap();
    let users = d.create_input_topic::<String, Option<String>>(
        "users",
        Serdes::string(),
        Serdes::option(Serdes::string()),
    );
    let views = d.input_topic::<String, String>("page-views");
    users.pipe_input_with_timestamp("alice".into(), Some("eu".into()), 0);
    users.pipe_input_with_timestamp("bob".into(), Some("us".into()), 0);
    views.pipe_input_with_timestamp("alice".into(), "/home".into(), 10);
    views.pipe_input_with_timestamp("bob".into(), "/home".into(), 11);
    views.pipe_input_with_timestamp("carol".into(), "/about".into(), 12); // no user
    users.pipe_input_with_timestamp("alice".into(), Some("us".into()), 13); // moves
    views.pipe_input_with_timestamp("alice".into(), "/cart".into(), 14);
    users.pipe_input_with_timestamp("bob".into(), None, 15); // deleted
    views.pipe_input_with_timestamp("bob".into(), "/bye".into(), 16);
    let out: Vec<(String, Option<i64>, i64)> = d
        .output_topic::<String, Option<i64>>("views-per-region")
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let e = |k: &str, n: i64, ts: i64| (k.to_string(), Some(n), ts);
    assert_eq!(
        out,
        vec![
            e("eu", 1, 10),
            e("us", 1, 11),
            e("unknown", 1, 12),
            e("us", 2, 14), // past views stay where they were counted
            e("unknown", 2, 16),
        ]
    );
}
