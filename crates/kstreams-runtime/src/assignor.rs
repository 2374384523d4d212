//! The streams assignor: assigns tasks (a sub-topology × a partition), not bare partitions,
//! so the co-partitioned partitions of a task always go to the same member. Tasks are balanced
//! over the members (each stream thread is a member) and stay with their previous owner when
//! that keeps the balance.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kstreams_core::TaskId;
use kstreams_kafka::TopicPartition;
use kstreams_kafka::assignor::{Assignment, GroupMember, PartitionAssignor};

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

/// The [`PartitionAssignor`] of stream threads (protocol name `"stream"`).
#[derive(Debug, Clone)]
pub struct StreamsPartitionAssignor {
    sources: Vec<Vec<String>>,
}

impl StreamsPartitionAssignor {
    /// An assignor for a topology whose sub-topology `i` reads `sources[i]`.
    pub fn new(sources: Vec<Vec<String>>) -> Self {
        StreamsPartitionAssignor { sources }
    }
}

impl PartitionAssignor for StreamsPartitionAssignor {
    fn name(&self) -> &str {
        "stream"
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
        let mut out = BTreeMap::new();
        for (member, ts) in by_member {
            let mut partitions: Vec<TopicPartition> = ts
                .iter()
                .flat_map(|t| tasks.get(t).cloned().unwrap_or_default())
                .collect();
            partitions.sort();
            out.insert(
                member,
                Assignment {
                    partitions,
                    user_data: None,
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
    fn two_subtopologies_make_tasks_of_each() {
        let sources = vec![vec!["in".to_string()], vec!["rep".to_string()]];
        let counts = BTreeMap::from([("in".to_string(), 2), ("rep".to_string(), 3)]);
        let t = tasks_for(&sources, &counts);
        assert_eq!(t.len(), 5);
        assert_eq!(t[&TaskId::new(1, 2)], vec![TopicPartition::new("rep", 2)]);
    }
}
