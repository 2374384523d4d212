//! [`ThreadMetadata`]: what each stream thread of an instance runs (Kafka Streams'
//! `metadataForLocalThreads`), published by the threads when their assignment changes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kstreams_core::TaskId;
use kstreams_kafka::TopicPartition;

/// One stream thread of this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMetadata {
    /// The thread's name, `<application.id>-StreamThread-<index>`.
    pub thread_name: String,
    /// Whether it runs its tasks (assigned and restored), as opposed to rebalancing.
    pub running: bool,
    /// Its active tasks, with their input partitions.
    pub active_tasks: Vec<TaskMetadata>,
    /// Its standby tasks.
    pub standby_tasks: Vec<TaskId>,
    /// The client id of its consumer.
    pub consumer_client_id: String,
    /// The client id of its producer.
    pub producer_client_id: String,
}

/// One active task of a stream thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskMetadata {
    /// The task.
    pub task_id: TaskId,
    /// The partitions it reads.
    pub topic_partitions: Vec<TopicPartition>,
}

/// The latest metadata of each stream thread, by index.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreadRegistry(Arc<Mutex<BTreeMap<usize, ThreadMetadata>>>);

impl ThreadRegistry {
    pub(crate) fn publish(&self, index: usize, metadata: ThreadMetadata) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(index, metadata);
        }
    }

    pub(crate) fn remove(&self, index: usize) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&index);
        }
    }

    /// Every live thread's metadata, by index; `running(index)` says whether it runs now.
    pub(crate) fn all(&self, running: impl Fn(usize) -> bool) -> Vec<ThreadMetadata> {
        self.0
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(i, t)| ThreadMetadata {
                        running: running(*i),
                        ..t.clone()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
