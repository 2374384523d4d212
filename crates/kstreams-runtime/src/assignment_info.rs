//! What the members of a streams group tell each other through the group protocol's user
//! data (Kafka Streams' `SubscriptionInfo` and `AssignmentInfo`).
//!
//! A subscription names the member's process and its `application.server` endpoint, so the
//! leader places standbys on other processes and tells every member which endpoint hosts which
//! tasks. An assignment carries the member's standby tasks and that map of the whole group,
//! from which any instance answers where a key's store lives (interactive queries).
//!
//! Format, version 2: text lines, the first one `2`.
//! - subscription: `2`, the process id, the endpoint (empty without one);
//! - assignment: `2`, the member's standby tasks (comma-separated task ids), then one line per
//!   endpoint: `endpoint<TAB>active tasks<TAB>standby tasks`.
//!
//! Version 1 (before endpoints) had no version line: a bare process id, or a bare standby
//! task list; both still decode, so members of mixed versions form one group. Decoding never
//! fails: what does not parse is left out (a member that sent garbage gets no standbys and
//! shows no endpoint), and the caller logs nothing it cannot act on.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kstreams_core::TaskId;

const VERSION: &str = "2";

/// A member's subscription user data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionInfo {
    /// The member's process (instance): members of one process share it.
    pub process_id: String,
    /// The process's `application.server` (`host:port`), if configured.
    pub endpoint: Option<String>,
}

impl SubscriptionInfo {
    /// The user data bytes.
    pub fn encode(&self) -> Bytes {
        Bytes::from(format!(
            "{VERSION}\n{}\n{}",
            self.process_id,
            self.endpoint.as_deref().unwrap_or("")
        ))
    }

    /// Reads user data of either version.
    pub fn decode(data: &[u8]) -> Self {
        let text = String::from_utf8_lossy(data);
        let mut lines = text.split('\n');
        match (lines.next(), lines.next(), lines.next()) {
            (Some(VERSION), Some(process), endpoint) => SubscriptionInfo {
                process_id: process.to_string(),
                endpoint: endpoint.filter(|e| !e.is_empty()).map(str::to_string),
            },
            _ => SubscriptionInfo {
                process_id: text.into_owned(),
                endpoint: None,
            },
        }
    }
}

/// The tasks one endpoint hosts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostTasks {
    /// Tasks active there.
    pub active: BTreeSet<TaskId>,
    /// Standby replicas there.
    pub standby: BTreeSet<TaskId>,
}

/// A member's assignment user data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssignmentInfo {
    /// The member's standby tasks.
    pub standby_tasks: Vec<TaskId>,
    /// Every endpoint of the group with the tasks it hosts.
    pub hosts: BTreeMap<String, HostTasks>,
}

fn task_list<'a>(tasks: impl IntoIterator<Item = &'a TaskId>) -> String {
    tasks
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_tasks(s: &str) -> impl Iterator<Item = TaskId> + '_ {
    s.split(',').filter_map(|t| t.parse().ok())
}

impl AssignmentInfo {
    /// The user data bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = format!("{VERSION}\n{}", task_list(&self.standby_tasks));
        for (endpoint, tasks) in &self.hosts {
            out.push('\n');
            out.push_str(endpoint);
            out.push('\t');
            out.push_str(&task_list(&tasks.active));
            out.push('\t');
            out.push_str(&task_list(&tasks.standby));
        }
        Bytes::from(out)
    }

    /// Reads user data of either version.
    pub fn decode(data: &[u8]) -> Self {
        let text = String::from_utf8_lossy(data);
        let mut lines = text.split('\n');
        let first = lines.next().unwrap_or("");
        if first != VERSION {
            return AssignmentInfo {
                standby_tasks: parse_tasks(&text).collect(),
                hosts: BTreeMap::new(),
            };
        }
        let standby_tasks = lines
            .next()
            .map(|l| parse_tasks(l).collect())
            .unwrap_or_default();
        let mut hosts = BTreeMap::new();
        for line in lines {
            let mut fields = line.split('\t');
            let (Some(endpoint), active, standby) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if endpoint.is_empty() {
                continue;
            }
            hosts.insert(
                endpoint.to_string(),
                HostTasks {
                    active: active.map(|a| parse_tasks(a).collect()).unwrap_or_default(),
                    standby: standby
                        .map(|s| parse_tasks(s).collect())
                        .unwrap_or_default(),
                },
            );
        }
        AssignmentInfo {
            standby_tasks,
            hosts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u32, p: i32) -> TaskId {
        TaskId::new(s, p)
    }

    #[test]
    fn subscriptions_round_trip_and_read_version_one() {
        let with = SubscriptionInfo {
            process_id: "p1".into(),
            endpoint: Some("host-a:8080".into()),
        };
        assert_eq!(SubscriptionInfo::decode(&with.encode()), with);
        let without = SubscriptionInfo {
            process_id: "p2".into(),
            endpoint: None,
        };
        assert_eq!(SubscriptionInfo::decode(&without.encode()), without);
        assert_eq!(
            SubscriptionInfo::decode(b"abc123"),
            SubscriptionInfo {
                process_id: "abc123".into(),
                endpoint: None
            }
        );
    }

    #[test]
    fn assignments_round_trip_and_read_version_one() {
        let info = AssignmentInfo {
            standby_tasks: vec![t(0, 1), t(1, 0)],
            hosts: BTreeMap::from([
                (
                    "a:1".to_string(),
                    HostTasks {
                        active: BTreeSet::from([t(0, 0), t(1, 0)]),
                        standby: BTreeSet::from([t(0, 1)]),
                    },
                ),
                (
                    "b:2".to_string(),
                    HostTasks {
                        active: BTreeSet::from([t(0, 1)]),
                        standby: BTreeSet::new(),
                    },
                ),
            ]),
        };
        assert_eq!(AssignmentInfo::decode(&info.encode()), info);
        assert_eq!(
            AssignmentInfo::decode(&AssignmentInfo::default().encode()),
            AssignmentInfo::default()
        );
        assert_eq!(
            AssignmentInfo::decode(b"0_1,2_3"),
            AssignmentInfo {
                standby_tasks: vec![t(0, 1), t(2, 3)],
                hosts: BTreeMap::new()
            }
        );
    }

    #[test]
    fn garbage_decodes_to_what_parses() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len % 64)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Mostly the format's own characters, so decoding goes deep.
                    b"2\n\t,_01:a\xff"[(seed % 10) as usize]
                })
                .collect();
            let _ = AssignmentInfo::decode(&bytes);
            let _ = SubscriptionInfo::decode(&bytes);
        }
        let partial = AssignmentInfo::decode(b"2\n0_1,x,1_\nhost:1\t0_0,zz\n\t0_2\nlonely");
        assert_eq!(partial.standby_tasks, vec![t(0, 1)]);
        assert_eq!(partial.hosts.len(), 2, "{partial:?}");
        assert_eq!(partial.hosts["host:1"].active, BTreeSet::from([t(0, 0)]));
        assert!(partial.hosts["lonely"].active.is_empty());
    }
}
