//! Forwarding from a windowed aggregation's record cache, as Kafka Streams' caching window
//! stores do.
//!
//! With caching enabled, a time-windowed aggregation does not forward each update: repeated
//! updates of a window between commits are folded in the store's cache, and only what the
//! cache writes down (on commit, or when it evicts a dirty window under the store's or the
//! thread's `statestore.cache.max.bytes` budget) is forwarded, in write order, as
//! `Change { new, old }` keyed by the [`Windowed`] key, where `old` is the value forwarded
//! before. The record's timestamp is the window's highest record timestamp; for a delete, the
//! task's stream time at the flush. Headers of cached updates are not kept.

use kstreams_core::{ProcessorContext, Record, Result, WindowStore};

use crate::Data;
use crate::change::Change;
use crate::windowed::{Window, Windowed};
use kstreams_core::state::ValueAndTimestamp;

/// Registers forwarding from the window store `store`'s cache for the calling aggregation
/// (call from `init`). Returns whether the store is cached: if so, the processor must not
/// forward updates itself.
pub(crate) fn forward_windows_from_cache<K: Data, V: Data>(
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>,
    store: &str,
) -> Result<bool> {
    let name = store.to_string();
    ctx.set_cache_flush_forwarder(store, move |ctx, entry| {
        let s = ctx.typed_store::<WindowStore<K, ValueAndTimestamp<V>>>(&name)?;
        let size = s.window_size();
        let (key, start, new, old) = s.decode_flush_entry(&entry)?;
        let timestamp = new
            .as_ref()
            .map_or_else(|| ctx.current_stream_time_ms(), |n| n.timestamp);
        let window = Window::new(start, start.saturating_add(size));
        let change = Change::new(new.map(|n| n.value), old.map(|o| o.value));
        ctx.forward(Record::new(Windowed::new(key, window), change, timestamp))
    })
}
