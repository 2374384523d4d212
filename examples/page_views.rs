//! Page views per region: page views (key: user id, value: page) joined with a user table
//! (key: user id, value: region), re-keyed by region and counted. Output key: region, value:
//! the running count as a decimal string. Users without a row count as region `unknown`.
//!
//! ```text
//! cargo run --release --example page_views -- --bootstrap HOST:PORT --input PAGE_VIEWS \
//!     --output COUNTS --application-id ID [--users USERS_TOPIC] [--guarantee ...]
//! ```
//!
//! The users topic (default `users`) must have as many partitions as the page views topic
//! (they are co-partitioned for the join).

mod common;

use kstreams::prelude::*;

/// The topology: `views` joined with the `users` table, counted per region into `output`.
pub fn topology(
    views: &str,
    users: &str,
    output: &str,
) -> std::result::Result<Topology, kstreams::TopologyError> {
    let b = StreamsBuilder::new();
    let users = b.table::<String, String>(
        users,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("users-by-id"),
    );
    b.stream::<String, String>(views, Consumed::with(Serdes::string(), Serdes::string()))
        .left_join(
            &users,
            |_page, region| region.cloned().unwrap_or_else(|| "unknown".into()),
            Named::as_("views-with-region"),
        )
        .group_by(
            |_user, region| region.clone(),
            Grouped::with(Serdes::string(), Serdes::string()).with_name("views-by-region"),
        )
        .count(Materialized::as_("views-per-region"))
        .to_stream()
        .map_values(|count| count.map(|n| n.to_string()))
        .to(
            output,
            Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
        );
    b.build()
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    common::run("page_views", &["users"], |args| {
        Ok(topology(
            &args.input,
            &args.extra_or("users", "users"),
            &args.output,
        )?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_test_driver::TopologyTestDriver;

    #[test]
    fn counts_per_region_with_decimal_string_values() {
        let driver = TopologyTestDriver::new(topology("views", "users", "out").unwrap()).unwrap();
        let users =
            driver.create_input_topic("users", Serdes::string(), Serdes::option(Serdes::string()));
        let views = driver.input_topic::<String, String>("views");
        let out =
            driver.create_output_topic("out", Serdes::string(), Serdes::option(Serdes::string()));
        users.pipe_input_with_timestamp("u1".into(), Some("emea".into()), 1);
        views.pipe_input_with_timestamp("u1".into(), "p1".into(), 2);
        views.pipe_input_with_timestamp("u2".into(), "p1".into(), 3);
        views.pipe_input_with_timestamp("u1".into(), "p2".into(), 4);
        let got: Vec<(String, Option<String>)> = out.read_key_values_to_list();
        let want = [("emea", "1"), ("unknown", "1"), ("emea", "2")]
            .map(|(k, v)| (k.to_string(), Some(v.to_string())));
        assert_eq!(got, want.to_vec());
        let desc = driver.describe().to_string();
        assert!(desc.contains("views-by-region-repartition"), "{desc}");
    }
}
