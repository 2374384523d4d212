//! `suppress(until_window_closes)`: one final result per window.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use kstreams_core::state::ValueAndTimestamp;
use kstreams_core::{KeyValueStore, Processor, ProcessorContext, Record, Result, StreamsError};

use super::buffer_full;
use crate::Data;
use crate::change::Change;

/// Buffers the latest value of each window (in a change-logged store, indexed in memory by
/// window end) and emits it, with the timestamp of its last update, once observed stream
/// time minus grace reaches the window end. A delete drops a buffered window silently and
/// passes through for one already emitted.
pub(super) struct SuppressUntilWindowCloses<K, V> {
    pub(super) store: String,
    pub(super) grace_ms: i64,
    pub(super) window_end: Arc<dyn Fn(&K) -> i64 + Send + Sync>,
    /// The buffer's bound in windows (a full buffer is fatal).
    pub(super) max_records: Option<usize>,
    pub(super) buffered: usize,
    pub(super) index_loaded: bool,
    pub(super) observed_stream_time: i64,
    pub(super) by_window_end: BTreeMap<i64, Vec<K>>,
    pub(super) _value: PhantomData<fn() -> V>,
}

type Buffer<K, V> = KeyValueStore<K, ValueAndTimestamp<V>>;

impl<K: Data, V: Data> SuppressUntilWindowCloses<K, V> {
    /// Indexes what the buffer holds, once: at the first record after the task's stores are
    /// restored (or a test driver's `restore_state_store`).
    fn load_index(&mut self, buffer: &Buffer<K, V>) -> Result<()> {
        if self.index_loaded {
            return Ok(());
        }
        self.index_loaded = true;
        self.by_window_end.clear();
        self.buffered = 0;
        for (k, _) in buffer.all()? {
            self.by_window_end
                .entry((self.window_end)(&k))
                .or_default()
                .push(k);
            self.buffered += 1;
        }
        Ok(())
    }
}

impl<K: Data, V: Data> Processor<K, Change<V>, K, Change<V>> for SuppressUntilWindowCloses<K, V> {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        self.observed_stream_time = self.observed_stream_time.max(r.timestamp);
        let buffer: &mut Buffer<K, V> = ctx.key_value_store(&self.store)?;
        self.load_index(buffer)?;
        match &r.value.new {
            Some(v) => {
                if self.max_records.is_some() && buffer.get(&r.key)?.is_none() {
                    self.buffered += 1;
                }
                buffer.put(&r.key, &ValueAndTimestamp::make(v.clone(), r.timestamp))?;
                self.by_window_end
                    .entry((self.window_end)(&r.key))
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
        match self.max_records {
            Some(max) if self.buffered > max => Err(buffer_full(&self.store, max)),
            _ => Ok::<(), StreamsError>(()),
        }
    }
}
