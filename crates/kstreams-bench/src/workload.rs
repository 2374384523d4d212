//! The benchmark workloads as DSL topologies.
//!
//! - [`Workload::W1`], stateless: keeps views with `amount >= 50` and writes
//!   `{"user","page" upper-cased,"amount"}` under the same key.
//! - [`Workload::W2`], count per key: the running count per user (decimal string) for every
//!   input record, from a RocksDB store with a changelog (no cache, so every update is
//!   emitted).
//! - [`Workload::W3`], windowed: re-keyed by page (through a repartition topic) and counted
//!   per 60-second tumbling event-time window; every window update is emitted with key
//!   `<page>@<window start ms>` and the count as a decimal string.
//! - [`Workload::Baseline`] is no topology: a plain consume-then-produce loop on the same
//!   client (see [`crate::baseline`]).

use std::time::Duration;

use kstreams::prelude::*;
use kstreams::processor::TimestampExtractor;
use kstreams::{SerdeError, TopologyError};

use crate::event::{Enriched, PageView};

/// Name of the w2 store (its changelog is `<application.id>-counts-per-user-changelog`).
pub const W2_STORE: &str = "counts-per-user";
/// Name of the w3 window store.
pub const W3_STORE: &str = "page-counts-per-minute";
/// Name of the w3 repartition topic (`<application.id>-views-by-page-repartition`).
pub const W3_REPARTITION: &str = "views-by-page";
/// The w3 window size.
pub const W3_WINDOW: Duration = Duration::from_secs(60);
/// The w3 grace period: views up to this much older than the newest one seen still count.
pub const W3_GRACE: Duration = Duration::from_secs(5);

/// What the benchmark binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Stateless filter and map.
    W1,
    /// Count per key in RocksDB.
    W2,
    /// Count per page and 60-second window.
    W3,
    /// The plain consume-then-produce loop the workloads are compared with.
    Baseline,
}

impl std::str::FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "w1" => Ok(Workload::W1),
            "w2" => Ok(Workload::W2),
            "w3" => Ok(Workload::W3),
            "baseline" => Ok(Workload::Baseline),
            _ => Err(format!("unknown workload '{s}' (w1, w2, w3 or baseline)")),
        }
    }
}

impl Workload {
    /// The workload's topology from `input` to `output`; `None` for the baseline.
    pub fn topology(self, input: &str, output: &str) -> Option<Result<Topology, TopologyError>> {
        match self {
            Workload::W1 => Some(w1(input, output)),
            Workload::W2 => Some(w2(input, output)),
            Workload::W3 => Some(w3(input, output)),
            Workload::Baseline => None,
        }
    }
}

/// Page views as JSON where a malformed or null value reads as `None` instead of failing the
/// stream thread, so one bad input record cannot stop a benchmark run (the workloads drop
/// them).
pub struct LenientPageViewSerde;

impl Serde<Option<PageView>> for LenientPageViewSerde {
    fn serialize(
        &self,
        topic: &str,
        value: &Option<PageView>,
    ) -> Result<Option<Vec<u8>>, SerdeError> {
        match value {
            Some(v) => serde_json::to_vec(v)
                .map(Some)
                .map_err(|e| SerdeError::serialize(topic, "LenientPageViewSerde", e.to_string())),
            None => Ok(None),
        }
    }

    fn deserialize(
        &self,
        _topic: &str,
        data: Option<&[u8]>,
    ) -> Result<Option<PageView>, SerdeError> {
        Ok(data.and_then(|d| serde_json::from_slice(d).ok()))
    }
}

/// Event time from the view's `ts` field; unparseable views get -1, which drops them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewTimeExtractor;

impl TimestampExtractor<String, Option<PageView>> for ViewTimeExtractor {
    fn extract(
        &self,
        record: &Record<String, Option<PageView>>,
        _partition_time: i64,
    ) -> Result<i64> {
        Ok(record.value.as_ref().map_or(-1, |v| v.ts))
    }
}

fn views(b: &StreamsBuilder, input: &str) -> KStream<String, Option<PageView>> {
    b.stream(
        input,
        Consumed::with(
            Serdes::string(),
            std::sync::Arc::new(LenientPageViewSerde) as kstreams::serde::SharedSerde<_>,
        ),
    )
}

/// The w1 mapping: `Some` for views with `amount >= 50`.
pub fn enrich(view: &Option<PageView>) -> Option<Enriched> {
    view.as_ref().filter(|v| v.amount >= 50).map(|v| Enriched {
        user: v.user.clone(),
        page: v.page.to_uppercase(),
        amount: v.amount,
    })
}

/// w1: stateless filter and map.
pub fn w1(input: &str, output: &str) -> Result<Topology, TopologyError> {
    let b = StreamsBuilder::new();
    views(&b, input).flat_map_values(enrich).to(
        output,
        Produced::with(Serdes::string(), Serdes::json::<Enriched>()),
    );
    b.build()
}

/// w2: the running count per user from a RocksDB store with a changelog. Values are not
/// parsed: every record counts. The store has a record cache that only serves the store
/// (`with_store_cache_only`): every count is forwarded at once, while RocksDB and the
/// changelog get the latest count of each user once per commit, as Kafka Streams' cached
/// stores write them.
pub fn w2(input: &str, output: &str) -> Result<Topology, TopologyError> {
    let b = StreamsBuilder::new();
    b.stream::<String, Vec<u8>>(input, Consumed::with(Serdes::string(), Serdes::bytes()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::bytes()))
        .count(Materialized::as_(W2_STORE).with_store_cache_only())
        .to_stream()
        .map_values(|n: &Option<i64>| n.map(|n| n.to_string()))
        .to(
            output,
            Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
        );
    b.build()
}

/// w3: views re-keyed by page and counted per 60-second tumbling window of their `ts`. Every
/// window update is forwarded; the window store's record cache only serves the store
/// (`with_store_cache_only`, as w2's): RocksDB and the changelog get the latest count of each
/// window once per commit.
pub fn w3(input: &str, output: &str) -> Result<Topology, TopologyError> {
    let b = StreamsBuilder::new();
    b.stream(
        input,
        Consumed::with(
            Serdes::string(),
            std::sync::Arc::new(LenientPageViewSerde) as kstreams::serde::SharedSerde<_>,
        )
        .with_timestamp_extractor(ViewTimeExtractor),
    )
    .flat_map(|_user, v: &Option<PageView>| v.as_ref().map(|v| (v.page.clone(), v.amount)))
    .group_by_key(Grouped::with(Serdes::string(), Serdes::i64()).with_name(W3_REPARTITION))
    .windowed_by(TimeWindows::of_size_and_grace(W3_WINDOW, W3_GRACE))
    .count(Materialized::as_(W3_STORE).with_store_cache_only())
    .to_stream()
    .map(|w, n: &Option<i64>| {
        (
            format!("{}@{}", w.key, w.window.start),
            n.map(|n| n.to_string()),
        )
    })
    .to(
        output,
        Produced::with(Serdes::string(), Serdes::option(Serdes::string())),
    );
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_parse() {
        assert_eq!("w1".parse::<Workload>().unwrap(), Workload::W1);
        assert_eq!("w3".parse::<Workload>().unwrap(), Workload::W3);
        assert_eq!("baseline".parse::<Workload>().unwrap(), Workload::Baseline);
        assert!("w4".parse::<Workload>().unwrap_err().contains("w4"));
        assert!(Workload::Baseline.topology("i", "o").is_none());
    }

    #[test]
    fn lenient_serde_reads_bad_values_as_none() {
        let s = LenientPageViewSerde;
        assert_eq!(s.deserialize("t", Some(b"{not json")).unwrap(), None);
        assert_eq!(s.deserialize("t", None).unwrap(), None);
        let v = PageView {
            user: "u1".into(),
            page: "p2".into(),
            amount: 3,
            ts: 4,
        };
        let bytes = s.serialize("t", &Some(v.clone())).unwrap();
        assert_eq!(s.deserialize("t", bytes.as_deref()).unwrap(), Some(v));
        assert_eq!(s.serialize("t", &None).unwrap(), None);
    }

    #[test]
    fn enrich_keeps_half_and_upper_cases() {
        let v = |amount| {
            Some(PageView {
                user: "u1".into(),
                page: "p7".into(),
                amount,
                ts: 0,
            })
        };
        assert_eq!(enrich(&v(49)), None);
        assert_eq!(
            enrich(&v(50)),
            Some(Enriched {
                user: "u1".into(),
                page: "P7".into(),
                amount: 50
            })
        );
        assert_eq!(enrich(&None), None);
    }
}
