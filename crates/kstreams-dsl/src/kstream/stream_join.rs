//! Stream-stream windowed joins (`join_stream`, `left_join_stream`, `outer_join_stream`):
//! each side keeps its records in a window store and looks up the other side's records
//! within the join window.
//!
//! Left and outer joins hold records without a partner in a shared buffer store (keyed by
//! timestamp first) and emit them with a `None` partner once their window closed, so that a
//! partner arriving later does not produce a spurious `None` result first (Kafka Streams'
//! behaviour since 3.1).

use std::sync::Arc;

use kstreams_core::{
    Processor, ProcessorContext, Record, Result, SerdeError, Serdes, SharedSerde, StreamsError,
    WindowStore, WindowStoreBuilder,
};

use crate::materialized::StoreType;
use crate::repartition_topic::through_repartition_topic;
use crate::{Data, JoinWindows, KStream, StreamJoined};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left = 0,
    Right = 1,
}

type Both<K, V, VO, VR> = Arc<dyn Fn(&K, &V, &VO) -> VR + Send + Sync>;
type LeftOnly<K, V, VR> = Arc<dyn Fn(&K, &V) -> VR + Send + Sync>;
type RightOnly<K, VO, VR> = Arc<dyn Fn(&K, &VO) -> VR + Send + Sync>;

/// Everything both sides of one join share.
struct JoinSpec<K, V, VO, VR> {
    left_store: String,
    right_store: String,
    buffer: Option<String>,
    windows: JoinWindows,
    both: Both<K, V, VO, VR>,
    left_only: Option<LeftOnly<K, V, VR>>,
    right_only: Option<RightOnly<K, VO, VR>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    other_value_serde: SharedSerde<VO>,
}

/// Buffer keys sort by timestamp (sign bit flipped, big-endian), then side, then key.
fn buffer_key(ts: i64, side: Side, key: &[u8]) -> Vec<u8> {
    let mut b = ((ts as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    b.push(side as u8);
    b.extend_from_slice(key);
    b
}

fn malformed(store: &str, what: &str) -> StreamsError {
    SerdeError::deserialize(store, "join buffer", what).into()
}

fn parse_buffer_key<'a>(store: &str, b: &'a [u8]) -> Result<(i64, Side, &'a [u8])> {
    if b.len() < 9 {
        return Err(malformed(store, "buffer key shorter than 9 bytes"));
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&b[..8]);
    let ts = (u64::from_be_bytes(t) ^ (1 << 63)) as i64;
    let side = if b[8] == 0 { Side::Left } else { Side::Right };
    Ok((ts, side, &b[9..]))
}

/// Values buffered under one key: `[u32 length][bytes]...`.
fn split_values<'a>(store: &str, mut b: &'a [u8]) -> Result<Vec<&'a [u8]>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return Err(malformed(store, "truncated value length"));
        }
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if b.len() < 4 + n {
            return Err(malformed(store, "truncated value"));
        }
        out.push(&b[4..4 + n]);
        b = &b[4 + n..];
    }
    Ok(out)
}

fn bytes_of<T: 'static>(serde: &SharedSerde<T>, store: &str, v: &T) -> Result<Vec<u8>> {
    serde.serialize(store, v)?.ok_or_else(|| {
        SerdeError::serialize(store, "join", "join keys and values must not be null").into()
    })
}

impl<K: Data, V: Data, VO: Data, VR: Data> JoinSpec<K, V, VO, VR> {
    /// Whether a record of `side` at `ts` comes after its window closed.
    fn closed(&self, side: Side, ts: i64, stream_time: i64) -> bool {
        let w = &self.windows;
        let ahead = if side == Side::Left {
            w.after_ms
        } else {
            w.before_ms
        };
        ts.saturating_add(ahead).saturating_add(w.grace_ms) < stream_time
    }

    /// Removes the buffered records of `side` and `key` at the matched timestamps.
    fn unbuffer(
        &self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        side: Side,
        key: &[u8],
        timestamps: &[i64],
    ) -> Result<()> {
        if let Some(buf) = &self.buffer {
            let store = ctx.key_value_store::<Vec<u8>, Vec<u8>>(buf)?;
            for ts in timestamps {
                store.delete(&buffer_key(*ts, side, key))?;
            }
        }
        Ok(())
    }

    /// Holds an unmatched record until its window closes.
    fn buffer(
        &self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        side: Side,
        ts: i64,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        let Some(buf) = &self.buffer else {
            return Ok(());
        };
        let store = ctx.key_value_store::<Vec<u8>, Vec<u8>>(buf)?;
        let k = buffer_key(ts, side, key);
        let mut list = store.get(&k)?.unwrap_or_default();
        let n = u32::try_from(value.len()).map_err(|_| malformed(buf, "value too large"))?;
        list.extend_from_slice(&n.to_be_bytes());
        list.extend_from_slice(value);
        store.put(&k, &list)
    }

    /// Emits, with a `None` partner, the buffered records whose window closed.
    fn evict(&self, ctx: &mut ProcessorContext<'_, K, VR>, stream_time: i64) -> Result<()> {
        let Some(buf) = &self.buffer else {
            return Ok(());
        };
        let upper = buffer_key(stream_time.saturating_add(1), Side::Left, &[]);
        let store = ctx.key_value_store::<Vec<u8>, Vec<u8>>(buf)?;
        let mut out = Vec::new();
        for (kb, vb) in store.range(None, Some(&upper))? {
            let (ts, side, key) = parse_buffer_key(buf, &kb)?;
            if !self.closed(side, ts, stream_time) {
                continue;
            }
            store.delete(&kb)?;
            let k = self.key_serde.deserialize(buf, Some(key))?;
            for v in split_values(buf, &vb)? {
                let joined = match side {
                    Side::Left => match &self.left_only {
                        Some(f) => f(&k, &self.value_serde.deserialize(buf, Some(v))?),
                        None => continue,
                    },
                    Side::Right => match &self.right_only {
                        Some(f) => f(&k, &self.other_value_serde.deserialize(buf, Some(v))?),
                        None => continue,
                    },
                };
                out.push(Record::new(k.clone(), joined, ts));
            }
        }
        for r in out {
            ctx.forward(r)?;
        }
        Ok(())
    }

    fn process_left(&self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>) -> Result<()> {
        let st = ctx.current_stream_time_ms().max(r.timestamp);
        if self.closed(Side::Left, r.timestamp, st) {
            tracing::warn!(store = %self.left_store, record_ts = r.timestamp, stream_time = st, "skipping a record for a closed join window");
            ctx.record_dropped();
            return Ok(());
        }
        let w = self.windows;
        ctx.typed_store::<WindowStore<K, V>>(&self.left_store)?
            .put(&r.key, Some(&r.value), r.timestamp)?;
        let matches = ctx
            .typed_store::<WindowStore<K, VO>>(&self.right_store)?
            .fetch_range(
                &r.key,
                r.timestamp.saturating_sub(w.before_ms),
                r.timestamp.saturating_add(w.after_ms),
            )?;
        let key = bytes_of(&self.key_serde, &self.left_store, &r.key)?;
        let matched: Vec<i64> = matches.iter().map(|(ts, _)| *ts).collect();
        self.unbuffer(ctx, Side::Right, &key, &matched)?;
        for (ts, other) in &matches {
            let v = (self.both)(&r.key, &r.value, other);
            ctx.forward(
                Record::new(r.key.clone(), v, r.timestamp.max(*ts)).with_headers(r.headers.clone()),
            )?;
        }
        if matches.is_empty()
            && let Some(f) = &self.left_only
        {
            if r.timestamp.saturating_add(w.after_ms) < st {
                let v = f(&r.key, &r.value);
                ctx.forward(r.with_value(v))?;
            } else {
                let value = bytes_of(&self.value_serde, &self.left_store, &r.value)?;
                self.buffer(ctx, Side::Left, r.timestamp, &key, &value)?;
            }
        }
        self.evict(ctx, st)
    }

    fn process_right(&self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, VO>) -> Result<()> {
        let st = ctx.current_stream_time_ms().max(r.timestamp);
        if self.closed(Side::Right, r.timestamp, st) {
            tracing::warn!(store = %self.right_store, record_ts = r.timestamp, stream_time = st, "skipping a record for a closed join window");
            ctx.record_dropped();
            return Ok(());
        }
        let w = self.windows;
        ctx.typed_store::<WindowStore<K, VO>>(&self.right_store)?
            .put(&r.key, Some(&r.value), r.timestamp)?;
        let matches = ctx
            .typed_store::<WindowStore<K, V>>(&self.left_store)?
            .fetch_range(
                &r.key,
                r.timestamp.saturating_sub(w.after_ms),
                r.timestamp.saturating_add(w.before_ms),
            )?;
        let key = bytes_of(&self.key_serde, &self.right_store, &r.key)?;
        let matched: Vec<i64> = matches.iter().map(|(ts, _)| *ts).collect();
        self.unbuffer(ctx, Side::Left, &key, &matched)?;
        for (ts, left) in &matches {
            let v = (self.both)(&r.key, left, &r.value);
            ctx.forward(
                Record::new(r.key.clone(), v, r.timestamp.max(*ts)).with_headers(r.headers.clone()),
            )?;
        }
        if matches.is_empty()
            && let Some(f) = &self.right_only
        {
            if r.timestamp.saturating_add(w.before_ms) < st {
                let v = f(&r.key, &r.value);
                ctx.forward(r.with_value(v))?;
            } else {
                let value = bytes_of(&self.other_value_serde, &self.right_store, &r.value)?;
                self.buffer(ctx, Side::Right, r.timestamp, &key, &value)?;
            }
        }
        self.evict(ctx, st)
    }
}

struct LeftSide<K, V, VO, VR>(Arc<JoinSpec<K, V, VO, VR>>);
struct RightSide<K, V, VO, VR>(Arc<JoinSpec<K, V, VO, VR>>);

impl<K: Data, V: Data, VO: Data, VR: Data> Processor<K, V, K, VR> for LeftSide<K, V, VO, VR> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>) -> Result<()> {
        self.0.process_left(ctx, r)
    }
}

impl<K: Data, V: Data, VO: Data, VR: Data> Processor<K, VO, K, VR> for RightSide<K, V, VO, VR> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, VO>) -> Result<()> {
        self.0.process_right(ctx, r)
    }
}

/// The join's kind: names its nodes and decides which unmatched records are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inner,
    Left,
    Outer,
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Inner windowed join: each pair of records with the same key at most the window apart,
    /// at the later of the two timestamps.
    pub fn join_stream<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        self.stream_join(
            other,
            windows,
            joined,
            Kind::Inner,
            Arc::new(move |_k, v, o| joiner(v, o)),
            None,
            None,
        )
    }

    /// Left windowed join: as [`join_stream`](Self::join_stream), plus each left record
    /// that found no partner when its window closed, with `None` (at its own timestamp).
    pub fn left_join_stream<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        let joiner = Arc::new(joiner);
        let j = joiner.clone();
        self.stream_join(
            other,
            windows,
            joined,
            Kind::Left,
            Arc::new(move |_k, v, o| joiner(v, Some(o))),
            Some(Arc::new(move |_k, v| j(v, None))),
            None,
        )
    }

    /// Outer windowed join: as [`left_join_stream`](Self::left_join_stream) for both sides.
    pub fn outer_join_stream<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        let joiner = Arc::new(joiner);
        let (j1, j2) = (joiner.clone(), joiner.clone());
        self.stream_join(
            other,
            windows,
            joined,
            Kind::Outer,
            Arc::new(move |_k, v, o| joiner(Some(v), Some(o))),
            Some(Arc::new(move |_k, v| j1(Some(v), None))),
            Some(Arc::new(move |_k, o| j2(None, Some(o)))),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn stream_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
        kind: Kind,
        both: Both<K, V, VO, VR>,
        left_only: Option<LeftOnly<K, V, VR>>,
        right_only: Option<RightOnly<K, VO, VR>>,
    ) -> KStream<K, VR> {
        let (this_prefix, other_prefix) = match kind {
            Kind::Inner => ("KSTREAM-JOINTHIS-", "KSTREAM-JOINOTHER-"),
            Kind::Left => ("KSTREAM-JOINTHIS-", "KSTREAM-OUTEROTHER-"),
            Kind::Outer => ("KSTREAM-OUTERTHIS-", "KSTREAM-OUTEROTHER-"),
        };
        self.check_windows(windows.validate());
        let (this_name, other_name, merge_name, base) = {
            let mut b = self.b.borrow_mut();
            match &joined.name {
                Some(n) => (
                    format!("{n}-this-join"),
                    format!("{n}-other-join"),
                    format!("{n}-merge"),
                    n.clone(),
                ),
                None => {
                    let t = b.new_name(this_prefix);
                    let o = b.new_name(other_prefix);
                    let m = b.new_name("KSTREAM-MERGE-");
                    (t.clone(), o, m, t)
                }
            }
        };
        let (left_store, right_store, buffer_store) = (
            format!("{this_name}-store"),
            format!("{other_name}-store"),
            (kind != Kind::Inner).then(|| format!("{base}-outer-shared-join-store")),
        );
        let ks = self.require_key_serde(
            joined.key_serde.or_else(|| other.key_serde.clone()),
            &this_name,
        );
        let vs = self.require_value_serde(joined.value_serde, &this_name);
        let vos = joined
            .other_value_serde
            .or_else(|| other.value_serde.clone())
            .or_else(|| self.b.borrow().serde_of::<VO>());
        let (Some(ks), Some(vs), Some(vos)) = (ks, vs, vos) else {
            self.b
                .borrow_mut()
                .error(super::missing_serde(&other_name, "other value"));
            return KStream::new(self.b.clone(), this_name, None, None, false, vec![]);
        };
        let left = if self.repartition_required {
            through_repartition_topic(self, &format!("{base}-left"), ks.clone(), vs.clone())
        } else {
            self.clone()
        };
        let right = if other.repartition_required {
            through_repartition_topic(other, &format!("{base}-right"), ks.clone(), vos.clone())
        } else {
            other.clone()
        };
        let spec = Arc::new(JoinSpec {
            left_store: left_store.clone(),
            right_store: right_store.clone(),
            buffer: buffer_store.clone(),
            windows,
            both,
            left_only,
            right_only,
            key_serde: ks.clone(),
            value_serde: vs.clone(),
            other_value_serde: vos.clone(),
        });
        let size = windows.size_ms().saturating_add(1);
        let retention = size.saturating_add(windows.grace_ms);
        let window_store = |name: &str| {
            let bytes = kstreams_state::WindowStoreBuilder::new(name, retention, size, true);
            match joined.store_type {
                StoreType::InMemory => bytes.in_memory(),
                StoreType::RocksDb => bytes,
            }
        };
        {
            let mut b = self.b.borrow_mut();
            let t = &mut b.topology;
            let (s1, s2) = (spec.clone(), spec);
            let merge = |ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, VR>| ctx.forward(r);
            let mut results = vec![
                t.add_processor(&this_name, move || LeftSide(s1.clone()), &[&left.node])
                    .map(|_| ()),
                t.add_processor(&other_name, move || RightSide(s2.clone()), &[&right.node])
                    .map(|_| ()),
                t.add_processor(
                    &merge_name,
                    crate::stateless::Stateless::supplier(merge),
                    &[&this_name, &other_name],
                )
                .map(|_| ()),
                t.add_state_store(
                    WindowStoreBuilder::new(window_store(&left_store), ks.clone(), vs),
                    &[&this_name, &other_name],
                )
                .map(|_| ()),
                t.add_state_store(
                    WindowStoreBuilder::new(window_store(&right_store), ks.clone(), vos),
                    &[&this_name, &other_name],
                )
                .map(|_| ()),
            ];
            if let Some(buf) = &buffer_store {
                let mut sb = kstreams_core::Stores::key_value_store_builder_with(
                    buf,
                    Serdes::bytes(),
                    Serdes::bytes(),
                );
                if joined.store_type == StoreType::InMemory {
                    sb = sb.in_memory();
                }
                results.push(
                    t.add_state_store(sb, &[&this_name, &other_name])
                        .map(|_| ()),
                );
            }

            let mut topics: Vec<&str> = left.source_topics.iter().map(String::as_str).collect();
            topics.extend(right.source_topics.iter().map(String::as_str));
            t.add_copartition_group(&topics);
            for r in results {
                b.check(r);
            }
        }
        let mut source_topics = left.source_topics.clone();
        source_topics.extend(right.source_topics.iter().cloned());
        KStream::new(
            self.b.clone(),
            merge_name,
            Some(ks),
            None,
            false,
            source_topics,
        )
    }
}
