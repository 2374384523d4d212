//! Tasks: the unit of work the runtime assigns and the test driver runs.

mod partition_group;
mod stream_task;

pub use partition_group::{PartitionGroup, TopicPartition};
pub use stream_task::{StreamTask, TaskState};
