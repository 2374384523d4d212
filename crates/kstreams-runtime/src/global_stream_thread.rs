//! The global stream thread: keeps the instance's global stores (the stores of
//! `GlobalKTable`s and `Topology::add_global_store`) up to date with every partition of their
//! topics. It is not a group member: it assigns itself all partitions, restores the stores up
//! to the end of the topics (the last stable offset under exactly-once, read_committed) before
//! the stream threads start, then tails the topics, writing a checkpoint of its offsets after
//! every flush and on close. A persistent store with a checkpoint resumes from it; otherwise
//! the topics are read from the beginning (the updates are idempotent upserts).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kstreams_core::processor::{
    GlobalStateStores, LogAndFailExceptionHandler, ProcessorGraph, TaskEnv, VecRecordCollector,
};
use kstreams_core::{ProcessorTopology, SystemClock};
use kstreams_kafka::consumer::{Consumer, ConsumerConfig};
use kstreams_kafka::fetcher::{ConsumerRecord, OffsetResetStrategy};
use kstreams_kafka::{Client, ClientConfig, IsolationLevel, TopicPartition};
use tracing::{Instrument, info, info_span, warn};

use crate::checkpoint::{self, Offsets};
use crate::config::StreamsConfig;
use crate::error::{Result, RuntimeError};
use crate::restore_listener::{RestoreProgress, StateRestoreListener};
use crate::state::{SharedState, State};
use crate::stream_thread::{GLOBAL_THREAD_WAKEUP, PollWakeups, to_consumed};

/// Where the global thread starts reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartFrom {
    /// The checkpointed offset.
    Offset(i64),
    /// The beginning of the partition.
    Beginning,
}

/// Where to start each partition: from the checkpoint when the stores kept their data (all
/// persistent) and the checkpoint names the partition, else from the beginning.
pub(crate) fn start_positions(
    partitions: &[(String, i32)],
    checkpoint: Option<&Offsets>,
    stores_persistent: bool,
) -> Vec<((String, i32), StartFrom)> {
    partitions
        .iter()
        .map(|tp| {
            let start = match checkpoint.and_then(|c| c.get(tp)) {
                Some(&o) if stores_persistent && o >= 0 => StartFrom::Offset(o),
                _ => StartFrom::Beginning,
            };
            (tp.clone(), start)
        })
        .collect()
}

/// Whether restoration of a partition is complete: its position reached the end offset (the
/// last stable offset under read_committed, when the broker reports one).
pub(crate) fn caught_up(
    position: i64,
    high_watermark: i64,
    lso: i64,
    read_committed: bool,
) -> bool {
    let end = if read_committed && lso >= 0 {
        lso
    } else {
        high_watermark
    };
    end >= 0 && position >= end
}

/// The directory of the global stores.
pub(crate) fn global_dir(config: &StreamsConfig) -> PathBuf {
    config.state_dir.join(&config.application_id).join("global")
}

/// A started global thread: its stores (for the stream threads) and its handle.
pub(crate) struct GlobalThread {
    pub(crate) stores: GlobalStateStores,
    pub(crate) handle: JoinHandle<Result<()>>,
}

/// Builds the global stores and starts the global thread; returns once the stores are
/// restored (or the thread failed). `None` when the topology has no global stores.
pub(crate) fn start(
    config: &StreamsConfig,
    topology: &Arc<ProcessorTopology>,
    shutdown: Arc<AtomicBool>,
    crash: Arc<AtomicBool>,
    state: SharedState,
    wakeups: PollWakeups,
    restore_listener: Option<Arc<dyn StateRestoreListener>>,
) -> Result<Option<GlobalThread>> {
    if !topology.has_global_stores() {
        return Ok(None);
    }
    let dir = global_dir(config);
    let checkpoint = checkpoint::take_or_wipe(&dir)?;
    let env = TaskEnv {
        application_id: config.application_id.as_str().into(),
        task_dir: Some(dir.clone()),
        changelog: None,
        clock: Arc::new(SystemClock),
        collector: Box::new(VecRecordCollector::default()),
        deserialization_handler: Arc::new(LogAndFailExceptionHandler),
        cache: None,
        failure: Default::default(),
    };
    let Some(mut graph) = ProcessorGraph::new_global(topology, env)? else {
        return Ok(None);
    };
    graph.init()?;
    let persistent = graph
        .store_names()
        .iter()
        .all(|s| graph.store(s).is_some_and(|s| s.persistent()));
    let stores = GlobalStateStores::new(graph);
    let (restored_tx, restored_rx) = mpsc::channel::<()>();
    let job = GlobalJob {
        config: config.clone(),
        topics: topology.global_source_topics(),
        stores: stores.clone(),
        dir,
        checkpoint,
        persistent,
        shutdown: shutdown.clone(),
        crash,
        wakeups,
        topology: topology.clone(),
        restore_listener,
    };
    let handle = std::thread::Builder::new()
        .name(format!("{}-GlobalStreamThread", config.application_id))
        .spawn(move || {
            let r = job.run(restored_tx);
            if r.is_err() {
                // Without up-to-date global stores the instance cannot go on: it shuts down
                // (the stream threads commit, close and leave the group), as in Kafka Streams,
                // where a failed global thread always stops the client.
                state.transition(State::Error);
                shutdown.store(true, Ordering::SeqCst);
            }
            r
        })?;
    if restored_rx.recv().is_err() {
        // The thread ended before the stores were restored: report its error.
        return Err(match handle.join() {
            Ok(Err(e)) => e,
            Ok(Ok(())) => RuntimeError::IllegalState(
                "the global thread stopped before the global stores were restored".into(),
            ),
            Err(_) => RuntimeError::IllegalState("the global thread panicked".into()),
        });
    }
    Ok(Some(GlobalThread { stores, handle }))
}

struct GlobalJob {
    config: StreamsConfig,
    topics: Vec<String>,
    stores: GlobalStateStores,
    dir: PathBuf,
    checkpoint: Option<Offsets>,
    persistent: bool,
    shutdown: Arc<AtomicBool>,
    crash: Arc<AtomicBool>,
    /// Where the consumer's wakeup is registered: closing the instance ends its poll.
    wakeups: PollWakeups,
    topology: Arc<ProcessorTopology>,
    restore_listener: Option<Arc<dyn StateRestoreListener>>,
}

impl GlobalJob {
    fn run(self, restored: mpsc::Sender<()>) -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let span = info_span!("global_stream_thread");
        rt.block_on(
            async move {
                let r = self.run_async(restored).await;
                if let Err(e) = &r {
                    warn!(error = %e, "global stream thread failed");
                }
                r
            }
            .instrument(span),
        )
    }

    async fn run_async(self, restored: mpsc::Sender<()>) -> Result<()> {
        let cfg = &self.config;
        let read_committed = cfg.is_exactly_once();
        let client_id = format!("{}-GlobalStreamThread", cfg.application_id);
        let client = Client::connect(
            ClientConfig::new(&cfg.bootstrap_servers)
                .with_client_id(client_id.clone())
                .with_request_timeout(cfg.request_timeout),
        )
        .await?;
        let mut consumer_cfg = ConsumerConfig::new(cfg.bootstrap_servers.clone())
            .with_auto_commit(false)
            .with_auto_offset_reset(OffsetResetStrategy::Earliest)
            .with_isolation_level(if read_committed {
                IsolationLevel::ReadCommitted
            } else {
                IsolationLevel::ReadUncommitted
            });
        consumer_cfg.client_id = format!("{client_id}-global-consumer");
        consumer_cfg.request_timeout = cfg.request_timeout;
        consumer_cfg.fetch_max_wait = Duration::from_millis(100);
        let mut consumer = Consumer::with_client(client.clone(), consumer_cfg)?;
        self.wakeups
            .register(GLOBAL_THREAD_WAKEUP, consumer.wakeup_handle());

        let mut partitions = Vec::new();
        for t in &self.topics {
            let n = client.partition_count(t).await?;
            partitions.extend((0..n as i32).map(|p| (t.clone(), p)));
        }
        let starts = start_positions(&partitions, self.checkpoint.as_ref(), self.persistent);
        let tps: Vec<TopicPartition> = partitions
            .iter()
            .map(|(t, p)| TopicPartition::new(t.clone(), *p))
            .collect();
        consumer.assign(&tps)?;
        for ((t, p), start) in starts {
            let tp = TopicPartition::new(t, p);
            match start {
                StartFrom::Offset(o) => consumer.seek(&tp, o)?,
                StartFrom::Beginning => {
                    consumer
                        .seek_to_beginning(std::slice::from_ref(&tp))
                        .await?
                }
            }
        }

        // Restoration: up to the end of every partition before the stream threads start.
        let started = Instant::now();
        let mut remaining = tps.clone();
        let mut restored_records = 0u64;
        let mut idle_polls = 0;
        let stores: HashMap<String, String> = self
            .topics
            .iter()
            .filter_map(|t| Some((t.clone(), self.topology.global_store_of_topic(t)?)))
            .collect();
        let store_of = |tp: &TopicPartition| stores.get(&tp.topic).map(String::as_str);
        let mut progress = self.restore_listener.as_deref().map(RestoreProgress::new);
        if let Some(p) = &progress {
            let ends = consumer.list_offsets(&tps, -1).await?;
            for tp in &tps {
                if let Some(store) = store_of(tp) {
                    let start = consumer.position(tp).await?;
                    p.start(tp, store, start, ends.get(tp).copied().unwrap_or(-1));
                }
            }
        }
        while !remaining.is_empty() && !self.stopping() {
            let records = consumer.poll(Duration::from_millis(200)).await?;
            idle_polls = if records.is_empty() {
                idle_polls + 1
            } else {
                0
            };
            if idle_polls >= 50 {
                // As the stream threads' restoration: an end offset that never comes (the
                // broker reports none) must not keep the instance from starting.
                warn!(partitions = ?remaining, "global restoration made no progress for 10 s: giving up on the end offset");
                break;
            }
            restored_records += records.len() as u64;
            if let Some(p) = &mut progress {
                for r in &records {
                    p.record(&TopicPartition::new(&*r.topic, r.partition), r.offset);
                }
                p.end_batch(store_of);
            }
            self.apply(records)?;
            let mut still = Vec::new();
            for tp in remaining {
                let pos = consumer.position(&tp).await?;
                let (hw, lso) = consumer.watermarks(&tp)?;
                if !caught_up(pos, hw, lso, read_committed) {
                    still.push(tp);
                } else if let (Some(p), Some(store)) = (&progress, store_of(&tp)) {
                    p.end(&tp, store);
                }
            }
            remaining = still;
        }
        if let Some(p) = progress.as_ref().filter(|_| !self.stopping()) {
            // Given up on (no progress): restoration ends here too.
            for tp in &remaining {
                if let Some(store) = store_of(tp) {
                    p.end(tp, store);
                }
            }
        }
        self.flush_and_checkpoint(&consumer, &tps)?;
        info!(
            records = restored_records,
            partitions = tps.len(),
            ms = started.elapsed().as_millis() as u64,
            "global stores restored"
        );
        let _ = restored.send(());

        // Steady state: tail the topics.
        let commit_interval = cfg.effective_commit_interval();
        let mut last_flush = Instant::now();
        while !self.stopping() {
            // Until the next flush is due: closing the instance wakes the poll up.
            let until_flush = commit_interval.saturating_sub(last_flush.elapsed());
            let records = consumer.poll(until_flush).await?;
            self.apply(records)?;
            if last_flush.elapsed() >= commit_interval {
                self.flush_and_checkpoint(&consumer, &tps)?;
                last_flush = Instant::now();
            }
        }
        if self.crash.load(Ordering::SeqCst) {
            // As in a crash: no checkpoint (the next start restores from scratch).
            return Ok(());
        }
        self.flush_and_checkpoint(&consumer, &tps)?;
        self.stores.lock()?.close()?;
        info!("global stream thread stopped");
        Ok(())
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst) || self.crash.load(Ordering::SeqCst)
    }

    /// Runs fetched records through the global processors.
    fn apply(&self, records: Vec<ConsumerRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut g = self.stores.lock()?;
        for r in records {
            let partition_time = g.stream_time();
            if let Some(stamped) = g.decode(to_consumed(r), partition_time)? {
                g.process(stamped)?;
            }
        }
        Ok(())
    }

    /// Flushes the stores, then records the positions they reflect.
    fn flush_and_checkpoint(&self, consumer: &Consumer, tps: &[TopicPartition]) -> Result<()> {
        self.stores.lock()?.flush()?;
        write_checkpoint(&self.dir, consumer, tps)
    }
}

fn write_checkpoint(dir: &Path, consumer: &Consumer, tps: &[TopicPartition]) -> Result<()> {
    let mut offsets = Offsets::new();
    for tp in tps {
        if let Some(pos) = consumer.current_position(tp) {
            offsets.insert((tp.topic.clone(), tp.partition), pos);
        }
    }
    checkpoint::write(dir, &offsets)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistent_stores_resume_from_the_checkpoint() {
        let parts = vec![("g".to_string(), 0), ("g".to_string(), 1)];
        let mut c = Offsets::new();
        c.insert(("g".into(), 0), 7);
        let starts = start_positions(&parts, Some(&c), true);
        assert_eq!(
            starts,
            vec![
                (("g".into(), 0), StartFrom::Offset(7)),
                // A partition the checkpoint does not know (the topic grew): from the start.
                (("g".into(), 1), StartFrom::Beginning),
            ]
        );
    }

    #[test]
    fn in_memory_stores_or_no_checkpoint_read_from_the_beginning() {
        let parts = vec![("g".to_string(), 0)];
        let mut c = Offsets::new();
        c.insert(("g".into(), 0), 7);
        for starts in [
            start_positions(&parts, Some(&c), false),
            start_positions(&parts, None, true),
        ] {
            assert_eq!(starts, vec![(("g".into(), 0), StartFrom::Beginning)]);
        }
    }

    #[test]
    fn restoration_ends_at_the_lso_under_read_committed() {
        // Uncommitted records past the LSO are not waited for.
        assert!(caught_up(5, 8, 5, true));
        assert!(!caught_up(5, 8, 5, false));
        assert!(caught_up(8, 8, 5, false));
        // No LSO reported: the high watermark.
        assert!(!caught_up(5, 8, -1, true));
        // Unknown end: not caught up.
        assert!(!caught_up(0, -1, -1, false));
        // An empty partition.
        assert!(caught_up(0, 0, 0, true));
    }
}
