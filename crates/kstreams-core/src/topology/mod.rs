//! `Topology`: the Processor API graph of sources, processors, sinks and stores.
//!
//! Nodes may be added in any order; parents are resolved and the graph validated by
//! [`Topology::build`], which also splits it into sub-topologies: groups of nodes connected by
//! parent edges or shared stores. Topics written by one sub-topology and read by another (e.g.
//! repartition topics) connect sub-topologies through the broker, not directly.

mod build;
mod copartition;
mod describe;
#[cfg(test)]
mod global_store_tests;
#[cfg(test)]
mod tests;

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(crate) use build::SubtopologyPlan;
pub use build::{ChangelogTopic, ProcessorTopology};
pub use describe::{NodeDescription, SubtopologyDescription, TopologyDescription};

use crate::error::TopologyError;
use crate::processor::nodes::{
    NodeFactory, ProcessorNode, SinkNode, SinkTopic, SourceDecoder, SourceNode, TypedSourceDecoder,
};
use crate::processor::{
    FailOnInvalidTimestamp, ProcessorSupplier, StreamPartitioner, TimestampExtractor,
    TopicNameExtractor,
};
use crate::record::Record;
use crate::serde::SharedSerde;
use crate::state::StoreBuilder;

/// The record type a node receives or forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypeSig {
    id: TypeId,
    name: &'static str,
}

impl TypeSig {
    fn of<K: 'static, V: 'static>() -> Self {
        TypeSig {
            id: TypeId::of::<Record<K, V>>(),
            name: std::any::type_name::<(K, V)>(),
        }
    }
}

/// Where a sink writes.
#[derive(Clone)]
pub(crate) enum SinkTarget {
    Topic(String),
    Dynamic(String),
}

pub(crate) enum NodeKind {
    Source {
        topics: Vec<String>,
        decoder: Arc<dyn SourceDecoder>,
        make: NodeFactory,
    },
    Processor {
        make: NodeFactory,
    },
    Sink {
        target: SinkTarget,
        make: Arc<dyn Fn(Option<String>) -> NodeFactory + Send + Sync>,
    },
}

pub(crate) struct NodeDef {
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<String>,
    pub(crate) input: Option<TypeSig>,
    pub(crate) output: Option<TypeSig>,
}

pub(crate) struct StoreDef {
    pub(crate) builder: Arc<dyn StoreBuilder>,
    pub(crate) processors: Vec<String>,
}

/// A Processor API topology.
#[derive(Default)]
pub struct Topology {
    pub(crate) nodes: Vec<NodeDef>,
    pub(crate) stores: Vec<StoreDef>,
    pub(crate) internal_topics: BTreeSet<String>,
    /// Requested partition counts of internal topics (by unresolved name).
    pub(crate) internal_topic_partitions: BTreeMap<String, i32>,
    pub(crate) copartition_groups: Vec<BTreeSet<String>>,
    /// Sources and processors that maintain global stores (not part of any task).
    pub(crate) global_nodes: BTreeSet<String>,
    /// Global stores: fully replicated on every instance, fed from all partitions.
    pub(crate) global_stores: BTreeSet<String>,
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    fn check_new_name(&self, name: &str) -> Result<(), TopologyError> {
        if name.is_empty() {
            return Err(TopologyError::InvalidNode {
                node: name.into(),
                reason: "names must not be empty".into(),
            });
        }
        if self.nodes.iter().any(|n| n.name == name)
            || self.stores.iter().any(|s| s.builder.name() == name)
        {
            return Err(TopologyError::DuplicateName(name.into()));
        }
        Ok(())
    }

    /// Adds a source reading `topics` with the given serdes and the default timestamp
    /// extractor.
    pub fn add_source<K, V>(
        &mut self,
        name: &str,
        topics: &[&str],
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Result<&mut Self, TopologyError>
    where
        K: Clone + Send + 'static,
        V: Clone + Send + 'static,
    {
        self.add_source_with_extractor(name, topics, key_serde, value_serde, FailOnInvalidTimestamp)
    }

    /// Adds a source with its own timestamp extractor.
    pub fn add_source_with_extractor<K, V>(
        &mut self,
        name: &str,
        topics: &[&str],
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        extractor: impl TimestampExtractor<K, V>,
    ) -> Result<&mut Self, TopologyError>
    where
        K: Clone + Send + 'static,
        V: Clone + Send + 'static,
    {
        self.check_new_name(name)?;
        if topics.is_empty() {
            return Err(TopologyError::InvalidNode {
                node: name.into(),
                reason: "a source needs at least one topic".into(),
            });
        }
        for t in topics {
            if t.is_empty() {
                return Err(TopologyError::InvalidNode {
                    node: name.into(),
                    reason: "empty topic name".into(),
                });
            }
            if let Some(other) = self.nodes.iter().find(|n| matches!(&n.kind, NodeKind::Source { topics, .. } if topics.iter().any(|x| x == t))) {
                return Err(TopologyError::TopicAlreadyRegistered { topic: (*t).into(), source_node: other.name.clone() });
            }
        }
        let decoder = Arc::new(TypedSourceDecoder {
            key_serde,
            value_serde,
            extractor: Arc::new(extractor),
        });
        let make: NodeFactory = Arc::new(|| Box::new(SourceNode::<K, V>::new()));
        self.nodes.push(NodeDef {
            name: name.into(),
            kind: NodeKind::Source {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                decoder,
                make,
            },
            parents: vec![],
            input: None,
            output: Some(TypeSig::of::<K, V>()),
        });
        Ok(self)
    }

    /// Adds a processor fed by `parents`; `supplier` makes one processor per task.
    pub fn add_processor<KIn, VIn, KOut, VOut>(
        &mut self,
        name: &str,
        supplier: impl ProcessorSupplier<KIn, VIn, KOut, VOut>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError>
    where
        KIn: Send + 'static,
        VIn: Send + 'static,
        KOut: Clone + Send + 'static,
        VOut: Clone + Send + 'static,
    {
        self.check_new_name(name)?;
        if parents.is_empty() {
            return Err(TopologyError::NoParents(name.into()));
        }
        let supplier = Arc::new(supplier);
        let make: NodeFactory =
            Arc::new(move || Box::new(ProcessorNode::from_supplier(supplier.as_ref())));
        self.nodes.push(NodeDef {
            name: name.into(),
            kind: NodeKind::Processor { make },
            parents: parents.iter().map(|p| p.to_string()).collect(),
            input: Some(TypeSig::of::<KIn, VIn>()),
            output: Some(TypeSig::of::<KOut, VOut>()),
        });
        Ok(self)
    }

    /// Adds a sink writing to `topic`.
    pub fn add_sink<K, V>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError>
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        self.add_sink_inner(
            name,
            SinkTarget::Topic(topic.into()),
            key_serde,
            value_serde,
            None,
            None,
            parents,
        )
    }

    /// Adds a sink writing to `topic` with a custom partitioner.
    pub fn add_sink_with_partitioner<K, V>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        partitioner: impl StreamPartitioner<K, V>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError>
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        let p: Arc<dyn StreamPartitioner<K, V>> = Arc::new(partitioner);
        self.add_sink_inner(
            name,
            SinkTarget::Topic(topic.into()),
            key_serde,
            value_serde,
            Some(p),
            None,
            parents,
        )
    }

    /// Adds a sink that chooses its topic per record.
    pub fn add_dynamic_sink<K, V>(
        &mut self,
        name: &str,
        extractor: impl TopicNameExtractor<K, V>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError>
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        let e: Arc<dyn TopicNameExtractor<K, V>> = Arc::new(extractor);
        let desc = std::any::type_name_of_val(&*e).to_string();
        self.add_sink_inner(
            name,
            SinkTarget::Dynamic(desc),
            key_serde,
            value_serde,
            None,
            Some(e),
            parents,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn add_sink_inner<K, V>(
        &mut self,
        name: &str,
        target: SinkTarget,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
        extractor: Option<Arc<dyn TopicNameExtractor<K, V>>>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError>
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        self.check_new_name(name)?;
        if parents.is_empty() {
            return Err(TopologyError::NoParents(name.into()));
        }
        if let SinkTarget::Topic(t) = &target
            && t.is_empty()
        {
            return Err(TopologyError::InvalidNode {
                node: name.into(),
                reason: "empty topic name".into(),
            });
        }
        let make = Arc::new(move |resolved: Option<String>| -> NodeFactory {
            let topic = match (&resolved, &extractor) {
                (Some(t), _) => SinkTopic::Static(t.as_str().into()),
                (None, Some(e)) => SinkTopic::Dynamic(e.clone()),
                (None, None) => SinkTopic::Static("".into()),
            };
            let (ks, vs, p) = (key_serde.clone(), value_serde.clone(), partitioner.clone());
            Arc::new(move || {
                Box::new(SinkNode {
                    topic: topic.clone(),
                    key_serde: ks.clone(),
                    value_serde: vs.clone(),
                    partitioner: p.clone(),
                })
            })
        });
        self.nodes.push(NodeDef {
            name: name.into(),
            kind: NodeKind::Sink { target, make },
            parents: parents.iter().map(|p| p.to_string()).collect(),
            input: Some(TypeSig::of::<K, V>()),
            output: None,
        });
        Ok(self)
    }

    /// Adds a state store, connected to `processors` (more can be connected later).
    pub fn add_state_store(
        &mut self,
        builder: impl StoreBuilder,
        processors: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        self.check_new_name(builder.name())?;
        self.stores.push(StoreDef {
            builder: Arc::new(builder),
            processors: processors.iter().map(|p| p.to_string()).collect(),
        });
        Ok(self)
    }

    /// Connects existing stores to a processor.
    pub fn connect_processor_and_state_stores(
        &mut self,
        processor: &str,
        stores: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        for s in stores {
            let def = self
                .stores
                .iter_mut()
                .find(|d| d.builder.name() == *s)
                .ok_or_else(|| TopologyError::UnknownStore {
                    store: (*s).into(),
                    processor: processor.into(),
                })?;
            if !def.processors.iter().any(|p| p == processor) {
                def.processors.push(processor.into());
            }
        }
        Ok(self)
    }

    /// Marks `topic` as internal to the application: at build time its name gets the
    /// `<application.id>-` prefix, and the runtime creates it.
    pub fn add_internal_topic(&mut self, topic: &str) -> &mut Self {
        self.internal_topics.insert(topic.into());
        self
    }

    /// Marks `topic` as internal (as [`Topology::add_internal_topic`]) with a fixed number of
    /// partitions, instead of as many as the sub-topology's input topics.
    pub fn add_internal_topic_with_partitions(
        &mut self,
        topic: &str,
        partitions: i32,
    ) -> &mut Self {
        self.internal_topic_partitions
            .insert(topic.into(), partitions);
        self.add_internal_topic(topic)
    }

    /// Declares topics that must have the same number of partitions (joined inputs).
    pub fn add_copartition_group(&mut self, topics: &[&str]) -> &mut Self {
        self.copartition_groups
            .push(topics.iter().map(|t| t.to_string()).collect());
        self
    }

    /// Adds a global store (Kafka Streams' `addGlobalStore`): a source `source_name` reading
    /// every partition of `topic` feeds the processor `processor_name`, which maintains the
    /// store `store`. The three form the global sub-topology, which generates no tasks: each
    /// instance keeps a full copy of the store, and every processor of every task can read it
    /// with [`ProcessorContext::with_global_store`](crate::ProcessorContext::with_global_store).
    /// The topic is the store's changelog, so the store is not change-logged again.
    #[allow(clippy::too_many_arguments)]
    pub fn add_global_store<K, V, KOut, VOut>(
        &mut self,
        store: impl StoreBuilder,
        source_name: &str,
        extractor: impl TimestampExtractor<K, V>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        topic: &str,
        processor_name: &str,
        supplier: impl ProcessorSupplier<K, V, KOut, VOut>,
    ) -> Result<&mut Self, TopologyError>
    where
        K: Clone + Send + 'static,
        V: Clone + Send + 'static,
        KOut: Clone + Send + 'static,
        VOut: Clone + Send + 'static,
    {
        let store_name = store.name().to_string();
        self.check_new_name(&store_name)?;
        self.check_new_name(processor_name)?;
        if source_name == processor_name || source_name == store_name {
            return Err(TopologyError::DuplicateName(source_name.into()));
        }
        self.add_source_with_extractor(source_name, &[topic], key_serde, value_serde, extractor)?;
        self.add_processor(processor_name, supplier, &[source_name])?;
        self.add_state_store(store, &[processor_name])?;
        self.global_nodes.insert(source_name.into());
        self.global_nodes.insert(processor_name.into());
        self.global_stores.insert(store_name);
        Ok(self)
    }

    /// The names of all nodes, in the order they were added.
    pub fn node_names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// Validates and describes the topology (internal topic names without the application id,
    /// as Kafka Streams prints them).
    pub fn describe(&self) -> Result<TopologyDescription, TopologyError> {
        Ok(self.build(None)?.description().clone())
    }
}
