//! `SessionWindowedKStream::aggregate`: fold each key's records per session, merging
//! sessions a record bridges.

use std::sync::Arc;

use kstreams_core::{Processor, ProcessorContext, Record, Result, SessionStore};
use kstreams_state::TimeWindow;

use crate::change::Change;
use crate::session_windowed_kstream::SessionWindowedKStream;
use crate::session_windowed_kstream::cache_forwarding::forward_sessions_from_cache;
use crate::windowed::{Window, Windowed};
use crate::{Data, KTable, Materialized, SessionWindows};

/// Folds a record into the aggregate so far (`None`: a new session).
type Fold<K, V, VA> = Arc<dyn Fn(&K, &V, Option<VA>) -> VA + Send + Sync>;
/// Merges an existing session's aggregate into the aggregate so far.
type Merge<K, VA> = Arc<dyn Fn(&K, Option<VA>, VA) -> VA + Send + Sync>;

/// Finds the sessions of the record's key within the gap, merges them (with `merger`) into
/// one session covering them and the record, folds the record in, and forwards a delete for
/// each replaced session (at its end) and the new session (at its end), or, with the store
/// cached, leaves forwarding to its cache (the sessions of each commit). Records whose merged
/// session already closed (end < stream time - grace - gap) are dropped.
pub(crate) struct SessionAggregate<K, V, VA> {
    store: String,
    windows: SessionWindows,
    fold: Fold<K, V, VA>,
    merge: Merge<K, VA>,
    observed_stream_time: i64,
    /// Whether the store is cached: its cache forwards.
    cached: bool,
}

impl<K: Data, V: Data, VA: Data> SessionAggregate<K, V, VA> {
    pub(crate) fn supplier(
        store: String,
        windows: SessionWindows,
        fold: impl Fn(&K, &V, Option<VA>) -> VA + Send + Sync + 'static,
        merge: impl Fn(&K, Option<VA>, VA) -> VA + Send + Sync + 'static,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let (fold, merge): (Fold<K, V, VA>, Merge<K, VA>) = (Arc::new(fold), Arc::new(merge));
        move || SessionAggregate {
            store: store.clone(),
            windows,
            fold: fold.clone(),
            merge: merge.clone(),
            observed_stream_time: i64::MIN,
            cached: false,
        }
    }
}

fn windowed<K>(key: &K, w: TimeWindow) -> Windowed<K>
where
    K: Clone,
{
    Windowed::new(key.clone(), Window::new(w.start, w.end))
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>>
    for SessionAggregate<K, V, VA>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>) -> Result<()> {
        self.cached = forward_sessions_from_cache(ctx, &self.store)?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let ts = r.timestamp;
        let gap = self.windows.gap_ms;
        self.observed_stream_time = self.observed_stream_time.max(ts);
        let close = self
            .observed_stream_time
            .saturating_sub(self.windows.grace_ms)
            .saturating_sub(gap);
        let store = ctx.typed_store::<SessionStore<K, VA>>(&self.store)?;
        let sessions =
            store.find_sessions(&r.key, ts.saturating_sub(gap), ts.saturating_add(gap))?;
        let record_window = TimeWindow { start: ts, end: ts };
        let mut merged = record_window;
        let mut agg = None;
        for (w, v) in &sessions {
            agg = Some((self.merge)(&r.key, agg, v.clone()));
            merged = TimeWindow {
                start: merged.start.min(w.start),
                end: merged.end.max(w.end),
            };
        }
        if merged.end < close {
            tracing::warn!(
                store = %self.store,
                record_ts = ts,
                session_end = merged.end,
                close_time = close,
                "skipping a record for a closed session"
            );
            ctx.record_dropped();
            return Ok(());
        }
        let mut out = Vec::new();
        if merged != record_window {
            for (w, v) in sessions {
                store.remove(&r.key, w)?;
                // A cached store forwards the removal itself, if the session was forwarded.
                if !self.cached {
                    out.push(Record::new(
                        windowed(&r.key, w),
                        Change::new(None, Some(v)),
                        w.end,
                    ));
                }
            }
        }
        let agg = (self.fold)(&r.key, &r.value, agg);
        store.put(&r.key, merged, &agg)?;
        if self.cached {
            return Ok(());
        }
        out.push(Record::new(
            windowed(&r.key, merged),
            Change::new(Some(agg), None),
            merged.end,
        ));
        for rec in out {
            ctx.forward(rec.with_headers(r.headers.clone()))?;
        }
        Ok(())
    }
}

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    /// Per key and session, `aggregator(key, value, aggregate)` from `initializer()`;
    /// `merger(key, a, b)` combines the aggregates of sessions a record joins together.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let windows = self.windows;
        self.aggregation(
            "KSTREAM-AGGREGATE-",
            "KSTREAM-AGGREGATE-STATE-STORE-",
            materialized,
            move |store| {
                let initializer = Arc::new(initializer);
                let init2 = initializer.clone();
                SessionAggregate::supplier(
                    store,
                    windows,
                    move |k, v, agg: Option<VA>| {
                        aggregator(k, v, agg.unwrap_or_else(|| initializer()))
                    },
                    move |k, agg: Option<VA>, other| {
                        merger(k, agg.unwrap_or_else(|| init2()), other)
                    },
                )
            },
        )
    }
}
