//! Forwarding from a KTable's record cache, as Kafka Streams' cache flush listeners do.
//!
//! A table processor whose store has caching enabled does not forward each update: repeated
//! updates of a key between commits are folded in the store's cache, and only what the cache
//! writes down (on commit, or when it evicts a dirty entry because the store's or the
//! thread's `statestore.cache.max.bytes` budget is exceeded) is forwarded, in write order, as
//! `Change { new, old }` where `old` is the value forwarded before (the one the store held).
//! The record's timestamp is the new value's; for a delete, the task's stream time at the
//! flush. Headers of cached updates are not kept.

use kstreams_core::{ProcessorContext, Record, Result};

use crate::Data;
use crate::change::Change;
use kstreams_core::state::ValueAndTimestamp;

/// Registers forwarding from `store`'s cache for the calling table processor (call from
/// `init`). Returns whether the store is cached: if so, the processor must not forward
/// updates itself.
pub(crate) fn forward_from_cache<K: Data, V: Data>(
    ctx: &mut ProcessorContext<'_, K, Change<V>>,
    store: &str,
) -> Result<bool> {
    let name = store.to_string();
    ctx.set_cache_flush_forwarder(store, move |ctx, entry| {
        let s = ctx.key_value_store::<K, ValueAndTimestamp<V>>(&name)?;
        let (key, new, old) = s.decode_flush_entry(&entry)?;
        let timestamp = new
            .as_ref()
            .map_or_else(|| ctx.current_stream_time_ms(), |n| n.timestamp);
        let change = Change::new(new.map(|n| n.value), old.map(|o| o.value));
        ctx.forward(Record::new(key, change, timestamp))
    })
}
