//! Criterion benchmarks of the in-process hot paths (no broker):
//!
//! - the three workloads (w1 stateless, w2 RocksDB count, w3 windowed count) through the
//!   TopologyTestDriver, one record at a time (process, punctuate), committing after every
//!   record as the driver does by default (`driver/…`), or once per batch of 10,000 records as
//!   the runtime does per commit interval (`driver_commit_per_batch/…`);
//! - serde round trips of the types on those paths;
//! - key-value store get + put over RocksDB and in memory, bare and with the record cache,
//!   each under the metered wrapper as tasks see them;
//! - window store fetch + put over RocksDB, bare and with the record cache.
//!
//! `cargo bench -p kstreams-bench --bench hot_paths` (figures in BENCHMARKS.md).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kstreams::Serdes;
use kstreams::dsl::{ValueAndTimestamp, ValueAndTimestampSerde, Window, Windowed, WindowedSerde};
use kstreams::serde::Serde;
use kstreams::stores::{
    KeyValueStore, KeyValueStoreBuilder, StateStore, StoreContext, WindowStore, WindowStoreBuilder,
};
use kstreams_bench::event::{PageView, generate};
use kstreams_bench::workload::{LenientPageViewSerde, w1, w2, w3};
use kstreams_test_driver::{DriverConfig, TopologyTestDriver};

/// The allocator of the bench binary (see its `main.rs`), so both measure the same code.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: u64 = 10_000;

/// `BATCH` input records as the wire would carry them (key, compact JSON value), event times
/// one ms apart from `base`.
fn inputs(base: i64) -> Vec<(String, String, i64)> {
    (0..BATCH)
        .map(|n| {
            let ts = base + n as i64;
            let (k, v) = generate(n, ts);
            (k, serde_json::to_string(&v).unwrap(), ts)
        })
        .collect()
}

/// Empties every produced topic but `output` (changelogs, repartition topics): the driver
/// keeps what a topology produces until a test reads it, where the runtime hands it to the
/// producer, so an unread changelog would grow (and reallocate) for the whole benchmark.
fn drain_other_topics(driver: &TopologyTestDriver, output: &str) {
    for topic in driver.produced_topic_names() {
        if topic != output {
            let t = driver.create_output_topic(&topic, Serdes::bytes(), Serdes::bytes());
            while t.try_read_record().unwrap().is_some() {}
        }
    }
}

fn workloads(c: &mut Criterion) {
    for (group_name, commit_per_record) in [("driver", true), ("driver_commit_per_batch", false)] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(BATCH));
        group.sample_size(20);
        for (name, topology) in [
            ("w1_stateless", w1("in", "out").unwrap()),
            ("w2_rocksdb_count", w2("in", "out").unwrap()),
            ("w3_windowed_count", w3("in", "out").unwrap()),
        ] {
            let config = DriverConfig {
                commit_after_each_record: commit_per_record,
                ..DriverConfig::default()
            };
            let driver = TopologyTestDriver::with_config(topology, config).unwrap();
            let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
            let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
            // Event time keeps advancing across iterations so w3 windows keep closing.
            let mut base = 0i64;
            group.bench_function(name, |b| {
                b.iter_batched(
                    || {
                        base += BATCH as i64;
                        inputs(base)
                    },
                    |batch| {
                        for (k, v, ts) in batch {
                            input.pipe_input_with_timestamp(k, v, ts);
                        }
                        if !commit_per_record {
                            driver.commit().unwrap();
                        }
                        while output.try_read_record().unwrap().is_some() {}
                        drain_other_topics(&driver, "out");
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

fn serdes(c: &mut Criterion) {
    let mut group = c.benchmark_group("serde_round_trip");
    group.throughput(Throughput::Elements(1));
    let string = Serdes::string();
    let s = "u1234".to_string();
    group.bench_function("string", |b| {
        b.iter(|| {
            let bytes = string.serialize("t", &s).unwrap();
            string.deserialize("t", bytes.as_deref()).unwrap()
        })
    });
    let long = Serdes::i64();
    group.bench_function("i64", |b| {
        b.iter(|| {
            let bytes = long.serialize("t", &42).unwrap();
            long.deserialize("t", bytes.as_deref()).unwrap()
        })
    });
    let json = Serdes::json::<PageView>();
    let (_, view) = generate(7, 1_700_000_000_000);
    group.bench_function("json_page_view", |b| {
        b.iter(|| {
            let bytes = json.serialize("t", &view).unwrap();
            json.deserialize("t", bytes.as_deref()).unwrap()
        })
    });
    let lenient = LenientPageViewSerde;
    let some = Some(view.clone());
    group.bench_function("lenient_json_page_view", |b| {
        b.iter(|| {
            let bytes = lenient.serialize("t", &some).unwrap();
            lenient.deserialize("t", bytes.as_deref()).unwrap()
        })
    });
    let vat = ValueAndTimestampSerde::new(Serdes::i64());
    let v = ValueAndTimestamp::make(17i64, 1_700_000_000_000);
    group.bench_function("value_and_timestamp_i64", |b| {
        b.iter(|| {
            let bytes = vat.serialize("t", &v).unwrap();
            vat.deserialize("t", bytes.as_deref()).unwrap()
        })
    });
    let windowed = WindowedSerde::new(Serdes::string());
    let w = Windowed::new("p12".to_string(), Window::new(60_000, 120_000));
    group.bench_function("windowed_string", |b| {
        b.iter(|| {
            let bytes = windowed.serialize("t", &w).unwrap();
            windowed.deserialize("t", bytes.as_deref()).unwrap()
        })
    });
    group.finish();
}

/// Get + put of a counter per key over 10,000 keys, as w2 does (no change-logging).
fn stores(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_get_put");
    group.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let ctx = StoreContext::new(dir.path(), None);
    let keys: Vec<Vec<u8>> = (0..10_000).map(|i| format!("u{i}").into_bytes()).collect();
    for (name, builder) in [
        ("rocksdb", KeyValueStoreBuilder::new("rocks")),
        (
            "rocksdb_cached",
            KeyValueStoreBuilder::new("rocks-cached").with_caching_enabled(10 * 1024 * 1024),
        ),
        ("in_memory", KeyValueStoreBuilder::new("mem").in_memory()),
        (
            "in_memory_cached",
            KeyValueStoreBuilder::new("mem-cached")
                .in_memory()
                .with_caching_enabled(10 * 1024 * 1024),
        ),
    ] {
        let mut store = builder.with_logging_enabled(false).build(&ctx).unwrap();
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                let k = &keys[i % keys.len()];
                i += 1;
                let n = store
                    .get(k)
                    .unwrap()
                    .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap_or([0; 8])));
                store.put(k, &(n + 1).to_be_bytes()).unwrap();
            })
        });
        store.close().unwrap();
    }
    group.finish();
}

/// Fetch + put of a counter per (page, one-minute window) over 100 pages and the current
/// window, as w3 does (no change-logging; the cache is written down every 1,000 updates, as a
/// commit would).
fn window_stores(c: &mut Criterion) {
    let mut group = c.benchmark_group("window_store_fetch_put");
    group.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let ctx = StoreContext::new(dir.path(), None);
    let pages: Vec<Vec<u8>> = (0..100).map(|i| format!("p{i}").into_bytes()).collect();
    let builder = |name: &str| WindowStoreBuilder::new(name, 65_000, 60_000, false);
    for (name, builder) in [
        ("rocksdb", builder("win")),
        (
            "rocksdb_cached",
            builder("win-cached").with_caching_enabled(10 * 1024 * 1024),
        ),
    ] {
        let mut store = builder.with_logging_enabled(false).build(&ctx).unwrap();
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                let page = &pages[i % pages.len()];
                // Event time advances 1 ms per update: a new window every 60,000 updates.
                let start = (i as i64 / 60_000) * 60_000;
                i += 1;
                let n = store
                    .fetch(page, start)
                    .unwrap()
                    .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap_or([0; 8])));
                store
                    .put(page, Some(&(n + 1).to_be_bytes()), start)
                    .unwrap();
                if i.is_multiple_of(1_000) {
                    store.flush_cache().unwrap();
                }
            })
        });
        store.close().unwrap();
    }
    group.finish();
}

criterion_group!(hot_paths, workloads, serdes, stores, window_stores);
criterion_main!(hot_paths);
