//! Where the group's stores live: which instance (by its `application.server` endpoint) hosts
//! which tasks, and so which instance to ask for a key (Kafka Streams' `StreamsMetadata`,
//! `KeyQueryMetadata` and `StreamsMetadataState`).
//!
//! Every assignment carries the whole group's endpoint → tasks map
//! ([`crate::assignment_info::AssignmentInfo`]); each instance keeps the latest one in a
//! [`ClusterMetadata`]. The answers are computed from it by pure functions. Instances without
//! an `application.server` take part in the group but do not appear here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use kstreams_core::{ProcessorTopology, TaskId};
use kstreams_kafka::TopicPartition;

use crate::assignment_info::HostTasks;

/// An instance's endpoint for interactive queries: its `application.server`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostInfo {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl HostInfo {
    /// Parses `host:port` (the host without whitespace; an IPv6 address in brackets).
    pub fn parse(endpoint: &str) -> Option<HostInfo> {
        let (host, port) = endpoint.rsplit_once(':')?;
        let port = port.parse().ok()?;
        let valid = !host.is_empty() && !host.chars().any(char::is_whitespace);
        valid.then(|| HostInfo {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What one instance of the group hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsMetadata {
    /// The instance's endpoint.
    pub host_info: HostInfo,
    /// Its active tasks.
    pub active_tasks: BTreeSet<TaskId>,
    /// Its standby tasks.
    pub standby_tasks: BTreeSet<TaskId>,
    /// The stores of its active tasks, and every global store.
    pub state_store_names: BTreeSet<String>,
    /// The stores of its standby tasks.
    pub standby_state_store_names: BTreeSet<String>,
    /// The input partitions of its active tasks.
    pub topic_partitions: BTreeSet<TopicPartition>,
    /// The input partitions of its standby tasks.
    pub standby_topic_partitions: BTreeSet<TopicPartition>,
}

/// Where to query one key of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyQueryMetadata {
    /// The instance whose active task holds the key.
    pub active_host: HostInfo,
    /// Instances with a standby replica of that task (stale reads).
    pub standby_hosts: Vec<HostInfo>,
    /// The key's partition (-1 for a global store, which every instance holds whole).
    pub partition: i32,
}

/// The latest endpoint → tasks map of the group, as this instance's threads received it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterMetadata(Arc<Mutex<BTreeMap<String, HostTasks>>>);

impl ClusterMetadata {
    pub(crate) fn update(&self, hosts: BTreeMap<String, HostTasks>) {
        if let Ok(mut m) = self.0.lock() {
            *m = hosts;
        }
    }

    pub(crate) fn hosts(&self) -> BTreeMap<String, HostTasks> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The input partitions of `tasks`: each task's sub-topology's source topics at its partition
/// (where the topic has that partition).
fn partitions_of(
    tasks: &BTreeSet<TaskId>,
    topology: &ProcessorTopology,
    topic_partitions: &BTreeMap<String, usize>,
) -> BTreeSet<TopicPartition> {
    tasks
        .iter()
        .flat_map(|t| {
            topology
                .source_topics(t.subtopology)
                .into_iter()
                .filter(|topic| {
                    topic_partitions
                        .get(topic)
                        .is_some_and(|n| (t.partition as usize) < *n)
                })
                .map(|topic| TopicPartition::new(topic, t.partition))
        })
        .collect()
}

fn stores_of(tasks: &BTreeSet<TaskId>, topology: &ProcessorTopology) -> BTreeSet<String> {
    let subtopologies: BTreeSet<u32> = tasks.iter().map(|t| t.subtopology).collect();
    subtopologies
        .into_iter()
        .flat_map(|s| topology.state_store_names(s))
        .collect()
}

/// Every instance of `hosts` with what it hosts. Endpoints that do not parse are left out.
pub(crate) fn all_metadata(
    hosts: &BTreeMap<String, HostTasks>,
    topology: &ProcessorTopology,
    topic_partitions: &BTreeMap<String, usize>,
) -> Vec<StreamsMetadata> {
    let globals = topology.global_store_names();
    hosts
        .iter()
        .filter_map(|(endpoint, tasks)| {
            let mut state_store_names = stores_of(&tasks.active, topology);
            state_store_names.extend(globals.iter().cloned());
            Some(StreamsMetadata {
                host_info: HostInfo::parse(endpoint)?,
                state_store_names,
                standby_state_store_names: stores_of(&tasks.standby, topology),
                topic_partitions: partitions_of(&tasks.active, topology, topic_partitions),
                standby_topic_partitions: partitions_of(&tasks.standby, topology, topic_partitions),
                active_tasks: tasks.active.clone(),
                standby_tasks: tasks.standby.clone(),
            })
        })
        .collect()
}

/// The instance and standbys hosting `task`; `None` when no instance with an endpoint has it
/// active (not assigned yet, or its owner has no `application.server`).
pub(crate) fn key_metadata(
    hosts: &BTreeMap<String, HostTasks>,
    task: TaskId,
) -> Option<KeyQueryMetadata> {
    let active_host = hosts
        .iter()
        .find(|(_, t)| t.active.contains(&task))
        .and_then(|(e, _)| HostInfo::parse(e))?;
    let standby_hosts = hosts
        .iter()
        .filter(|(_, t)| t.standby.contains(&task))
        .filter_map(|(e, _)| HostInfo::parse(e))
        .collect();
    Some(KeyQueryMetadata {
        active_host,
        standby_hosts,
        partition: task.partition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_host_and_port() {
        let h = HostInfo::parse("node-1.example:8080").unwrap();
        assert_eq!((h.host.as_str(), h.port), ("node-1.example", 8080));
        assert_eq!(h.to_string(), "node-1.example:8080");
        assert_eq!(HostInfo::parse("[::1]:9").unwrap().host, "[::1]");
        for bad in ["", "host", ":80", "host:", "host:99999", "a b:1", "host:x"] {
            assert_eq!(HostInfo::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_metadata_names_the_active_host_and_the_standbys() {
        let t = |p| TaskId::new(0, p);
        let hosts = BTreeMap::from([
            (
                "a:1".to_string(),
                HostTasks {
                    active: BTreeSet::from([t(0)]),
                    standby: BTreeSet::from([t(1)]),
                },
            ),
            (
                "b:2".to_string(),
                HostTasks {
                    active: BTreeSet::from([t(1)]),
                    standby: BTreeSet::from([t(0)]),
                },
            ),
        ]);
        let m = key_metadata(&hosts, t(1)).unwrap();
        assert_eq!(m.active_host, HostInfo::parse("b:2").unwrap());
        assert_eq!(m.standby_hosts, vec![HostInfo::parse("a:1").unwrap()]);
        assert_eq!(m.partition, 1);
        assert_eq!(key_metadata(&hosts, t(7)), None, "a task nobody has");
    }
}
