//! [`StateRestoreListener`]: hears how restoring the stores from their changelogs (and the
//! global stores from their topics) goes, as Kafka Streams' listener of the same name: for
//! readiness checks and progress reports while an instance restores after a crash or a
//! rebalance.

use kstreams_kafka::TopicPartition;

/// Callbacks on restoration, per changelog (or global topic) partition and store. They run
/// on the restoring thread, between its polls: keep them short. Every method does nothing by
/// default.
pub trait StateRestoreListener: Send + Sync + 'static {
    /// Restoring `store` from `partition` starts at `start_offset`; the partition ends at
    /// `end_offset` (its high watermark, or last stable offset under exactly-once), so
    /// `end_offset - start_offset` offsets are left (control records included).
    fn on_restore_start(
        &self,
        partition: &TopicPartition,
        store: &str,
        start_offset: i64,
        end_offset: i64,
    ) {
        let _ = (partition, store, start_offset, end_offset);
    }

    /// A poll's records of `partition` are applied: `restored` of them, the last at
    /// `batch_end_offset`.
    fn on_batch_restored(
        &self,
        partition: &TopicPartition,
        store: &str,
        batch_end_offset: i64,
        restored: u64,
    ) {
        let _ = (partition, store, batch_end_offset, restored);
    }

    /// `store` has caught up with `partition`'s end, after `total_restored` records.
    fn on_restore_end(&self, partition: &TopicPartition, store: &str, total_restored: u64) {
        let _ = (partition, store, total_restored);
    }
}

/// What one restoration pass tells its listener: the stores of the partitions, the records
/// of the current poll and the totals. Keeps the bookkeeping out of the restore loops.
pub(crate) struct RestoreProgress<'a> {
    listener: &'a dyn StateRestoreListener,
    batch: std::collections::BTreeMap<TopicPartition, (i64, u64)>,
    totals: std::collections::HashMap<TopicPartition, u64>,
}

impl<'a> RestoreProgress<'a> {
    pub(crate) fn new(listener: &'a dyn StateRestoreListener) -> Self {
        RestoreProgress {
            listener,
            batch: Default::default(),
            totals: Default::default(),
        }
    }

    /// Notes one applied record of `partition` at `offset`.
    pub(crate) fn record(&mut self, partition: &TopicPartition, offset: i64) {
        match self.batch.get_mut(partition) {
            Some((last, n)) => {
                *last = offset;
                *n += 1;
            }
            None => {
                self.batch.insert(partition.clone(), (offset, 1));
            }
        }
    }

    /// Reports the poll's batches (`store_of` names each partition's store).
    pub(crate) fn end_batch<'s>(&mut self, store_of: impl Fn(&TopicPartition) -> Option<&'s str>) {
        for (tp, (last, n)) in std::mem::take(&mut self.batch) {
            if let Some(store) = store_of(&tp) {
                self.listener.on_batch_restored(&tp, store, last, n);
            }
            *self.totals.entry(tp).or_insert(0) += n;
        }
    }

    pub(crate) fn start(&self, partition: &TopicPartition, store: &str, start: i64, end: i64) {
        self.listener.on_restore_start(partition, store, start, end);
    }

    pub(crate) fn end(&self, partition: &TopicPartition, store: &str) {
        let total = self.totals.get(partition).copied().unwrap_or(0);
        self.listener.on_restore_end(partition, store, total);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl StateRestoreListener for Log {
        fn on_restore_start(&self, tp: &TopicPartition, store: &str, start: i64, end: i64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("start {tp} {store} {start}..{end}"));
        }
        fn on_batch_restored(&self, tp: &TopicPartition, store: &str, last: i64, n: u64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("batch {tp} {store} {last} {n}"));
        }
        fn on_restore_end(&self, tp: &TopicPartition, store: &str, total: u64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("end {tp} {store} {total}"));
        }
    }

    #[test]
    fn batches_and_totals_per_partition() {
        let log = Log::default();
        let (a, b) = (TopicPartition::new("c", 0), TopicPartition::new("c", 1));
        let store_of = |_: &TopicPartition| Some("s");
        let mut p = RestoreProgress::new(&log);
        p.start(&a, "s", 0, 5);
        for o in [0, 1, 2] {
            p.record(&a, o);
        }
        p.record(&b, 7);
        p.end_batch(store_of);
        p.record(&a, 4);
        p.end_batch(store_of);
        p.end_batch(store_of);
        p.end(&a, "s");
        p.end(&b, "s");
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                "start c-0 s 0..5",
                "batch c-0 s 2 3",
                "batch c-1 s 7 1",
                "batch c-0 s 4 1",
                "end c-0 s 4",
                "end c-1 s 1"
            ]
        );
    }
}
