//! `deduplicate`: drop records whose id was already seen within a TTL, so an at-least-once
//! upstream that re-sends records looks exactly-once downstream.
//!
//! Lowering: one processor and one key-value store (RocksDB or in-memory, change-logged by
//! default, uncached). The store holds two key layouts, both change-logged so a restore
//! rebuilds both:
//! - `0x00 ++ id` → the id's first-seen time (8 bytes, big-endian): the lookup per record;
//! - `0x01 ++ sortable(first seen) ++ id` → empty: a time index, so the purge punctuator
//!   range-scans only the expired prefix instead of the whole store.

use std::sync::Arc;

use kstreams_core::{
    Headers, Processor, ProcessorContext, PunctuationType, Record, Result, SharedSerde, Stores,
    TopologyError,
};

use crate::{Data, Deduplicated, KStream, StoreType};

/// The per-node counter of records dropped as duplicates.
pub const DEDUP_HITS: &str = "dedup-hits";

const ID_PREFIX: u8 = 0x00;
const EXPIRY_PREFIX: u8 = 0x01;

/// Extracts a record's id as bytes (`None`: the record has no id and passes).
type IdFn<K, V> = Arc<dyn Fn(&K, &V, &Headers) -> Result<Option<Vec<u8>>> + Send + Sync>;

/// What to do with a record whose id is known (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DedupDecision {
    /// First record of the id (or the previous one expired): forward and remember `now`.
    Forward,
    /// Seen at the given time, less than the TTL ago: drop.
    Duplicate {
        /// When the id was first seen.
        first_seen: i64,
    },
}

/// An id first seen at `first_seen` is live while `now < first_seen + ttl`; a time before
/// `first_seen` (an out-of-order record on a clock that went back) counts as live too.
pub(crate) fn decide(first_seen: Option<i64>, now: i64, ttl_ms: i64) -> DedupDecision {
    match first_seen {
        Some(first_seen) if now.saturating_sub(first_seen) < ttl_ms => {
            DedupDecision::Duplicate { first_seen }
        }
        _ => DedupDecision::Forward,
    }
}

/// `ts` as 8 bytes whose byte order is the numeric order (sign bit flipped).
fn sortable(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_sortable(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

pub(crate) fn id_key(id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(ID_PREFIX);
    k.extend_from_slice(id);
    k
}

pub(crate) fn expiry_key(first_seen: i64, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.push(EXPIRY_PREFIX);
    k.extend_from_slice(&sortable(first_seen));
    k.extend_from_slice(id);
    k
}

/// `(first seen, id)` of a time-index key; `None` for another layout or a short key.
pub(crate) fn decode_expiry_key(key: &[u8]) -> Option<(i64, &[u8])> {
    let (&prefix, rest) = key.split_first()?;
    if prefix != EXPIRY_PREFIX || rest.len() < 8 {
        return None;
    }
    let (ts, id) = rest.split_at(8);
    Some((from_sortable(ts.try_into().ok()?), id))
}

fn decode_first_seen(value: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(value.try_into().ok()?))
}

/// The stable value hash of [`KStream::deduplicate_by_value_hash`]: 128-bit FNV-1a over the
/// serialized value, as 16 big-endian bytes. It depends only on the bytes (not on the Rust
/// version, the platform or the process), so it is the same after a restart, on another
/// instance and in the changelog.
pub fn value_hash(bytes: &[u8]) -> [u8; 16] {
    const OFFSET_BASIS: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let mut h = OFFSET_BASIS;
    for &b in bytes {
        h ^= u128::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h.to_be_bytes()
}

struct Deduplicate<K, V> {
    store: String,
    id: IdFn<K, V>,
    ttl_ms: i64,
    interval_ms: i64,
    time: PunctuationType,
}

/// Removes every id first seen at or before `now - ttl`, walking the time index in order.
fn purge<K, V>(
    ctx: &mut ProcessorContext<'_, K, V>,
    store: &str,
    ttl_ms: i64,
    now: i64,
) -> Result<()>
where
    K: 'static,
    V: 'static,
{
    let cutoff = now.saturating_sub(ttl_ms);
    let s = ctx.key_value_store::<Vec<u8>, Vec<u8>>(store)?.inner_mut();
    let from = [EXPIRY_PREFIX];
    let to = expiry_key(cutoff.saturating_add(1), &[]);
    let mut expired = Vec::new();
    for kv in s.range(Some(&from), Some(&to))? {
        let (key, _) = kv?;
        if let Some((first_seen, id)) = decode_expiry_key(&key)
            && first_seen <= cutoff
        {
            expired.push((key.clone(), id.to_vec()));
        }
    }
    for (index_key, id) in &expired {
        s.delete(index_key)?;
        s.delete(&id_key(id))?;
    }
    if !expired.is_empty() {
        tracing::debug!(store = %store, expired = expired.len(), cutoff, "purged expired dedup ids");
    }
    Ok(())
}

impl<K: Data, V: Data> Processor<K, V, K, V> for Deduplicate<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, V>) -> Result<()> {
        let (store, ttl_ms) = (self.store.clone(), self.ttl_ms);
        let interval =
            std::time::Duration::from_millis(u64::try_from(self.interval_ms).unwrap_or(1));
        ctx.schedule(interval, self.time, move |ctx, now| {
            purge(ctx, &store, ttl_ms, now)
        })?;
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        let Some(id) = (self.id)(&r.key, &r.value, &r.headers)? else {
            return ctx.forward(r);
        };
        let now = match self.time {
            PunctuationType::StreamTime => ctx.current_stream_time_ms(),
            PunctuationType::WallClockTime => ctx.current_system_time_ms(),
        };
        let s = ctx
            .key_value_store::<Vec<u8>, Vec<u8>>(&self.store)?
            .inner_mut();
        let key = id_key(&id);
        let first_seen = s.get(&key)?.as_deref().and_then(decode_first_seen);
        match decide(first_seen, now, self.ttl_ms) {
            DedupDecision::Duplicate { first_seen } => {
                ctx.increment_node_counter(DEDUP_HITS, 1);
                tracing::debug!(node = %ctx.node_name(), task = %ctx.task_id(), first_seen, now,
                    timestamp = r.timestamp, "duplicate record dropped");
                Ok(())
            }
            DedupDecision::Forward => {
                if let Some(old) = first_seen {
                    s.delete(&expiry_key(old, &id))?;
                }
                s.put(&key, &now.to_be_bytes())?;
                s.put(&expiry_key(now, &id), &[])?;
                ctx.forward(r)
            }
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Forwards the first record of each id and drops later records of the same id seen
    /// within the TTL of [`Deduplicated`], so an at-least-once upstream that re-sends records
    /// looks exactly-once downstream. `id(key, value, headers)` gives the id (its serde is the
    /// one registered for `I`: strings, numbers and bytes are); `None` means "no id": such
    /// records always pass and are not remembered.
    ///
    /// Ids live in a change-logged store, so decisions survive restarts and task moves; a
    /// punctuator on the configured clock purges expired ids through a time index. Dropped
    /// duplicates are counted per processor as [`DEDUP_HITS`] and logged at debug level.
    /// Forwarded records keep their key, value, timestamp and headers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kstreams_core::Serdes;
    /// use kstreams_dsl::*;
    /// use kstreams_test_driver::TopologyTestDriver;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .deduplicate(|k: &String, _v, _h| Some(k.clone()),
    ///         Deduplicated::with_ttl(Duration::from_secs(60)).with_store_type(StoreType::InMemory))
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.input_topic::<String, String>("in");
    /// input.pipe_input_with_timestamp("order-1".into(), "a".into(), 1_000);
    /// input.pipe_input_with_timestamp("order-1".into(), "a".into(), 2_000);
    /// let out = driver.output_topic::<String, String>("out").read_records_to_list();
    /// assert_eq!(out.len(), 1);
    /// assert_eq!(out[0].timestamp, 1_000);
    /// ```
    pub fn deduplicate<I: Data>(
        &self,
        id: impl Fn(&K, &V, &Headers) -> Option<I> + Send + Sync + 'static,
        deduplicated: Deduplicated,
    ) -> Self {
        let name = self.dedup_name(&deduplicated);
        let Some(serde) = self.b.borrow().serde_of::<I>() else {
            self.b
                .borrow_mut()
                .error(crate::kstream::missing_serde(&name, "id"));
            return self.same_types(name);
        };
        let store = dedup_store_name(&name, &deduplicated);
        let id_fn: IdFn<K, V> = Arc::new(move |k, v, h| match id(k, v, h) {
            Some(id) => Ok(serde.serialize(&store, &id)?),
            None => Ok(None),
        });
        self.add_deduplicate(name, id_fn, deduplicated)
    }

    /// [`deduplicate`](Self::deduplicate) with the id a stable hash of the serialized value
    /// ([`value_hash`]: 128-bit FNV-1a), for upstreams that re-send identical payloads
    /// without an id. A value that serializes to null has no id and passes.
    pub fn deduplicate_by_value_hash(&self, deduplicated: Deduplicated) -> Self {
        let name = self.dedup_name(&deduplicated);
        let Some(serde): Option<SharedSerde<V>> = self.require_value_serde(None, &name) else {
            return self.same_types(name);
        };
        let store = dedup_store_name(&name, &deduplicated);
        let id_fn: IdFn<K, V> = Arc::new(move |_k, v, _h| {
            Ok(serde
                .serialize(&store, v)?
                .map(|bytes| value_hash(&bytes).to_vec()))
        });
        self.add_deduplicate(name, id_fn, deduplicated)
    }

    fn dedup_name(&self, d: &Deduplicated) -> String {
        match &d.name {
            Some(n) => n.clone(),
            None => self.b.borrow_mut().new_name("KSTREAM-DEDUPLICATE-"),
        }
    }

    fn add_deduplicate(&self, name: String, id: IdFn<K, V>, d: Deduplicated) -> Self {
        let (ttl_ms, interval_ms) = (d.ttl_ms(), d.interval_ms());
        if ttl_ms < 1 || interval_ms < 1 {
            self.b.borrow_mut().error(TopologyError::InvalidNode {
                node: name.clone(),
                reason: "the deduplication TTL and punctuation interval must be at least 1 ms"
                    .into(),
            });
            return self.same_types(name);
        }
        let store = dedup_store_name(&name, &d);
        let (st, time) = (store.clone(), d.time);
        self.add_processor(&name, move || Deduplicate::<K, V> {
            store: st.clone(),
            id: id.clone(),
            ttl_ms,
            interval_ms,
            time,
        });
        let mut builder = Stores::key_value_store_builder::<Vec<u8>, Vec<u8>>(&store)
            .with_logging_enabled(d.logging);
        if d.store_type == StoreType::InMemory {
            builder = builder.in_memory();
        }
        let mut b = self.b.borrow_mut();
        let r = b.topology.add_state_store(builder, &[&name]).map(|_| ());
        b.check(r);
        drop(b);
        self.same_types(name)
    }
}

fn dedup_store_name(node: &str, d: &Deduplicated) -> String {
    d.store_name
        .clone()
        .unwrap_or_else(|| format!("{node}-store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_is_exact_at_the_ttl_boundary() {
        assert_eq!(decide(None, 5, 10), DedupDecision::Forward);
        assert_eq!(
            decide(Some(100), 109, 10),
            DedupDecision::Duplicate { first_seen: 100 }
        );
        assert_eq!(decide(Some(100), 110, 10), DedupDecision::Forward);
        assert_eq!(
            decide(Some(100), 50, 10),
            DedupDecision::Duplicate { first_seen: 100 },
            "a clock behind the first sighting still sees a duplicate"
        );
        assert_eq!(decide(Some(i64::MIN), i64::MAX, 10), DedupDecision::Forward);
    }

    #[test]
    fn time_index_keys_sort_by_time_and_round_trip() {
        let times = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let keys: Vec<Vec<u8>> = times.iter().map(|&t| expiry_key(t, b"id")).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for (&t, k) in times.iter().zip(&keys) {
            assert_eq!(decode_expiry_key(k), Some((t, &b"id"[..])));
        }
        assert_eq!(decode_expiry_key(&id_key(b"id")), None);
        assert_eq!(decode_expiry_key(&[EXPIRY_PREFIX, 1, 2]), None);
        assert!(id_key(b"\xff\xff") < expiry_key(i64::MIN, b""));
    }

    #[test]
    fn value_hash_is_stable_and_spreads() {
        // FNV-1a 128 of the empty input is its offset basis.
        assert_eq!(
            u128::from_be_bytes(value_hash(b"")),
            0x6c62272e07bb014262b821756295c58d
        );
        assert_eq!(value_hash(b"order-1"), value_hash(b"order-1"));
        assert_ne!(value_hash(b"order-1"), value_hash(b"order-2"));
        assert_ne!(value_hash(b"ab"), value_hash(b"ba"));
    }
}
