//! Global stores in a topology: kept out of tasks, described apart, never change-logged.

use super::*;
use crate::Result;
use crate::processor::{FailOnInvalidTimestamp, Processor, ProcessorContext};
use crate::serde::Serdes;
use crate::state::Stores;

struct Upsert;
impl Processor<String, String, (), ()> for Upsert {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, (), ()>,
        r: Record<String, String>,
    ) -> Result<()> {
        ctx.key_value_store::<String, String>("users")?
            .put(&r.key, &r.value)
    }
}

struct Pass;
impl Processor<String, String, String, String> for Pass {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<()> {
        ctx.forward(r)
    }
}

fn with_global() -> Topology {
    let mut t = Topology::new();
    t.add_source::<String, String>("clicks", &["clicks"], Serdes::string(), Serdes::string())
        .unwrap();
    t.add_processor("pass", || Pass, &["clicks"]).unwrap();
    t.add_sink("out", "out", Serdes::string(), Serdes::string(), &["pass"])
        .unwrap();
    t.add_global_store(
        Stores::in_memory_key_value_store_builder::<String, String>("users"),
        "users-source",
        FailOnInvalidTimestamp,
        Serdes::string(),
        Serdes::string(),
        "users",
        "users-updater",
        || Upsert,
    )
    .unwrap();
    t
}

#[test]
fn global_nodes_generate_no_tasks_and_no_changelog() {
    let p = with_global().build(Some("app")).unwrap();
    assert_eq!(p.subtopology_ids().count(), 1);
    assert_eq!(p.source_topics(0), vec!["clicks".to_string()]);
    assert_eq!(p.subtopology_for_topic("users"), None);
    assert!(p.has_global_stores());
    assert_eq!(p.global_source_topics(), vec!["users".to_string()]);
    assert_eq!(p.global_store_names(), vec!["users".to_string()]);
    assert_eq!(p.global_store_of_topic("users").as_deref(), Some("users"));
    assert_eq!(
        p.subtopology_of_store("users"),
        None,
        "a global store belongs to no task"
    );
    assert_eq!(p.global_store_of_topic("other"), None);
    // The store builder has logging on, but its topic is its changelog.
    assert!(p.changelog_topics().is_empty());
}

#[test]
fn describe_prints_the_global_subtopology_after_the_others() {
    let d = with_global().describe().unwrap();
    assert_eq!(d.subtopologies.len(), 1);
    assert_eq!(d.global_stores.len(), 1);
    assert_eq!(d.global_stores[0].id, 1);
    let text = d.to_string();
    let global = text
        .find("Sub-topology: 1 for global store (will not generate tasks)")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(text.find("Sub-topology: 0").unwrap() < global, "{text}");
    assert!(
        text.contains("Source: users-source (topics: [users])"),
        "{text}"
    );
    assert!(
        text.contains("Processor: users-updater (stores: [users])"),
        "{text}"
    );
}

#[test]
fn a_topology_without_global_stores_has_none() {
    let mut plain = Topology::new();
    source(&mut plain);
    let p = plain.build(None).unwrap();
    assert!(!p.has_global_stores());
    assert!(p.global_source_topics().is_empty());
    assert!(p.description().global_stores.is_empty());
}

fn source(t: &mut Topology) {
    t.add_source::<String, String>("s", &["in"], Serdes::string(), Serdes::string())
        .unwrap();
}

#[test]
fn regular_processors_cannot_connect_a_global_store() {
    let mut t = with_global();
    t.connect_processor_and_state_stores("pass", &["users"])
        .unwrap();
    let e = t.build(None).err().unwrap();
    assert!(
        matches!(&e, TopologyError::InvalidNode { node, .. } if node == "pass"),
        "{e}"
    );
}

#[test]
fn global_nodes_have_no_children_outside_the_global_store() {
    let mut t = with_global();
    t.add_processor("after", || Pass, &["users-source"])
        .unwrap();
    let e = t.build(None).err().unwrap();
    assert!(
        matches!(&e, TopologyError::InvalidParent { node, parent, .. } if node == "after" && parent == "users-source"),
        "{e}"
    );
}

#[test]
fn global_names_must_be_unique() {
    let mut t = with_global();
    let e = t
        .add_global_store(
            Stores::in_memory_key_value_store_builder::<String, String>("other"),
            "pass",
            FailOnInvalidTimestamp,
            Serdes::string(),
            Serdes::string(),
            "other-topic",
            "other-updater",
            || Upsert,
        )
        .err()
        .unwrap();
    assert_eq!(e, TopologyError::DuplicateName("pass".into()));
    // Nothing of the failed call was added.
    assert!(!t.global_stores.contains("other"));
}
