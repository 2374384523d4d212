//! `KTable::suppress(until_window_closes)`: one final result per window.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use kstreams_core::{
    KeyValueStore, Processor, ProcessorContext, Record, Result, Stores, StreamsError,
};

use crate::change::Change;
use crate::kstream::missing_serde;
use crate::ktable::KTable;
use crate::windowed::Windowed;
use crate::{Data, Suppressed};
use kstreams_core::state::{ValueAndTimestamp, ValueAndTimestampSerde};

/// Buffers the latest value of each window (in a change-logged store, indexed in memory by
/// window end) and emits it, with the timestamp of its last update, once observed stream
/// time minus grace reaches the window end. A delete drops a buffered window silently and
/// passes through for one already emitted.
struct SuppressUntilWindowCloses<K, V> {
    store: String,
    grace_ms: i64,
    /// The buffer's bound in windows, and the windows buffered now (counted only when
    /// bounded).
    max_records: Option<usize>,
    buffered: usize,
    observed_stream_time: i64,
    by_window_end: BTreeMap<i64, Vec<Windowed<K>>>,
    _value: PhantomData<fn() -> V>,
}

type Buffer<K, V> = KeyValueStore<Windowed<K>, ValueAndTimestamp<V>>;

impl<K: Data, V: Data> Processor<Windowed<K>, Change<V>, Windowed<K>, Change<V>>
    for SuppressUntilWindowCloses<K, V>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>) -> Result<()> {
        let buffer = ctx.key_value_store::<Windowed<K>, ValueAndTimestamp<V>>(&self.store)?;
        self.by_window_end.clear();
        self.buffered = 0;
        for (k, _) in buffer.all()? {
            self.by_window_end.entry(k.window.end).or_default().push(k);
            self.buffered += 1;
        }
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>,
        r: Record<Windowed<K>, Change<V>>,
    ) -> Result<()> {
        self.observed_stream_time = self.observed_stream_time.max(r.timestamp);
        let buffer: &mut Buffer<K, V> = ctx.key_value_store(&self.store)?;
        match &r.value.new {
            Some(v) => {
                if self.max_records.is_some() && buffer.get(&r.key)?.is_none() {
                    self.buffered += 1;
                }
                buffer.put(&r.key, &ValueAndTimestamp::make(v.clone(), r.timestamp))?;
                self.by_window_end
                    .entry(r.key.window.end)
                    .or_default()
                    .push(r.key.clone());
            }
            None => {
                // A buffered (never emitted) window just disappears; an emitted one is
                // deleted downstream.
                if buffer.delete(&r.key)?.is_none() {
                    ctx.forward(r)?;
                } else {
                    self.buffered = self.buffered.saturating_sub(1);
                }
            }
        }
        let close = self.observed_stream_time.saturating_sub(self.grace_ms);
        let mut out = Vec::new();
        let buffer: &mut Buffer<K, V> = ctx.key_value_store(&self.store)?;
        while let Some(entry) = self.by_window_end.first_entry() {
            if *entry.key() > close {
                break;
            }
            for key in entry.remove() {
                // A key buffered twice is emitted once: the second delete finds nothing.
                if let Some(v) = buffer.delete(&key)? {
                    self.buffered = self.buffered.saturating_sub(1);
                    out.push(Record::new(
                        key,
                        Change::new(Some(v.value), None),
                        v.timestamp,
                    ));
                }
            }
        }
        for rec in out {
            ctx.forward(rec)?;
        }
        // The bound holds after what closed has left, as Kafka Streams' does.
        if let Some(max) = self.max_records
            && self.buffered > max
        {
            return Err(StreamsError::Fatal(format!(
                "suppress buffer '{}' is full ({max} windows, BufferConfig::max_records): a \
                 final result cannot be emitted early, so processing stops",
                self.store
            )));
        }
        Ok(())
    }
}

impl<K: Data, V: Data> KTable<Windowed<K>, V> {
    /// Holds back a windowed aggregation's updates and emits one final result per window when
    /// it closes: stream time ≥ window end + grace (+ the inactivity gap for sessions). Stream
    /// time here advances only with the updates reaching this node.
    pub fn suppress(&self, suppressed: Suppressed) -> KTable<Windowed<K>, V> {
        let b = self.b.clone();
        let name = match &suppressed.name {
            Some(n) => n.clone(),
            None => b.borrow_mut().new_name("KTABLE-SUPPRESS-"),
        };
        let store = format!("{name}-store");
        let (Some(ks), Some(vs)) = (self.key_serde.clone(), self.value_serde.clone()) else {
            b.borrow_mut().error(missing_serde(&name, "key or value"));
            return self.clone();
        };
        let Some(grace_ms) = self.window_grace_ms else {
            b.borrow_mut()
                .error(kstreams_core::TopologyError::InvalidNode {
                    node: name,
                    reason:
                        "suppress(until_window_closes) needs a table from a windowed aggregation"
                            .into(),
                });
            return self.clone();
        };
        let st = store.clone();
        let supplier = move || SuppressUntilWindowCloses::<K, V> {
            store: st.clone(),
            grace_ms,
            max_records: suppressed.buffer.max_records,
            buffered: 0,
            observed_stream_time: i64::MIN,
            by_window_end: BTreeMap::new(),
            _value: PhantomData,
        };
        {
            let mut s = b.borrow_mut();
            let r = s
                .topology
                .add_processor(&name, supplier, &[&self.node])
                .map(|_| ());
            s.check(r);
            let builder = Stores::key_value_store_builder_with(
                &store,
                ks,
                Arc::new(ValueAndTimestampSerde::new(vs)),
            )
            .in_memory();
            let r = s.topology.add_state_store(builder, &[&name]).map(|_| ());
            s.check(r);
        }
        KTable {
            node: name,
            store: None,
            ..self.clone()
        }
    }
}
