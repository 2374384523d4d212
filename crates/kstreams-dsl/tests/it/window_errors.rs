//! Invalid window settings are typed errors, never panics: the `try_` constructors return
//! them at once, and windowed operators built from the infallible constructors make
//! `StreamsBuilder::build` fail with `TopologyError::InvalidWindows` naming the node.

use std::time::Duration;

use kstreams_core::{Serdes, TopologyError};
use kstreams_dsl::{
    Consumed, Grouped, JoinWindows, KStream, Materialized, SessionWindows, SlidingWindows,
    StreamJoined, StreamsBuilder, TimeWindows, WindowError,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn stream(b: &StreamsBuilder, topic: &str) -> KStream<String, String> {
    b.stream::<String, String>(
        topic,
        Consumed::with(Serdes::string(), Serdes::string()).with_name(format!("{topic}-src")),
    )
}

fn build_error(b: StreamsBuilder) -> TopologyError {
    match b.build() {
        Ok(_) => panic!("the topology should not build"),
        Err(e) => e,
    }
}

#[test]
fn zero_size_time_windows_fail_the_build() {
    let b = StreamsBuilder::new();
    stream(&b, "in")
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(0)))
        .count(Materialized::as_("counts"));
    let e = build_error(b);
    assert_eq!(
        e,
        TopologyError::InvalidWindows {
            node: "in-src".into(),
            error: WindowError::SizeNotPositive { size_ms: 0 }
        }
    );
    assert!(
        e.to_string().contains("window size must be at least 1 ms"),
        "{e}"
    );
}

#[test]
fn advance_beyond_size_fails_the_build() {
    let b = StreamsBuilder::new();
    stream(&b, "in")
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(11)))
        .count(Materialized::as_("counts"));
    assert_eq!(
        build_error(b),
        TopologyError::InvalidWindows {
            node: "in-src".into(),
            error: WindowError::AdvanceOutOfRange {
                advance_ms: 11,
                size_ms: 10
            }
        }
    );
}

#[test]
fn zero_gap_sessions_fail_the_build() {
    let b = StreamsBuilder::new();
    stream(&b, "in")
        .group_by_key(Grouped::default())
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(0)))
        .count(Materialized::as_("sessions"));
    assert!(matches!(
        build_error(b),
        TopologyError::InvalidWindows {
            error: WindowError::GapNotPositive { gap_ms: 0 },
            ..
        }
    ));
}

#[test]
fn overflowing_sliding_windows_fail_the_build() {
    let b = StreamsBuilder::new();
    stream(&b, "in")
        .group_by_key(Grouped::default())
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(
            ms(10),
            Duration::MAX,
        ))
        .count(Materialized::as_("sliding"));
    assert!(matches!(
        build_error(b),
        TopologyError::InvalidWindows {
            error: WindowError::OutOfRange {
                setting: "grace period"
            },
            ..
        }
    ));
}

#[test]
fn overflowing_join_windows_fail_the_build() {
    let b = StreamsBuilder::new();
    let right = stream(&b, "right");
    stream(&b, "left").join_stream(
        &right,
        |l, r| format!("{l}{r}"),
        JoinWindows::of_time_difference_without_grace(ms(i64::MAX as u64)),
        StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string()),
    );
    assert!(matches!(
        build_error(b),
        TopologyError::InvalidWindows { node, error: WindowError::OutOfRange { .. } } if node == "left-src"
    ));
}

#[test]
fn valid_edge_settings_build() {
    let b = StreamsBuilder::new();
    let s = stream(&b, "in");
    let g = s.group_by_key(Grouped::default());
    // An advance equal to the size (tumbling), 1 ms windows, zero differences.
    g.windowed_by(TimeWindows::of_size_with_no_grace(ms(1)).advance_by(ms(1)))
        .count(Materialized::as_("a"));
    g.windowed_by_sliding(SlidingWindows::of_time_difference_with_no_grace(ms(0)))
        .count(Materialized::as_("b"));
    g.windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(1)))
        .count(Materialized::as_("c"));
    let right = stream(&b, "right");
    s.join_stream(
        &right,
        |l, r| format!("{l}{r}"),
        JoinWindows::of_time_difference_without_grace(ms(0)),
        StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string()),
    );
    assert!(b.build().is_ok());
}
