//! In-process throughput of topologies run through the TopologyTestDriver (no broker):
//! a stateless map/filter topology and a RocksDB count per key.
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

fn benches(c: &mut Criterion) {
    bench(c, "stateless_map_filter", stateless);
    bench(c, "rocksdb_count_per_key", counting);
}

criterion_group!(driver_benches, benches);
criterion_main!(driver_benches);
