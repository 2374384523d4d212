//! Two instances of one application against tansu under exactly_once_v2: the second joins
//! (the first commits and hands tasks over), input keeps flowing, then one leaves and the other
//! takes its tasks back, restoring their state from the changelog. The committed output holds
//! every count exactly once.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State, StoreQueryParameters};
use kstreams_testkit::{TansuBroker, random_topic};

fn wait_state(s: &KafkaStreams, want: State, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    while s.state() != want {
        assert!(
            std::time::Instant::now() < deadline,
            "state {:?}, wanted {want:?}",
            s.state()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_instances_share_and_hand_over_tasks_exactly_once() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("so-in");
    let output = random_topic("so-out");
    let app = random_topic("so-app");
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 4), (&output, 4)]));

    let cfg_a = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir_a.path());
    let cfg_b = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir_b.path());
    let mut a = KafkaStreams::new(word_count(&input, &output), cfg_a).unwrap();
    a.start().unwrap();
    wait_running(&a, Duration::from_secs(60));
    let batch1 = lines("a", 40);
    rt.block_on(produce_lines(&bs, &input, &batch1));
    let mut all = batch1.clone();
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&count_words(&all)),
        Duration::from_secs(60),
    ));
    assert_eq!(final_counts(&out), count_words(&all));

    // B joins: the group rebalances over both instances.
    let mut b = KafkaStreams::new(word_count(&input, &output), cfg_b).unwrap();
    b.start().unwrap();
    wait_running(&b, Duration::from_secs(90));
    wait_state(&a, State::Running, Duration::from_secs(90));
    let batch2 = lines("b", 40);
    rt.block_on(produce_lines(&bs, &input, &batch2));
    all.extend(batch2);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&count_words(&all)),
        Duration::from_secs(60),
    ));
    assert_eq!(final_counts(&out), count_words(&all));
    assert!(a.metrics().processed > 0 && b.metrics().processed > 0);

    // B leaves; A takes every task back.
    b.close().unwrap();
    let batch3 = lines("c", 40);
    rt.block_on(produce_lines(&bs, &input, &batch3));
    all.extend(batch3);
    let expected = count_words(&all);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&expected),
        Duration::from_secs(90),
    ));
    a.close().unwrap();
    let mut seen: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for (k, v) in &out {
        *seen.entry((k.clone(), v.parse().unwrap())).or_insert(0) += 1;
    }
    let mut want: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for (w, n) in &expected {
        for i in 1..=*n {
            want.insert((w.clone(), i), 1);
        }
    }
    assert_eq!(seen, want, "every count exactly once");
}

#[test]
fn killed_instance_is_taken_over_exactly_once_while_input_flows() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("kill-in");
    let output = random_topic("kill-out");
    let app = random_topic("kill-app");
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 4), (&output, 4)]));
    let cfg_a = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir_a.path());
    let cfg_b = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir_b.path());
    let mut a = KafkaStreams::new(word_count(&input, &output), cfg_a).unwrap();
    let mut b = KafkaStreams::new(word_count(&input, &output), cfg_b.clone()).unwrap();
    a.start().unwrap();
    b.start().unwrap();
    wait_running(&a, Duration::from_secs(90));
    wait_running(&b, Duration::from_secs(90));

    // Input flows in batches while B is killed mid-stream.
    let mut all = Vec::new();
    for i in 0..10 {
        let batch = lines(&format!("k{i}-"), 20);
        rt.block_on(produce_lines(&bs, &input, &batch));
        all.extend(batch);
        if i == 3 {
            b.kill();
        }
        if i == 6 {
            // The same instance comes back (same state directory, so the same transactional
            // ids): it fences its predecessor, whose open transaction is aborted (tansu does
            // not time transactions out, so until then the repartition topic's last stable
            // offset is stuck), and restores its wiped state.
            b = KafkaStreams::new(word_count(&input, &output), cfg_b.clone()).unwrap();
            b.start().unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let expected = count_words(&all);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&expected),
        Duration::from_secs(120),
    ));
    a.close().unwrap();
    b.close().unwrap();
    let mut seen: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for (k, v) in &out {
        *seen.entry((k.clone(), v.parse().unwrap())).or_insert(0) += 1;
    }
    let mut want: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for (w, n) in &expected {
        for i in 1..=*n {
            want.insert((w.clone(), i), 1);
        }
    }
    assert_eq!(final_counts(&out), expected);
    assert_eq!(seen, want, "every count exactly once, no gap, no duplicate");
}

#[test]
fn at_least_once_hand_over_between_instances_with_two_threads() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("alos-in");
    let output = random_topic("alos-out");
    let app = random_topic("alos-app");
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 4), (&output, 4)]));
    let cfg_a = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir_a.path()).with_threads(2);
    let cfg_b = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir_b.path());
    let mut a = KafkaStreams::new(word_count(&input, &output), cfg_a).unwrap();
    a.start().unwrap();
    wait_running(&a, Duration::from_secs(90));
    let mut all = lines("a", 40);
    rt.block_on(produce_lines(&bs, &input, &all));
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&count_words(&all)),
        Duration::from_secs(60),
    ));
    assert_eq!(final_counts(&out), count_words(&all));

    let mut b = KafkaStreams::new(word_count(&input, &output), cfg_b).unwrap();
    b.start().unwrap();
    wait_running(&b, Duration::from_secs(90));
    wait_state(&a, State::Running, Duration::from_secs(90));
    let batch = lines("b", 40);
    rt.block_on(produce_lines(&bs, &input, &batch));
    all.extend(batch);
    b.close().unwrap();
    let batch = lines("c", 40);
    rt.block_on(produce_lines(&bs, &input, &batch));
    all.extend(batch);
    let expected = count_words(&all);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&expected),
        Duration::from_secs(90),
    ));
    a.close().unwrap();
    // Hand-overs commit first, so even at-least-once reprocesses nothing here.
    assert_eq!(final_counts(&out), expected);
}

#[test]
fn standby_replica_makes_failover_restore_only_the_tail() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("sb-in");
    let output = random_topic("sb-out");
    let app = random_topic("sb-app");
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 4), (&output, 4)]));
    let mut cfg_a = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir_a.path());
    cfg_a.num_standby_replicas = 1;
    let mut cfg_b = config(&app, &bs, ProcessingGuarantee::ExactlyOnceV2, dir_b.path());
    cfg_b.num_standby_replicas = 1;
    let mut a = KafkaStreams::new(word_count(&input, &output), cfg_a).unwrap();
    let mut b = KafkaStreams::new(word_count(&input, &output), cfg_b).unwrap();
    a.start().unwrap();
    b.start().unwrap();
    wait_running(&a, Duration::from_secs(90));
    wait_running(&b, Duration::from_secs(90));
    wait_state(&a, State::Running, Duration::from_secs(90));

    let mut all = lines("a", 120);
    rt.block_on(produce_lines(&bs, &input, &all));
    let first_total = total(&count_words(&all));
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        first_total,
        Duration::from_secs(60),
    ));
    assert_eq!(final_counts(&out), count_words(&all));
    // Let the standbys catch up with the changelogs.
    std::thread::sleep(Duration::from_secs(2));
    assert!(a.metrics().standby_updates > 0, "{:?}", a.metrics());
    assert!(b.metrics().standby_updates > 0, "{:?}", b.metrics());
    // Interactive queries: each instance's active stores hold its share of the words, the two
    // shares split them; with stale stores, the standbys add the other instance's share.
    let expected = count_words(&all);
    let active = |s: &KafkaStreams| -> BTreeMap<String, i64> {
        s.key_value_store::<String, i64>(StoreQueryParameters::from_name(STORE))
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .collect()
    };
    let (share_a, share_b) = (active(&a), active(&b));
    assert!(!share_a.is_empty() && !share_b.is_empty());
    assert!(share_a.keys().all(|k| !share_b.contains_key(k)), "disjoint");
    let mut union = share_a.clone();
    union.extend(share_b);
    assert_eq!(union, expected);
    let stale = a
        .key_value_store::<String, i64>(
            StoreQueryParameters::from_name(STORE).enable_stale_stores(),
        )
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut with_standbys: BTreeMap<String, i64> = BTreeMap::new();
    while with_standbys != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        with_standbys = stale.all().unwrap().into_iter().collect();
    }
    assert_eq!(
        with_standbys, expected,
        "A's active and standby stores hold every word"
    );
    let restored_before = a.metrics().restored;

    // B leaves: A takes its tasks over from its warm standbys.
    b.close().unwrap();
    let batch = lines("b", 20);
    rt.block_on(produce_lines(&bs, &input, &batch));
    all.extend(batch);
    let expected = count_words(&all);
    let out = rt.block_on(read_output(
        &bs,
        &output,
        4,
        total(&expected),
        Duration::from_secs(90),
    ));
    let restored = a.metrics().restored - restored_before;
    a.close().unwrap();
    assert_eq!(final_counts(&out), expected);
    // Without a standby, A would restore B's share of the changelog (about half of
    // `first_total` records).
    assert!(
        (restored as usize) < first_total / 10,
        "restored {restored} changelog records of {first_total}"
    );
}
