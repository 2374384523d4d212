//! The three kinds of nodes: sources (deserialize), processors (user code) and sinks
//! (serialize and send), behind the type-erased node interface of the graph.

use std::marker::PhantomData;
use std::sync::Arc;

use super::graph::{AnyRecord, BoxedRecord, ErasedNode, GraphState};
use super::partitioner::{StreamPartitioner, TopicNameExtractor};
use super::timestamp_extractor::TimestampExtractor;
use super::{Processor, ProcessorContext, ProcessorSupplier};
use crate::error::{Result, StreamsError};
use crate::record::{ConsumedRecord, ProducedRecord, Record, RecordMetadata};
use crate::serde::{SerdeError, SharedSerde};

fn downcast<K: 'static, V: 'static>(
    g: &GraphState,
    me: usize,
    record: AnyRecord<'_>,
) -> Result<Record<K, V>> {
    let slot = record.downcast_mut::<Option<Record<K, V>>>();
    slot.and_then(Option::take).ok_or_else(|| {
        StreamsError::IllegalState(format!(
            "node '{}' received a record that is not a Record<{}, {}>",
            g.plan.names[me],
            std::any::type_name::<K>(),
            std::any::type_name::<V>()
        ))
    })
}

/// Why a consumed record could not be turned into a typed one.
pub(crate) enum DecodeError {
    /// The key or value did not deserialize; the raw record is handed back for the handler.
    Serde(Box<(ConsumedRecord, SerdeError)>),
    /// The timestamp extractor failed.
    Other(StreamsError),
}

/// Turns consumed bytes into a typed record for one source.
pub(crate) trait SourceDecoder: Send + Sync {
    fn decode(
        &self,
        raw: ConsumedRecord,
        partition_time: i64,
    ) -> Result<(BoxedRecord, i64, RecordMetadata), DecodeError>;
}

pub(crate) struct TypedSourceDecoder<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) extractor: Arc<dyn TimestampExtractor<K, V>>,
}

impl<K: Send + 'static, V: Send + 'static> SourceDecoder for TypedSourceDecoder<K, V> {
    fn decode(
        &self,
        raw: ConsumedRecord,
        partition_time: i64,
    ) -> Result<(BoxedRecord, i64, RecordMetadata), DecodeError> {
        let key = match self.key_serde.deserialize(&raw.topic, raw.key.as_deref()) {
            Ok(k) => k,
            Err(e) => return Err(DecodeError::Serde(Box::new((raw, e)))),
        };
        let value = match self
            .value_serde
            .deserialize(&raw.topic, raw.value.as_deref())
        {
            Ok(v) => v,
            Err(e) => return Err(DecodeError::Serde(Box::new((raw, e)))),
        };
        let mut record = Record {
            key,
            value,
            timestamp: raw.timestamp,
            headers: raw.headers,
        };
        let ts = self
            .extractor
            .extract(&record, partition_time)
            .map_err(DecodeError::Other)?;
        record.timestamp = ts;
        let metadata = RecordMetadata {
            topic: raw.topic,
            partition: raw.partition,
            offset: raw.offset,
        };
        Ok((Box::new(Some(record)), ts, metadata))
    }
}

/// A source: records arrive already decoded and are forwarded to the children.
pub(crate) struct SourceNode<K, V>(PhantomData<fn(K, V)>);

impl<K, V> SourceNode<K, V> {
    pub(crate) fn new() -> Self {
        SourceNode(PhantomData)
    }
}

impl<K: Clone + Send + 'static, V: Clone + Send + 'static> ErasedNode for SourceNode<K, V> {
    fn init(&mut self, _g: &mut GraphState, _me: usize) -> Result<()> {
        Ok(())
    }
    fn process(&mut self, g: &mut GraphState, me: usize, record: AnyRecord<'_>) -> Result<()> {
        let record = downcast::<K, V>(g, me, record)?;
        g.forward(me, record)
    }
    fn close(&mut self, _g: &mut GraphState, _me: usize) -> Result<()> {
        Ok(())
    }
}

/// A user processor.
pub(crate) struct ProcessorNode<KIn, VIn, KOut, VOut> {
    processor: Box<dyn Processor<KIn, VIn, KOut, VOut>>,
}

impl<KIn: 'static, VIn: 'static, KOut: 'static, VOut: 'static> ProcessorNode<KIn, VIn, KOut, VOut> {
    pub(crate) fn from_supplier(s: &dyn ProcessorSupplier<KIn, VIn, KOut, VOut>) -> Self {
        ProcessorNode { processor: s.get() }
    }
}

impl<KIn, VIn, KOut, VOut> ErasedNode for ProcessorNode<KIn, VIn, KOut, VOut>
where
    KIn: Send + 'static,
    VIn: Send + 'static,
    KOut: 'static,
    VOut: 'static,
{
    fn init(&mut self, g: &mut GraphState, me: usize) -> Result<()> {
        self.processor.init(&mut ProcessorContext::new(g, me))
    }
    fn process(&mut self, g: &mut GraphState, me: usize, record: AnyRecord<'_>) -> Result<()> {
        let record = downcast::<KIn, VIn>(g, me, record)?;
        self.processor
            .process(&mut ProcessorContext::new(g, me), record)
    }
    fn close(&mut self, g: &mut GraphState, me: usize) -> Result<()> {
        self.processor.close(&mut ProcessorContext::new(g, me))
    }
}

/// Where a sink sends its records.
pub(crate) enum SinkTopic<K, V> {
    /// A fixed topic (already resolved: internal topics carry the application id).
    Static(Arc<str>),
    /// A topic chosen per record.
    Dynamic(Arc<dyn TopicNameExtractor<K, V>>),
}

impl<K, V> Clone for SinkTopic<K, V> {
    fn clone(&self) -> Self {
        match self {
            SinkTopic::Static(t) => SinkTopic::Static(t.clone()),
            SinkTopic::Dynamic(e) => SinkTopic::Dynamic(e.clone()),
        }
    }
}

/// A sink: serializes and hands the record to the collector. A key or value that does not
/// serialize goes to the production exception handler (KIP-1033).
pub(crate) struct SinkNode<K, V> {
    pub(crate) topic: SinkTopic<K, V>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
}

impl<K: Send + 'static, V: Send + 'static> ErasedNode for SinkNode<K, V> {
    fn init(&mut self, _g: &mut GraphState, _me: usize) -> Result<()> {
        Ok(())
    }
    fn process(&mut self, g: &mut GraphState, me: usize, record: AnyRecord<'_>) -> Result<()> {
        let record = downcast::<K, V>(g, me, record)?;
        let topic = match &self.topic {
            SinkTopic::Static(t) => t.clone(),
            SinkTopic::Dynamic(e) => e
                .extract(&record.key, &record.value, g.metadata.as_ref())
                .into(),
        };
        let key = match self.key_serde.serialize(&topic, &record.key) {
            Ok(k) => k,
            Err(e) => {
                return g.handle_serialization_error(
                    me,
                    &topic,
                    true,
                    record.timestamp,
                    record.headers,
                    e,
                );
            }
        };
        let value = match self.value_serde.serialize(&topic, &record.value) {
            Ok(v) => v,
            Err(e) => {
                return g.handle_serialization_error(
                    me,
                    &topic,
                    false,
                    record.timestamp,
                    record.headers,
                    e,
                );
            }
        };
        let partition = match &self.partitioner {
            Some(p) => g
                .collector
                .partitions_for(&topic)
                .and_then(|n| p.partition(&topic, &record.key, &record.value, n)),
            None => None,
        };
        let origin = Some(g.output_origin(me));
        g.send_output(ProducedRecord {
            topic,
            partition,
            key,
            value,
            timestamp: record.timestamp,
            headers: record.headers,
            origin,
        })
    }
    fn close(&mut self, _g: &mut GraphState, _me: usize) -> Result<()> {
        Ok(())
    }
}

/// Makes a fresh node per task.
pub(crate) type NodeFactory = Arc<dyn Fn() -> Box<dyn ErasedNode> + Send + Sync>;
