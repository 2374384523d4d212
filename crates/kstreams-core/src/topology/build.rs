//! Validation of a [`Topology`] and its split into per-sub-topology plans.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::describe::{
    NodeDescription, NodeKindDescription, SubtopologyDescription, TopologyDescription,
};
use super::{NodeKind, SinkTarget, Topology};
use crate::error::TopologyError;
use crate::processor::nodes::{NodeFactory, SourceDecoder};
use crate::state::StoreBuilder;

/// Everything a task of one sub-topology instantiates.
pub(crate) struct SubtopologyPlan {
    pub(crate) names: Vec<String>,
    pub(crate) children: Vec<Vec<usize>>,
    pub(crate) node_stores: Vec<Vec<String>>,
    /// Per node, the position of each of its `node_stores` among `store_builders` (the
    /// task's store order); `None` for a store the sub-topology does not build.
    pub(crate) node_store_positions: Vec<Vec<Option<usize>>>,
    pub(crate) factories: Vec<NodeFactory>,
    pub(crate) decoders: Vec<Option<Arc<dyn SourceDecoder>>>,
    /// The node reading each topic; looked up per fetched batch (per record in the driver).
    pub(crate) source_topics: HashMap<String, usize, foldhash::fast::RandomState>,
    pub(crate) sink_topics: BTreeSet<String>,
    pub(crate) store_builders: Vec<Arc<dyn StoreBuilder>>,
}

/// A store's changelog topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogTopic {
    /// The store.
    pub store: String,
    /// The topic: `<application.id>-<store>-changelog`.
    pub topic: String,
    /// The sub-topology whose tasks own the store.
    pub subtopology: u32,
}

/// A validated topology, resolved for one application id: what tasks instantiate and what the
/// runtime needs to know about topics.
pub struct ProcessorTopology {
    subtopologies: Vec<Arc<SubtopologyPlan>>,
    description: TopologyDescription,
    internal_topics: Vec<String>,
    internal_topic_partitions: BTreeMap<String, i32>,
    changelogs: Vec<ChangelogTopic>,
    copartition_groups: Vec<Vec<String>>,
    global: Option<Arc<SubtopologyPlan>>,
}

impl ProcessorTopology {
    pub(crate) fn subtopology(&self, id: u32) -> Option<&Arc<SubtopologyPlan>> {
        self.subtopologies.get(id as usize)
    }

    /// The ids of the sub-topologies, `0..n`.
    pub fn subtopology_ids(&self) -> impl Iterator<Item = u32> {
        0..self.subtopologies.len() as u32
    }

    /// The (resolved) topics sub-topology `id` reads.
    pub fn source_topics(&self, id: u32) -> Vec<String> {
        let mut v: Vec<String> = self
            .subtopology(id)
            .map(|p| p.source_topics.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The (resolved) static topics sub-topology `id` writes.
    pub fn sink_topics(&self, id: u32) -> Vec<String> {
        self.subtopology(id)
            .map(|p| p.sink_topics.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The sub-topology that reads `topic`.
    pub fn subtopology_for_topic(&self, topic: &str) -> Option<u32> {
        self.subtopologies
            .iter()
            .position(|p| p.source_topics.contains_key(topic))
            .map(|i| i as u32)
    }

    /// The sub-topology whose tasks build store `name` (`None` for a global store or an
    /// unknown name).
    pub fn subtopology_of_store(&self, name: &str) -> Option<u32> {
        self.subtopologies
            .iter()
            .position(|p| p.store_builders.iter().any(|b| b.name() == name))
            .map(|i| i as u32)
    }

    /// The names of the stores the tasks of sub-topology `id` build, sorted.
    pub fn state_store_names(&self, id: u32) -> Vec<String> {
        store_names(self.subtopology(id))
    }

    /// Internal topics (repartition topics), resolved with the application id.
    pub fn internal_topics(&self) -> &[String] {
        &self.internal_topics
    }

    /// The partition count requested for internal topic `topic` (resolved name), if any.
    pub fn internal_topic_partitions(&self, topic: &str) -> Option<i32> {
        self.internal_topic_partitions.get(topic).copied()
    }

    /// Changelog topics of the change-logged stores.
    pub fn changelog_topics(&self) -> &[ChangelogTopic] {
        &self.changelogs
    }

    /// Groups of topics that must be co-partitioned (resolved names).
    pub fn copartition_groups(&self) -> &[Vec<String>] {
        &self.copartition_groups
    }

    pub(crate) fn global_plan(&self) -> Option<&Arc<SubtopologyPlan>> {
        self.global.as_ref()
    }

    /// Whether the topology has global stores (and so needs a global stream thread).
    pub fn has_global_stores(&self) -> bool {
        self.global.is_some()
    }

    /// The topics feeding global stores (read in full by every instance, outside the consumer
    /// group), sorted.
    pub fn global_source_topics(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .global
            .as_ref()
            .map(|p| p.source_topics.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The names of the global stores, sorted.
    pub fn global_store_names(&self) -> Vec<String> {
        store_names(self.global.as_ref())
    }

    /// The global store fed by global topic `topic`: the first store a node downstream of
    /// the topic's source connects to (a `GlobalKTable` or a global store has one).
    pub fn global_store_of_topic(&self, topic: &str) -> Option<String> {
        let plan = self.global.as_ref()?;
        let mut stack = vec![*plan.source_topics.get(topic)?];
        let mut seen = std::collections::HashSet::new();
        while let Some(node) = stack.pop() {
            if !seen.insert(node) {
                continue;
            }
            if let Some(store) = plan.node_stores.get(node).and_then(|s| s.first()) {
                return Some(store.clone());
            }
            stack.extend(plan.children.get(node).into_iter().flatten().copied());
        }
        None
    }

    /// The topology's description.
    pub fn description(&self) -> &TopologyDescription {
        &self.description
    }
}

/// The names of the stores `plan` builds, sorted (none without a plan).
fn store_names(plan: Option<&Arc<SubtopologyPlan>>) -> Vec<String> {
    let mut v: Vec<String> = plan
        .map(|p| {
            p.store_builders
                .iter()
                .map(|b| b.name().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, x: usize) -> usize {
        let mut r = x;
        while self.0[r] != r {
            r = self.0[r];
        }
        let mut y = x;
        while self.0[y] != r {
            let next = self.0[y];
            self.0[y] = r;
            y = next;
        }
        r
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.0[hi] = lo;
        }
    }
}

/// Finds one cycle among `nodes` (all of which are on or behind a cycle), for the error message.
fn find_cycle(parents: &[Vec<usize>], candidates: &[usize], names: &[&str]) -> Vec<String> {
    let start = candidates[0];
    let mut path = vec![start];
    let mut seen = vec![false; parents.len()];
    let mut cur = start;
    loop {
        seen[cur] = true;
        let Some(&p) = parents[cur].iter().find(|p| candidates.contains(p)) else {
            break;
        };
        if seen[p] {
            let pos = path.iter().position(|&x| x == p).unwrap_or(0);
            let mut cyc: Vec<String> = path[pos..]
                .iter()
                .rev()
                .map(|&i| names[i].to_string())
                .collect();
            cyc.push(names[p].to_string());
            return cyc;
        }
        path.push(p);
        cur = p;
    }
    path.iter().map(|&i| names[i].to_string()).collect()
}

impl Topology {
    /// Validates the topology and resolves it for `application_id` (internal topics get the
    /// `<application.id>-` prefix; `None` leaves names as written).
    pub fn build(&self, application_id: Option<&str>) -> Result<ProcessorTopology, TopologyError> {
        let n = self.nodes.len();
        let names: Vec<&str> = self.nodes.iter().map(|d| d.name.as_str()).collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, s)| (*s, i)).collect();

        // Parents, children and types.
        let mut parents = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        for (i, d) in self.nodes.iter().enumerate() {
            for p in &d.parents {
                let &pi = index
                    .get(p.as_str())
                    .ok_or_else(|| TopologyError::UnknownParent {
                        node: d.name.clone(),
                        parent: p.clone(),
                    })?;
                let pd = &self.nodes[pi];
                if matches!(pd.kind, NodeKind::Sink { .. }) {
                    return Err(TopologyError::InvalidParent {
                        node: d.name.clone(),
                        parent: p.clone(),
                        reason: "a sink has no children".into(),
                    });
                }
                if pi == i {
                    return Err(TopologyError::Cycle(vec![d.name.clone(), d.name.clone()]));
                }
                if self.global_nodes.contains(p) && !self.global_nodes.contains(&d.name) {
                    return Err(TopologyError::InvalidParent {
                        node: d.name.clone(),
                        parent: p.clone(),
                        reason: "nodes of a global store have no children outside it".into(),
                    });
                }
                if let (Some(out), Some(inp)) = (pd.output, d.input)
                    && out != inp
                {
                    return Err(TopologyError::TypeMismatch {
                        parent: p.clone(),
                        parent_type: out.name.into(),
                        node: d.name.clone(),
                        node_type: inp.name.into(),
                    });
                }
                if !parents[i].contains(&pi) {
                    parents[i].push(pi);
                    children[pi].push(i);
                }
            }
        }

        // Topological order (Kahn, ties by insertion order) and cycle detection.
        let mut indegree: Vec<usize> = parents.iter().map(Vec::len).collect();
        let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &c in &children[i] {
                indegree[c] -= 1;
                if indegree[c] == 0 {
                    ready.insert(c);
                }
            }
        }
        if order.len() < n {
            let left: Vec<usize> = (0..n).filter(|i| !order.contains(i)).collect();
            return Err(TopologyError::Cycle(find_cycle(&parents, &left, &names)));
        }

        // Stores.
        let mut node_stores = vec![Vec::<String>::new(); n];
        let mut uf = UnionFind((0..n).collect());
        for (i, ps) in parents.iter().enumerate() {
            for &p in ps {
                uf.union(i, p);
            }
        }
        for s in &self.stores {
            let sname = s.builder.name();
            if s.processors.is_empty() {
                return Err(TopologyError::StoreNotConnected(sname.into()));
            }
            let global_store = self.global_stores.contains(sname);
            let mut first = None;
            for p in &s.processors {
                if global_store != self.global_nodes.contains(p) {
                    return Err(TopologyError::InvalidNode {
                        node: p.clone(),
                        reason: format!(
                            "store '{sname}' cannot be connected: global stores belong to their global processor only (other processors read them with ProcessorContext::with_global_store)"
                        ),
                    });
                }
                let &pi = index.get(p.as_str()).ok_or_else(|| {
                    TopologyError::UnknownProcessorForStore {
                        store: sname.into(),
                        processor: p.clone(),
                    }
                })?;
                if !matches!(self.nodes[pi].kind, NodeKind::Processor { .. }) {
                    return Err(TopologyError::UnknownProcessorForStore {
                        store: sname.into(),
                        processor: p.clone(),
                    });
                }
                node_stores[pi].push(sname.into());
                if let Some(f) = first {
                    uf.union(f, pi);
                }
                first = Some(pi);
            }
        }

        // Sub-topologies, numbered by their first node.
        let mut group_of_root: HashMap<usize, u32> = HashMap::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let is_global = |i: usize| self.global_nodes.contains(&self.nodes[i].name);
        for i in (0..n).filter(|&i| !is_global(i)) {
            let r = uf.find(i);
            let g = *group_of_root.entry(r).or_insert_with(|| {
                groups.push(Vec::new());
                (groups.len() - 1) as u32
            });
            let _ = g;
        }
        let mut global_members = Vec::new();
        for &i in &order {
            if is_global(i) {
                global_members.push(i);
                continue;
            }
            let g = group_of_root[&uf.find(i)] as usize;
            groups[g].push(i);
        }
        let regular = groups.len();
        if !global_members.is_empty() {
            groups.push(global_members);
        }

        let resolve = |t: &str| -> String {
            match application_id {
                Some(app) if self.internal_topics.contains(t) => format!("{app}-{t}"),
                _ => t.to_string(),
            }
        };

        let mut plans = Vec::with_capacity(groups.len());
        let mut descriptions = Vec::with_capacity(groups.len());
        let mut global_descriptions = Vec::new();
        let mut changelogs = Vec::new();
        for (gid, members) in groups.iter().enumerate() {
            let local: HashMap<usize, usize> =
                members.iter().enumerate().map(|(l, &g)| (g, l)).collect();
            let mut plan = SubtopologyPlan {
                names: Vec::new(),
                children: Vec::new(),
                node_stores: Vec::new(),
                node_store_positions: Vec::new(),
                factories: Vec::new(),
                decoders: Vec::new(),
                source_topics: HashMap::default(),
                sink_topics: BTreeSet::new(),
                store_builders: Vec::new(),
            };
            let mut nodes_desc = Vec::new();
            for &g in members {
                let d = &self.nodes[g];
                plan.names.push(d.name.clone());
                plan.children
                    .push(children[g].iter().map(|c| local[c]).collect());
                plan.node_stores.push(node_stores[g].clone());
                let kind_desc = match &d.kind {
                    NodeKind::Source {
                        topics,
                        decoder,
                        make,
                    } => {
                        for t in topics {
                            plan.source_topics.insert(resolve(t), plan.names.len() - 1);
                        }
                        plan.factories.push(make.clone());
                        plan.decoders.push(Some(decoder.clone()));
                        NodeKindDescription::Source {
                            topics: topics.clone(),
                        }
                    }
                    NodeKind::Processor { make } => {
                        plan.factories.push(make.clone());
                        plan.decoders.push(None);
                        NodeKindDescription::Processor {
                            stores: node_stores[g].clone(),
                        }
                    }
                    NodeKind::Sink { target, make } => {
                        plan.decoders.push(None);
                        match target {
                            SinkTarget::Topic(t) => {
                                let r = resolve(t);
                                plan.sink_topics.insert(r.clone());
                                plan.factories.push(make(Some(r)));
                                NodeKindDescription::Sink {
                                    topic: Some(t.clone()),
                                    extractor: None,
                                }
                            }
                            SinkTarget::Dynamic(e) => {
                                plan.factories.push(make(None));
                                NodeKindDescription::Sink {
                                    topic: None,
                                    extractor: Some(e.clone()),
                                }
                            }
                        }
                    }
                };
                nodes_desc.push(NodeDescription {
                    name: d.name.clone(),
                    kind: kind_desc,
                    successors: children[g].iter().map(|&c| names[c].to_string()).collect(),
                    predecessors: parents[g].iter().map(|&p| names[p].to_string()).collect(),
                    subtree_size: subtree_size(&children, g),
                });
            }
            for s in &self.stores {
                if s.processors
                    .iter()
                    .any(|p| index.get(p.as_str()).is_some_and(|i| local.contains_key(i)))
                {
                    plan.store_builders.push(s.builder.clone());
                    // A global store's topic is its changelog.
                    if gid < regular && s.builder.logging_enabled() {
                        let topic = match application_id {
                            Some(app) => format!("{app}-{}-changelog", s.builder.name()),
                            None => format!("{}-changelog", s.builder.name()),
                        };
                        changelogs.push(ChangelogTopic {
                            store: s.builder.name().into(),
                            topic,
                            subtopology: gid as u32,
                        });
                    }
                }
            }
            plan.node_store_positions = plan
                .node_stores
                .iter()
                .map(|names| {
                    names
                        .iter()
                        .map(|n| plan.store_builders.iter().position(|b| b.name() == n))
                        .collect()
                })
                .collect();
            let desc = SubtopologyDescription::new(gid as u32, nodes_desc);
            if gid < regular {
                descriptions.push(desc);
            } else {
                global_descriptions.push(desc);
            }
            plans.push(Arc::new(plan));
        }
        let global = (plans.len() > regular).then(|| plans.remove(regular));

        let internal_topics = self.internal_topics.iter().map(|t| resolve(t)).collect();
        let internal_topic_partitions = self
            .internal_topic_partitions
            .iter()
            .map(|(t, n)| (resolve(t), *n))
            .collect();
        let copartition_groups = self
            .copartition_groups
            .iter()
            .map(|g| g.iter().map(|t| resolve(t)).collect())
            .collect();
        Ok(ProcessorTopology {
            subtopologies: plans,
            description: TopologyDescription {
                subtopologies: descriptions,
                global_stores: global_descriptions,
            },
            internal_topics,
            internal_topic_partitions,
            changelogs,
            copartition_groups,
            global,
        })
    }
}

fn subtree_size(children: &[Vec<usize>], root: usize) -> usize {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(i) = stack.pop() {
        if seen.insert(i) {
            stack.extend(children[i].iter().copied());
        }
    }
    seen.len()
}
