//! The tasks of a stream thread's assignment: creating active tasks, restoring their stores from
//! the changelogs, standby tasks that tail the changelogs, and the checkpoints of both.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kstreams_core::processor::{LogAndFailExceptionHandler, ProcessorGraph, TaskEnv};
use kstreams_core::{StreamTask, TaskId};
use kstreams_kafka::TopicPartition;
use tracing::{info, warn};

use super::{ChangelogTarget, StreamThread};
use crate::checkpoint::{self, Offsets};
use crate::collector::{KafkaRecordCollector, Outbox, TaskChangelogWriter};
use crate::error::Result;
use crate::restore_listener::RestoreProgress;

impl StreamThread {
    /// Opens the standby tasks of the latest assignment (those not active here): their stores
    /// are restored from the checkpoint or from scratch, then kept up to date by tailing the
    /// changelogs (read_committed under EOS), so a failover restores only the tail.
    pub(super) async fn create_standbys(&mut self) -> Result<()> {
        let ids: Vec<TaskId> = self
            .standby_assignment
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|id| !self.tasks.contains_key(id))
            .collect();
        let topology = self.shared.topology.clone();
        let mut starts: Vec<(TopicPartition, i64)> = Vec::new();
        for id in ids {
            let changelogs: Vec<_> = topology
                .changelog_topics()
                .iter()
                .filter(|c| c.subtopology == id.subtopology)
                .cloned()
                .collect();
            if changelogs.is_empty() {
                continue;
            }
            let task_dir = self.task_dir(id);
            let checkpoint = checkpoint::take_or_wipe(&task_dir)?;
            let env = TaskEnv {
                application_id: self.shared.config.application_id.as_str().into(),
                task_dir: Some(task_dir),
                changelog: None,
                clock: self.clock.clone(),
                collector: Box::new(KafkaRecordCollector::new(
                    Outbox::default(),
                    self.shared.partitions.clone(),
                )),
                deserialization_handler: Arc::new(LogAndFailExceptionHandler),
                cache: None,
                failure: Default::default(),
            };
            let graph = ProcessorGraph::new(&topology, id.subtopology, id.partition, env)?;
            for c in changelogs {
                let tp = TopicPartition::new(c.topic.clone(), id.partition);
                let start = checkpoint
                    .as_ref()
                    .and_then(|o| o.get(&(c.topic.clone(), id.partition)).copied())
                    .unwrap_or(-2);
                starts.push((tp.clone(), start));
                self.standby_targets.insert(
                    tp,
                    ChangelogTarget {
                        task: id,
                        store: c.store.clone(),
                    },
                );
            }
            self.standbys.insert(id, graph);
        }
        if starts.is_empty() {
            return Ok(());
        }
        let tps: Vec<TopicPartition> = starts.iter().map(|(tp, _)| tp.clone()).collect();
        self.standby_consumer.assign(&tps)?;
        for (tp, start) in starts {
            if start >= 0 {
                self.standby_consumer.seek(&tp, start)?;
            } else {
                self.standby_consumer
                    .seek_to_beginning(std::slice::from_ref(&tp))
                    .await?;
            }
        }
        info!(standbys = ?self.standbys.keys().map(ToString::to_string).collect::<Vec<_>>(), "standby tasks running");
        Ok(())
    }

    /// Applies what the standby consumer has fetched.
    pub(super) async fn poll_standbys(&mut self) -> Result<()> {
        if self.standbys.is_empty() {
            return Ok(());
        }
        for r in self.standby_consumer.poll(Duration::ZERO).await? {
            let tp = TopicPartition::new(&*r.topic, r.partition);
            let (Some(target), Some(key)) = (self.standby_targets.get(&tp), r.key.as_ref()) else {
                continue;
            };
            let Some(graph) = self.standbys.get_mut(&target.task) else {
                continue;
            };
            if let Some(store) = graph.store_mut(&target.store) {
                store.restore(key, r.value.as_deref())?;
                self.shared
                    .metrics
                    .standby_updates
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Closes the standby tasks with a checkpoint of their changelog positions.
    pub(super) fn close_standbys(&mut self) -> Result<()> {
        for (id, mut graph) in std::mem::take(&mut self.standbys) {
            let mut offsets = Offsets::new();
            for (tp, target) in &self.standby_targets {
                if target.task != id {
                    continue;
                }
                if let Some(pos) = self.standby_consumer.current_position(tp) {
                    offsets.insert((tp.topic.clone(), tp.partition), pos);
                }
            }
            let r = graph.flush().and_then(|_| graph.close());
            match r {
                Ok(()) if !offsets.is_empty() => checkpoint::write(&self.task_dir(id), &offsets)?,
                Ok(()) => {}
                Err(e) => warn!(task = %id, error = %e, "closing standby task failed"),
            }
        }
        self.standby_targets.clear();
        self.standby_consumer.assign(&[])?;
        Ok(())
    }

    pub(super) fn task_dir(&self, id: TaskId) -> PathBuf {
        self.shared
            .config
            .state_dir
            .join(&self.shared.config.application_id)
            .join(id.to_string())
    }

    pub(super) fn create_tasks(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let topology = self.shared.topology.clone();
        let mut by_task: BTreeMap<TaskId, Vec<TopicPartition>> = BTreeMap::new();
        for tp in partitions {
            let Some(sub) = topology.subtopology_for_topic(&tp.topic) else {
                warn!(%tp, "assigned a partition no sub-topology reads");
                continue;
            };
            by_task
                .entry(TaskId::new(sub, tp.partition))
                .or_default()
                .push(tp.clone());
        }
        let handlers = self.shared.config.exception_handlers.clone();
        for (id, tps) in by_task {
            let task_dir = self.task_dir(id);
            let checkpoint = checkpoint::take_or_wipe(&task_dir)?;
            let stores: HashMap<String, String> = topology
                .changelog_topics()
                .iter()
                .filter(|c| c.subtopology == id.subtopology)
                .map(|c| (c.store.clone(), c.topic.clone()))
                .collect();
            for topic in stores.values() {
                let key = (topic.clone(), id.partition);
                // Restoration starts at the checkpoint, or at the beginning (-2).
                let start = checkpoint
                    .as_ref()
                    .and_then(|c| c.get(&key).copied())
                    .unwrap_or(-2);
                self.changelog_offsets
                    .insert((topic.as_str().into(), id.partition), start);
            }
            let env = TaskEnv {
                application_id: self.shared.config.application_id.as_str().into(),
                task_dir: Some(task_dir),
                changelog: Some(Arc::new(TaskChangelogWriter::new(
                    self.outbox.clone(),
                    stores,
                    id.partition,
                    self.clock.clone(),
                ))),
                clock: self.clock.clone(),
                collector: Box::new(KafkaRecordCollector::new(
                    self.outbox.clone(),
                    self.shared.partitions.clone(),
                )),
                cache: Some(self.cache.clone()),
                deserialization_handler: handlers.deserialization.clone(),
                failure: kstreams_core::processor::FailureHandling {
                    dead_letter_topic: Some(self.shared.config.effective_dead_letter_topic()),
                    processing_handler: handlers.processing.clone(),
                    production_handler: handlers.production.clone(),
                    max_record_bytes: Some(self.shared.config.max_request_size),
                    metrics: self.shared.metrics.node_metrics.clone(),
                    production_decisions: self.production_decisions.clone(),
                },
            };
            let mut graph = ProcessorGraph::new(&topology, id.subtopology, id.partition, env)?;
            if let Some(global) = &self.shared.global {
                graph.set_global_stores(global.clone());
            }
            let mut task = StreamTask::new(
                graph,
                tps.iter()
                    .map(|tp| kstreams_core::TopicPartition::new(tp.topic.clone(), tp.partition)),
            );
            task.start_restoring()?;
            for tp in tps {
                self.task_of.insert(tp, id);
            }
            self.tasks.insert(id, task);
        }
        Ok(())
    }

    /// Restores the stores of the new tasks from their changelogs (from the checkpointed
    /// offsets, else from the beginning) up to the end (the last stable offset under EOS).
    pub(super) async fn restore(&mut self) -> Result<()> {
        let topology = self.shared.topology.clone();
        let mut targets: HashMap<TopicPartition, ChangelogTarget> = HashMap::new();
        for id in self.tasks.keys() {
            for c in topology
                .changelog_topics()
                .iter()
                .filter(|c| c.subtopology == id.subtopology)
            {
                targets.insert(
                    TopicPartition::new(c.topic.clone(), id.partition),
                    ChangelogTarget {
                        task: *id,
                        store: c.store.clone(),
                    },
                );
            }
        }
        if targets.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let tps: Vec<TopicPartition> = targets.keys().cloned().collect();
        self.restore_consumer.assign(&tps)?;
        for tp in &tps {
            let start = self
                .changelog_offsets
                .get(&(tp.topic.as_str().into(), tp.partition))
                .copied()
                .unwrap_or(-2);
            if start >= 0 {
                self.restore_consumer.seek(tp, start)?;
            } else {
                self.restore_consumer
                    .seek_to_beginning(std::slice::from_ref(tp))
                    .await?;
            }
        }
        let mut remaining: HashSet<TopicPartition> = tps.iter().cloned().collect();
        let restoring = &self.shared.metrics.restoring_partitions;
        restoring.fetch_add(tps.len() as u64, Ordering::Relaxed);
        let listener = self.shared.restore_listener.clone();
        let mut progress = listener.as_deref().map(RestoreProgress::new);
        if let Some(p) = &progress {
            let ends = self.restore_consumer.list_offsets(&tps, -1).await?;
            for tp in &tps {
                let start = self.restore_consumer.position(tp).await?;
                let end = ends.get(tp).copied().unwrap_or(-1);
                p.start(tp, &targets[tp].store, start, end);
            }
        }
        let store_of = |tp: &TopicPartition| targets.get(tp).map(|t| t.store.as_str());
        let mut restored = 0u64;
        let mut idle_polls = 0;
        while !remaining.is_empty() && !self.shutting_down() {
            let records = self
                .restore_consumer
                .poll(Duration::from_millis(200))
                .await?;
            // Queries of a thread that restores answer at once that it rebalances.
            self.serve_queries();
            if records.is_empty() {
                idle_polls += 1;
            } else {
                idle_polls = 0;
            }
            for r in records {
                let tp = TopicPartition::new(&*r.topic, r.partition);
                let (Some(target), Some(key)) = (targets.get(&tp), r.key.as_ref()) else {
                    continue;
                };
                let Some(task) = self.tasks.get_mut(&target.task) else {
                    continue;
                };
                let Some(store) = task.graph_mut().store_mut(&target.store) else {
                    continue;
                };
                store.restore(key, r.value.as_deref())?;
                restored += 1;
                if let Some(p) = &mut progress {
                    p.record(&tp, r.offset);
                }
            }
            if let Some(p) = &mut progress {
                p.end_batch(store_of);
            }
            let mut done = Vec::new();
            for tp in &remaining {
                let pos = self.restore_consumer.position(tp).await?;
                let (hw, lso) = self.restore_consumer.watermarks(tp)?;
                let end = if self.eos && lso >= 0 { lso } else { hw };
                if end >= 0 && pos >= end {
                    done.push(tp.clone());
                }
            }
            for tp in done {
                remaining.remove(&tp);
                self.shared
                    .metrics
                    .restoring_partitions
                    .fetch_sub(1, Ordering::Relaxed);
                if let (Some(p), Some(store)) = (&progress, store_of(&tp)) {
                    p.end(&tp, store);
                }
            }
            if idle_polls >= 50 {
                warn!(partitions = ?remaining, "restoration made no progress for 10 s: giving up on the end offset");
                if let Some(p) = &progress {
                    for tp in &remaining {
                        p.end(tp, &targets[tp].store);
                    }
                }
                break;
            }
        }
        let left = remaining.len() as u64;
        self.shared
            .metrics
            .restoring_partitions
            .fetch_sub(left, Ordering::Relaxed);
        for tp in &tps {
            let pos = self.restore_consumer.position(tp).await?;
            self.changelog_offsets
                .insert((tp.topic.as_str().into(), tp.partition), pos);
        }
        self.restore_consumer.assign(&[])?;
        self.shared
            .metrics
            .restored
            .fetch_add(restored, Ordering::Relaxed);
        info!(
            records = restored,
            partitions = tps.len(),
            ms = started.elapsed().as_millis() as u64,
            "restoration done"
        );
        Ok(())
    }

    /// The changelog offsets task `id`'s stores reflect.
    pub(super) fn checkpoint_offsets(&self, id: TaskId) -> Offsets {
        self.changelog_offsets
            .iter()
            .filter(|((_, p), o)| *p == id.partition && **o >= 0)
            .filter(|((t, _), _)| {
                self.shared
                    .topology
                    .changelog_topics()
                    .iter()
                    .any(|c| *c.topic == **t && c.subtopology == id.subtopology)
            })
            .map(|((t, p), o)| ((t.to_string(), *p), *o))
            .collect()
    }
}
