//! A sticky assignor: balanced, and keeping each member's owned partitions where it can.

use std::collections::{BTreeMap, BTreeSet};

use super::{Assignment, GroupMember, PartitionAssignor, sorted};
use crate::error::Result;
use crate::types::TopicPartition;

/// Balances partitions over the members subscribed to their topics (counts differ by at most
/// one when all members subscribe to the same topics) while moving as few owned partitions as
/// possible: members keep what they owned up to their quota, unowned partitions go to the
/// least loaded eligible member, and partitions move from the most to the least loaded member
/// only while the counts differ by more than one. When two members claim the same partition
/// the one with the higher generation keeps it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl PartitionAssignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    fn assign(
        &self,
        members: &[GroupMember],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> Result<BTreeMap<String, Assignment>> {
        // Members by id, with their topic sets.
        let subs: BTreeMap<&str, BTreeSet<&str>> = members
            .iter()
            .map(|m| {
                let topics = m.subscription.topics.iter().map(String::as_str).collect();
                (m.member_id.as_str(), topics)
            })
            .collect();
        let eligible = |member: &str, tp: &TopicPartition| {
            subs.get(member)
                .is_some_and(|t| t.contains(tp.topic.as_str()))
        };
        // Every partition some member subscribes to.
        let mut all: BTreeSet<TopicPartition> = BTreeSet::new();
        for (topic, &count) in partitions_per_topic {
            if subs.values().any(|t| t.contains(topic.as_str())) {
                all.extend((0..count.max(0)).map(|p| TopicPartition::new(topic.clone(), p)));
            }
        }

        // Resolve ownership claims: valid partitions, highest generation wins.
        let mut claims: BTreeMap<TopicPartition, (i32, &str)> = BTreeMap::new();
        for m in members {
            for tp in &m.subscription.owned_partitions {
                if !all.contains(tp) || !eligible(&m.member_id, tp) {
                    continue;
                }
                let generation = m.subscription.generation_id;
                match claims.get(tp) {
                    Some((g, _)) if *g >= generation => {}
                    _ => {
                        claims.insert(tp.clone(), (generation, m.member_id.as_str()));
                    }
                }
            }
        }
        let mut current: BTreeMap<&str, BTreeSet<TopicPartition>> =
            subs.keys().map(|id| (*id, BTreeSet::new())).collect();
        for (tp, (_, owner)) in claims {
            if let Some(set) = current.get_mut(owner) {
                set.insert(tp);
            }
        }

        // Cap every member at the even share of what it could hold (rounded up).
        let n_members = subs.len().max(1);
        let max_quota = all.len().div_ceil(n_members);
        let mut unassigned: BTreeSet<TopicPartition> = all.clone();
        for set in current.values_mut() {
            while set.len() > max_quota {
                if let Some(last) = set.iter().next_back().cloned() {
                    set.remove(&last);
                }
            }
            for tp in set.iter() {
                unassigned.remove(tp);
            }
        }
        // Give unowned partitions to the least loaded eligible member.
        for tp in unassigned {
            let target = current
                .iter()
                .filter(|(id, _)| eligible(id, &tp))
                .min_by_key(|(id, set)| (set.len(), **id))
                .map(|(id, _)| *id);
            if let Some(id) = target
                && let Some(set) = current.get_mut(id)
            {
                set.insert(tp);
            }
        }
        // Move partitions from loaded to light members until no move improves the balance.
        let bound = all.len() * n_members + 1;
        for _ in 0..bound {
            let mut moved = false;
            let mut by_load: Vec<&str> = current.keys().copied().collect();
            by_load.sort_by_key(|id| std::cmp::Reverse(current[id].len()));
            'search: for from in &by_load {
                let from_len = current[from].len();
                for tp in current[from].iter().rev() {
                    let to = current
                        .iter()
                        .filter(|(id, set)| {
                            *id != from && set.len() + 1 < from_len && eligible(id, tp)
                        })
                        .min_by_key(|(id, set)| (set.len(), **id))
                        .map(|(id, _)| *id);
                    if let Some(to) = to {
                        let tp = tp.clone();
                        if let Some(set) = current.get_mut(from) {
                            set.remove(&tp);
                        }
                        if let Some(set) = current.get_mut(to) {
                            set.insert(tp);
                        }
                        moved = true;
                        break 'search;
                    }
                }
            }
            if !moved {
                break;
            }
        }

        let out = current
            .into_iter()
            .map(|(id, set)| {
                (
                    id.to_owned(),
                    Assignment {
                        partitions: set.into_iter().collect(),
                        user_data: None,
                    },
                )
            })
            .collect();
        Ok(sorted(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::range_assignor::tests::member;

    fn counts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn owning(id: &str, topics: &[&str], owned: &[(&str, i32)], generation: i32) -> GroupMember {
        let mut m = member(id, topics);
        m.subscription.owned_partitions = owned
            .iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect();
        m.subscription.generation_id = generation;
        m
    }

    fn check_complete_and_balanced(out: &BTreeMap<String, Assignment>, total: usize) {
        let mut all: Vec<&TopicPartition> = out.values().flat_map(|a| &a.partitions).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a partition assigned twice");
        assert_eq!(n, total);
        let sizes: Vec<usize> = out.values().map(|a| a.partitions.len()).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "unbalanced {sizes:?}");
    }

    #[test]
    fn fresh_group_is_balanced() {
        for n in 1..5 {
            for parts in 0..10 {
                let members: Vec<GroupMember> = (0..n)
                    .map(|i| member(&format!("m{i}"), &["a", "b"]))
                    .collect();
                let out = StickyAssignor
                    .assign(&members, &counts(&[("a", parts), ("b", 3)]))
                    .unwrap();
                assert_eq!(out.len(), n);
                check_complete_and_balanced(&out, parts as usize + 3);
            }
        }
    }

    #[test]
    fn a_new_member_takes_only_what_balance_requires() {
        let m1 = owning("m1", &["t"], &[("t", 0), ("t", 1), ("t", 2)], 3);
        let m2 = owning("m2", &["t"], &[("t", 3), ("t", 4), ("t", 5)], 3);
        let m3 = member("m3", &["t"]);
        let out = StickyAssignor
            .assign(&[m1, m2, m3], &counts(&[("t", 6)]))
            .unwrap();
        check_complete_and_balanced(&out, 6);
        // m1 and m2 each give exactly one partition up and keep the rest.
        let kept1 = out["m1"]
            .partitions
            .iter()
            .filter(|p| p.partition < 3)
            .count();
        let kept2 = out["m2"]
            .partitions
            .iter()
            .filter(|p| p.partition >= 3)
            .count();
        assert_eq!((kept1, kept2), (2, 2));
    }

    #[test]
    fn a_leaving_member_s_partitions_are_spread_and_others_stay() {
        let m1 = owning("m1", &["t"], &[("t", 0), ("t", 1)], 5);
        let m2 = owning("m2", &["t"], &[("t", 2), ("t", 3)], 5);
        // m3 (owning 4, 5) left.
        let out = StickyAssignor
            .assign(&[m1, m2], &counts(&[("t", 6)]))
            .unwrap();
        check_complete_and_balanced(&out, 6);
        assert!(out["m1"].partitions.contains(&TopicPartition::new("t", 0)));
        assert!(out["m1"].partitions.contains(&TopicPartition::new("t", 1)));
        assert!(out["m2"].partitions.contains(&TopicPartition::new("t", 2)));
        assert!(out["m2"].partitions.contains(&TopicPartition::new("t", 3)));
    }

    #[test]
    fn conflicting_claims_go_to_the_highest_generation() {
        let stale = owning("a", &["t"], &[("t", 0)], 1);
        let fresh = owning("b", &["t"], &[("t", 0)], 2);
        let out = StickyAssignor
            .assign(&[stale, fresh], &counts(&[("t", 2)]))
            .unwrap();
        assert_eq!(out["b"].partitions, vec![TopicPartition::new("t", 0)]);
        assert_eq!(out["a"].partitions, vec![TopicPartition::new("t", 1)]);
    }

    #[test]
    fn claims_on_vanished_or_unsubscribed_partitions_are_ignored() {
        let m = owning("a", &["t"], &[("t", 9), ("gone", 0)], 1);
        let out = StickyAssignor.assign(&[m], &counts(&[("t", 1)])).unwrap();
        assert_eq!(out["a"].partitions, vec![TopicPartition::new("t", 0)]);
    }

    #[test]
    fn unequal_subscriptions_respect_eligibility() {
        let a = member("a", &["x"]);
        let b = member("b", &["x", "y"]);
        let out = StickyAssignor
            .assign(&[a, b], &counts(&[("x", 2), ("y", 2)]))
            .unwrap();
        assert!(out["a"].partitions.iter().all(|p| p.topic == "x"));
        assert_eq!(out["a"].partitions.len() + out["b"].partitions.len(), 4);
        assert!(!out["a"].partitions.is_empty());
    }

    #[test]
    fn stable_membership_is_a_fixed_point() {
        let members: Vec<GroupMember> = (0..3).map(|i| member(&format!("m{i}"), &["t"])).collect();
        let first = StickyAssignor
            .assign(&members, &counts(&[("t", 8)]))
            .unwrap();
        let again: Vec<GroupMember> = members
            .iter()
            .map(|m| {
                let mut m = m.clone();
                m.subscription.owned_partitions = first[&m.member_id].partitions.clone();
                m.subscription.generation_id = 1;
                m
            })
            .collect();
        let second = StickyAssignor.assign(&again, &counts(&[("t", 8)])).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn over_quota_owner_is_trimmed() {
        let greedy = owning("a", &["t"], &[("t", 0), ("t", 1), ("t", 2), ("t", 3)], 1);
        let b = member("b", &["t"]);
        let out = StickyAssignor
            .assign(&[greedy, b], &counts(&[("t", 4)]))
            .unwrap();
        check_complete_and_balanced(&out, 4);
        assert_eq!(
            out["a"].partitions,
            vec![TopicPartition::new("t", 0), TopicPartition::new("t", 1)]
        );
    }
}
