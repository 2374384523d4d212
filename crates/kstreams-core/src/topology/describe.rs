//! `TopologyDescription`, printed in the shape of Kafka Streams' description.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

/// What kind of node, with its kind-specific facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKindDescription {
    /// A source and its topics.
    Source {
        /// Topics read.
        topics: Vec<String>,
    },
    /// A processor and its stores.
    Processor {
        /// Stores connected.
        stores: Vec<String>,
    },
    /// A sink and its topic (or topic extractor).
    Sink {
        /// Static topic.
        topic: Option<String>,
        /// Extractor type, for dynamic sinks.
        extractor: Option<String>,
    },
}

/// One node of a sub-topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDescription {
    /// Node name.
    pub name: String,
    /// Kind and kind-specific facts.
    pub kind: NodeKindDescription,
    /// Children.
    pub successors: Vec<String>,
    /// Parents.
    pub predecessors: Vec<String>,
    /// Number of nodes reachable from this one, itself included (orders the printout).
    pub subtree_size: usize,
}

/// One sub-topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtopologyDescription {
    /// Its id.
    pub id: u32,
    /// Its nodes, in Kafka Streams' print order (larger subtrees first, then by name).
    pub nodes: Vec<NodeDescription>,
}

fn node_order(a: &NodeDescription, b: &NodeDescription) -> Ordering {
    b.subtree_size
        .cmp(&a.subtree_size)
        .then_with(|| a.name.cmp(&b.name))
}

impl SubtopologyDescription {
    pub(crate) fn new(id: u32, mut nodes: Vec<NodeDescription>) -> Self {
        nodes.sort_by(node_order);
        let rank: HashMap<String, (usize, String)> = nodes
            .iter()
            .map(|n| (n.name.clone(), (n.subtree_size, n.name.clone())))
            .collect();
        let key = |s: &String| {
            rank.get(s)
                .map(|(size, name)| (usize::MAX - size, name.clone()))
        };
        for n in &mut nodes {
            n.successors.sort_by_key(&key);
            n.predecessors.sort_by_key(&key);
        }
        SubtopologyDescription { id, nodes }
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodeDescription> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// The description of a whole topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyDescription {
    /// Sub-topologies by id.
    pub subtopologies: Vec<SubtopologyDescription>,
    /// The global sub-topology (sources and processors of global stores; it generates no
    /// tasks), numbered after the others. Empty without global stores.
    pub global_stores: Vec<SubtopologyDescription>,
}

fn names(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

impl fmt::Display for NodeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeKindDescription::Source { topics } => {
                write!(
                    f,
                    "Source: {} (topics: [{}])\n      --> {}",
                    self.name,
                    topics.join(", "),
                    names(&self.successors)
                )
            }
            NodeKindDescription::Processor { stores } => write!(
                f,
                "Processor: {} (stores: [{}])\n      --> {}\n      <-- {}",
                self.name,
                stores.join(", "),
                names(&self.successors),
                names(&self.predecessors)
            ),
            NodeKindDescription::Sink { topic: Some(t), .. } => {
                write!(
                    f,
                    "Sink: {} (topic: {})\n      <-- {}",
                    self.name,
                    t,
                    names(&self.predecessors)
                )
            }
            NodeKindDescription::Sink { extractor, .. } => write!(
                f,
                "Sink: {} (extractor class: {})\n      <-- {}",
                self.name,
                extractor.as_deref().unwrap_or("?"),
                names(&self.predecessors)
            ),
        }
    }
}

impl fmt::Display for SubtopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Sub-topology: {}", self.id)?;
        for n in &self.nodes {
            writeln!(f, "    {n}")?;
        }
        writeln!(f)
    }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topologies:\n ")?;
        for s in &self.subtopologies {
            write!(f, "  {s}")?;
        }
        for s in &self.global_stores {
            writeln!(
                f,
                "  Sub-topology: {} for global store (will not generate tasks)",
                s.id
            )?;
            for n in &s.nodes {
                writeln!(f, "    {n}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
