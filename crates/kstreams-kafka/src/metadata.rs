//! The client's view of the cluster: brokers, topics, partition leaders.
//!
//! A plain data structure updated from Metadata responses by [`crate::client::Client`]; read
//! it through [`crate::client::Client::metadata`] (a snapshot) or the client's helpers
//! ([`crate::client::Client::leader_for`], [`crate::client::Client::partition_count`]).

use crate::types::BrokerInfo;
use std::collections::{BTreeMap, HashMap};

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Leader broker id, -1 if none.
    pub leader: i32,
    /// Leader epoch, -1 if unknown.
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// Error code the broker reported for this partition (0 if none).
    pub error_code: i16,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (all zero if the broker does not use ids).
    pub topic_id: [u8; 16],
    /// Error code the broker reported for the topic (0 if none, 3 if unknown).
    pub error_code: i16,
    /// Whether it is an internal topic.
    pub is_internal: bool,
    /// Partitions by index.
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// Brokers and topics as last reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Cluster id, if reported.
    pub cluster_id: Option<String>,
    /// Controller broker id, -1 if unknown.
    pub controller_id: i32,
    /// Brokers by node id.
    pub brokers: HashMap<i32, BrokerInfo>,
    /// Topics by name.
    pub topics: HashMap<String, TopicMetadata>,
}

impl ClusterMetadata {
    /// Merges a response: brokers are replaced; topics in the response replace the cached
    /// ones; with `full` (a request for all topics) topics absent from the response are
    /// removed.
    pub fn update(
        &mut self,
        cluster_id: Option<String>,
        controller_id: i32,
        brokers: Vec<BrokerInfo>,
        topics: Vec<TopicMetadata>,
        full: bool,
    ) {
        self.cluster_id = cluster_id;
        self.controller_id = controller_id;
        if !brokers.is_empty() {
            self.brokers = brokers.into_iter().map(|b| (b.node_id, b)).collect();
        }
        if full {
            self.topics.clear();
        }
        for t in topics {
            self.topics.insert(t.name.clone(), t);
        }
    }

    /// The leader of a partition, if known.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let p = self.topics.get(topic)?.partitions.get(&partition)?;
        (p.leader >= 0).then_some(p.leader)
    }

    /// The number of partitions of a topic, if it is known to exist.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        let t = self.topics.get(topic)?;
        (t.error_code == 0 && !t.partitions.is_empty()).then_some(t.partitions.len())
    }

    /// Forgets a partition's leader (after NOT_LEADER_OR_FOLLOWER and the like), so the next
    /// lookup refreshes.
    pub fn invalidate_leader(&mut self, topic: &str, partition: i32) {
        if let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(&partition))
        {
            p.leader = -1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, leaders: &[i32]) -> TopicMetadata {
        TopicMetadata {
            name: name.into(),
            topic_id: [0; 16],
            error_code: 0,
            is_internal: false,
            partitions: leaders
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    (
                        i as i32,
                        PartitionMetadata {
                            partition: i as i32,
                            leader: *l,
                            leader_epoch: 0,
                            replicas: vec![*l],
                            isr: vec![*l],
                            error_code: 0,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn update_and_lookup() {
        let mut m = ClusterMetadata::default();
        m.update(None, 1, vec![], vec![topic("a", &[1, 2])], false);
        assert_eq!(m.leader("a", 1), Some(2));
        assert_eq!(m.partition_count("a"), Some(2));
        assert_eq!(m.leader("a", 5), None);
        assert_eq!(m.partition_count("b"), None);
        m.update(None, 1, vec![], vec![topic("b", &[1])], false);
        assert_eq!(m.partition_count("a"), Some(2));
        m.update(None, 1, vec![], vec![topic("b", &[1])], true);
        assert_eq!(m.partition_count("a"), None);
        m.invalidate_leader("b", 0);
        assert_eq!(m.leader("b", 0), None);
    }

    #[test]
    fn unknown_topic_has_no_partition_count() {
        let mut m = ClusterMetadata::default();
        let mut t = topic("x", &[]);
        t.error_code = 3;
        m.update(None, 1, vec![], vec![t], false);
        assert_eq!(m.partition_count("x"), None);
    }
}
