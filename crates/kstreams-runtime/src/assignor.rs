//! The streams assignor: assigns tasks (a sub-topology × a partition), not bare partitions,
//! so the co-partitioned partitions of a task always go to the same member. Tasks are balanced
//! over the members (each stream thread is a member) and stay with their previous owner when
//! that keeps the balance. Standby tasks go to members of other instances (processes) than the
//! task's active owner, at most one replica per instance; each member's subscription carries
//! its process id and each assignment its standby tasks.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use kstreams_core::TaskId;
use kstreams_kafka::TopicPartition;
use kstreams_kafka::assignor::{Assignment, GroupMember, PartitionAssignor};

use crate::assignment_info::{AssignmentInfo, HostTasks, SubscriptionInfo};
use crate::streams_metadata::ClusterMetadata;

/// The tasks of a topology given the partition counts of its source topics: each task with
/// the partitions it reads.
pub fn tasks_for(
    sources: &[Vec<String>],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> BTreeMap<TaskId, Vec<TopicPartition>> {
    let mut out = BTreeMap::new();
    for (sub, topics) in sources.iter().enumerate() {
        let n = topics
            .iter()
            .filter_map(|t| partitions_per_topic.get(t))
            .copied()
            .max()
            .unwrap_or(0);
        for p in 0..n {
            let tps: Vec<TopicPartition> = topics
                .iter()
                .filter(|t| partitions_per_topic.get(*t).is_some_and(|c| p < *c))
                .map(|t| TopicPartition::new(t.clone(), p))
                .collect();
            out.insert(TaskId::new(sub as u32, p), tps);
        }
    }
    out
}

/// Assigns `tasks` to `members` (in order): balanced (loads differ by at most one), a task
/// stays with its previous owner while that owner is below its share. Returns each member's
/// tasks.
pub fn assign_tasks(
    tasks: &[TaskId],
    members: &[String],
    previous: &HashMap<TaskId, String>,
) -> BTreeMap<String, BTreeSet<TaskId>> {
    let mut out: BTreeMap<String, BTreeSet<TaskId>> = members
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    if members.is_empty() {
        return out;
    }
    let share = tasks.len().div_ceil(members.len());
    let mut rest = Vec::new();
    for t in tasks {
        match previous.get(t) {
            Some(owner) if out.get(owner).is_some_and(|s| s.len() < share) => {
                out.entry(owner.clone()).or_default().insert(*t);
            }
            _ => rest.push(*t),
        }
    }
    for t in rest {
        let target = members
            .iter()
            .min_by_key(|m| out.get(*m).map_or(0, BTreeSet::len))
            .cloned()
            .unwrap_or_default();
        out.entry(target).or_default().insert(t);
    }
    out
}

/// Places `replicas` standby copies of each task on members whose process differs from the
/// active owner's and from the other replicas' (least-loaded first). `active` maps members to
/// their active tasks, `process_of` members to their process.
pub fn assign_standbys(
    active: &BTreeMap<String, BTreeSet<TaskId>>,
    process_of: &HashMap<String, String>,
    replicas: usize,
) -> BTreeMap<String, BTreeSet<TaskId>> {
    let members: Vec<&String> = active.keys().collect();
    let mut out: BTreeMap<String, BTreeSet<TaskId>> = members
        .iter()
        .map(|m| ((*m).clone(), BTreeSet::new()))
        .collect();
    if replicas == 0 {
        return out;
    }
    let process = |m: &String| process_of.get(m).cloned().unwrap_or_else(|| m.clone());
    for (owner, tasks) in active {
        for t in tasks {
            let mut used: HashSet<String> = HashSet::from([process(owner)]);
            for _ in 0..replicas {
                let target = members
                    .iter()
                    .filter(|m| !used.contains(&process(m)))
                    .min_by_key(|m| {
                        out.get(**m).map_or(0, BTreeSet::len)
                            + active.get(**m).map_or(0, BTreeSet::len)
                    })
                    .map(|m| (*m).clone());
                let Some(target) = target else {
                    break;
                };
                used.insert(process(&target));
                out.entry(target).or_default().insert(*t);
            }
        }
    }
    out
}

/// The [`PartitionAssignor`] of stream threads (protocol name `"stream"`).
#[derive(Debug, Clone)]
pub struct StreamsPartitionAssignor {
    sources: Vec<Vec<String>>,
    subscription: SubscriptionInfo,
    standby_replicas: usize,
    /// The standby tasks of this member's latest assignment.
    standbys: Arc<Mutex<Vec<TaskId>>>,
    /// The group's endpoints and their tasks, from the latest assignment.
    cluster: ClusterMetadata,
}

impl StreamsPartitionAssignor {
    /// An assignor for a topology whose sub-topology `i` reads `sources[i]` (no standbys).
    pub fn new(sources: Vec<Vec<String>>) -> Self {
        Self::with_standbys(sources, String::new(), 0, Arc::default())
    }

    /// An assignor that also places `standby_replicas` standby copies of each task on other
    /// processes; this member's standby tasks are written to `standbys` on each assignment.
    pub fn with_standbys(
        sources: Vec<Vec<String>>,
        process_id: String,
        standby_replicas: usize,
        standbys: Arc<Mutex<Vec<TaskId>>>,
    ) -> Self {
        StreamsPartitionAssignor {
            sources,
            subscription: SubscriptionInfo {
                process_id,
                endpoint: None,
            },
            standby_replicas,
            standbys,
            cluster: ClusterMetadata::default(),
        }
    }

    /// Announces this member's `application.server` endpoint to the group.
    pub fn with_endpoint(mut self, endpoint: Option<String>) -> Self {
        self.subscription.endpoint = endpoint;
        self
    }

    /// Keeps the group's endpoint → tasks map of each assignment in `cluster`.
    pub(crate) fn with_cluster_metadata(mut self, cluster: ClusterMetadata) -> Self {
        self.cluster = cluster;
        self
    }
}

impl PartitionAssignor for StreamsPartitionAssignor {
    fn name(&self) -> &str {
        "stream"
    }

    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        Some(self.subscription.encode())
    }

    fn on_assignment(&self, assignment: &Assignment, _generation_id: i32) {
        let info = assignment
            .user_data
            .as_ref()
            .map(|b| AssignmentInfo::decode(b))
            .unwrap_or_default();
        if let Ok(mut s) = self.standbys.lock() {
            *s = info.standby_tasks;
        }
        self.cluster.update(info.hosts);
    }

    fn assign(
        &self,
        members: &[GroupMember],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> kstreams_kafka::Result<BTreeMap<String, Assignment>> {
        let tasks = tasks_for(&self.sources, partitions_per_topic);
        let mut sorted: Vec<&GroupMember> = members.iter().collect();
        sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let ids: Vec<String> = sorted.iter().map(|m| m.member_id.clone()).collect();
        let mut task_of: HashMap<&TopicPartition, TaskId> = HashMap::new();
        for (t, tps) in &tasks {
            for tp in tps {
                task_of.insert(tp, *t);
            }
        }
        let mut previous = HashMap::new();
        for m in &sorted {
            for tp in &m.subscription.owned_partitions {
                if let Some(t) = task_of.get(tp) {
                    previous.insert(*t, m.member_id.clone());
                }
            }
        }
        let task_ids: Vec<TaskId> = tasks.keys().copied().collect();
        let by_member = assign_tasks(&task_ids, &ids, &previous);
        let subscriptions: HashMap<&str, SubscriptionInfo> = sorted
            .iter()
            .map(|m| {
                let info = m
                    .subscription
                    .user_data
                    .as_ref()
                    .map(|b| SubscriptionInfo::decode(b))
                    .unwrap_or_default();
                (m.member_id.as_str(), info)
            })
            .collect();
        let process_of: HashMap<String, String> = subscriptions
            .iter()
            .map(|(member, info)| {
                let p = if info.process_id.is_empty() {
                    member.to_string()
                } else {
                    info.process_id.clone()
                };
                (member.to_string(), p)
            })
            .collect();
        let standbys = assign_standbys(&by_member, &process_of, self.standby_replicas);
        let mut hosts: BTreeMap<String, HostTasks> = BTreeMap::new();
        for (member, info) in &subscriptions {
            let Some(endpoint) = &info.endpoint else {
                continue;
            };
            let host = hosts.entry(endpoint.clone()).or_default();
            host.active
                .extend(by_member.get(*member).into_iter().flatten().copied());
            host.standby
                .extend(standbys.get(*member).into_iter().flatten().copied());
        }
        let mut out = BTreeMap::new();
        for (member, ts) in by_member {
            let info = AssignmentInfo {
                standby_tasks: standbys
                    .get(&member)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default(),
                hosts: hosts.clone(),
            };
            let user_data = Some(info.encode());
            let mut partitions: Vec<TopicPartition> = ts
                .iter()
                .flat_map(|t| tasks.get(t).cloned().unwrap_or_default())
                .collect();
            partitions.sort();
            out.insert(
                member,
                Assignment {
                    partitions,
                    user_data,
                },
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kstreams_kafka::assignor::Subscription;

    fn member(id: &str, owned: Vec<TopicPartition>) -> GroupMember {
        GroupMember {
            member_id: id.into(),
            group_instance_id: None,
            subscription: Subscription {
                topics: vec!["a".into(), "b".into()],
                owned_partitions: owned,
                ..Default::default()
            },
        }
    }

    #[test]
    fn copartitioned_partitions_stay_together_and_load_is_balanced() {
        let a = StreamsPartitionAssignor::new(vec![vec!["a".into(), "b".into()]]);
        let counts = BTreeMap::from([("a".to_string(), 4), ("b".to_string(), 4)]);
        let out = a
            .assign(&[member("m1", vec![]), member("m2", vec![])], &counts)
            .unwrap();
        for asg in out.values() {
            assert_eq!(asg.partitions.len(), 4);
            let ps: BTreeSet<i32> = asg.partitions.iter().map(|tp| tp.partition).collect();
            for p in ps {
                assert!(asg.partitions.contains(&TopicPartition::new("a", p)));
                assert!(asg.partitions.contains(&TopicPartition::new("b", p)));
            }
        }
    }

    #[test]
    fn tasks_stay_with_their_previous_owner() {
        let tasks: Vec<TaskId> = (0..4).map(|p| TaskId::new(0, p)).collect();
        let prev = HashMap::from([
            (TaskId::new(0, 0), "m2".to_string()),
            (TaskId::new(0, 1), "m2".to_string()),
        ]);
        let out = assign_tasks(&tasks, &["m1".into(), "m2".into()], &prev);
        assert!(out["m2"].contains(&TaskId::new(0, 0)));
        assert!(out["m2"].contains(&TaskId::new(0, 1)));
        assert_eq!(out["m1"].len(), 2);
        // An over-loaded previous owner gives tasks away.
        let prev: HashMap<TaskId, String> = tasks.iter().map(|t| (*t, "m1".to_string())).collect();
        let out = assign_tasks(&tasks, &["m1".into(), "m2".into(), "m3".into()], &prev);
        assert_eq!(out["m1"].len(), 2);
        assert_eq!(out.values().map(BTreeSet::len).sum::<usize>(), 4);
    }

    #[test]
    fn standbys_go_to_other_processes() {
        let t = |p| TaskId::new(0, p);
        let active = BTreeMap::from([
            ("a1".to_string(), BTreeSet::from([t(0), t(1)])),
            ("a2".to_string(), BTreeSet::from([t(2)])),
            ("b1".to_string(), BTreeSet::from([t(3)])),
        ]);
        let process_of = HashMap::from([
            ("a1".to_string(), "A".to_string()),
            ("a2".to_string(), "A".to_string()),
            ("b1".to_string(), "B".to_string()),
        ]);
        let s = assign_standbys(&active, &process_of, 1);
        assert_eq!(s["b1"], BTreeSet::from([t(0), t(1), t(2)]));
        let on_a: BTreeSet<TaskId> = s["a1"].union(&s["a2"]).copied().collect();
        assert_eq!(on_a, BTreeSet::from([t(3)]));
        // Two replicas but only two processes: one standby each.
        let s = assign_standbys(&active, &process_of, 2);
        assert_eq!(s.values().map(BTreeSet::len).sum::<usize>(), 4);
        assert!(
            assign_standbys(&active, &process_of, 0)
                .values()
                .all(BTreeSet::is_empty)
        );
    }

    fn subscribed(id: &str, process: &str, endpoint: Option<&str>) -> GroupMember {
        let mut m = member(id, vec![]);
        m.subscription.user_data = Some(
            SubscriptionInfo {
                process_id: process.into(),
                endpoint: endpoint.map(str::to_string),
            }
            .encode(),
        );
        m
    }

    #[test]
    fn assignment_carries_standbys_in_user_data() {
        let received = Arc::new(Mutex::new(Vec::new()));
        let a = StreamsPartitionAssignor::with_standbys(
            vec![vec!["a".into()]],
            "P1".into(),
            1,
            received.clone(),
        );
        let sent = SubscriptionInfo::decode(&a.subscription_user_data(&[]).unwrap());
        assert_eq!((sent.process_id.as_str(), sent.endpoint), ("P1", None));
        let (m1, m2) = (subscribed("m1", "P1", None), subscribed("m2", "P2", None));
        let counts = BTreeMap::from([("a".to_string(), 2)]);
        let out = a.assign(&[m1, m2], &counts).unwrap();
        a.on_assignment(&out["m1"], 1);
        let standby = received.lock().unwrap().clone();
        assert_eq!(standby.len(), 1);
        let active_m1 = &out["m1"].partitions;
        assert!(!active_m1.contains(&TopicPartition::new("a", standby[0].partition)));
    }

    /// Every member learns which endpoint hosts which tasks; threads of one instance share
    /// its endpoint, members without one are left out.
    #[test]
    fn assignments_map_endpoints_to_their_tasks() {
        let cluster = ClusterMetadata::default();
        let a = StreamsPartitionAssignor::with_standbys(
            vec![vec!["a".into()]],
            "A".into(),
            1,
            Arc::default(),
        )
        .with_endpoint(Some("host-a:1".into()))
        .with_cluster_metadata(cluster.clone());
        let members = [
            subscribed("a1", "A", Some("host-a:1")),
            subscribed("a2", "A", Some("host-a:1")),
            subscribed("b1", "B", Some("host-b:2")),
            subscribed("c1", "C", None),
        ];
        let counts = BTreeMap::from([("a".to_string(), 8)]);
        let out = a.assign(&members, &counts).unwrap();
        a.on_assignment(&out["a1"], 1);
        let hosts = cluster.hosts();
        assert_eq!(hosts.keys().collect::<Vec<_>>(), ["host-a:1", "host-b:2"]);
        let active = |m: &str| -> BTreeSet<TaskId> {
            out[m]
                .partitions
                .iter()
                .map(|tp| TaskId::new(0, tp.partition))
                .collect()
        };
        let a_tasks: BTreeSet<TaskId> = active("a1").union(&active("a2")).copied().collect();
        assert_eq!(hosts["host-a:1"].active, a_tasks);
        assert_eq!(hosts["host-b:2"].active, active("b1"));
        // Every member gets the same map.
        for m in ["a2", "b1", "c1"] {
            assert_eq!(
                AssignmentInfo::decode(out[m].user_data.as_ref().unwrap()).hosts,
                hosts
            );
        }
        // Each task has one standby, on another process than its owner.
        for (endpoint, tasks) in &hosts {
            assert!(tasks.active.is_disjoint(&tasks.standby), "{endpoint}");
        }
    }

    #[test]
    fn two_subtopologies_make_tasks_of_each() {
        let sources = vec![vec!["in".to_string()], vec!["rep".to_string()]];
        let counts = BTreeMap::from([("in".to_string(), 2), ("rep".to_string(), 3)]);
        let t = tasks_for(&sources, &counts);
        assert_eq!(t.len(), 5);
        assert_eq!(t[&TaskId::new(1, 2)], vec![TopicPartition::new("rep", 2)]);
    }
}
