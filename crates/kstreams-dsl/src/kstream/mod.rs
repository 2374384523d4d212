//! `KStream`: an unbounded stream of records, and its operators (one per file).

mod deduplicate;
mod filter;
mod flat_map;
mod flat_map_values;
mod foreach;
mod global_join;
mod group_by;
mod join;
mod map;
mod map_values;
mod merge;
mod peek;
mod process;
mod repartition;
mod select_key;
mod split;
mod stream_join;
mod to;
mod to_idempotent_sink;
mod to_table;

pub use to_idempotent_sink::{IdempotentSink, WriteId};
mod try_flat_map_values;
mod try_map_values;

pub use deduplicate::{DEDUP_HITS, value_hash};

use kstreams_core::{ProcessorContext, ProcessorSupplier, Record, SharedSerde, TopologyError};

use crate::Data;
use crate::named::Named;
use crate::stateless::Stateless;
use crate::streams_builder::Shared;

/// A stream of key-value records. Operators add Processor API nodes to the builder's topology
/// and return the stream of their output.
pub struct KStream<K, V> {
    pub(crate) b: Shared,
    pub(crate) node: String,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// Whether a key-changing operator ran since the last repartition: grouping or joining
    /// then goes through a repartition topic.
    pub(crate) repartition_required: bool,
    /// The source topics this stream comes from (for co-partitioning of joins).
    pub(crate) source_topics: Vec<String>,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            b: self.b.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
            source_topics: self.source_topics.clone(),
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    pub(crate) fn new(
        b: Shared,
        node: String,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        repartition_required: bool,
        source_topics: Vec<String>,
    ) -> Self {
        KStream {
            b,
            node,
            key_serde,
            value_serde,
            repartition_required,
            source_topics,
        }
    }

    /// The name of the node whose output this stream is.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The explicit name or a generated one.
    pub(crate) fn name(&self, named: &Named, prefix: &str) -> String {
        named.or_generate(&mut self.b.borrow_mut(), prefix)
    }

    /// Adds a processor child of this stream's node.
    pub(crate) fn add_processor<KO: Data, VO: Data>(
        &self,
        name: &str,
        supplier: impl ProcessorSupplier<K, V, KO, VO>,
    ) {
        let mut b = self.b.borrow_mut();
        let r = b
            .topology
            .add_processor(name, supplier, &[&self.node])
            .map(|_| ());
        b.check(r);
    }

    /// Adds a stateless processor running `f` and returns its output stream.
    pub(crate) fn stateless<KO: Data, VO: Data, F>(
        &self,
        name: String,
        key_serde: Option<SharedSerde<KO>>,
        value_serde: Option<SharedSerde<VO>>,
        key_changing: bool,
        f: F,
    ) -> KStream<KO, VO>
    where
        F: Fn(&mut ProcessorContext<'_, KO, VO>, Record<K, V>) -> kstreams_core::Result<()>
            + Send
            + Sync
            + 'static,
    {
        self.add_processor(&name, Stateless::supplier(f));
        KStream::new(
            self.b.clone(),
            name,
            key_serde,
            value_serde,
            self.repartition_required || key_changing,
            self.source_topics.clone(),
        )
    }

    /// A stream with the same key and value types from another node.
    pub(crate) fn same_types(&self, node: String) -> KStream<K, V> {
        KStream {
            node,
            ..self.clone()
        }
    }

    /// Reports invalid window settings of an operator on this stream at build time.
    pub(crate) fn check_windows(&self, r: Result<(), kstreams_core::WindowError>) {
        if let Err(error) = r {
            self.b.borrow_mut().error(TopologyError::InvalidWindows {
                node: self.node.clone(),
                error,
            });
        }
    }

    /// The key serde from the argument, the stream, or an error naming `node`.
    pub(crate) fn require_key_serde(
        &self,
        given: Option<SharedSerde<K>>,
        node: &str,
    ) -> Option<SharedSerde<K>> {
        let s = given
            .or_else(|| self.key_serde.clone())
            .or_else(|| self.b.borrow().serde_of::<K>());
        if s.is_none() {
            self.b.borrow_mut().error(missing_serde(node, "key"));
        }
        s
    }

    /// The value serde from the argument, the stream, or an error naming `node`.
    pub(crate) fn require_value_serde(
        &self,
        given: Option<SharedSerde<V>>,
        node: &str,
    ) -> Option<SharedSerde<V>> {
        let s = given
            .or_else(|| self.value_serde.clone())
            .or_else(|| self.b.borrow().serde_of::<V>());
        if s.is_none() {
            self.b.borrow_mut().error(missing_serde(node, "value"));
        }
        s
    }
}

/// The error of an operator that needs a serde nobody gave.
pub(crate) fn missing_serde(node: &str, which: &str) -> TopologyError {
    TopologyError::InvalidNode {
        node: node.into(),
        reason: format!(
            "no {which} serde: the stream's {which} type changed upstream; pass one (Produced, Grouped, Materialized or Repartitioned)"
        ),
    }
}
