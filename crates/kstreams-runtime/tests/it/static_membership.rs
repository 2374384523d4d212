//! Static membership against tansu: two instances with `group.instance.id`; one is closed and
//! restarted within the session timeout and gets its tasks back without a rebalance, while the
//! other keeps running undisturbed. Counts stay exact across the restart.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kstreams_runtime::{KafkaStreams, ProcessingGuarantee, State};
use kstreams_testkit::{TansuBroker, random_topic};

/// Waits until `f` holds, failing with `what` after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn restarted_static_member_gets_its_tasks_back_without_a_rebalance() {
    let broker = TansuBroker::start().unwrap();
    let bs = broker.bootstrap();
    let input = random_topic("static-in");
    let output = random_topic("static-out");
    let app = random_topic("static-app");
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(create_topics(&bs, &[(&input, 4), (&output, 4)]));

    // A long session timeout: the restart must come back well within it.
    let mut cfg_a = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir_a.path())
        .with_group_timeouts(Duration::from_secs(30), Duration::from_secs(10));
    cfg_a.group_instance_id = Some("instance-a".into());
    let mut cfg_b = config(&app, &bs, ProcessingGuarantee::AtLeastOnce, dir_b.path())
        .with_group_timeouts(Duration::from_secs(30), Duration::from_secs(10));
    cfg_b.group_instance_id = Some("instance-b".into());

    let mut a = KafkaStreams::new(word_count(&input, &output), cfg_a).unwrap();
    let a_states: Arc<Mutex<Vec<State>>> = Arc::default();
    let seen = a_states.clone();
    a.set_state_listener(Box::new(move |new, _old| seen.lock().unwrap().push(new)));
    a.start().unwrap();
    wait_running(&a, Duration::from_secs(60));
    let mut b = KafkaStreams::new(word_count(&input, &output), cfg_b.clone()).unwrap();
    b.start().unwrap();
    wait_running(&b, Duration::from_secs(90));
    // Both hold tasks once the join of B settled.
    wait_until("tasks on both instances", Duration::from_secs(90), || {
        a.state() == State::Running
            && !a.metrics().active_tasks.is_empty()
            && !b.metrics().active_tasks.is_empty()
    });

    let batch1 = lines("s", 40);
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

    let a_tasks = a.metrics().active_tasks;
    let b_tasks = b.metrics().active_tasks;
    let a_assignments = a.metrics().assignments;
    let a_transitions = a_states.lock().unwrap().len();
    assert!(!a_tasks.is_empty() && !b_tasks.is_empty());

    // B closes (a static member does not leave the group) and comes back at once.
    b.close().unwrap();
    let restarted = Instant::now();
    let mut b = KafkaStreams::new(word_count(&input, &output), cfg_b).unwrap();
    b.start().unwrap();
    wait_until("B running with its tasks", Duration::from_secs(60), || {
        b.state() == State::Running && !b.metrics().active_tasks.is_empty()
    });
    assert!(
        restarted.elapsed() < Duration::from_secs(30),
        "B took longer than the session timeout to come back"
    );
    assert_eq!(
        b.metrics().active_tasks,
        b_tasks,
        "B got its own tasks back"
    );

    let batch2 = lines("t", 40);
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

    // A never noticed: no new assignment, no state change, the same tasks.
    assert_eq!(
        a.metrics().assignments,
        a_assignments,
        "A was not rebalanced"
    );
    assert_eq!(
        a_states.lock().unwrap().len(),
        a_transitions,
        "A stayed RUNNING: {:?}",
        a_states.lock().unwrap()
    );
    assert_eq!(a.metrics().active_tasks, a_tasks);
    assert_eq!(b.metrics().assignments, 1, "B rejoined with one assignment");
    b.close().unwrap();
    a.close().unwrap();
}
