//! Interactive queries across processes: two `word_count` example processes of one
//! application, each with its own `--application-server`, share the word counts' tasks; each
//! serves HTTP queries for every word, answering from its own store or asking the process that
//! holds the word. Input goes in through librdkafka (python `confluent_kafka`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kstreams_testkit::{TansuBroker, python_kafka, random_topic};

use crate::example_contract::{PY_CREATE, count_words, librdkafka_or_skip, lines, produce};
use crate::example_process::{ExampleProcess, example_binary};

/// `(status, body)` of `GET path` on `host`, or `None` when it does not answer.
fn get(host: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(host).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    conn.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls until `done` holds (or `timeout`); returns whether it did.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    done()
}

#[test]
fn two_word_count_processes_answer_queries_for_every_word() {
    if !librdkafka_or_skip() {
        return;
    }
    let bin = example_binary("word_count");
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("iq-contract-in");
    let output = random_topic("iq-contract-out");
    let app = random_topic("iq-contract-app");
    python_kafka(PY_CREATE, &[&bs, "4", &input, &output]).unwrap();
    let endpoints: Vec<String> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let processes: Vec<ExampleProcess> = endpoints
        .iter()
        .zip(&dirs)
        .map(|(endpoint, dir)| {
            let args: Vec<String> = [
                "--bootstrap",
                &bs,
                "--input",
                &input,
                "--output",
                &output,
                "--application-id",
                &app,
                "--state-dir",
                dir.path().to_str().unwrap(),
                "--application-server",
                endpoint,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            ExampleProcess::start(&bin, &args)
        })
        .collect();

    // Both processes list both instances, with the 8 tasks (2 sub-topologies x 4 partitions)
    // placed between them.
    let settled = wait_until(Duration::from_secs(120), || {
        endpoints.iter().all(|e| match get(e, "/instances") {
            Some((200, body)) => {
                let tasks: usize = body
                    .lines()
                    .filter_map(|l| l.split(" active=").nth(1))
                    .map(|rest| {
                        rest.split(' ')
                            .next()
                            .unwrap_or("")
                            .split(',')
                            .filter(|t| !t.is_empty())
                            .count()
                    })
                    .sum();
                body.lines().count() == 2 && tasks == 8
            }
            _ => false,
        })
    });
    assert!(
        settled,
        "{:?}",
        endpoints
            .iter()
            .map(|e| get(e, "/instances"))
            .collect::<Vec<_>>()
    );

    let all = lines("q", 40);
    produce(&bs, &input, &all);
    let want = count_words(&all);

    // Each process answers for every word, wherever it is kept.
    let answered = |endpoint: &str| -> BTreeMap<String, u64> {
        want.keys()
            .filter_map(|w| match get(endpoint, &format!("/keys/{w}")) {
                Some((200, body)) => Some((w.clone(), body.trim().parse().ok()?)),
                _ => None,
            })
            .collect()
    };
    let complete = wait_until(Duration::from_secs(90), || {
        endpoints.iter().all(|e| answered(e) == want)
    });
    assert!(
        complete,
        "{:?} vs {want:?}",
        endpoints.iter().map(|e| answered(e)).collect::<Vec<_>>()
    );

    // Each word is kept by exactly one of them; their local stores split the words.
    let mut union: BTreeMap<String, u64> = BTreeMap::new();
    for e in &endpoints {
        let (status, body) = get(e, "/local/all").unwrap();
        assert_eq!(status, 200);
        for line in body.lines() {
            let (w, n) = line.split_once(' ').unwrap();
            assert!(
                union.insert(w.to_string(), n.parse().unwrap()).is_none(),
                "{w} kept twice"
            );
        }
    }
    assert_eq!(union, want);
    for w in want.keys() {
        let local: Vec<u16> = endpoints
            .iter()
            .map(|e| get(e, &format!("/local/keys/{w}")).unwrap().0)
            .collect();
        assert!(local == [200, 404] || local == [404, 200], "{w}: {local:?}");
    }
    assert_eq!(get(&endpoints[0], "/keys/never-seen").unwrap().0, 404);
    // Each serves its metrics; between them they processed every line and every word.
    let mut processed = 0;
    for e in &endpoints {
        let (status, body) = get(e, "/metrics").unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("state=\"Running\"} 1"), "{body}");
        processed += body
            .lines()
            .find(|l| l.starts_with("kstreams_records_processed_total{"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap();
    }
    // Lines, then words (more only if a rebalance made at-least-once process some again).
    let words: u64 = want.values().sum();
    assert!(processed >= all.len() as u64 + words, "{processed}");
    assert_eq!(get(&endpoints[1], "/nope").unwrap().0, 404);

    for p in processes {
        p.terminate();
    }
}
