//! Forwarding from a session aggregation's record cache, as Kafka Streams' caching session
//! stores do.
//!
//! With caching enabled, a session aggregation does not forward each update: the sessions a
//! record creates, grows or merges away between commits fold in the store's cache, and only
//! what the cache writes down (on commit, or when it evicts a dirty session under the store's
//! or the thread's `statestore.cache.max.bytes` budget) is forwarded, in write order, as
//! `Change { new, old }` keyed by the session's [`Windowed`] key at the session's end, where
//! `old` is the value forwarded before: a session merged away after it was forwarded comes as
//! a delete, one created and merged away between two commits not at all. Headers of cached
//! updates are not kept.

use kstreams_core::{ProcessorContext, Record, Result, SessionStore};

use crate::Data;
use crate::change::Change;
use crate::windowed::{Window, Windowed};

/// Registers forwarding from the session store `store`'s cache for the calling aggregation
/// (call from `init`). Returns whether the store is cached: if so, the processor must not
/// forward updates itself.
pub(crate) fn forward_sessions_from_cache<K: Data, V: Data>(
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<V>>,
    store: &str,
) -> Result<bool> {
    let name = store.to_string();
    ctx.set_cache_flush_forwarder(store, move |ctx, entry| {
        let s = ctx.typed_store::<SessionStore<K, V>>(&name)?;
        let (key, session, new, old) = s.decode_flush_entry(&entry)?;
        let window = Window::new(session.start, session.end);
        ctx.forward(Record::new(
            Windowed::new(key, window),
            Change::new(new, old),
            session.end,
        ))
    })
}
