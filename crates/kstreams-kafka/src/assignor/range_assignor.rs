//! The Java client's `RangeAssignor`.

use std::collections::BTreeMap;

use super::{Assignment, GroupMember, PartitionAssignor, sorted};
use crate::error::Result;
use crate::types::TopicPartition;

/// Per topic, splits the partitions into contiguous ranges over the members subscribed to it,
/// ordered by (static id, else) member id; the first `partitions % members` members get one
/// more. Members with the same subscriptions therefore get the same partition numbers of
/// co-partitioned topics, which is what joins of co-partitioned streams rely on.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl PartitionAssignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn assign(
        &self,
        members: &[GroupMember],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> Result<BTreeMap<String, Assignment>> {
        let mut out: BTreeMap<String, Assignment> = members
            .iter()
            .map(|m| (m.member_id.clone(), Assignment::default()))
            .collect();
        let mut ordered: Vec<&GroupMember> = members.iter().collect();
        ordered.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        for (topic, &count) in partitions_per_topic {
            let consumers: Vec<&GroupMember> = ordered
                .iter()
                .copied()
                .filter(|m| m.subscription.topics.iter().any(|t| t == topic))
                .collect();
            if consumers.is_empty() || count <= 0 {
                continue;
            }
            let n = consumers.len() as i32;
            let per = count / n;
            let extra = count % n;
            for (i, member) in consumers.iter().enumerate() {
                let i = i as i32;
                let start = per * i + i.min(extra);
                let len = per + i32::from(i < extra);
                if let Some(a) = out.get_mut(&member.member_id) {
                    a.partitions.extend(
                        (start..start + len).map(|p| TopicPartition::new(topic.clone(), p)),
                    );
                }
            }
        }
        Ok(sorted(out))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::assignor::Subscription;

    pub(crate) fn member(id: &str, topics: &[&str]) -> GroupMember {
        GroupMember {
            member_id: id.to_owned(),
            group_instance_id: None,
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            },
        }
    }

    fn parts(a: &Assignment) -> Vec<(String, i32)> {
        a.partitions
            .iter()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect()
    }

    fn counts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn splits_ranges_with_extras_first() {
        let members = [
            member("b", &["t"]),
            member("a", &["t"]),
            member("c", &["t"]),
        ];
        let out = RangeAssignor
            .assign(&members, &counts(&[("t", 7)]))
            .unwrap();
        assert_eq!(
            parts(&out["a"]),
            vec![("t".into(), 0), ("t".into(), 1), ("t".into(), 2)]
        );
        assert_eq!(parts(&out["b"]), vec![("t".into(), 3), ("t".into(), 4)]);
        assert_eq!(parts(&out["c"]), vec![("t".into(), 5), ("t".into(), 6)]);
    }

    #[test]
    fn co_partitioned_topics_land_together() {
        let members = [member("m2", &["x", "y"]), member("m1", &["x", "y"])];
        let out = RangeAssignor
            .assign(&members, &counts(&[("x", 4), ("y", 4)]))
            .unwrap();
        for a in out.values() {
            let xs: Vec<i32> = a
                .partitions
                .iter()
                .filter(|p| p.topic == "x")
                .map(|p| p.partition)
                .collect();
            let ys: Vec<i32> = a
                .partitions
                .iter()
                .filter(|p| p.topic == "y")
                .map(|p| p.partition)
                .collect();
            assert_eq!(xs, ys);
            assert_eq!(xs.len(), 2);
        }
        assert_eq!(out["m1"].partitions[0], TopicPartition::new("x", 0));
    }

    #[test]
    fn only_subscribers_of_a_topic_get_it_and_everyone_has_an_entry() {
        let members = [
            member("a", &["x"]),
            member("b", &["y"]),
            member("c", &["z"]),
        ];
        let out = RangeAssignor
            .assign(&members, &counts(&[("x", 2), ("y", 1)]))
            .unwrap();
        assert_eq!(out["a"].partitions.len(), 2);
        assert_eq!(out["b"].partitions, vec![TopicPartition::new("y", 0)]);
        assert!(out["c"].partitions.is_empty());
    }

    #[test]
    fn more_members_than_partitions() {
        let members = [
            member("a", &["t"]),
            member("b", &["t"]),
            member("c", &["t"]),
        ];
        let out = RangeAssignor
            .assign(&members, &counts(&[("t", 2)]))
            .unwrap();
        assert_eq!(out["a"].partitions.len(), 1);
        assert_eq!(out["b"].partitions.len(), 1);
        assert!(out["c"].partitions.is_empty());
    }

    #[test]
    fn static_members_are_ordered_by_instance_id() {
        let mut a = member("zzz", &["t"]);
        a.group_instance_id = Some("i-1".into());
        let mut b = member("aaa", &["t"]);
        b.group_instance_id = Some("i-2".into());
        let out = RangeAssignor.assign(&[b, a], &counts(&[("t", 2)])).unwrap();
        assert_eq!(out["zzz"].partitions, vec![TopicPartition::new("t", 0)]);
        assert_eq!(out["aaa"].partitions, vec![TopicPartition::new("t", 1)]);
    }

    #[test]
    fn every_partition_assigned_exactly_once() {
        for n_members in 1..6 {
            for n_parts in 0..12 {
                let members: Vec<GroupMember> = (0..n_members)
                    .map(|i| member(&format!("m{i}"), &["t", "u"]))
                    .collect();
                let out = RangeAssignor
                    .assign(&members, &counts(&[("t", n_parts), ("u", n_parts)]))
                    .unwrap();
                let mut all: Vec<TopicPartition> =
                    out.values().flat_map(|a| a.partitions.clone()).collect();
                all.sort();
                let mut expected: Vec<TopicPartition> = ["t", "u"]
                    .iter()
                    .flat_map(|t| (0..n_parts).map(move |p| TopicPartition::new(*t, p)))
                    .collect();
                expected.sort();
                assert_eq!(all, expected);
                let sizes: Vec<usize> = out.values().map(|a| a.partitions.len()).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 2);
            }
        }
    }
}
