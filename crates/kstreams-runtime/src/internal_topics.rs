//! Internal topics: the partition counts of repartition and changelog topics (a pure function
//! of the topology and the source topics' partition counts), the co-partitioning check, and
//! their creation at start-up.

use std::collections::{BTreeMap, HashMap};

use kstreams_core::ProcessorTopology;
use kstreams_kafka::Admin;
use kstreams_kafka::admin::NewTopic;

use crate::error::{Result, RuntimeError};

/// What the partition-count computation needs of a topology.
#[derive(Debug, Clone, Default)]
pub struct TopicLayout {
    /// Per sub-topology: its source topics.
    pub sources: Vec<Vec<String>>,
    /// Per sub-topology: its static sink topics.
    pub sinks: Vec<Vec<String>>,
    /// Repartition topics (resolved names).
    pub repartition: Vec<String>,
    /// Changelog topics and the sub-topology owning each.
    pub changelogs: Vec<(String, u32)>,
    /// Groups of topics that must be co-partitioned.
    pub copartition_groups: Vec<Vec<String>>,
}

impl TopicLayout {
    /// The layout of a built topology.
    pub fn of(topology: &ProcessorTopology) -> Self {
        let subs: Vec<u32> = topology.subtopology_ids().collect();
        TopicLayout {
            sources: subs.iter().map(|s| topology.source_topics(*s)).collect(),
            sinks: subs.iter().map(|s| topology.sink_topics(*s)).collect(),
            repartition: topology.internal_topics().to_vec(),
            changelogs: topology
                .changelog_topics()
                .iter()
                .map(|c| (c.topic.clone(), c.subtopology))
                .collect(),
            copartition_groups: topology.copartition_groups().to_vec(),
        }
    }

    /// Source topics that are not repartition topics (must exist before start).
    pub fn external_sources(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sources
            .iter()
            .flatten()
            .filter(|t| !self.repartition.contains(t))
            .cloned()
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The computed partition counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionCounts {
    /// Every topic the topology reads or creates, with its partition count.
    pub topics: BTreeMap<String, usize>,
    /// Per sub-topology: its number of tasks (the max partition count of its sources).
    pub tasks_per_subtopology: Vec<usize>,
}

/// Computes the partition counts of repartition topics (the max over the sub-topologies writing
/// them of their task counts), of changelog topics (the task count of the owning sub-topology)
/// and checks co-partitioning. `external` holds the counts of the existing source topics.
pub fn compute_partition_counts(
    layout: &TopicLayout,
    external: &HashMap<String, usize>,
) -> Result<PartitionCounts> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in layout.external_sources() {
        let c = external
            .get(&t)
            .copied()
            .ok_or_else(|| RuntimeError::MissingSourceTopic(t.clone()))?;
        counts.insert(t, c);
    }
    // The task count of `sub`, ignoring its source `except` (a retry topic is read and
    // written by the same sub-topology: its count follows the sub-topology's other sources).
    let sub_count_except =
        |counts: &BTreeMap<String, usize>, sub: usize, except: Option<&str>| -> Option<usize> {
            let srcs: Vec<&String> = layout.sources[sub]
                .iter()
                .filter(|t| Some(t.as_str()) != except)
                .collect();
            if srcs.iter().all(|t| counts.contains_key(*t)) {
                srcs.iter().filter_map(|t| counts.get(*t)).copied().max()
            } else {
                None
            }
        };
    let sub_count =
        |counts: &BTreeMap<String, usize>, sub: usize| sub_count_except(counts, sub, None);
    // Fixed point over repartition topics (a chain resolves one link per round).
    for _ in 0..=layout.repartition.len() {
        let mut changed = false;
        for rt in &layout.repartition {
            if counts.contains_key(rt) {
                continue;
            }
            let mut writers: Vec<usize> = (0..layout.sinks.len())
                .filter(|s| layout.sinks[*s].contains(rt))
                .collect();
            if writers.is_empty() {
                // Written by processors, not sinks (retry topics): as many partitions as the
                // tasks reading it, each writing its own partition.
                writers = (0..layout.sources.len())
                    .filter(|s| layout.sources[*s].contains(rt))
                    .collect();
            }
            let per_writer: Vec<Option<usize>> = writers
                .iter()
                .map(|w| sub_count_except(&counts, *w, Some(rt)))
                .collect();
            if !per_writer.is_empty() && per_writer.iter().all(Option::is_some) {
                counts.insert(
                    rt.clone(),
                    per_writer.into_iter().flatten().max().unwrap_or(1),
                );
                changed = true;
            }
        }
        if !changed {
            // Topics whose writers wait on each other (a foreign-key join's subscription and
            // response topics) take the count of the existing topics they are co-partitioned
            // with.
            for rt in &layout.repartition {
                if counts.contains_key(rt) {
                    continue;
                }
                let external = layout
                    .copartition_groups
                    .iter()
                    .filter(|g| g.contains(rt))
                    .flat_map(|g| g.iter().filter(|t| !layout.repartition.contains(t)))
                    .filter_map(|t| counts.get(t))
                    .copied()
                    .max();
                if let Some(c) = external {
                    counts.insert(rt.clone(), c);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for rt in &layout.repartition {
        if !counts.contains_key(rt) {
            return Err(RuntimeError::IllegalState(format!(
                "cannot determine the partition count of repartition topic '{rt}'"
            )));
        }
    }
    // Co-partitioning: repartition topics follow the external topics of their group.
    for group in &layout.copartition_groups {
        let external_max = group
            .iter()
            .filter(|t| !layout.repartition.contains(t))
            .filter_map(|t| counts.get(t))
            .copied()
            .max();
        let target =
            external_max.or_else(|| group.iter().filter_map(|t| counts.get(t)).copied().max());
        if let Some(target) = target {
            for t in group.iter().filter(|t| layout.repartition.contains(t)) {
                counts.insert(t.clone(), target);
            }
        }
        let cs: Vec<usize> = group
            .iter()
            .map(|t| counts.get(t).copied().unwrap_or(0))
            .collect();
        if cs.windows(2).any(|w| w[0] != w[1]) {
            return Err(RuntimeError::CoPartitioning {
                topics: group.clone(),
                counts: cs,
            });
        }
    }
    let tasks_per_subtopology: Vec<usize> = (0..layout.sources.len())
        .map(|s| sub_count(&counts, s).unwrap_or(0))
        .collect();
    for (topic, sub) in &layout.changelogs {
        let c = tasks_per_subtopology
            .get(*sub as usize)
            .copied()
            .unwrap_or(1)
            .max(1);
        counts.insert(topic.clone(), c);
    }
    Ok(PartitionCounts {
        topics: counts,
        tasks_per_subtopology,
    })
}

/// Looks up the source topics, computes the counts and creates the repartition topics
/// (`cleanup.policy=delete`) and the compacted changelog topics.
pub async fn create_internal_topics(
    admin: &Admin,
    layout: &TopicLayout,
    replication_factor: i16,
) -> Result<PartitionCounts> {
    let external = layout.external_sources();
    let existing = admin.describe_partition_counts(&external).await?;
    let counts = compute_partition_counts(layout, &existing)?;
    let mut new = Vec::new();
    for rt in &layout.repartition {
        let c = counts.topics[rt] as i32;
        new.push(NewTopic::new(rt, c, replication_factor).with_config("cleanup.policy", "delete"));
    }
    for (ct, _) in &layout.changelogs {
        let c = counts.topics[ct] as i32;
        new.push(NewTopic::new(ct, c, replication_factor).with_config("cleanup.policy", "compact"));
    }
    if !new.is_empty() {
        tracing::info!(topics = new.len(), "creating internal topics");
        admin.create_topics(&new).await?;
    }
    Ok(counts)
}

/// Creates the dead-letter topic (one partition, `cleanup.policy=delete`) unless it exists.
pub async fn create_dead_letter_topic(
    admin: &Admin,
    topic: &str,
    replication_factor: i16,
) -> Result<()> {
    let existing = admin
        .describe_partition_counts(&[topic.to_string()])
        .await?;
    if !existing.contains_key(topic) {
        tracing::info!(%topic, "creating the dead-letter topic");
        admin
            .create_topics(&[
                NewTopic::new(topic, 1, replication_factor).with_config("cleanup.policy", "delete")
            ])
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn word_count_layout() -> TopicLayout {
        TopicLayout {
            sources: vec![s(&["input"]), s(&["app-rep"])],
            sinks: vec![s(&["app-rep"]), s(&["output"])],
            repartition: s(&["app-rep"]),
            changelogs: vec![("app-counts-changelog".into(), 1)],
            copartition_groups: vec![],
        }
    }

    #[test]
    fn repartition_and_changelog_follow_the_sources() {
        let ext = HashMap::from([("input".to_string(), 3usize)]);
        let c = compute_partition_counts(&word_count_layout(), &ext).unwrap();
        assert_eq!(c.topics["app-rep"], 3);
        assert_eq!(c.topics["app-counts-changelog"], 3);
        assert_eq!(c.tasks_per_subtopology, vec![3, 3]);
    }

    #[test]
    fn retry_topics_follow_the_task_count_of_their_sub_topology() {
        // A retry topic is read and written (by a processor, not a sink) by one sub-topology.
        let layout = TopicLayout {
            sources: vec![s(&["input", "app-n-retry"])],
            sinks: vec![s(&["output"])],
            repartition: s(&["app-n-retry"]),
            changelogs: vec![("app-n-retry-store-changelog".into(), 0)],
            copartition_groups: vec![],
        };
        let ext = HashMap::from([("input".to_string(), 3usize)]);
        let c = compute_partition_counts(&layout, &ext).unwrap();
        assert_eq!(c.topics["app-n-retry"], 3);
        assert_eq!(c.topics["app-n-retry-store-changelog"], 3);
        assert_eq!(c.tasks_per_subtopology, vec![3]);
    }

    #[test]
    fn missing_source_is_an_error() {
        let e = compute_partition_counts(&word_count_layout(), &HashMap::new()).unwrap_err();
        assert!(matches!(e, RuntimeError::MissingSourceTopic(t) if t == "input"));
    }

    #[test]
    fn copartitioning_is_checked() {
        let layout = TopicLayout {
            sources: vec![s(&["a", "b"])],
            sinks: vec![vec![]],
            repartition: vec![],
            changelogs: vec![],
            copartition_groups: vec![s(&["a", "b"])],
        };
        let ext = HashMap::from([("a".to_string(), 2usize), ("b".to_string(), 3usize)]);
        let e = compute_partition_counts(&layout, &ext).unwrap_err();
        assert!(matches!(e, RuntimeError::CoPartitioning { .. }), "{e}");
        let ext = HashMap::from([("a".to_string(), 2usize), ("b".to_string(), 2usize)]);
        assert!(compute_partition_counts(&layout, &ext).is_ok());
    }

    #[test]
    fn repartition_topic_in_a_group_follows_the_external_topic() {
        let layout = TopicLayout {
            sources: vec![s(&["x"]), s(&["rep", "b"])],
            sinks: vec![s(&["rep"]), vec![]],
            repartition: s(&["rep"]),
            changelogs: vec![],
            copartition_groups: vec![s(&["rep", "b"])],
        };
        let ext = HashMap::from([("x".to_string(), 1usize), ("b".to_string(), 4usize)]);
        let c = compute_partition_counts(&layout, &ext).unwrap();
        assert_eq!(c.topics["rep"], 4);
        assert_eq!(c.tasks_per_subtopology, vec![1, 4]);
    }

    #[test]
    fn foreign_key_join_topics_follow_their_tables() {
        // Left reads `orders` and the responses, writes subscriptions; right reads
        // `customers` and the subscriptions, writes responses: the writers wait on each other.
        let layout = TopicLayout {
            sources: vec![
                s(&["orders", "app-fk-resp"]),
                s(&["customers", "app-fk-reg"]),
            ],
            sinks: vec![s(&["app-fk-reg"]), s(&["app-fk-resp"])],
            repartition: s(&["app-fk-reg", "app-fk-resp"]),
            changelogs: vec![("app-fk-store-changelog".into(), 1)],
            copartition_groups: vec![
                s(&["app-fk-reg", "customers"]),
                s(&["app-fk-resp", "orders"]),
            ],
        };
        let ext = HashMap::from([
            ("orders".to_string(), 4usize),
            ("customers".to_string(), 2usize),
        ]);
        let c = compute_partition_counts(&layout, &ext).unwrap();
        assert_eq!(c.topics["app-fk-reg"], 2);
        assert_eq!(c.topics["app-fk-resp"], 4);
        assert_eq!(c.tasks_per_subtopology, vec![4, 2]);
        assert_eq!(c.topics["app-fk-store-changelog"], 2);
        // Without the co-partition groups there is no way to tell.
        let layout = TopicLayout {
            copartition_groups: vec![],
            ..layout
        };
        assert!(compute_partition_counts(&layout, &ext).is_err());
    }
}
