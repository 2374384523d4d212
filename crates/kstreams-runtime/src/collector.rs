//! What tasks write, gathered in a per-thread outbox that the stream thread sends through its
//! producer: sink output ([`KafkaRecordCollector`]) and store changes
//! ([`TaskChangelogWriter`], to the changelog partition of the task).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kstreams_core::{ProducedRecord, RecordCollector, Result, SharedClock, StreamsError};
use kstreams_state::ChangelogWriter;

/// Records waiting to be sent by the stream thread, in the order tasks wrote them.
pub type Outbox = Arc<Mutex<Vec<ProducedRecord>>>;

/// Swaps the outbox's records into `spare` (empty, usually a buffer this swap returned
/// before): the two buffers alternate, so neither the outbox nor the sender allocates and
/// grows (and page-faults) a fresh buffer every round.
pub fn swap_out(outbox: &Outbox, spare: &mut Vec<ProducedRecord>) {
    debug_assert!(spare.is_empty());
    if let Ok(mut o) = outbox.lock() {
        std::mem::swap(&mut *o, spare);
    }
}

/// Takes everything out of an outbox, leaving it room for as many records (so the next
/// round's pushes do not grow it from nothing).
pub fn drain(outbox: &Outbox) -> Vec<ProducedRecord> {
    outbox
        .lock()
        .map(|mut o| {
            let room = o.len();
            std::mem::replace(&mut *o, Vec::with_capacity(room))
        })
        .unwrap_or_default()
}

/// A task's record collector: appends to the thread's outbox.
pub struct KafkaRecordCollector {
    outbox: Outbox,
    partitions: Arc<HashMap<String, i32>>,
}

impl KafkaRecordCollector {
    /// A collector over `outbox`, reporting the partition counts in `partitions`.
    pub fn new(outbox: Outbox, partitions: Arc<HashMap<String, i32>>) -> Self {
        KafkaRecordCollector { outbox, partitions }
    }
}

impl RecordCollector for KafkaRecordCollector {
    fn send(&mut self, record: ProducedRecord) -> Result<()> {
        self.outbox
            .lock()
            .map_err(|_| StreamsError::Fatal("outbox poisoned".into()))?
            .push(record);
        Ok(())
    }

    fn partitions_for(&self, topic: &str) -> Option<i32> {
        self.partitions.get(topic).copied()
    }
}

/// A task's changelog writer: store changes go to `<store's changelog topic>` at the task's
/// partition.
pub struct TaskChangelogWriter {
    outbox: Outbox,
    /// store name → changelog topic.
    /// Store name to changelog topic (shared with every record written: no copy per record).
    topics: HashMap<String, Arc<str>>,
    partition: i32,
    clock: SharedClock,
}

impl TaskChangelogWriter {
    /// A writer for the task on `partition`.
    pub fn new(
        outbox: Outbox,
        topics: HashMap<String, String>,
        partition: i32,
        clock: SharedClock,
    ) -> Self {
        TaskChangelogWriter {
            outbox,
            topics: topics
                .into_iter()
                .map(|(store, topic)| (store, topic.into()))
                .collect(),
            partition,
            clock,
        }
    }
}

impl ChangelogWriter for TaskChangelogWriter {
    fn log_change(&self, store: &str, key: &[u8], value: Option<&[u8]>) {
        let Some(topic) = self.topics.get(store) else {
            return;
        };
        if let Ok(mut o) = self.outbox.lock() {
            o.push(ProducedRecord {
                topic: topic.clone(),
                partition: Some(self.partition),
                key: Some(key.to_vec()),
                value: value.map(<[u8]>::to_vec),
                timestamp: self.clock.now_ms(),
                headers: Default::default(),
                origin: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_core::MockClock;

    /// A writer into `outbox` logging store "s" to `topic`, for the task on `partition`, with
    /// the clock at `now`.
    fn writer(outbox: &Outbox, topic: &str, partition: i32, now: i64) -> TaskChangelogWriter {
        TaskChangelogWriter::new(
            outbox.clone(),
            HashMap::from([("s".to_string(), topic.to_string())]),
            partition,
            Arc::new(MockClock::new(now)),
        )
    }

    #[test]
    fn changelog_writes_go_to_the_task_partition() {
        let outbox = Outbox::default();
        let w = writer(&outbox, "app-s-changelog", 3, 7);
        w.log_change("s", b"k", Some(b"v"));
        w.log_change("other", b"k", None);
        let out = drain(&outbox);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].partition, Some(3));
        assert_eq!(&*out[0].topic, "app-s-changelog");
        assert_eq!(out[0].timestamp, 7);
        assert!(drain(&outbox).is_empty());
    }

    #[test]
    fn swap_out_alternates_two_buffers() {
        let outbox = Outbox::default();
        let w = writer(&outbox, "c", 0, 0);
        let mut spare = Vec::with_capacity(64);
        let spare_buffer = spare.as_ptr();
        w.log_change("s", b"a", None);
        w.log_change("s", b"b", None);
        swap_out(&outbox, &mut spare);
        let keys: Vec<_> = spare.drain(..).filter_map(|r| r.key).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
        // The outbox now writes into the spare's buffer, and the next swap hands back the
        // buffer just drained: no new allocation on either side.
        let outbox_buffer = outbox.lock().unwrap().as_ptr();
        assert_eq!(outbox_buffer, spare_buffer);
        w.log_change("s", b"c", None);
        let drained_buffer = spare.as_ptr();
        swap_out(&outbox, &mut spare);
        assert_eq!(spare.as_ptr(), spare_buffer);
        assert_eq!(spare.len(), 1);
        assert_eq!(outbox.lock().unwrap().as_ptr(), drained_buffer);
    }
}
