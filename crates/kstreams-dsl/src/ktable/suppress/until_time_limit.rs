//! `suppress(until_time_limit)`: at most one update per key and period.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use kstreams_core::{KeyValueStore, Processor, ProcessorContext, Record, Result};

use super::buffer_full;
use super::buffered_change::BufferedChange;
use crate::Data;
use crate::change::Change;

/// Holds each key's updates back in a change-logged store (indexed in memory by the stream
/// time the key entered it): a key's later updates replace its latest value and timestamp but
/// keep the value before the first one. Once observed stream time reaches entry time plus the
/// limit, the key's change is emitted (latest value, old value from before the buffer, the
/// latest timestamp). Past `max_records` keys, the oldest go out early, or processing stops.
pub(super) struct SuppressUntilTimeLimit<K, V> {
    pub(super) store: String,
    pub(super) limit_ms: i64,
    pub(super) max_records: Option<usize>,
    pub(super) shut_down_when_full: bool,
    pub(super) buffered: usize,
    pub(super) index_loaded: bool,
    pub(super) observed_stream_time: i64,
    pub(super) by_buffer_time: BTreeMap<i64, Vec<K>>,
    pub(super) _value: PhantomData<fn() -> V>,
}

type Buffer<K, V> = KeyValueStore<K, BufferedChange<V>>;

impl<K: Data, V: Data> SuppressUntilTimeLimit<K, V> {
    /// Takes `key` out of the buffer as the change to emit (none when it was taken already).
    /// A key created and deleted while held back still goes out as a delete, as in Kafka
    /// Streams (only final results may drop such tombstones).
    fn take(buffer: &mut Buffer<K, V>, key: K) -> Result<Option<Record<K, Change<V>>>> {
        Ok(buffer
            .delete(&key)?
            .map(|b| Record::new(key, Change::new(b.new, b.old), b.timestamp)))
    }

    /// Indexes what the buffer holds, once: at the first record after the task's stores are
    /// restored (or a test driver's `restore_state_store`).
    fn load_index(&mut self, buffer: &Buffer<K, V>) -> Result<()> {
        if self.index_loaded {
            return Ok(());
        }
        self.index_loaded = true;
        self.by_buffer_time.clear();
        self.buffered = 0;
        for (k, b) in buffer.all()? {
            self.by_buffer_time
                .entry(b.buffer_time)
                .or_default()
                .push(k);
            self.buffered += 1;
        }
        Ok(())
    }
}

impl<K: Data, V: Data> Processor<K, Change<V>, K, Change<V>> for SuppressUntilTimeLimit<K, V> {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        self.observed_stream_time = self.observed_stream_time.max(r.timestamp);
        let buffer: &mut Buffer<K, V> = ctx.key_value_store(&self.store)?;
        self.load_index(buffer)?;
        let entry = match buffer.get(&r.key)? {
            Some(held) => BufferedChange {
                new: r.value.new,
                timestamp: r.timestamp,
                ..held
            },
            None => {
                self.by_buffer_time
                    .entry(r.timestamp)
                    .or_default()
                    .push(r.key.clone());
                self.buffered += 1;
                BufferedChange {
                    old: r.value.old,
                    new: r.value.new,
                    timestamp: r.timestamp,
                    buffer_time: r.timestamp,
                }
            }
        };
        buffer.put(&r.key, &entry)?;
        let due = self.observed_stream_time.saturating_sub(self.limit_ms);
        let mut out = Vec::new();
        while let Some(first) = self.by_buffer_time.first_entry() {
            let emit_early = !self.shut_down_when_full
                && self.max_records.is_some_and(|max| self.buffered > max);
            if *first.key() > due && !emit_early {
                break;
            }
            for key in first.remove() {
                self.buffered = self.buffered.saturating_sub(1);
                out.extend(Self::take(buffer, key)?);
            }
        }
        for rec in out {
            ctx.forward(rec)?;
        }
        match self.max_records {
            Some(max) if self.buffered > max => Err(buffer_full(&self.store, max)),
            _ => Ok(()),
        }
    }
}
