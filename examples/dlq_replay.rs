//! Sends chosen dead-letter records back to their original topic after a fix.
//!
//! ```text
//! cargo run --example dlq_replay -- --bootstrap HOST:PORT --dlq TOPIC
//!     [--partition P] [--from-offset N] [--to-offset N] [--node NAME] [--reason REASON]
//!     [--to-topic TOPIC] [--dry-run]
//! ```
//!
//! It reads the dead-letter topic (read_committed) from `--from-offset` (or the beginning) up
//! to `--to-offset` (inclusive; or the end as of start-up), keeps the records whose failure
//! headers match `--node` (`kstreams.failed-node`) and `--reason` (`kstreams.dlq-reason`:
//! non-retryable, max-attempts, deserialization, processing, production), and produces each
//! to its original topic and partition (`kstreams.original-topic`/`-partition`, or
//! `--to-topic`) with its key, value and timestamp. Every header is kept, so the failure
//! history stays visible, and `kstreams.replayed` is incremented: a replayed record that
//! fails again reaches the DLQ again showing `replayed >= 1`. Nothing is ever replayed
//! automatically: only this command moves records out of the DLQ.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kstreams::Headers;
use kstreams::failure::{DeadLetterReason, FailureMetadata, header, replay_count};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::{ConsumerRecord, OffsetResetStrategy};
use kstreams_kafka::producer::{Producer, ProducerConfig};
use kstreams_kafka::{Admin, ClientConfig, IsolationLevel, ProducerRecord, TopicPartition};

/// Which DLQ records to replay, and where to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayFilter {
    /// Only this DLQ partition.
    pub partition: Option<i32>,
    /// First DLQ offset (inclusive).
    pub from_offset: Option<i64>,
    /// Last DLQ offset (inclusive).
    pub to_offset: Option<i64>,
    /// Only records that failed in this node.
    pub node: Option<String>,
    /// Only records with this reason.
    pub reason: Option<DeadLetterReason>,
    /// Send here instead of the original topic (and let the producer pick the partition).
    pub to_topic: Option<String>,
}

/// What to do with one DLQ record.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayDecision {
    /// Produce it to `topic` (at `partition` if set) with `headers`.
    Replay {
        /// The target topic.
        topic: String,
        /// The target partition.
        partition: Option<i32>,
        /// The headers: the DLQ record's, with `kstreams.replayed` incremented.
        headers: Headers,
    },
    /// Leave it, for this reason.
    Skip(String),
}

/// The pure replay decision for the DLQ record at `partition`/`offset` with `headers`.
pub fn decide(
    filter: &ReplayFilter,
    partition: i32,
    offset: i64,
    headers: &Headers,
) -> ReplayDecision {
    if filter.partition.is_some_and(|p| p != partition)
        || filter.from_offset.is_some_and(|f| offset < f)
        || filter.to_offset.is_some_and(|t| offset > t)
    {
        return ReplayDecision::Skip("outside the chosen partition or offsets".into());
    }
    let meta = match FailureMetadata::read_from(headers) {
        Ok(Some(m)) => m,
        Ok(None) => return ReplayDecision::Skip("no failure headers".into()),
        Err(e) => return ReplayDecision::Skip(format!("malformed failure headers: {e}")),
    };
    if filter.node.as_ref().is_some_and(|n| *n != meta.failed_node) {
        return ReplayDecision::Skip(format!("failed in '{}'", meta.failed_node));
    }
    if filter.reason.is_some_and(|r| Some(r) != meta.dlq_reason) {
        return ReplayDecision::Skip("another reason".into());
    }
    let (topic, partition) = match (&filter.to_topic, &meta.original) {
        (Some(t), _) => (t.clone(), None),
        (None, Some(o)) => (o.metadata.topic.to_string(), Some(o.metadata.partition)),
        (None, None) => return ReplayDecision::Skip("no original topic (use --to-topic)".into()),
    };
    let mut headers = headers.clone();
    let n = replay_count(&headers) + 1;
    headers.remove(header::REPLAYED);
    headers.add(header::REPLAYED, Some(n.to_string().into_bytes()));
    ReplayDecision::Replay {
        topic,
        partition,
        headers,
    }
}

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Records sent back, per target topic.
    pub replayed: BTreeMap<String, usize>,
    /// Records left in the DLQ, per reason.
    pub skipped: BTreeMap<String, usize>,
}

fn to_headers(r: &ConsumerRecord) -> Headers {
    let mut h = Headers::new();
    for (k, v) in &r.headers {
        h.add(k.clone(), v.as_ref().map(|b| b.to_vec()));
    }
    h
}

/// Replays the records of `dlq` that `filter` chooses (or only reports them when `dry_run`).
pub async fn replay(
    bootstrap: &str,
    dlq: &str,
    filter: &ReplayFilter,
    dry_run: bool,
) -> Result<ReplaySummary, Box<dyn std::error::Error>> {
    let admin = Admin::connect(ClientConfig::new(bootstrap)).await?;
    let counts = admin.describe_partition_counts(&[dlq.to_string()]).await?;
    let Some(&n) = counts.get(dlq) else {
        return Err(format!("the dead-letter topic '{dlq}' does not exist").into());
    };
    let tps: Vec<TopicPartition> = (0..n as i32)
        .filter(|p| filter.partition.is_none_or(|f| f == *p))
        .map(|p| TopicPartition::new(dlq, p))
        .collect();
    let mut consumer = Consumer::connect(
        ConsumerConfig::new(bootstrap)
            .with_isolation_level(IsolationLevel::ReadCommitted)
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_auto_commit(false),
    )
    .await?;
    consumer.assign(&tps)?;
    consumer.seek_to_beginning(&tps).await?;
    if let Some(from) = filter.from_offset {
        for tp in &tps {
            consumer.seek(tp, from)?;
        }
    }
    let ends = consumer.list_offsets(&tps, -1).await?;
    let producer =
        Producer::connect(ClientConfig::new(bootstrap), ProducerConfig::default()).await?;
    let mut summary = ReplaySummary::default();
    let mut pending = Vec::new();
    loop {
        let mut done = true;
        for tp in &tps {
            let end = ends.get(tp).copied().unwrap_or(0);
            let stop = filter.to_offset.map_or(end, |t| end.min(t + 1));
            if consumer.position(tp).await? < stop {
                done = false;
            }
        }
        if done {
            break;
        }
        for r in consumer.poll(Duration::from_millis(200)).await? {
            let end = ends
                .get(&TopicPartition::new(dlq, r.partition))
                .copied()
                .unwrap_or(0);
            if r.offset >= end {
                continue;
            }
            match decide(filter, r.partition, r.offset, &to_headers(&r)) {
                ReplayDecision::Skip(why) => *summary.skipped.entry(why).or_insert(0) += 1,
                ReplayDecision::Replay {
                    topic,
                    partition,
                    headers,
                } => {
                    println!(
                        "replay {dlq}/{}@{} -> {topic}{}",
                        r.partition,
                        r.offset,
                        partition.map(|p| format!("/{p}")).unwrap_or_default()
                    );
                    *summary.replayed.entry(topic.clone()).or_insert(0) += 1;
                    if dry_run {
                        continue;
                    }
                    let record = ProducerRecord {
                        topic: topic.into(),
                        partition,
                        key: r.key.clone(),
                        value: r.value.clone(),
                        headers: headers
                            .iter()
                            .map(|h| (h.key.clone(), h.value.clone().map(Bytes::from)))
                            .collect(),
                        timestamp: Some(r.timestamp),
                    };
                    pending.push(producer.send(record).await?);
                }
            }
        }
    }
    for f in pending {
        f.await?;
    }
    producer.close().await?;
    Ok(summary)
}

fn parse(
    args: impl IntoIterator<Item = String>,
) -> Result<(String, String, ReplayFilter, bool), String> {
    let usage = "usage: dlq_replay --bootstrap HOST:PORT --dlq TOPIC [--partition P] \
                 [--from-offset N] [--to-offset N] [--node NAME] [--reason REASON] \
                 [--to-topic TOPIC] [--dry-run]";
    let (mut bootstrap, mut dlq, mut f, mut dry) = (None, None, ReplayFilter::default(), false);
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--dry-run" {
            dry = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(usage.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        let num = |v: &str| -> Result<i64, String> {
            v.parse()
                .map_err(|_| format!("{flag} needs a number\n{usage}"))
        };
        match flag.as_str() {
            "--bootstrap" => bootstrap = Some(value),
            "--dlq" => dlq = Some(value),
            "--partition" => f.partition = Some(num(&value)? as i32),
            "--from-offset" => f.from_offset = Some(num(&value)?),
            "--to-offset" => f.to_offset = Some(num(&value)?),
            "--node" => f.node = Some(value),
            "--reason" => {
                f.reason = Some(
                    DeadLetterReason::parse(&value)
                        .ok_or_else(|| format!("unknown reason '{value}'\n{usage}"))?,
                )
            }
            "--to-topic" => f.to_topic = Some(value),
            _ => return Err(format!("unknown argument '{flag}'\n{usage}")),
        }
    }
    let bootstrap = bootstrap.ok_or_else(|| format!("--bootstrap is required\n{usage}"))?;
    let dlq = dlq.ok_or_else(|| format!("--dlq is required\n{usage}"))?;
    Ok((bootstrap, dlq, f, dry))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (bootstrap, dlq, filter, dry_run) = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = rt.block_on(replay(&bootstrap, &dlq, &filter, dry_run))?;
    eprintln!(
        "{}: replayed {:?}, skipped {:?}",
        if dry_run { "dry run" } else { "done" },
        summary.replayed,
        summary.skipped
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    use kstreams::failure::{FailureClass, OriginalPosition, ProcessingError, RetryPolicy};
    use kstreams::prelude::*;
    use kstreams::{KafkaStreams, ProcessingGuarantee, RecordMetadata, StreamsConfig};
    use kstreams_kafka::admin::NewTopic;
    use kstreams_testkit::{TansuBroker, random_topic};

    use super::*;

    fn dlq_headers(node: &str, reason: DeadLetterReason, replayed: Option<&str>) -> Headers {
        let mut h = Headers::new().with("trace", "t");
        if let Some(r) = replayed {
            h.add(header::REPLAYED, Some(r.as_bytes().to_vec()));
        }
        FailureMetadata {
            attempt: 2,
            first_failure_ms: 1,
            due_ms: None,
            error_class: FailureClass::Retryable,
            error_message: "503".into(),
            dlq_reason: Some(reason),
            failed_node: node.into(),
            application_id: "app".into(),
            original: Some(OriginalPosition {
                metadata: RecordMetadata {
                    topic: "orders".into(),
                    partition: 3,
                    offset: 17,
                },
                timestamp: 5,
            }),
        }
        .write_to(&mut h);
        h
    }

    #[test]
    fn replays_to_the_original_partition_incrementing_the_count_and_keeping_history() {
        let h = dlq_headers("call", DeadLetterReason::MaxAttempts, Some("1"));
        let ReplayDecision::Replay {
            topic,
            partition,
            headers,
        } = decide(&ReplayFilter::default(), 0, 9, &h)
        else {
            panic!("should replay");
        };
        assert_eq!((topic.as_str(), partition), ("orders", Some(3)));
        assert_eq!(replay_count(&headers), 2);
        assert_eq!(headers.headers(header::REPLAYED).count(), 1);
        // The failure history and user headers stay.
        assert_eq!(
            FailureMetadata::read_from(&headers).unwrap(),
            FailureMetadata::read_from(&h).unwrap()
        );
        assert_eq!(headers.last_value("trace"), Some(&b"t"[..]));
        let to = ReplayFilter {
            to_topic: Some("fixed".into()),
            ..Default::default()
        };
        assert!(matches!(
            decide(&to, 0, 9, &h),
            ReplayDecision::Replay { topic, partition: None, .. } if topic == "fixed"
        ));
    }

    #[test]
    fn filters_by_offsets_partition_node_and_reason() {
        let h = dlq_headers("call", DeadLetterReason::NonRetryable, None);
        let replays = |f: ReplayFilter, p: i32, o: i64| {
            matches!(decide(&f, p, o, &h), ReplayDecision::Replay { .. })
        };
        assert!(replays(ReplayFilter::default(), 0, 0));
        let range = ReplayFilter {
            from_offset: Some(5),
            to_offset: Some(7),
            ..Default::default()
        };
        assert!(!replays(range.clone(), 0, 4));
        assert!(replays(range.clone(), 0, 5) && replays(range.clone(), 0, 7));
        assert!(!replays(range, 0, 8));
        assert!(!replays(
            ReplayFilter {
                partition: Some(1),
                ..Default::default()
            },
            0,
            0
        ));
        assert!(!replays(
            ReplayFilter {
                node: Some("other".into()),
                ..Default::default()
            },
            0,
            0
        ));
        assert!(replays(
            ReplayFilter {
                node: Some("call".into()),
                ..Default::default()
            },
            0,
            0
        ));
        assert!(!replays(
            ReplayFilter {
                reason: Some(DeadLetterReason::MaxAttempts),
                ..Default::default()
            },
            0,
            0
        ));
        assert!(matches!(
            decide(&ReplayFilter::default(), 0, 0, &Headers::new()),
            ReplayDecision::Skip(why) if why == "no failure headers"
        ));
        let bad = Headers::new().with(header::ATTEMPT, "x");
        assert!(matches!(
            decide(&ReplayFilter::default(), 0, 0, &bad),
            ReplayDecision::Skip(_)
        ));
    }

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse(v.iter().map(|s| s.to_string()));
        let (bs, dlq, f, dry) = a(&[
            "--bootstrap",
            "h:1",
            "--dlq",
            "d",
            "--from-offset",
            "3",
            "--reason",
            "max-attempts",
            "--dry-run",
        ])
        .unwrap();
        assert_eq!((bs.as_str(), dlq.as_str(), dry), ("h:1", "d", true));
        assert_eq!(f.from_offset, Some(3));
        assert_eq!(f.reason, Some(DeadLetterReason::MaxAttempts));
        assert!(
            a(&["--dlq", "d"])
                .unwrap_err()
                .contains("--bootstrap is required")
        );
        assert!(
            a(&["--bootstrap", "h:1", "--dlq", "d", "--reason", "why"])
                .unwrap_err()
                .contains("unknown reason")
        );
    }

    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    async fn read_all(bs: &str, topic: &str, n: usize) -> Vec<ConsumerRecord> {
        let mut c = Consumer::connect(
            ConsumerConfig::new(bs)
                .with_isolation_level(IsolationLevel::ReadCommitted)
                .with_auto_offset_reset(OffsetResetStrategy::Earliest)
                .with_auto_commit(false),
        )
        .await
        .unwrap();
        let tp = TopicPartition::new(topic, 0);
        c.assign(std::slice::from_ref(&tp)).unwrap();
        c.seek_to_beginning(std::slice::from_ref(&tp))
            .await
            .unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while out.len() < n && Instant::now() < deadline {
            out.extend(c.poll(Duration::from_millis(200)).await.unwrap());
        }
        out
    }

    /// The whole story against tansu: a poison record is dead-lettered; replayed before the
    /// fix it fails again and is dead-lettered again showing replayed=1 (once: no loop);
    /// replayed after the fix it reaches the output.
    #[test]
    fn replay_before_and_after_a_fix() {
        let broker = TansuBroker::start().unwrap();
        let bs = broker.bootstrap();
        let input = random_topic("replay-in");
        let output = random_topic("replay-out");
        let app = random_topic("replay-app");
        let dlq = format!("{app}-dlq");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let admin = Admin::connect(ClientConfig::new(&bs)).await.unwrap();
            admin
                .create_topics(&[NewTopic::new(&input, 1, 1), NewTopic::new(&output, 1, 1)])
                .await
                .unwrap();
        });
        let fixed = Arc::new(AtomicBool::new(false));
        let f2 = fixed.clone();
        let b = StreamsBuilder::new();
        b.stream::<Option<String>, String>(
            &input,
            Consumed::with(Serdes::option(Serdes::string()), Serdes::string()),
        )
        .try_map_values(
            move |_k, v: &String| {
                if v == "bad" && !f2.load(Ordering::SeqCst) {
                    Err(ProcessingError::non_retryable("bad value"))
                } else {
                    Ok(v.to_uppercase())
                }
            },
            Retried::with_policy(RetryPolicy::default()).with_name("parse"),
        )
        .to(
            &output,
            Produced::with(Serdes::option(Serdes::string()), Serdes::string()),
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = StreamsConfig::new(&app, &bs)
            .with_guarantee(ProcessingGuarantee::ExactlyOnceV2)
            .with_state_dir(dir.path())
            .with_commit_interval(Duration::from_millis(100))
            .with_group_timeouts(Duration::from_secs(6), Duration::from_secs(8));
        let mut streams = KafkaStreams::new(b.build().unwrap(), cfg).unwrap();
        streams.start().unwrap();
        rt.block_on(async {
            let p = Producer::connect(ClientConfig::new(&bs), ProducerConfig::default())
                .await
                .unwrap();
            p.send_and_wait(ProducerRecord::new(&input, "bad").with_key("k"))
                .await
                .unwrap();
            p.close().await.unwrap();
        });
        let dead = |s: &KafkaStreams| {
            s.metrics()
                .failure_total(kstreams::failure::FailureMetric::DeadLetter)
        };
        wait_for("first DLQ record", || dead(&streams) == 1);
        let first = rt.block_on(read_all(&bs, &dlq, 1));
        assert_eq!(first.len(), 1);

        // Replay before the fix: fails again, back in the DLQ once, with replayed=1.
        let only_parse = ReplayFilter {
            node: Some("parse".into()),
            ..Default::default()
        };
        let s = rt.block_on(replay(&bs, &dlq, &only_parse, false)).unwrap();
        assert_eq!(s.replayed.get(&input), Some(&1));
        wait_for("second DLQ record", || dead(&streams) == 2);
        let both = rt.block_on(read_all(&bs, &dlq, 2));
        assert_eq!(both.len(), 2);
        let again = to_headers(&both[1]);
        assert_eq!(replay_count(&again), 1);
        let meta = FailureMetadata::read_from(&again).unwrap().unwrap();
        assert_eq!(meta.dlq_reason, Some(DeadLetterReason::NonRetryable));
        assert_eq!(
            meta.original.unwrap().metadata.offset,
            1,
            "the replayed copy's offset"
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(dead(&streams), 2, "no loop");

        // After the fix, replay only the newest record: it reaches the output.
        fixed.store(true, Ordering::SeqCst);
        let newest = ReplayFilter {
            from_offset: Some(both[1].offset),
            ..Default::default()
        };
        let s = rt.block_on(replay(&bs, &dlq, &newest, false)).unwrap();
        assert_eq!(s.replayed.get(&input), Some(&1));
        let out = rt.block_on(read_all(&bs, &output, 1));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value.as_deref(), Some(&b"BAD"[..]));
        // The output carries the replay count but no failure metadata.
        let h = to_headers(&out[0]);
        assert_eq!(replay_count(&h), 2);
        assert!(h.last_header(header::DLQ_REASON).is_none());
        streams.close().unwrap();
    }
}
