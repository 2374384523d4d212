//! Windowed counts with suppress: page views (key: user id, value: page) re-keyed by page and
//! counted per 60-second tumbling event-time window with a 10-second grace period; `suppress`
//! emits one final count per window once it closes. Output key: `<page>@<window start ms>`,
//! value: the final count as a decimal string.
//!
//! ```text
//! cargo run --release --example windowed_counts -- --bootstrap HOST:PORT --input PAGE_VIEWS \
//!     --output COUNTS --application-id ID [--guarantee ...]
//! ```

mod common;

use std::time::Duration;

use kstreams::prelude::*;

/// Window size.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Grace period: records up to this late still count.
pub const GRACE: Duration = Duration::from_secs(10);

/// The topology: views from `input`, final per-page counts per window to `output`.
pub fn topology(
    input: &str,
    output: &str,
) -> std::result::Result<Topology, kstreams::TopologyError> {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by(
            |_user, page| page.clone(),
            Grouped::with(Serdes::string(), Serdes::string()).with_name("views-by-page"),
        )
        .windowed_by(TimeWindows::of_size_and_grace(WINDOW, GRACE))
        .count(Materialized::as_("page-views-per-minute"))
        .suppress(Suppressed::until_window_closes().with_name("final-counts"))
        .to_stream()
        .map(|w, count| {
            (
                format!("{}@{}", w.key, w.window.start),
                count.map(|n| n.to_string()),
            )
        })
        .to(
            output,
            Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
        );
    b.build()
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    common::run("windowed_counts", &[], |args| {
        Ok(topology(&args.input, &args.output)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_test_driver::TopologyTestDriver;

    #[test]
    fn one_final_count_per_page_and_minute() {
        let driver = TopologyTestDriver::new(topology("views", "out").unwrap()).unwrap();
        let views = driver.input_topic::<String, String>("views");
        let out =
            driver.create_output_topic("out", Serdes::string(), Serdes::option(Serdes::string()));
        for (user, page, ts) in [
            ("u1", "home", 1_000),
            ("u2", "home", 59_999),
            ("u3", "cart", 30_000),
        ] {
            views.pipe_input_with_timestamp(user.into(), page.into(), ts);
        }
        assert!(out.is_empty(), "windows are still open");
        views.pipe_input_with_timestamp("u1".into(), "home".into(), 65_000); // within grace of [0, 60s)
        assert!(out.is_empty());
        views.pipe_input_with_timestamp("u1".into(), "cart".into(), 70_000); // closes [0, 60s)
        let mut got = out.read_key_values_to_list();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("cart@0".to_string(), Some("1".to_string())),
                ("home@0".to_string(), Some("2".to_string()))
            ]
        );
        views.pipe_input_with_timestamp("u9".into(), "home".into(), 5_000); // too late: dropped
        assert!(out.is_empty());
        assert!(driver.dropped_records() >= 1);
    }
}
