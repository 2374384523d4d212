//! Where sink nodes send serialized records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::record::ProducedRecord;

/// Receives the serialized output of a task's sinks. The runtime implements it over the
/// producer; the test driver over in-memory topics.
pub trait RecordCollector: Send {
    /// Sends one record.
    fn send(&mut self, record: ProducedRecord) -> Result<()>;
    /// The partition count of `topic`, if known (used by custom partitioners).
    fn partitions_for(&self, topic: &str) -> Option<i32>;
}

/// A collector that appends to a shared vector (tests and the driver).
#[derive(Clone, Default)]
pub struct VecRecordCollector {
    /// The records sent so far.
    pub records: Arc<Mutex<Vec<ProducedRecord>>>,
    /// Partition counts reported to partitioners.
    pub partitions: HashMap<String, i32>,
}

impl RecordCollector for VecRecordCollector {
    fn send(&mut self, record: ProducedRecord) -> Result<()> {
        self.records
            .lock()
            .map_err(|_| crate::StreamsError::Fatal("collector poisoned".into()))?
            .push(record);
        Ok(())
    }
    fn partitions_for(&self, topic: &str) -> Option<i32> {
        self.partitions.get(topic).copied()
    }
}
