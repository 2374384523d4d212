//! The classic group protocol's member lifecycle as a pure state machine.
//!
//! The consumer feeds it what it observed (a JoinGroup, SyncGroup or Heartbeat response, a
//! leave) and performs the [`Transition`] it returns: which request to send next and what
//! becomes of the partitions the member owns. It does no I/O, so every error path is tested
//! here without a broker. Error handling follows the Java client's `AbstractCoordinator`
//! (eager protocol):
//!
//! | response error | what happens |
//! | --- | --- |
//! | `MEMBER_ID_REQUIRED` (join) | keep the member id the coordinator handed out, join again |
//! | `UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION` | reset member id and generation, partitions are **lost**, join again |
//! | `REBALANCE_IN_PROGRESS` | partitions are **revoked** (they can still be committed), join again |
//! | `NOT_COORDINATOR`, `COORDINATOR_NOT_AVAILABLE` | find the coordinator, then retry |
//! | other retriable codes | back off and retry the same step |
//! | `FENCED_INSTANCE_ID` | fatal: another instance took this static id |
//! | anything else | fatal |

use bytes::Bytes;

use crate::error::{KafkaError, is_retriable_code};
use crate::types::ConsumerGroupMetadata;

/// No error.
pub const NONE: i16 = 0;
/// `COORDINATOR_LOAD_IN_PROGRESS`.
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// `COORDINATOR_NOT_AVAILABLE`.
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// `NOT_COORDINATOR`.
pub const NOT_COORDINATOR: i16 = 16;
/// `ILLEGAL_GENERATION`.
pub const ILLEGAL_GENERATION: i16 = 22;
/// `UNKNOWN_MEMBER_ID`.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// `REBALANCE_IN_PROGRESS`.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// `MEMBER_ID_REQUIRED`.
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// `FENCED_INSTANCE_ID`.
pub const FENCED_INSTANCE_ID: i16 = 82;

/// Where the member is in the group lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Not in the group (never joined, or reset).
    Unjoined,
    /// A JoinGroup request is outstanding.
    Joining,
    /// Joined; a SyncGroup request is outstanding.
    AwaitingSync,
    /// Has an assignment for the current generation; heartbeating.
    Stable,
    /// A LeaveGroup request is outstanding.
    Leaving,
    /// Closed or failed fatally; no further transitions.
    Dead,
}

/// What becomes of the partitions the member owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionFate {
    /// Nothing changes.
    Keep,
    /// Revoke them (the member still owns them now, so it may commit their offsets first).
    Revoke,
    /// They are lost: another member may already own them; do not commit.
    Lose,
}

/// The next step the consumer takes.
#[derive(Debug)]
pub enum GroupAction {
    /// Nothing to send.
    None,
    /// Send JoinGroup (with [`GroupMembership::member_id`]).
    Join,
    /// Send SyncGroup; the leader computes and sends every member's assignment.
    Sync {
        /// Whether this member leads the generation.
        leader: bool,
    },
    /// The member is stable with these (encoded) assignment bytes.
    Assigned(Bytes),
    /// Rediscover the coordinator, then join again.
    FindCoordinator,
    /// Back off, then repeat the step that failed.
    Backoff,
    /// Stop: the error is fatal (or fenced) for this member.
    Fail(KafkaError),
}

/// The result of feeding one observation to the state machine.
#[derive(Debug)]
pub struct Transition {
    /// What to do next.
    pub action: GroupAction,
    /// What becomes of the owned partitions (applied before `action`).
    pub partitions: PartitionFate,
}

impl Transition {
    fn new(action: GroupAction, partitions: PartitionFate) -> Self {
        Transition { action, partitions }
    }
}

/// The facts of a JoinGroup response the state machine needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinResult {
    /// The error code.
    pub error_code: i16,
    /// The generation the coordinator formed.
    pub generation_id: i32,
    /// The member id the coordinator assigned.
    pub member_id: String,
    /// The leader's member id.
    pub leader: String,
    /// The chosen protocol (assignor) name.
    pub protocol_name: Option<String>,
}

/// The group membership of one member.
#[derive(Debug, Clone)]
pub struct GroupMembership {
    group_id: String,
    group_instance_id: Option<String>,
    state: MemberState,
    member_id: String,
    generation_id: i32,
    leader_id: String,
    protocol_name: Option<String>,
}

fn broker_error(api: &'static str, code: i16) -> KafkaError {
    KafkaError::Broker {
        api,
        code,
        name: match code {
            ILLEGAL_GENERATION => "ILLEGAL_GENERATION",
            UNKNOWN_MEMBER_ID => "UNKNOWN_MEMBER_ID",
            FENCED_INSTANCE_ID => "FENCED_INSTANCE_ID",
            23 => "INCONSISTENT_GROUP_PROTOCOL",
            24 => "INVALID_GROUP_ID",
            26 => "INVALID_SESSION_TIMEOUT",
            30 => "GROUP_AUTHORIZATION_FAILED",
            81 => "GROUP_MAX_SIZE_REACHED",
            _ => "UNEXPECTED_ERROR",
        },
        message: None,
    }
}

impl GroupMembership {
    /// A member of `group_id`, static when `group_instance_id` is set.
    pub fn new(group_id: impl Into<String>, group_instance_id: Option<String>) -> Self {
        GroupMembership {
            group_id: group_id.into(),
            group_instance_id,
            state: MemberState::Unjoined,
            member_id: String::new(),
            generation_id: -1,
            leader_id: String::new(),
            protocol_name: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The member id ("" before the first join).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The generation (-1 when not in a generation).
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    /// The static member id, if any.
    pub fn group_instance_id(&self) -> Option<&str> {
        self.group_instance_id.as_deref()
    }

    /// The protocol (assignor) the generation chose.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    /// Whether this member leads the current generation.
    pub fn is_leader(&self) -> bool {
        !self.member_id.is_empty() && self.member_id == self.leader_id
    }

    /// Whether heartbeats should be sent.
    pub fn should_heartbeat(&self) -> bool {
        self.state == MemberState::Stable
    }

    /// The metadata a transactional producer sends with offsets (KIP-447).
    pub fn group_metadata(&self) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: self.group_id.clone(),
            generation_id: self.generation_id,
            member_id: self.member_id.clone(),
            group_instance_id: self.group_instance_id.clone(),
        }
    }

    /// Resets to "not in a generation" (member id forgotten, as after UNKNOWN_MEMBER_ID).
    fn reset(&mut self) {
        self.member_id.clear();
        self.generation_id = -1;
        self.leader_id.clear();
        self.protocol_name = None;
        self.state = MemberState::Unjoined;
    }

    fn fail(&mut self, error: KafkaError) -> Transition {
        self.state = MemberState::Dead;
        Transition::new(GroupAction::Fail(error), PartitionFate::Lose)
    }

    /// A JoinGroup request is about to be sent. Returns false when the member is dead or
    /// leaving (nothing must be sent).
    pub fn begin_join(&mut self) -> bool {
        match self.state {
            MemberState::Dead | MemberState::Leaving => false,
            _ => {
                self.state = MemberState::Joining;
                true
            }
        }
    }

    /// Feeds a JoinGroup response.
    pub fn on_join_response(&mut self, r: &JoinResult) -> Transition {
        if self.state != MemberState::Joining {
            return Transition::new(GroupAction::None, PartitionFate::Keep);
        }
        match r.error_code {
            NONE => {
                self.member_id = r.member_id.clone();
                self.generation_id = r.generation_id;
                self.leader_id = r.leader.clone();
                self.protocol_name = r.protocol_name.clone();
                self.state = MemberState::AwaitingSync;
                Transition::new(
                    GroupAction::Sync {
                        leader: self.is_leader(),
                    },
                    PartitionFate::Keep,
                )
            }
            MEMBER_ID_REQUIRED => {
                self.member_id = r.member_id.clone();
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::Join, PartitionFate::Keep)
            }
            UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION => {
                self.reset();
                Transition::new(GroupAction::Join, PartitionFate::Lose)
            }
            REBALANCE_IN_PROGRESS => {
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::Join, PartitionFate::Keep)
            }
            NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE => {
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::FindCoordinator, PartitionFate::Keep)
            }
            code if code != FENCED_INSTANCE_ID && is_retriable_code(code) => {
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::Backoff, PartitionFate::Keep)
            }
            code => self.fail(broker_error("JoinGroup", code)),
        }
    }

    /// Feeds a SyncGroup response (`protocol_name` is the one it reports, if any).
    pub fn on_sync_response(
        &mut self,
        error_code: i16,
        assignment: Bytes,
        protocol_name: Option<&str>,
    ) -> Transition {
        if self.state != MemberState::AwaitingSync {
            return Transition::new(GroupAction::None, PartitionFate::Keep);
        }
        match error_code {
            NONE => {
                if let (Some(got), Some(want)) = (protocol_name, self.protocol_name.as_deref())
                    && got != want
                {
                    return self.fail(KafkaError::Protocol {
                        broker: String::new(),
                        message: format!(
                            "SyncGroup protocol {got} differs from JoinGroup protocol {want}"
                        ),
                    });
                }
                self.state = MemberState::Stable;
                Transition::new(GroupAction::Assigned(assignment), PartitionFate::Keep)
            }
            REBALANCE_IN_PROGRESS => {
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::Join, PartitionFate::Revoke)
            }
            UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION => {
                self.reset();
                Transition::new(GroupAction::Join, PartitionFate::Lose)
            }
            NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE => {
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::FindCoordinator, PartitionFate::Revoke)
            }
            code if code != FENCED_INSTANCE_ID && is_retriable_code(code) => {
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::Join, PartitionFate::Revoke)
            }
            code => self.fail(broker_error("SyncGroup", code)),
        }
    }

    /// Feeds a Heartbeat response.
    pub fn on_heartbeat_response(&mut self, error_code: i16) -> Transition {
        if self.state != MemberState::Stable {
            return Transition::new(GroupAction::None, PartitionFate::Keep);
        }
        match error_code {
            NONE => Transition::new(GroupAction::None, PartitionFate::Keep),
            REBALANCE_IN_PROGRESS => {
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::Join, PartitionFate::Revoke)
            }
            UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION => {
                self.reset();
                Transition::new(GroupAction::Join, PartitionFate::Lose)
            }
            NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE => {
                Transition::new(GroupAction::FindCoordinator, PartitionFate::Keep)
            }
            code if code != FENCED_INSTANCE_ID && is_retriable_code(code) => {
                Transition::new(GroupAction::Backoff, PartitionFate::Keep)
            }
            code => self.fail(broker_error("Heartbeat", code)),
        }
    }

    /// No heartbeat succeeded within the session timeout: the coordinator has most likely
    /// evicted the member, so its partitions are lost and it joins again as a new member
    /// (a static member keeps its instance id and gets its old assignment back).
    pub fn on_session_timeout(&mut self) -> Transition {
        match self.state {
            MemberState::Dead | MemberState::Leaving | MemberState::Unjoined => {
                Transition::new(GroupAction::None, PartitionFate::Keep)
            }
            _ => {
                self.reset();
                Transition::new(GroupAction::Join, PartitionFate::Lose)
            }
        }
    }

    /// `max.poll.interval.ms` passed without a poll: the application is stuck, so the member
    /// leaves the group proactively, as the Java client does, and the others take over its
    /// partitions. Returns the member id to send LeaveGroup with (dynamic members only; a
    /// static member just stops, and its session timeout decides) and the transition: the
    /// partitions are lost and the next poll joins again as a new member.
    pub fn on_poll_timeout(&mut self) -> (Option<String>, Transition) {
        match self.state {
            MemberState::Dead | MemberState::Leaving | MemberState::Unjoined => (
                None,
                Transition::new(GroupAction::None, PartitionFate::Keep),
            ),
            _ => {
                let leave = (self.group_instance_id.is_none() && !self.member_id.is_empty())
                    .then(|| self.member_id.clone());
                self.reset();
                (
                    leave,
                    Transition::new(GroupAction::Join, PartitionFate::Lose),
                )
            }
        }
    }

    /// The application asked for a rejoin (e.g. the subscription changed).
    pub fn request_rejoin(&mut self) -> Transition {
        match self.state {
            MemberState::Stable | MemberState::AwaitingSync => {
                self.state = MemberState::Unjoined;
                Transition::new(GroupAction::Join, PartitionFate::Revoke)
            }
            _ => Transition::new(GroupAction::None, PartitionFate::Keep),
        }
    }

    /// Starts leaving. Returns whether a LeaveGroup request must be sent: a static member
    /// does not leave on close (its session timeout lets it come back with its assignment),
    /// and a member without a member id has nothing to leave.
    pub fn begin_leave(&mut self) -> bool {
        let send = self.group_instance_id.is_none()
            && !self.member_id.is_empty()
            && !matches!(self.state, MemberState::Dead | MemberState::Leaving);
        self.state = MemberState::Leaving;
        send
    }

    /// The leave completed (or was skipped): the member is dead.
    pub fn on_left(&mut self) {
        self.member_id.clear();
        self.generation_id = -1;
        self.state = MemberState::Dead;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(member: &str, leader: &str, generation: i32) -> JoinResult {
        JoinResult {
            error_code: NONE,
            generation_id: generation,
            member_id: member.into(),
            leader: leader.into(),
            protocol_name: Some("range".into()),
        }
    }

    fn stable(member: &str) -> GroupMembership {
        let mut m = GroupMembership::new("g", None);
        assert!(m.begin_join());
        m.on_join_response(&joined(member, member, 1));
        m.on_sync_response(NONE, Bytes::new(), Some("range"));
        assert_eq!(m.state(), MemberState::Stable);
        m
    }

    #[test]
    fn happy_path_leader_and_follower() {
        let mut m = GroupMembership::new("g", None);
        assert_eq!(m.state(), MemberState::Unjoined);
        assert!(m.begin_join());
        let t = m.on_join_response(&joined("m1", "m1", 4));
        assert!(matches!(t.action, GroupAction::Sync { leader: true }));
        assert_eq!(m.state(), MemberState::AwaitingSync);
        assert!(!m.should_heartbeat());
        let t = m.on_sync_response(NONE, Bytes::from_static(b"a"), Some("range"));
        assert!(matches!(t.action, GroupAction::Assigned(ref b) if b.as_ref() == b"a"));
        assert_eq!(m.state(), MemberState::Stable);
        assert!(m.should_heartbeat());
        assert_eq!(m.generation_id(), 4);
        let md = m.group_metadata();
        assert_eq!((md.generation_id, md.member_id.as_str()), (4, "m1"));

        let mut f = GroupMembership::new("g", None);
        f.begin_join();
        let t = f.on_join_response(&joined("m2", "m1", 4));
        assert!(matches!(t.action, GroupAction::Sync { leader: false }));
        assert!(!f.is_leader());
    }

    #[test]
    fn member_id_required_rejoins_with_the_given_id() {
        let mut m = GroupMembership::new("g", None);
        m.begin_join();
        let t = m.on_join_response(&JoinResult {
            error_code: MEMBER_ID_REQUIRED,
            member_id: "assigned-1".into(),
            generation_id: -1,
            ..Default::default()
        });
        assert!(matches!(t.action, GroupAction::Join));
        assert_eq!(t.partitions, PartitionFate::Keep);
        assert_eq!(m.member_id(), "assigned-1");
        assert!(m.begin_join());
        m.on_join_response(&joined("assigned-1", "assigned-1", 1));
        assert_eq!(m.state(), MemberState::AwaitingSync);
    }

    #[test]
    fn unknown_member_and_illegal_generation_reset_and_lose() {
        for code in [UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION] {
            // From a heartbeat.
            let mut m = stable("m1");
            let t = m.on_heartbeat_response(code);
            assert!(matches!(t.action, GroupAction::Join));
            assert_eq!(t.partitions, PartitionFate::Lose);
            assert_eq!(m.member_id(), "");
            assert_eq!(m.generation_id(), -1);
            assert_eq!(m.state(), MemberState::Unjoined);
            // From a sync.
            let mut m = GroupMembership::new("g", None);
            m.begin_join();
            m.on_join_response(&joined("m1", "m0", 2));
            let t = m.on_sync_response(code, Bytes::new(), None);
            assert_eq!(t.partitions, PartitionFate::Lose);
            assert_eq!(m.member_id(), "");
            // From a join.
            let mut m = stable("m1");
            m.begin_join();
            let t = m.on_join_response(&JoinResult {
                error_code: code,
                ..Default::default()
            });
            assert!(matches!(t.action, GroupAction::Join));
            assert_eq!(t.partitions, PartitionFate::Lose);
            assert_eq!(m.member_id(), "");
        }
    }

    #[test]
    fn rebalance_in_progress_rejoins_keeping_member_id_and_revoking() {
        let mut m = stable("m1");
        let t = m.on_heartbeat_response(REBALANCE_IN_PROGRESS);
        assert!(matches!(t.action, GroupAction::Join));
        assert_eq!(t.partitions, PartitionFate::Revoke);
        assert_eq!(m.member_id(), "m1");
        assert_eq!(m.generation_id(), 1);

        let mut m = GroupMembership::new("g", None);
        m.begin_join();
        m.on_join_response(&joined("m1", "m0", 2));
        let t = m.on_sync_response(REBALANCE_IN_PROGRESS, Bytes::new(), None);
        assert!(matches!(t.action, GroupAction::Join));
        assert_eq!(t.partitions, PartitionFate::Revoke);
        assert_eq!(m.member_id(), "m1");
    }

    #[test]
    fn coordinator_errors_rediscover() {
        for code in [NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE] {
            let mut m = GroupMembership::new("g", None);
            m.begin_join();
            let t = m.on_join_response(&JoinResult {
                error_code: code,
                ..Default::default()
            });
            assert!(matches!(t.action, GroupAction::FindCoordinator));
            let mut m = stable("m1");
            let t = m.on_heartbeat_response(code);
            assert!(matches!(t.action, GroupAction::FindCoordinator));
            assert_eq!(t.partitions, PartitionFate::Keep);
            assert_eq!(m.state(), MemberState::Stable);
        }
        let mut m = GroupMembership::new("g", None);
        m.begin_join();
        let t = m.on_join_response(&JoinResult {
            error_code: COORDINATOR_LOAD_IN_PROGRESS,
            ..Default::default()
        });
        assert!(matches!(t.action, GroupAction::Backoff));
    }

    #[test]
    fn fenced_instance_and_unknown_errors_are_fatal() {
        let mut m = GroupMembership::new("g", Some("i1".into()));
        m.begin_join();
        let t = m.on_join_response(&JoinResult {
            error_code: FENCED_INSTANCE_ID,
            ..Default::default()
        });
        match t.action {
            GroupAction::Fail(e) => assert!(e.is_fenced(), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.state(), MemberState::Dead);
        assert!(!m.begin_join());

        let mut m = stable("m1");
        let t = m.on_heartbeat_response(30);
        assert!(matches!(t.action, GroupAction::Fail(_)));
        let mut m = GroupMembership::new("g", None);
        m.begin_join();
        let t = m.on_join_response(&JoinResult {
            error_code: 26,
            ..Default::default()
        });
        assert!(
            matches!(t.action, GroupAction::Fail(ref e) if e.to_string().contains("INVALID_SESSION_TIMEOUT"))
        );
    }

    #[test]
    fn mismatched_sync_protocol_is_fatal() {
        let mut m = GroupMembership::new("g", None);
        m.begin_join();
        m.on_join_response(&joined("m1", "m1", 1));
        let t = m.on_sync_response(NONE, Bytes::new(), Some("sticky"));
        assert!(matches!(t.action, GroupAction::Fail(_)));
    }

    #[test]
    fn stale_responses_are_ignored() {
        let mut m = stable("m1");
        let t = m.on_join_response(&joined("x", "x", 9));
        assert!(matches!(t.action, GroupAction::None));
        let t = m.on_sync_response(NONE, Bytes::new(), None);
        assert!(matches!(t.action, GroupAction::None));
        assert_eq!(m.generation_id(), 1);
        let mut j = GroupMembership::new("g", None);
        j.begin_join();
        let t = j.on_heartbeat_response(REBALANCE_IN_PROGRESS);
        assert!(matches!(t.action, GroupAction::None));
    }

    #[test]
    fn poll_timeout_leaves_dynamic_members_and_loses_partitions() {
        let mut m = stable("m1");
        let member = m.member_id().to_owned();
        let (leave, t) = m.on_poll_timeout();
        assert_eq!(leave, Some(member));
        assert!(matches!(t.action, GroupAction::Join));
        assert_eq!(t.partitions, PartitionFate::Lose);
        assert_eq!(m.state(), MemberState::Unjoined);
        assert_eq!(m.generation_id(), -1);
        // Once unjoined, nothing more happens until the next join.
        let (leave, t) = m.on_poll_timeout();
        assert_eq!(leave, None);
        assert!(matches!(t.action, GroupAction::None));

        // A static member does not send LeaveGroup but still loses its partitions.
        let mut s = GroupMembership::new("g", Some("instance-1".into()));
        assert!(s.begin_join());
        s.on_join_response(&joined("m2", "m2", 3));
        s.on_sync_response(NONE, Bytes::new(), Some("range"));
        let (leave, t) = s.on_poll_timeout();
        assert_eq!(leave, None);
        assert_eq!(t.partitions, PartitionFate::Lose);
        assert_eq!(s.group_instance_id(), Some("instance-1"));
    }

    #[test]
    fn session_timeout_loses_partitions() {
        let mut m = stable("m1");
        let t = m.on_session_timeout();
        assert_eq!(t.partitions, PartitionFate::Lose);
        assert!(matches!(t.action, GroupAction::Join));
        assert_eq!(m.member_id(), "");
        let mut u = GroupMembership::new("g", None);
        assert!(matches!(u.on_session_timeout().action, GroupAction::None));
    }

    #[test]
    fn leave_dynamic_sends_static_does_not() {
        let mut m = stable("m1");
        assert!(m.begin_leave());
        assert_eq!(m.state(), MemberState::Leaving);
        assert!(!m.begin_join());
        m.on_left();
        assert_eq!(m.state(), MemberState::Dead);

        let mut s = GroupMembership::new("g", Some("inst".into()));
        s.begin_join();
        s.on_join_response(&joined("m1", "m1", 1));
        s.on_sync_response(NONE, Bytes::new(), None);
        assert!(!s.begin_leave());
        assert_eq!(
            s.group_metadata().group_instance_id.as_deref(),
            Some("inst")
        );

        let mut never = GroupMembership::new("g", None);
        assert!(!never.begin_leave());
    }

    #[test]
    fn request_rejoin_revokes_only_when_in_a_generation() {
        let mut m = stable("m1");
        let t = m.request_rejoin();
        assert!(matches!(t.action, GroupAction::Join));
        assert_eq!(t.partitions, PartitionFate::Revoke);
        let t = m.request_rejoin();
        assert!(matches!(t.action, GroupAction::None));
    }
}
