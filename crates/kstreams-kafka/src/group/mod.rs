//! Classic consumer group membership: the pure member state machine
//! ([`group_membership`]) and the coordinator requests and heartbeat that drive it
//! ([`consumer_coordinator`]).

pub mod consumer_coordinator;
pub mod group_membership;

pub use group_membership::{
    GroupAction, GroupMembership, JoinResult, MemberState, PartitionFate, Transition,
};
