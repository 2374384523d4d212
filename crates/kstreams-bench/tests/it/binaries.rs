//! The `kstreams-bench` and `kstreams-load` binaries against tansu, briefly: each workload's
//! output is checked record by record on a few inputs (correctness, not speed), and the
//! binaries close cleanly on SIGTERM.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kstreams_bench::event::{PageView, generate};
use kstreams_bench::workload::enrich;
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::OffsetResetStrategy;
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, IsolationLevel, ProducerRecord, TopicPartition};
use kstreams_testkit::{TansuBroker, random_topic};

const BENCH: &str = env!("CARGO_BIN_EXE_kstreams-bench");
const LOAD: &str = env!("CARGO_BIN_EXE_kstreams-load");
const PARTITIONS: i32 = 2;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the load tool and returns its stdout line.
fn load(bs: &str, topic: &str, args: &[&str]) -> String {
    let out = Command::new(LOAD)
        .args(["--bootstrap", bs, "--topic", topic])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kstreams-load {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn field(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .to_string()
}

struct App {
    child: Child,
    log: std::path::PathBuf,
}

impl App {
    fn start(
        bs: &str,
        input: &str,
        output: &str,
        workload: &str,
        guarantee: &str,
        dir: &Path,
    ) -> App {
        let log = dir.join(format!("{workload}.log"));
        let child = Command::new(BENCH)
            .args(["--bootstrap", bs, "--input", input, "--output", output])
            .args(["--application-id", &random_topic("bench-app")])
            .args(["--workload", workload, "--guarantee", guarantee])
            .args(["--commit-interval-ms", "200"])
            .arg("--state-dir")
            .arg(dir.join("state"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        App { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status must be success and the log must show a clean close.
    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = self.log();
        assert!(status.success(), "exit {status}:\n{log}");
        assert!(log.contains("kstreams-bench: closed"), "{log}");
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads committed `(key, value)` of `topic` until `n` arrived (plus a short grace
/// period for unexpected extras) or the timeout.
fn read(bs: &str, topic: &str, n: usize) -> Vec<(String, String)> {
    rt().block_on(async {
        let cfg = ConsumerConfig::new(bs)
            .with_isolation_level(IsolationLevel::ReadCommitted)
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_auto_commit(false);
        let mut c = Consumer::connect(cfg).await.unwrap();
        let tps: Vec<TopicPartition> = (0..PARTITIONS)
            .map(|p| TopicPartition::new(topic, p))
            .collect();
        c.assign(&tps).unwrap();
        c.seek_to_beginning(&tps).await.unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut grace: Option<Instant> = None;
        while Instant::now() < deadline && grace.is_none_or(|g| Instant::now() < g) {
            for r in c.poll(Duration::from_millis(100)).await.unwrap() {
                let s = |b: Option<bytes::Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
                out.push((s(r.key), s(r.value)));
            }
            if out.len() >= n && grace.is_none() {
                grace = Some(Instant::now() + Duration::from_millis(700));
            }
        }
        out
    })
}

fn produce(bs: &str, topic: &str, records: &[(String, PageView)]) {
    rt().block_on(async {
        let p = Producer::connect(ClientConfig::new(bs), ProducerConfig::default())
            .await
            .unwrap();
        for (k, v) in records {
            let value = serde_json::to_vec(v).unwrap();
            p.send_and_wait(ProducerRecord::new(topic, value).with_key(k.clone()))
                .await
                .unwrap();
        }
        p.close().await.unwrap();
    });
}

fn view(user: &str, page: &str, ts: i64) -> (String, PageView) {
    (
        user.to_string(),
        PageView {
            user: user.into(),
            page: page.into(),
            amount: 1,
            ts,
        },
    )
}

#[test]
fn w1_through_the_binaries_keeps_the_big_amounts_and_measures_them() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (random_topic("w1-in"), random_topic("w1-out"));
    let p = PARTITIONS.to_string();
    assert!(load(&bs, &input, &["create", &p]).contains("partitions=2"));
    load(&bs, &output, &["create", &p]);
    let pre = load(&bs, &input, &["preload", "300"]);
    assert_eq!(field(&pre, "records"), "300");
    let expect: usize = field(&pre, "amount_ge_50").parse().unwrap();
    assert_eq!(expect, 150);

    let app = App::start(&bs, &input, &output, "w1", "at-least-once", dir.path());
    let got = read(&bs, &output, expect);
    let mut got = got;
    let mut want: Vec<(String, String)> = (0..300)
        .filter_map(|n| {
            let (k, v) = generate(n, 0);
            enrich(&Some(v)).map(|e| (k, serde_json::to_string(&e).unwrap()))
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // The load tool reads the same output: every record, no latency (no send-time header).
    let m = load(
        &bs,
        &output,
        &[
            "measure",
            "--expect",
            "150",
            "--timeout-secs",
            "30",
            "--inputs",
            "300",
        ],
    );
    assert_eq!(field(&m, "records"), "150", "{m}");
    assert!(!m.contains("latency_ms"), "{m}");
    app.stop();
}

#[test]
fn w2_exactly_once_through_the_binary_counts_every_record_once_and_carries_the_send_time() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (random_topic("w2-in"), random_topic("w2-out"));
    load(&bs, &input, &["create", "2"]);
    load(&bs, &output, &["create", "2"]);
    let users = ["u1", "u2", "u3"];
    let views: Vec<(String, PageView)> = (0..30)
        .map(|i| view(users[i % 3], "p1", i as i64))
        .collect();
    produce(&bs, &input, &views);

    let app = App::start(&bs, &input, &output, "w2", "exactly-once", dir.path());
    let got = read(&bs, &output, 30);
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, v) in &got {
        seen.entry(k.clone()).or_default().push(v.parse().unwrap());
    }
    for counts in seen.values_mut() {
        counts.sort();
    }
    let want: BTreeMap<String, Vec<i64>> = users
        .iter()
        .map(|u| (u.to_string(), (1..=10).collect()))
        .collect();
    assert_eq!(seen, want, "each count once per user");

    // Records from the rate mode carry their send time through the count to the output,
    // where `measure` turns it into latencies.
    let measure = std::thread::spawn({
        let (bs, output) = (bs.clone(), output.clone());
        move || {
            load(
                &bs,
                &output,
                &[
                    "measure",
                    "--from",
                    "end",
                    "--expect",
                    "100",
                    "--timeout-secs",
                    "60",
                ],
            )
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let r = load(&bs, &input, &["rate", "100", "--duration", "1"]);
    assert_eq!(field(&r, "records"), "100", "{r}");
    let m = measure.join().unwrap();
    assert_eq!(field(&m, "records"), "100", "{m}");
    assert!(m.contains("latency_ms") && m.contains("(n=100)"), "{m}");
    app.stop();
}

#[test]
fn w3_through_the_binary_counts_per_page_and_minute_of_event_time() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (random_topic("w3-in"), random_topic("w3-out"));
    load(&bs, &input, &["create", "2"]);
    load(&bs, &output, &["create", "2"]);
    let views = vec![
        view("u1", "p1", 1_000),
        view("u2", "p1", 2_000),
        view("u3", "p2", 3_000),
        view("u4", "p1", 61_000),
        view("u5", "p2", 4_000),
    ];
    produce(&bs, &input, &views);

    let app = App::start(&bs, &input, &output, "w3", "at-least-once", dir.path());
    let got = read(&bs, &output, 5);
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, v) in &got {
        seen.entry(k.clone()).or_default().push(v.parse().unwrap());
    }
    for counts in seen.values_mut() {
        counts.sort();
    }
    let want = BTreeMap::from([
        ("p1@0".to_string(), vec![1, 2]),
        ("p1@60000".to_string(), vec![1]),
        ("p2@0".to_string(), vec![1, 2]),
    ]);
    assert_eq!(seen, want, "{}", app.log());
    app.stop();
}
