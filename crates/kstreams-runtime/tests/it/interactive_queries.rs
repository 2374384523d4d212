//! Interactive queries against tansu: a running instance answers reads of its stores from
//! another thread, over every stream thread's tasks; DSL stores (key-value, window, session)
//! answer with plain values; what cannot be queried (an unknown store, wrong types, an
//! instance not running) says so. Standby and global stores: `scale_out.rs` and
//! `global_table.rs`.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use kstreams_core::Serdes;
use kstreams_dsl::{Consumed, Grouped, Materialized, SessionWindows, StreamsBuilder, TimeWindows};
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{ClientConfig, ProducerRecord};
use kstreams_runtime::{
    KafkaStreams, ProcessingGuarantee, RuntimeError, State, StoreQueryParameters, StoreUnavailable,
};
use kstreams_testkit::{TansuBroker, random_topic};

fn unavailable<T: std::fmt::Debug>(r: Result<T, RuntimeError>) -> StoreUnavailable {
    match r {
        Err(RuntimeError::InvalidStateStore { reason, .. }) => reason,
        other => panic!("expected InvalidStateStore, got {other:?}"),
    }
}

/// Polls `f` until it returns `want` or `timeout` passes; returns the last answer.
fn eventually<T: PartialEq + std::fmt::Debug>(
    timeout: Duration,
    want: &T,
    mut f: impl FnMut() -> T,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let got = f();
        if got == *want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_instance_answers_queries_over_every_stream_thread() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("iq-in");
    let output = random_topic("iq-out");
    let app = random_topic("iq-app");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 4), (&output, 4)]));
    let cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir.path()).with_threads(2);
    let mut streams = KafkaStreams::new(word_count(&input, &output), cfg).unwrap();

    // A view made before the start answers once the instance runs; until then it says why not.
    let counts = streams
        .key_value_store::<String, i64>(StoreQueryParameters::from_name(STORE))
        .unwrap();
    assert_eq!(
        unavailable(counts.get(&"alpha".into())),
        StoreUnavailable::NotRunning(State::Created)
    );
    assert_eq!(
        unavailable(
            streams.key_value_store::<String, i64>(StoreQueryParameters::from_name("nope"))
        ),
        StoreUnavailable::UnknownStore
    );

    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(90));
    let lines = lines("q", 60);
    rt.block_on(produce_lines(&bs, &input, &lines));
    let want = count_words(&lines);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&want),
        Duration::from_secs(60),
    ));
    assert_eq!(final_counts(&out), want);

    // Every word, from whichever thread's task holds it; the query runs on this thread.
    let all = eventually(Duration::from_secs(10), &want, || {
        counts
            .all()
            .unwrap()
            .into_iter()
            .collect::<BTreeMap<_, _>>()
    });
    assert_eq!(all, want);
    assert_eq!(
        counts.all().unwrap().len(),
        want.len(),
        "each word in one task"
    );
    for (word, n) in &want {
        assert_eq!(counts.get(word).unwrap(), Some(*n), "{word}");
    }
    assert_eq!(counts.get(&"absent".into()).unwrap(), None);
    let from_b: BTreeMap<String, i64> = counts
        .range(Some(&"b".into()), Some(&"e".into()))
        .unwrap()
        .into_iter()
        .collect();
    let want_b: BTreeMap<String, i64> = want
        .iter()
        .filter(|(k, _)| ("b".."e").contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(from_b, want_b);
    assert!(counts.approximate_num_entries().unwrap() > 0);

    // Partition by partition, the tasks split the words between them.
    let mut union = BTreeMap::new();
    for p in 0..4 {
        let part = streams
            .key_value_store::<String, i64>(
                StoreQueryParameters::from_name(STORE).with_partition(p),
            )
            .unwrap();
        for (k, v) in part.all().unwrap() {
            assert!(union.insert(k, v).is_none(), "a word in two tasks");
        }
    }
    assert_eq!(union, want);

    // A view with other value types is a programming error, not an empty answer.
    let wrong = streams
        .key_value_store::<String, String>(StoreQueryParameters::from_name(STORE))
        .unwrap();
    let e = unavailable(wrong.all());
    assert!(matches!(e, StoreUnavailable::WrongType(_)), "{e:?}");
    assert!(!e.is_retriable());

    // Views are usable from other threads.
    let shared = counts.clone();
    let alpha = std::thread::spawn(move || shared.get(&"alpha".into()).unwrap())
        .join()
        .unwrap();
    assert_eq!(alpha, want.get("alpha").copied());

    // Each of the two threads says what it runs: between them every task, each with its
    // partitions.
    let threads = streams.metadata_for_local_threads();
    assert_eq!(threads.len(), 2, "{threads:?}");
    let mut tasks = std::collections::BTreeSet::new();
    for (i, t) in threads.iter().enumerate() {
        assert_eq!(t.thread_name, format!("{app}-StreamThread-{i}"));
        assert!(t.running);
        assert!(
            t.consumer_client_id
                .ends_with(&format!("StreamThread-{i}-consumer"))
        );
        for task in &t.active_tasks {
            assert!(tasks.insert(task.task_id), "{task:?} on two threads");
            let want_topic = if task.task_id.subtopology == 0 {
                input.clone()
            } else {
                format!("{app}-words")
            };
            assert_eq!(task.topic_partitions.len(), 1, "{task:?}");
            assert_eq!(task.topic_partitions[0].topic, want_topic);
            assert_eq!(task.topic_partitions[0].partition, task.task_id.partition);
        }
    }
    assert_eq!(tasks.len(), 8, "2 sub-topologies x 4 partitions");

    streams.close().unwrap();
    assert!(
        streams.metadata_for_local_threads().is_empty(),
        "no thread runs"
    );
    assert_eq!(
        unavailable(counts.all()),
        StoreUnavailable::NotRunning(State::NotRunning)
    );
}

const WINDOW_MS: i64 = 60_000;
const GAP_MS: i64 = 5_000;
const BASE_MS: i64 = 1_700_000_040_000;

/// A count per key, per key and minute, and per key and session, all materialized by the DSL
/// (values kept with their timestamps).
fn dsl_counts(input: &str) -> kstreams_core::Topology {
    let b = StreamsBuilder::new();
    let s = b.stream::<String, String>(input, Consumed::with(Serdes::string(), Serdes::string()));
    s.group_by_key(Grouped::default())
        .count(Materialized::as_("totals"));
    s.group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(WINDOW_MS as u64),
            Duration::from_secs(3600),
        ))
        .count(Materialized::as_("per-minute"));
    s.group_by_key(Grouped::default())
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(
            Duration::from_millis(GAP_MS as u64),
            Duration::from_secs(3600),
        ))
        .count(Materialized::as_("sessions"));
    b.build().unwrap()
}

#[test]
fn dsl_stores_answer_key_value_window_and_session_queries_under_exactly_once() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("iqd-in");
    let app = random_topic("iqd-app");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 2)]));
    let cfg = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir.path());
    let mut streams = KafkaStreams::new(dsl_counts(&input), cfg).unwrap();
    streams.start().unwrap();
    wait_running(&streams, Duration::from_secs(90));

    // Key "a": 3 records in minute 0 (one session), 2 in minute 1 (a second session).
    // Key "b": 1 record in minute 0.
    let records: [(&str, i64); 6] = [
        ("a", BASE_MS),
        ("a", BASE_MS + 1_000),
        ("a", BASE_MS + 2_000),
        ("a", BASE_MS + WINDOW_MS + 30_000),
        ("a", BASE_MS + WINDOW_MS + 31_000),
        ("b", BASE_MS + 10_000),
    ];
    rt.block_on(async {
        let p = Producer::connect(ClientConfig::new(&bs), ProducerConfig::default())
            .await
            .unwrap();
        for (k, ts) in records {
            p.send(
                ProducerRecord::new(&input, "v")
                    .with_key(k)
                    .with_timestamp(ts),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
        p.close().await.unwrap();
    });

    let totals = streams
        .key_value_store::<String, i64>(StoreQueryParameters::from_name("totals"))
        .unwrap();
    let want = BTreeMap::from([("a".to_string(), 5), ("b".to_string(), 1)]);
    let got = eventually(Duration::from_secs(30), &want, || {
        totals
            .all()
            .unwrap()
            .into_iter()
            .collect::<BTreeMap<_, _>>()
    });
    assert_eq!(got, want);
    // The timestamped view: the value with the timestamp of its last update.
    let stamped = streams
        .key_value_store::<String, kstreams_dsl::ValueAndTimestamp<i64>>(
            StoreQueryParameters::from_name("totals"),
        )
        .unwrap();
    let b = stamped.get(&"b".into()).unwrap().unwrap();
    assert_eq!((b.value, b.timestamp), (1, BASE_MS + 10_000));

    let minutes = streams
        .window_store::<String, i64>(StoreQueryParameters::from_name("per-minute"))
        .unwrap();
    let a_minutes = eventually(
        Duration::from_secs(30),
        &vec![(BASE_MS, 3), (BASE_MS + WINDOW_MS, 2)],
        || {
            minutes
                .fetch_range(&"a".into(), BASE_MS, BASE_MS + WINDOW_MS)
                .unwrap()
        },
    );
    assert_eq!(a_minutes, vec![(BASE_MS, 3), (BASE_MS + WINDOW_MS, 2)]);
    assert_eq!(minutes.fetch(&"b".into(), BASE_MS).unwrap(), Some(1));
    assert_eq!(
        minutes.fetch(&"b".into(), BASE_MS + WINDOW_MS).unwrap(),
        None
    );
    let mut first_minute = minutes.fetch_all(BASE_MS, BASE_MS).unwrap();
    first_minute.sort();
    assert_eq!(
        first_minute,
        vec![("a".to_string(), BASE_MS, 3), ("b".to_string(), BASE_MS, 1)]
    );
    assert_eq!(minutes.all().unwrap().len(), 3);

    let sessions = streams
        .session_store::<String, i64>(StoreQueryParameters::from_name("sessions"))
        .unwrap();
    let a_sessions: Vec<(i64, i64, i64)> = sessions
        .fetch(&"a".into())
        .unwrap()
        .into_iter()
        .map(|(w, n)| (w.start, w.end, n))
        .collect();
    assert_eq!(
        a_sessions,
        vec![
            (BASE_MS, BASE_MS + 2_000, 3),
            (
                BASE_MS + WINDOW_MS + 30_000,
                BASE_MS + WINDOW_MS + 31_000,
                2
            )
        ]
    );
    let late: Vec<i64> = sessions
        .find_sessions(&"a".into(), BASE_MS + WINDOW_MS, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(late, vec![2]);
    // A window store is not a session store.
    let e = unavailable(
        streams
            .session_store::<String, i64>(StoreQueryParameters::from_name("per-minute"))
            .unwrap()
            .fetch(&"a".into()),
    );
    assert!(matches!(e, StoreUnavailable::WrongType(_)), "{e:?}");
    streams.close().unwrap();
}

/// Two instances with `application.server` set: each knows which endpoint hosts which task,
/// so either one tells where a word's count lives; the named instance has it (at the named
/// partition) and the other does not, except as a standby replica.
#[test]
fn both_instances_know_which_endpoint_hosts_each_key() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("iqm-in");
    let output = random_topic("iqm-out");
    let app = random_topic("iqm-app");
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 4), (&output, 4)]));
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let endpoints = ["127.0.0.1:7101", "127.0.0.1:7102"];
    let mut instances: Vec<KafkaStreams> = dirs
        .iter()
        .zip(endpoints)
        .map(|(d, e)| {
            let mut cfg = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, d.path())
                .with_application_server(e);
            cfg.num_standby_replicas = 1;
            KafkaStreams::new(word_count(&input, &output), cfg).unwrap()
        })
        .collect();
    assert!(instances[0].metadata_for_all_streams_clients().is_empty());
    for s in &mut instances {
        s.start().unwrap();
    }
    // Both running, and the group settled over both (every task placed on one of them).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let settled = instances.iter().all(|s| {
            s.state() == State::Running && {
                let m = s.metadata_for_all_streams_clients();
                m.len() == 2 && m.iter().map(|h| h.active_tasks.len()).sum::<usize>() == 8
            }
        });
        if settled {
            break;
        }
        assert!(Instant::now() < deadline, "the group did not settle");
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines = lines("m", 60);
    rt.block_on(produce_lines(&bs, &input, &lines));
    let want = count_words(&lines);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&want),
        Duration::from_secs(60),
    ));
    assert_eq!(final_counts(&out), want);

    let metadata = instances[0].metadata_for_all_streams_clients();
    assert_eq!(metadata, instances[1].metadata_for_all_streams_clients());
    let hosts: Vec<String> = metadata.iter().map(|m| m.host_info.to_string()).collect();
    assert_eq!(hosts, endpoints);
    for m in &metadata {
        // Sub-topology 1 (the count) has the store; each instance has some of its tasks.
        assert!(m.state_store_names.contains(STORE), "{m:?}");
        assert!(m.standby_state_store_names.contains(STORE), "{m:?}");
        assert!(
            m.topic_partitions.iter().any(|tp| tp.topic == input),
            "{m:?}"
        );
    }
    assert_eq!(instances[1].streams_metadata_for_store(STORE).len(), 2);
    assert!(instances[1].streams_metadata_for_store("nope").is_empty());

    let stores: Vec<_> = instances
        .iter()
        .map(|s| {
            s.key_value_store::<String, i64>(StoreQueryParameters::from_name(STORE))
                .unwrap()
        })
        .collect();
    for (word, n) in &want {
        let key = instances[1]
            .query_metadata_for_key(STORE, word, Serdes::string().as_ref())
            .unwrap()
            .unwrap();
        assert_eq!(
            Some(&key),
            instances[0]
                .query_metadata_for_key(STORE, word, Serdes::string().as_ref())
                .unwrap()
                .as_ref()
        );
        let owner = endpoints
            .iter()
            .position(|e| *e == key.active_host.to_string())
            .unwrap();
        let other = 1 - owner;
        assert_eq!(
            key.standby_hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [endpoints[other]]
        );
        assert_eq!(
            stores[owner].get(word).unwrap(),
            Some(*n),
            "{word} on its owner"
        );
        assert_eq!(
            stores[other].get(word).unwrap(),
            None,
            "{word} only on its owner"
        );
        let at_partition = instances[owner]
            .key_value_store::<String, i64>(
                StoreQueryParameters::from_name(STORE).with_partition(key.partition),
            )
            .unwrap();
        assert_eq!(
            at_partition.get(word).unwrap(),
            Some(*n),
            "{word} at {key:?}"
        );
    }
    assert!(matches!(
        instances[0].query_metadata_for_key("nope", &"x".to_string(), Serdes::string().as_ref()),
        Err(RuntimeError::InvalidStateStore {
            reason: StoreUnavailable::UnknownStore,
            ..
        })
    ));
    for s in &mut instances {
        s.close().unwrap();
    }
}
