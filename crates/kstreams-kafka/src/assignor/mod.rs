//! Partition assignment for the classic group protocol.
//!
//! The group leader runs one [`PartitionAssignor`] (the one all members list, first in the
//! leader's preference order) over every member's [`Subscription`] and returns an
//! [`Assignment`] per member. Both carry opaque user data, so a streams-aware assignor can
//! send task state in the subscription and task maps back in the assignment. Shipped:
//! [`RangeAssignor`] (`"range"`, the Java client's default) and [`StickyAssignor`]
//! (`"sticky"`). [`consumer_protocol`] encodes both messages as the Java client does.

pub mod consumer_protocol;
pub mod range_assignor;
pub mod sticky_assignor;

pub use range_assignor::RangeAssignor;
pub use sticky_assignor::StickyAssignor;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::error::Result;
use crate::types::TopicPartition;

/// What a member sends when it joins: its topics, its assignor's user data and what it owns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// The assignor's opaque data for this member.
    pub user_data: Option<Bytes>,
    /// Partitions the member owned in its last generation.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the owned partitions are from (-1 if none).
    pub generation_id: i32,
    /// The member's rack, if configured.
    pub rack_id: Option<String>,
}

/// What a member receives from the leader.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The member's partitions.
    pub partitions: Vec<TopicPartition>,
    /// The assignor's opaque data for this member.
    pub user_data: Option<Bytes>,
}

/// A member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member id assigned by the coordinator.
    pub member_id: String,
    /// The static member id (`group.instance.id`), if any.
    pub group_instance_id: Option<String>,
    /// The member's subscription.
    pub subscription: Subscription,
}

impl GroupMember {
    /// The key members are ordered by: the static id when there is one, else the member id
    /// (as the Java client's `MemberInfo` ordering, which keeps static members stable).
    pub fn sort_key(&self) -> (&str, &str) {
        match &self.group_instance_id {
            Some(id) => ("0", id.as_str()),
            None => ("1", self.member_id.as_str()),
        }
    }
}

/// An assignment strategy of the classic consumer protocol.
///
/// Implementations are shared between the consumer's tasks, hence `Send + Sync`; keep
/// per-member state behind interior mutability.
pub trait PartitionAssignor: Send + Sync + std::fmt::Debug {
    /// The protocol name sent in JoinGroup (e.g. `"range"`).
    fn name(&self) -> &str;

    /// The opaque data to put in this member's subscription for `topics`.
    fn subscription_user_data(&self, topics: &[String]) -> Option<Bytes> {
        let _ = topics;
        None
    }

    /// Computes every member's assignment (run by the group leader only). `partitions_per_topic`
    /// holds the partition count of every subscribed topic that exists. The result must have
    /// an entry for every member id.
    fn assign(
        &self,
        members: &[GroupMember],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> Result<BTreeMap<String, Assignment>>;

    /// Called on every member with its own assignment once SyncGroup completes.
    fn on_assignment(&self, assignment: &Assignment, generation_id: i32) {
        let _ = (assignment, generation_id);
    }
}

/// Sorts each assignment's partitions (by topic, then partition) for stable output.
pub(crate) fn sorted(mut out: BTreeMap<String, Assignment>) -> BTreeMap<String, Assignment> {
    for a in out.values_mut() {
        a.partitions.sort();
    }
    out
}
