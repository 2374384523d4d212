//! `StreamTask`: one (sub-topology, partition) unit of work. It owns the task's processor
//! graph and input queues, picks records in timestamp order, tracks consumed offsets and
//! decides when it needs a commit. It does no I/O: the runtime and the test driver feed it
//! records and act on what it returns.

use std::collections::HashMap;

use super::partition_group::{PartitionGroup, TopicPartition};
use crate::error::{Result, StreamsError};
use crate::processor::{ProcessorGraph, TaskId};
use crate::record::ConsumedRecord;

/// Lifecycle of a task, as in Kafka Streams' `Task.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Created; stores not yet restored.
    Created,
    /// Restoring its stores from their changelogs.
    Restoring,
    /// Processing records.
    Running,
    /// Suspended (its partitions are being revoked).
    Suspended,
    /// Closed; it cannot be used again.
    Closed,
}

/// One active task.
pub struct StreamTask {
    id: TaskId,
    state: TaskState,
    graph: ProcessorGraph,
    queues: PartitionGroup,
    /// Highest offset + 1 of records skipped at decode time, per partition.
    skipped: HashMap<TopicPartition, i64>,
    commit_needed: bool,
    /// A processor called `ProcessorContext::commit` since the last commit.
    commit_requested: bool,
    processed: u64,
}

impl std::fmt::Debug for StreamTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTask")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish()
    }
}

impl StreamTask {
    /// A task over `graph` reading `partitions`.
    pub fn new(
        graph: ProcessorGraph,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Self {
        StreamTask {
            id: graph.task_id(),
            state: TaskState::Created,
            graph,
            queues: PartitionGroup::new(partitions),
            skipped: HashMap::new(),
            commit_needed: false,
            commit_requested: false,
            processed: 0,
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's lifecycle state.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Moves a created task into restoration.
    pub fn start_restoring(&mut self) -> Result<()> {
        self.transition(TaskState::Restoring)
    }

    /// Initializes the processors (they schedule punctuators) and starts processing.
    pub fn initialize(&mut self) -> Result<()> {
        if self.state == TaskState::Created {
            self.transition(TaskState::Restoring)?;
        }
        self.graph.init()?;
        self.transition(TaskState::Running)
    }

    fn transition(&mut self, to: TaskState) -> Result<()> {
        use TaskState::*;
        let ok = matches!(
            (self.state, to),
            (Created, Restoring)
                | (Restoring, Running)
                | (Running, Suspended)
                | (Restoring, Suspended)
                | (Suspended, Running)
                | (Suspended, Restoring)
                | (_, Closed)
        );
        if !ok {
            return Err(StreamsError::IllegalState(format!(
                "task {}: invalid transition {:?} -> {to:?}",
                self.id, self.state
            )));
        }
        self.state = to;
        Ok(())
    }

    /// The task's processor graph (stores, punctuators).
    pub fn graph(&self) -> &ProcessorGraph {
        &self.graph
    }

    /// The task's processor graph, mutably (restoration writes to the stores).
    pub fn graph_mut(&mut self) -> &mut ProcessorGraph {
        &mut self.graph
    }

    /// The partitions this task reads.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.queues.partitions()
    }

    /// Decodes fetched records and queues them. A record the deserialization handler skips is
    /// counted as consumed. Returns how many records were queued.
    pub fn add_records(
        &mut self,
        tp: &TopicPartition,
        records: impl IntoIterator<Item = ConsumedRecord>,
    ) -> Result<usize> {
        let Some(mut queue) = self.queues.appender(tp) else {
            return Err(StreamsError::IllegalState(format!(
                "task {} does not read {tp}",
                self.id
            )));
        };
        let source = self.graph.source_of(&tp.topic)?;
        let mut added = 0;
        for raw in records {
            let offset = raw.offset;
            match self
                .graph
                .decode_from(source, raw, queue.partition_time())?
            {
                Some(rec) => {
                    queue.push(rec);
                    added += 1;
                }
                None => {
                    let e = self.skipped.entry(tp.clone()).or_insert(0);
                    *e = (*e).max(offset + 1);
                    self.commit_needed = true;
                }
            }
        }
        Ok(added)
    }

    /// Records waiting in `tp`'s queue (the runtime pauses a partition whose queue is full).
    pub fn buffered_in(&self, tp: &TopicPartition) -> usize {
        self.queues.buffered_in(tp)
    }

    /// Records waiting in all of the task's queues.
    pub fn buffered(&self) -> usize {
        self.queues.buffered()
    }

    /// Whether the task has a record to process and is running.
    pub fn is_processable(&self) -> bool {
        self.state == TaskState::Running && self.queues.buffered() > 0
    }

    /// Processes the next record in timestamp order, then the stream-time punctuators it made
    /// due. Returns `false` when there was nothing to process.
    pub fn process(&mut self) -> Result<bool> {
        if self.state != TaskState::Running {
            return Ok(false);
        }
        let Some((_, record)) = self.queues.pop_next_ref() else {
            return Ok(false);
        };
        self.graph.process(record)?;
        self.commit_needed = true;
        self.processed += 1;
        if self.graph.maybe_punctuate_stream_time()? {
            self.commit_needed = true;
        }
        Ok(true)
    }

    /// How long until a wall-clock punctuator of this task is due, if the task runs and has one.
    pub fn wall_clock_punctuation_due_in(&self) -> Option<std::time::Duration> {
        if self.state != TaskState::Running {
            return None;
        }
        self.graph.wall_clock_punctuation_due_in()
    }

    /// Runs the wall-clock punctuators that are due. Returns whether any fired.
    pub fn maybe_punctuate_wall_clock(&mut self) -> Result<bool> {
        if self.state != TaskState::Running {
            return Ok(false);
        }
        let fired = self.graph.maybe_punctuate_wall_clock()?;
        self.commit_needed |= fired;
        Ok(fired)
    }

    /// Records processed since the task was created.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// The task's stream time.
    pub fn stream_time(&self) -> i64 {
        self.graph.stream_time()
    }

    /// Whether the task has processed or punctuated since its last commit, or a processor
    /// asked for a commit.
    pub fn commit_needed(&mut self) -> bool {
        self.commit_requested() || self.commit_needed
    }

    /// Whether a processor asked for a commit (`ProcessorContext::commit`) since the last
    /// commit: the runtime then commits without waiting for the commit interval, as Kafka
    /// Streams does. Asking does not clear the request; `post_commit` does.
    pub fn commit_requested(&mut self) -> bool {
        self.commit_requested |= self.graph.take_commit_request();
        self.commit_requested
    }

    /// The offsets to commit: per partition, the next offset to read.
    pub fn committable_offsets(&self) -> Vec<(TopicPartition, i64)> {
        let mut out: Vec<(TopicPartition, i64)> = Vec::new();
        for tp in self.queues.partitions() {
            let consumed = self.queues.consumed(tp);
            // Skipped records count only once everything before them has been processed.
            let skipped = if self.queues.buffered_in(tp) == 0 {
                self.skipped.get(tp).copied()
            } else {
                None
            };
            if let Some(o) = consumed.into_iter().chain(skipped).max() {
                out.push((tp.clone(), o));
            }
        }
        out
    }

    /// First half of a commit: the stores' caches write down (and forward; their changelog
    /// writes are handed over) and the offsets to commit with the output are returned.
    pub fn prepare_commit(&mut self) -> Result<Vec<(TopicPartition, i64)>> {
        if matches!(
            self.state,
            TaskState::Running | TaskState::Suspended | TaskState::Restoring
        ) {
            self.graph.flush_cache()?;
        }
        Ok(self.committable_offsets())
    }

    /// Flushes the stores to storage, so a checkpoint of changelog offsets written after it
    /// is valid.
    pub fn flush_state(&mut self) -> Result<()> {
        self.graph.flush()
    }

    /// Second half of a commit, after the offsets and output are durable.
    pub fn post_commit(&mut self) {
        self.commit_needed = false;
        self.commit_requested = false;
    }

    /// Suspends the task (partitions being revoked); it can resume or be closed.
    pub fn suspend(&mut self) -> Result<()> {
        if self.state == TaskState::Suspended {
            return Ok(());
        }
        self.transition(TaskState::Suspended)
    }

    /// Resumes a suspended task.
    pub fn resume(&mut self) -> Result<()> {
        self.transition(TaskState::Running)
    }

    /// Closes the task cleanly: processors close, stores flush and close.
    pub fn close_clean(&mut self) -> Result<()> {
        if self.state == TaskState::Closed {
            return Ok(());
        }
        let r = self.graph.close();
        self.queues.clear();
        self.state = TaskState::Closed;
        r
    }

    /// Closes the task after a failure or fencing: buffered input is dropped, errors from
    /// closing are logged and not returned.
    pub fn close_dirty(&mut self) {
        if self.state == TaskState::Closed {
            return;
        }
        self.queues.clear();
        if let Err(e) = self.graph.close() {
            tracing::warn!(task = %self.id, error = %e, "error while closing task dirty");
        }
        self.state = TaskState::Closed;
    }
}
