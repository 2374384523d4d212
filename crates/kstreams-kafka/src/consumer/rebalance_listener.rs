//! [`ConsumerRebalanceListener`]: callbacks around a rebalance.

use crate::types::TopicPartition;

/// Called by [`crate::consumer::Consumer::poll`] when the group's assignment changes. The
/// consumer uses the eager protocol: before every rejoin all owned partitions are revoked (or
/// lost), then the new assignment is announced.
pub trait ConsumerRebalanceListener: Send {
    /// The member gives these partitions up; it still owns them, so their offsets may be
    /// committed (with auto-commit the consumer commits the positions right before this call).
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }

    /// The member now owns these partitions (possibly none).
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }

    /// The member lost these partitions (fenced, or its session expired): another member may
    /// own them already, so nothing must be committed for them. Defaults to
    /// [`Self::on_partitions_revoked`], as in the Java client.
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(partitions);
    }
}

/// A listener that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOpRebalanceListener;

impl ConsumerRebalanceListener for NoOpRebalanceListener {}
