//! The repartition step the DSL inserts before a grouping or join of a re-keyed stream, and
//! that `KStream::repartition` adds explicitly: a sink to the internal topic
//! `<base>-repartition` and a source reading it back.

use std::cell::RefCell;
use std::rc::Rc;

use kstreams_core::SharedSerde;

use crate::{Data, KStream};

/// The repartitioned input of a grouping, shared by its aggregations once created.
pub(crate) type SharedRepartition<K, V> = Rc<RefCell<Option<KStream<K, V>>>>;

/// Writes `stream` to `<application.id>-<base>-repartition` and reads it back; the result is
/// partitioned by its key.
pub(crate) fn through_repartition_topic<K: Data, V: Data>(
    stream: &KStream<K, V>,
    base: &str,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
) -> KStream<K, V> {
    through_repartition_topic_with(stream, base, key_serde, value_serde, None)
}

/// As [`through_repartition_topic`], with a fixed partition count.
pub(crate) fn through_repartition_topic_with<K: Data, V: Data>(
    stream: &KStream<K, V>,
    base: &str,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    partitions: Option<i32>,
) -> KStream<K, V> {
    let topic = format!("{base}-repartition");
    let sink = format!("{base}-repartition-sink");
    let source = format!("{base}-repartition-source");
    {
        let mut b = stream.b.borrow_mut();
        match partitions {
            Some(n) => b.topology.add_internal_topic_with_partitions(&topic, n),
            None => b.topology.add_internal_topic(&topic),
        };
        let r = b
            .topology
            .add_sink(
                &sink,
                &topic,
                key_serde.clone(),
                value_serde.clone(),
                &[&stream.node],
            )
            .map(|_| ());
        b.check(r);
        let r = b
            .topology
            .add_source(&source, &[&topic], key_serde.clone(), value_serde.clone())
            .map(|_| ());
        b.check(r);
    }
    KStream::new(
        stream.b.clone(),
        source,
        Some(key_serde),
        Some(value_serde),
        false,
        vec![topic],
    )
}
