//! Consumer groups against tansu: range assignment over co-partitioned topics, take-over on
//! leave and on death, committed offsets across restarts, static membership.
//!
//! tansu holds a JoinGroup for the full rebalance timeout, so the groups here use a 6 s
//! session and an 8 s rebalance timeout (see BROKER.md).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kstreams_kafka::admin::{Admin, NewTopic};
use kstreams_kafka::assignor::{PartitionAssignor, StickyAssignor};
use kstreams_kafka::consumer::{
    Consumer, ConsumerConfig, ConsumerRebalanceListener, OffsetResetStrategy,
};
use kstreams_kafka::{ClientConfig, OffsetAndMetadata, TopicPartition};
use kstreams_testkit::{TansuBroker, python_kafka, random_topic};

const SESSION: Duration = Duration::from_secs(6);
const REBALANCE: Duration = Duration::from_secs(8);

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin = Admin::connect(ClientConfig::new(bootstrap)).await.unwrap();
    admin
        .create_topics(&[NewTopic::new(topic, partitions, 1)])
        .await
        .unwrap();
}

fn group_config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::new(bootstrap)
        .with_group_id(group)
        .with_group_timeouts(SESSION, REBALANCE)
        .with_auto_offset_reset(OffsetResetStrategy::Earliest)
        .with_auto_commit(false)
}

/// What a listener saw.
#[derive(Default, Debug)]
struct Seen {
    assigned: Vec<TopicPartition>,
    assignments: usize,
    revoked: usize,
    lost: usize,
}

struct Recorder(Arc<Mutex<Seen>>);

impl ConsumerRebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, _partitions: &[TopicPartition]) {
        let mut s = self.0.lock().unwrap();
        s.revoked += 1;
        s.assigned.clear();
    }
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        let mut s = self.0.lock().unwrap();
        s.assignments += 1;
        s.assigned = partitions.to_vec();
    }
    fn on_partitions_lost(&mut self, _partitions: &[TopicPartition]) {
        let mut s = self.0.lock().unwrap();
        s.lost += 1;
        s.assigned.clear();
    }
}

const RUN: u8 = 0;
const CLOSE: u8 = 1;
const DIE: u8 = 2;
/// Stop polling (a stuck application) without closing.
const STALL: u8 = 3;

/// A group member polling on its own task until told to close (leave) or die (drop without
/// leaving).
struct Member {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<usize>,
}

impl Member {
    async fn start(config: ConsumerConfig, topics: Vec<String>) -> Member {
        Member::start_with(config, topics, Vec::new()).await
    }

    async fn start_with(
        config: ConsumerConfig,
        topics: Vec<String>,
        assignors: Vec<Arc<dyn PartitionAssignor>>,
    ) -> Member {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicU8::new(RUN));
        let mut consumer = Consumer::connect(config).await.unwrap();
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&refs, Box::new(Recorder(seen.clone())), assignors)
            .unwrap();
        let stop2 = stop.clone();
        let task = tokio::spawn(async move {
            let mut records = 0;
            loop {
                match stop2.load(Ordering::SeqCst) {
                    CLOSE => {
                        consumer.close().await.unwrap();
                        return records;
                    }
                    DIE => return records,
                    STALL => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    _ => {}
                }
                records += consumer
                    .poll(Duration::from_millis(200))
                    .await
                    .unwrap()
                    .len();
            }
        });
        Member { seen, stop, task }
    }

    fn set(&self, state: u8) {
        self.stop.store(state, Ordering::SeqCst);
    }

    fn assigned(&self) -> Vec<TopicPartition> {
        self.seen.lock().unwrap().assigned.clone()
    }

    async fn close(self) -> usize {
        self.stop.store(CLOSE, Ordering::SeqCst);
        self.task.await.unwrap()
    }

    async fn die(self) {
        self.stop.store(DIE, Ordering::SeqCst);
        let _ = self.task.await;
    }
}

async fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

fn partition_numbers(assigned: &[TopicPartition], topic: &str) -> BTreeSet<i32> {
    assigned
        .iter()
        .filter(|tp| tp.topic == topic)
        .map(|tp| tp.partition)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_co_partitioned_topics_then_take_over_on_leave_and_death() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let a = random_topic("left");
    let b = random_topic("right");
    create_topic(&bootstrap, &a, 4).await;
    create_topic(&bootstrap, &b, 4).await;
    let group = random_topic("group");
    let topics = vec![a.clone(), b.clone()];
    let everything: BTreeSet<TopicPartition> = (0..4)
        .flat_map(|p| [TopicPartition::new(&a, p), TopicPartition::new(&b, p)])
        .collect();

    let m1 = Member::start(group_config(&bootstrap, &group), topics.clone()).await;
    let m2 = Member::start(group_config(&bootstrap, &group), topics.clone()).await;

    // Both get half, and equal partition numbers of the two topics land on the same member.
    let took = wait_until(Duration::from_secs(60), "the split", || {
        let (x, y) = (m1.assigned(), m2.assigned());
        x.len() == 4 && y.len() == 4
    })
    .await;
    eprintln!("two members formed the group in {took:?}");
    let (x, y) = (m1.assigned(), m2.assigned());
    let union: BTreeSet<TopicPartition> = x.iter().chain(y.iter()).cloned().collect();
    assert_eq!(union, everything);
    assert_eq!(partition_numbers(&x, &a), partition_numbers(&x, &b));
    assert_eq!(partition_numbers(&y, &a), partition_numbers(&y, &b));
    assert_eq!(partition_numbers(&x, &a).len(), 2);

    // m2 leaves: m1 takes everything.
    m2.close().await;
    let took = wait_until(Duration::from_secs(60), "take-over after leave", || {
        m1.assigned().len() == 8
    })
    .await;
    eprintln!("take-over after leave in {took:?}");

    // m3 joins, then dies without leaving: m1 takes everything after the session timeout.
    let m3 = Member::start(group_config(&bootstrap, &group), topics.clone()).await;
    wait_until(Duration::from_secs(60), "the second split", || {
        m1.assigned().len() == 4 && m3.assigned().len() == 4
    })
    .await;
    let x = m1.assigned();
    assert_eq!(partition_numbers(&x, &a), partition_numbers(&x, &b));
    m3.die().await;
    let took = wait_until(Duration::from_secs(90), "take-over after death", || {
        m1.assigned().len() == 8
    })
    .await;
    eprintln!("take-over after death in {took:?}");
    assert!(
        took >= SESSION - Duration::from_secs(2),
        "took {took:?}: the dead member should hold its partitions until its session expires"
    );
    m1.close().await;
}

/// Produces `n` records to partition 0 of `topic` with librdkafka.
fn produce(bootstrap: &str, topic: &str, n: usize) {
    python_kafka(
        r#"
import sys
from confluent_kafka import Producer
p = Producer({'bootstrap.servers': sys.argv[1]})
for i in range(int(sys.argv[3])):
    p.produce(sys.argv[2], key=str(i).encode(), value=b'v', partition=0)
assert p.flush(30) == 0
"#,
        &[bootstrap, topic, &n.to_string()],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart_and_group_metadata_is_exposed() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = random_topic("commit");
    create_topic(&bootstrap, &topic, 1).await;
    produce(&bootstrap, &topic, 10);
    let group = random_topic("group");
    let tp = TopicPartition::new(&topic, 0);

    let mut c = Consumer::connect(group_config(&bootstrap, &group))
        .await
        .unwrap();
    c.subscribe(
        &[&topic],
        Box::new(kstreams_kafka::consumer::NoOpRebalanceListener),
        Vec::new(),
    )
    .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while got.len() < 10 && Instant::now() < deadline {
        got.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    assert_eq!(got.len(), 10);
    let md = c.group_metadata().unwrap();
    assert_eq!(md.group_id, group);
    // tansu numbers generations from 0, Kafka from 1.
    assert!(md.generation_id >= 0, "{md:?}");
    assert!(!md.member_id.is_empty());
    assert_eq!(md.group_instance_id, None);

    let offsets = BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(6))]);
    c.commit_offsets_sync(&offsets).await.unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(6));
    c.close().await.unwrap();

    // A new member of the group resumes from the committed offset.
    let mut c = Consumer::connect(group_config(&bootstrap, &group))
        .await
        .unwrap();
    c.subscribe(
        &[&topic],
        Box::new(kstreams_kafka::consumer::NoOpRebalanceListener),
        Vec::new(),
    )
    .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while got.len() < 4 && Instant::now() < deadline {
        got.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![6, 7, 8, 9]
    );
    // commit_sync commits the position.
    c.commit_sync().await.unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(10));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_rejoins_with_its_partitions() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = random_topic("static");
    create_topic(&bootstrap, &topic, 2).await;
    let group = random_topic("group");
    let config = group_config(&bootstrap, &group).with_group_instance_id("instance-1");

    let m = Member::start(config.clone(), vec![topic.clone()]).await;
    wait_until(Duration::from_secs(60), "first join", || {
        m.assigned().len() == 2
    })
    .await;
    let first = m.assigned();
    // A static member does not leave on close.
    m.close().await;

    let start = Instant::now();
    let m = Member::start(config, vec![topic.clone()]).await;
    wait_until(Duration::from_secs(60), "static rejoin", || {
        m.assigned().len() == 2
    })
    .await;
    eprintln!("static member rejoined in {:?}", start.elapsed());
    assert_eq!(m.assigned(), first);
    m.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_assignor_moves_only_what_a_new_member_needs() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = random_topic("sticky");
    create_topic(&bootstrap, &topic, 4).await;
    let group = random_topic("group");
    let sticky = || -> Vec<Arc<dyn PartitionAssignor>> { vec![Arc::new(StickyAssignor)] };
    let config = || group_config(&bootstrap, &group);

    let m1 = Member::start_with(config(), vec![topic.clone()], sticky()).await;
    let m2 = Member::start_with(config(), vec![topic.clone()], sticky()).await;
    wait_until(Duration::from_secs(60), "the split", || {
        m1.assigned().len() == 2 && m2.assigned().len() == 2
    })
    .await;
    let (old1, old2) = (m1.assigned(), m2.assigned());

    // A third member joins: the two old members only give partitions up, never swap them
    // (a range assignment by member id could hand m1's partitions to the newcomer).
    let m3 = Member::start_with(config(), vec![topic.clone()], sticky()).await;
    wait_until(Duration::from_secs(60), "the three-way split", || {
        let (a, b, c) = (m1.assigned(), m2.assigned(), m3.assigned());
        !a.is_empty() && !b.is_empty() && !c.is_empty() && a.len() + b.len() + c.len() == 4
    })
    .await;
    let (new1, new2) = (m1.assigned(), m2.assigned());
    assert!(
        new1.iter().all(|tp| old1.contains(tp)),
        "{old1:?} -> {new1:?}"
    );
    assert!(
        new2.iter().all(|tp| old2.contains(tp)),
        "{old2:?} -> {new2:?}"
    );
    assert!(m1.seen.lock().unwrap().revoked >= 1);
    assert_eq!(m1.seen.lock().unwrap().lost, 0);
    m3.close().await;
    m2.close().await;
    m1.close().await;
}

/// A member that stops polling for longer than `max.poll.interval.ms` leaves the group on its
/// own (the heartbeat alone does not keep it in), the other member takes over its partitions,
/// and when it polls again it finds its partitions lost and joins again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_that_stops_polling_leaves_after_max_poll_interval() {
    let broker = TansuBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = random_topic("stall");
    create_topic(&bootstrap, &topic, 2).await;
    let group = random_topic("group");
    let max_poll = Duration::from_secs(4);
    let config =
        || group_config(&bootstrap, &group).with_group_timeouts(Duration::from_secs(12), max_poll);

    let m1 = Member::start(config(), vec![topic.clone()]).await;
    let m2 = Member::start(config(), vec![topic.clone()]).await;
    wait_until(Duration::from_secs(60), "split", || {
        m1.assigned().len() == 1 && m2.assigned().len() == 1
    })
    .await;

    // m1 stalls: its heartbeats (every 4 s) alone would keep it in the group for good, but
    // after max.poll.interval it leaves and m2 gets everything.
    m1.set(STALL);
    let took = wait_until(
        Duration::from_secs(25),
        "take-over after poll timeout",
        || m2.assigned().len() == 2,
    )
    .await;
    eprintln!("m2 took over {took:?} after m1 stopped polling");
    assert!(took >= max_poll, "left before max.poll.interval: {took:?}");
    assert_eq!(
        m1.seen.lock().unwrap().lost,
        0,
        "callbacks run only in poll"
    );

    // m1 polls again: its partitions are reported lost and it joins again.
    m1.set(RUN);
    wait_until(Duration::from_secs(60), "rejoin", || {
        m1.assigned().len() == 1 && m2.assigned().len() == 1
    })
    .await;
    assert_eq!(m1.seen.lock().unwrap().lost, 1);
    m1.close().await;
    m2.close().await;
}
