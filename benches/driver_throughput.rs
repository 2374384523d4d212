//! In-process throughput of topologies run through the TopologyTestDriver (no broker):
//! a stateless map/filter topology, a RocksDB count per key, and two DSL programs: a
//! windowed count and a stream-table join.
//!
//! `cargo bench --bench driver_throughput` (figures in BENCHMARKS.md).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kstreams::prelude::*;
use kstreams_test_driver::TopologyTestDriver;

const BATCH: u64 = 10_000;

/// Keeps even amounts and rewrites the value.
struct MapFilter;
impl Processor<String, String, String, String> for MapFilter {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        let amount: u64 = r
            .value
            .rsplit(':')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if amount >= 50 {
            let v = r.value.to_uppercase();
            ctx.forward(r.with_value(v))?;
        }
        Ok(())
    }
}

/// Counts per key in a RocksDB store and forwards the running count.
struct Count;
impl Processor<String, String, String, String> for Count {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        let store = ctx.key_value_store::<String, i64>("counts")?;
        let n = store.get(&r.key)?.unwrap_or(0) + 1;
        store.put(&r.key, &n)?;
        ctx.forward(r.with_value(n.to_string()))
    }
}

fn stateless() -> Topology {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("map-filter", || MapFilter, &["src"])
        .unwrap();
    t.add_sink::<String, String>(
        "sink",
        "out",
        Serdes::string(),
        Serdes::string(),
        &["map-filter"],
    )
    .unwrap();
    t
}

fn counting() -> Topology {
    let mut t = Topology::new();
    t.add_source::<String, String>("src", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("count", || Count, &["src"]).unwrap();
    t.add_state_store(
        Stores::key_value_store_builder::<String, i64>("counts"),
        &["count"],
    )
    .unwrap();
    t.add_sink::<String, String>(
        "sink",
        "out",
        Serdes::string(),
        Serdes::string(),
        &["count"],
    )
    .unwrap();
    t
}

fn inputs() -> Vec<(String, String)> {
    (0..BATCH)
        .map(|i| {
            (
                format!("u{}", (i * 7919) % 10_000),
                format!("p{}:{}", i % 100, i % 100),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion, name: &str, make: fn() -> Topology) {
    let mut group = c.benchmark_group("driver");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    let driver = TopologyTestDriver::new(make()).unwrap();
    let input = driver.input_topic::<String, String>("in");
    let output = driver.output_topic::<String, String>("out");
    group.bench_function(name, |b| {
        b.iter_batched(
            inputs,
            |batch| {
                for (i, (k, v)) in batch.into_iter().enumerate() {
                    input.pipe_input_with_timestamp(k, v, i as i64);
                }
                // Drain so the output topic does not grow without bound.
                while output.try_read_record().unwrap().is_some() {}
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// DSL: a count per key in tumbling 100 ms event-time windows (RocksDB window store), each
/// update forwarded as `key@window-start -> count`.
fn windowed_count() -> Topology {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(
            std::time::Duration::from_millis(100),
        ))
        .count(Materialized::as_("windowed-counts"))
        .to_stream()
        .map(|wk, n| {
            (
                format!("{}@{}", wk.key, wk.window.start),
                n.unwrap_or(0).to_string(),
            )
        })
        .to("out", Produced::default());
    b.build().unwrap()
}

/// DSL: each record joined with the `users` table (RocksDB) on its key.
fn stream_table_join() -> Topology {
    let b = StreamsBuilder::new();
    let users = b.table::<String, String>(
        "users",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("users"),
    );
    b.stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .join(
            &users,
            |v, region| format!("{v}@{region}"),
            Named::as_("enrich"),
        )
        .to("out", Produced::default());
    b.build().unwrap()
}

/// As [`bench`], for topologies whose results depend on event time: timestamps keep growing
/// across iterations (so windows keep closing instead of every record arriving late), and
/// `setup` runs once before measuring (to fill tables).
fn bench_timed(
    c: &mut Criterion,
    name: &str,
    make: fn() -> Topology,
    setup: fn(&TopologyTestDriver),
) {
    let mut group = c.benchmark_group("driver");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    let driver = TopologyTestDriver::new(make()).unwrap();
    setup(&driver);
    let input = driver.input_topic::<String, String>("in");
    let output = driver.output_topic::<String, String>("out");
    let mut next_ts = 0i64;
    group.bench_function(name, |b| {
        b.iter_batched(
            inputs,
            |batch| {
                for (k, v) in batch {
                    input.pipe_input_with_timestamp(k, v, next_ts);
                    next_ts += 1;
                }
                while output.try_read_record().unwrap().is_some() {}
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
    assert_eq!(
        driver.dropped_records(),
        0,
        "{name}: no record may arrive late"
    );
}

fn no_setup(_: &TopologyTestDriver) {}

/// Every key of [`inputs`] has a user.
fn load_users(d: &TopologyTestDriver) {
    let users = d.create_input_topic::<String, Option<String>>(
        "users",
        Serdes::string(),
        Serdes::option(Serdes::string()),
    );
    for u in 0..10_000 {
        users.pipe_input_with_timestamp(format!("u{u}"), Some(format!("region{}", u % 7)), 0);
    }
}

fn benches(c: &mut Criterion) {
    bench(c, "stateless_map_filter", stateless);
    bench(c, "rocksdb_count_per_key", counting);
    bench_timed(c, "dsl_windowed_count_100ms", windowed_count, no_setup);
    bench_timed(c, "dsl_stream_table_join", stream_table_join, load_users);
}

criterion_group!(driver_benches, benches);
criterion_main!(driver_benches);
