//! Validation errors, sub-topology split and `describe()` output.

use super::*;
use crate::Result;
use crate::processor::{Processor, ProcessorContext};
use crate::serde::Serdes;
use crate::state::Stores;

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

struct ToLen;
impl Processor<String, String, String, i64> for ToLen {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, String>,
    ) -> Result<()> {
        let n = r.value.len() as i64;
        ctx.forward(r.with_value(n))
    }
}

fn source(t: &mut Topology, name: &str, topic: &str) {
    t.add_source::<String, String>(name, &[topic], Serdes::string(), Serdes::string())
        .unwrap();
}

#[test]
fn duplicate_names_are_rejected() {
    let mut t = Topology::new();
    source(&mut t, "a", "in");
    let e = t.add_processor("a", || Pass, &["a"]).err().unwrap();
    assert_eq!(e, TopologyError::DuplicateName("a".into()));
    let e = t
        .add_state_store(
            Stores::in_memory_key_value_store_builder::<String, i64>("a"),
            &[],
        )
        .err()
        .unwrap();
    assert_eq!(e, TopologyError::DuplicateName("a".into()));
    let e = t
        .add_source::<String, String>("b", &["in"], Serdes::string(), Serdes::string())
        .err()
        .unwrap();
    assert!(
        matches!(e, TopologyError::TopicAlreadyRegistered { .. }),
        "{e}"
    );
}

#[test]
fn unknown_parent_is_rejected_at_build() {
    let mut t = Topology::new();
    source(&mut t, "src", "in");
    t.add_processor("p", || Pass, &["nope"]).unwrap();
    let e = t.build(None).err().unwrap();
    assert!(
        matches!(&e, TopologyError::UnknownParent { node, parent } if node == "p" && parent == "nope"),
        "{e}"
    );
    assert_eq!(e.to_string(), "node 'p' has unknown parent 'nope'");
}

#[test]
fn a_sink_cannot_be_a_parent() {
    let mut t = Topology::new();
    source(&mut t, "src", "in");
    t.add_sink::<String, String>("sink", "out", Serdes::string(), Serdes::string(), &["src"])
        .unwrap();
    t.add_processor("p", || Pass, &["sink"]).unwrap();
    assert!(matches!(
        t.build(None),
        Err(TopologyError::InvalidParent { .. })
    ));
}

#[test]
fn cycles_are_rejected_with_their_path() {
    let mut t = Topology::new();
    source(&mut t, "src", "in");
    t.add_processor("a", || Pass, &["src", "c"]).unwrap();
    t.add_processor("b", || Pass, &["a"]).unwrap();
    t.add_processor("c", || Pass, &["b"]).unwrap();
    let e = t.build(None).err().unwrap();
    let TopologyError::Cycle(path) = &e else {
        panic!("expected a cycle, got {e}")
    };
    for n in ["a", "b", "c"] {
        assert!(path.iter().any(|p| p == n), "{e}");
    }
    assert!(
        e.to_string()
            .starts_with("the topology has a cycle through:")
    );
}

#[test]
fn type_mismatches_are_rejected() {
    let mut t = Topology::new();
    source(&mut t, "src", "in");
    t.add_processor("len", || ToLen, &["src"]).unwrap();
    t.add_processor("p", || Pass, &["len"]).unwrap();
    let e = t.build(None).err().unwrap();
    assert!(
        matches!(&e, TopologyError::TypeMismatch { node, parent, .. } if node == "p" && parent == "len"),
        "{e}"
    );
}

#[test]
fn store_errors_are_clear() {
    let mut t = Topology::new();
    source(&mut t, "src", "in");
    t.add_processor("p", || Pass, &["src"]).unwrap();
    t.add_state_store(
        Stores::in_memory_key_value_store_builder::<String, i64>("lonely"),
        &[],
    )
    .unwrap();
    assert_eq!(
        t.build(None).err().unwrap(),
        TopologyError::StoreNotConnected("lonely".into())
    );

    let mut t = Topology::new();
    source(&mut t, "src", "in");
    t.add_state_store(
        Stores::in_memory_key_value_store_builder::<String, i64>("s"),
        &["ghost"],
    )
    .unwrap();
    assert!(matches!(
        t.build(None),
        Err(TopologyError::UnknownProcessorForStore { .. })
    ));

    let mut t = Topology::new();
    let e = t
        .connect_processor_and_state_stores("p", &["missing"])
        .err()
        .unwrap();
    assert!(matches!(e, TopologyError::UnknownStore { .. }));
}

#[test]
fn processors_need_parents() {
    let mut t = Topology::new();
    assert_eq!(
        t.add_processor("p", || Pass, &[]).err().unwrap(),
        TopologyError::NoParents("p".into())
    );
}

fn two_subtopologies() -> Topology {
    let mut t = Topology::new();
    source(&mut t, "source-a", "topic-a");
    t.add_processor("pass-a", || Pass, &["source-a"]).unwrap();
    t.add_internal_topic("through-repartition");
    t.add_sink::<String, String>(
        "sink-through",
        "through-repartition",
        Serdes::string(),
        Serdes::string(),
        &["pass-a"],
    )
    .unwrap();
    source(&mut t, "source-through", "through-repartition");
    source(&mut t, "source-b", "topic-b");
    t.add_processor("join", || Pass, &["source-through"])
        .unwrap();
    t.add_processor("other", || Pass, &["source-b"]).unwrap();
    // A store shared by two processors puts them in one sub-topology.
    t.add_state_store(
        Stores::in_memory_key_value_store_builder::<String, i64>("shared-store"),
        &["join", "other"],
    )
    .unwrap();
    t.add_sink::<String, String>(
        "sink-out",
        "output",
        Serdes::string(),
        Serdes::string(),
        &["join", "other"],
    )
    .unwrap();
    t
}

#[test]
fn sub_topologies_split_on_topics_and_join_on_shared_stores() {
    let built = two_subtopologies().build(Some("app")).unwrap();
    let ids: Vec<u32> = built.subtopology_ids().collect();
    assert_eq!(ids, vec![0, 1]);
    assert_eq!(built.source_topics(0), vec!["topic-a"]);
    assert_eq!(
        built.source_topics(1),
        vec!["app-through-repartition", "topic-b"]
    );
    assert_eq!(built.sink_topics(0), vec!["app-through-repartition"]);
    assert_eq!(
        built.internal_topics(),
        &["app-through-repartition".to_string()]
    );
    assert_eq!(built.subtopology_for_topic("topic-b"), Some(1));
    let changelogs = built.changelog_topics();
    assert_eq!(changelogs.len(), 1);
    assert_eq!(changelogs[0].topic, "app-shared-store-changelog");
    assert_eq!(changelogs[0].subtopology, 1);
}

#[test]
fn describe_prints_kafka_streams_shape() {
    let text = two_subtopologies().describe().unwrap().to_string();
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: source-a (topics: [topic-a])
      --> pass-a
    Processor: pass-a (stores: [])
      --> sink-through
      <-- source-a
    Sink: sink-through (topic: through-repartition)
      <-- pass-a

  Sub-topology: 1
    Source: source-b (topics: [topic-b])
      --> other
    Source: source-through (topics: [through-repartition])
      --> join
    Processor: join (stores: [shared-store])
      --> sink-out
      <-- source-through
    Processor: other (stores: [shared-store])
      --> sink-out
      <-- source-b
    Sink: sink-out (topic: output)
      <-- join, other

";
    assert_eq!(text, expected, "got:\n{text}");
}

#[test]
fn internal_topic_partition_counts_are_resolved_with_the_application_id() {
    let mut t = two_subtopologies();
    t.add_internal_topic_with_partitions("through-repartition", 6);
    let built = t.build(Some("app")).unwrap();
    assert_eq!(
        built.internal_topic_partitions("app-through-repartition"),
        Some(6)
    );
    assert_eq!(built.internal_topic_partitions("through-repartition"), None);
    let unset = two_subtopologies().build(Some("app")).unwrap();
    assert_eq!(
        unset.internal_topic_partitions("app-through-repartition"),
        None
    );
}

#[test]
fn stores_are_found_by_their_sub_topology() {
    let mut t = two_subtopologies();
    t.add_processor("counter", || Pass, &["source-a"]).unwrap();
    t.add_state_store(
        Stores::in_memory_key_value_store_builder::<String, i64>("counts"),
        &["counter"],
    )
    .unwrap();
    t.add_state_store(
        Stores::in_memory_key_value_store_builder::<String, i64>("more"),
        &["counter"],
    )
    .unwrap();
    let p = t.build(Some("app")).unwrap();
    let sub = p.subtopology_of_store("counts").unwrap();
    assert_eq!(p.subtopology_for_topic("topic-a"), Some(sub));
    assert_eq!(p.state_store_names(sub), ["counts", "more"]);
    assert_eq!(p.subtopology_of_store("nope"), None);
    for other in p.subtopology_ids().filter(|s| *s != sub) {
        assert!(!p.state_store_names(other).contains(&"counts".to_string()));
    }
    assert!(p.state_store_names(99).is_empty());
}
