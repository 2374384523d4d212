//! `CogroupedKStream`: several grouped streams aggregated into one table through one store
//! (Kafka Streams' `cogroup`, KIP-150).
//!
//! ```text
//! clicks.group_by_key(..).cogroup(|k, click, agg| ..)
//!     .cogroup(&views.group_by_key(..), |k, view, agg| ..)
//!     .aggregate(|| initial, Materialized::as_("activity"))
//! ```
//!
//! Each input gets its own aggregating processor (repartitioned first when its key changed
//! upstream), all of them connected to the one store and followed by one merge node: a key's
//! aggregate folds records of every input in the order they are processed. The inputs must be
//! co-partitioned (checked at start-up).

use std::sync::Arc;

use kstreams_core::{Record, SharedSerde};

use crate::change::Change;
use crate::kgrouped_stream::KGroupedStream;
use crate::kgrouped_stream::aggregate::StreamAggregate;
use crate::ktable::{KTable, ValueGetter};
use crate::stateless::Stateless;
use crate::streams_builder::Shared;
use crate::{Data, Materialized};

type Initializer<VA> = Arc<dyn Fn() -> VA + Send + Sync>;

/// What lowering one input made: its aggregating node, its (possibly repartitioned) source
/// topics and the store's serdes.
struct Lowered<K, VA> {
    node: String,
    source_topics: Vec<String>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<VA>,
}

/// One input, its value type erased: lowers itself given the store, the store settings, the
/// initializer and its position (`None` after an error, which the builder has recorded).
type Input<K, VA> =
    Box<dyn FnOnce(&str, &Materialized<K, VA>, Initializer<VA>, usize) -> Option<Lowered<K, VA>>>;

/// Grouped streams waiting to be aggregated together, from [`KGroupedStream::cogroup`].
pub struct CogroupedKStream<K, VA> {
    b: Shared,
    inputs: Vec<Input<K, VA>>,
}

impl<K: Data, VA: Data> CogroupedKStream<K, VA> {
    pub(crate) fn new<V: Data>(
        grouped: &KGroupedStream<K, V>,
        aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    ) -> Self {
        CogroupedKStream {
            b: grouped.stream.b.clone(),
            inputs: vec![input(grouped, aggregator)],
        }
    }

    /// Adds `grouped` with its own `aggregator` folding its records into the same aggregate.
    pub fn cogroup<V: Data>(
        mut self,
        grouped: &KGroupedStream<K, V>,
        aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    ) -> Self {
        self.inputs.push(input(grouped, aggregator));
        self
    }

    /// Aggregates every input into one table per key, starting from `initializer()`; emits
    /// the updated aggregate for every record of any input, with the highest timestamp of
    /// the key's records so far.
    pub fn aggregate(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let b = self.b.clone();
        let store = match &materialized.name {
            Some(n) => n.clone(),
            None => b
                .borrow_mut()
                .new_name("COGROUPKSTREAM-AGGREGATE-STATE-STORE-"),
        };
        let initializer: Initializer<VA> = Arc::new(initializer);
        let mut lowered = Vec::new();
        for (i, lower) in self.inputs.into_iter().enumerate() {
            match lower(&store, &materialized, initializer.clone(), i) {
                Some(l) => lowered.push(l),
                None => return dead_table(b, &store),
            }
        }
        let (key_serde, value_serde) =
            (lowered[0].key_serde.clone(), lowered[0].value_serde.clone());
        let nodes: Vec<&str> = lowered.iter().map(|l| l.node.as_str()).collect();
        let source_topics: Vec<String> = lowered
            .iter()
            .flat_map(|l| l.source_topics.iter().cloned())
            .collect();
        let merge = b.borrow_mut().new_name("COGROUPKSTREAM-MERGE-");
        {
            let mut s = b.borrow_mut();
            let builder =
                materialized.store_builder(&store, key_serde.clone(), value_serde.clone());
            let r = s.topology.add_state_store(builder, &nodes).map(|_| ());
            s.check(r);
            let pass = |ctx: &mut kstreams_core::ProcessorContext<'_, K, Change<VA>>,
                        r: Record<K, Change<VA>>| ctx.forward(r);
            let r = s
                .topology
                .add_processor(&merge, Stateless::supplier(pass), &nodes)
                .map(|_| ());
            s.check(r);
            if lowered.len() > 1 {
                let topics: Vec<&str> = source_topics.iter().map(String::as_str).collect();
                s.topology.add_copartition_group(&topics);
            }
        }
        KTable {
            b,
            node: merge,
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            store: Some(store.clone()),
            getter: ValueGetter::of_store(&store),
            source_topics,
            window_close: None,
        }
    }
}

/// `grouped` with `aggregator`, its types erased.
fn input<K: Data, V: Data, VA: Data>(
    grouped: &KGroupedStream<K, V>,
    aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
) -> Input<K, VA> {
    let grouped = grouped.clone();
    Box::new(move |store, materialized, initializer, index| {
        // The first input's repartition topic (if its key changed upstream) is named after the
        // store, the others' after the store and their position, unless their grouping is
        // named.
        let name = if index == 0 {
            store.to_string()
        } else {
            format!("{store}-{index}")
        };
        let settings = Materialized::<K, VA> {
            name: Some(name),
            key_serde: materialized.key_serde.clone(),
            value_serde: materialized.value_serde.clone(),
            ..Materialized::default()
        };
        let p = grouped.prepare("", &settings).ok()?;
        let node = grouped
            .stream
            .b
            .borrow_mut()
            .new_name("COGROUPKSTREAM-AGGREGATE-");
        let fold = move |k: &K, v: &V, agg: Option<VA>| {
            aggregator(k, v, agg.unwrap_or_else(|| initializer()))
        };
        p.input
            .add_processor(&node, StreamAggregate::supplier(store.to_string(), fold));
        Some(Lowered {
            node,
            source_topics: p.input.source_topics.clone(),
            key_serde: p.key_serde,
            value_serde: p.value_serde,
        })
    })
}

/// A placeholder table after an error (reported by `build`).
fn dead_table<K: Data, VA: Data>(b: Shared, store: &str) -> KTable<K, VA> {
    KTable {
        node: String::new(),
        key_serde: None,
        value_serde: None,
        store: None,
        getter: ValueGetter::of_store(store),
        source_topics: vec![],
        window_close: None,
        b,
    }
}
