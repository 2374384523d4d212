//! `SlidingWindowedKStream::aggregate`: fold each key's records per sliding window.

use std::collections::BTreeSet;
use std::sync::Arc;

use kstreams_core::{Processor, ProcessorContext, Record, Result, WindowStore};

use crate::change::Change;
use crate::sliding_windowed_kstream::SlidingWindowedKStream;
use crate::windowed::{Window, Windowed};
use crate::{Data, KTable, Materialized, SlidingWindows};
use kstreams_core::state::ValueAndTimestamp;

type Fold<K, V, VA> = Arc<dyn Fn(&K, &V, Option<VA>) -> VA + Send + Sync>;

/// Keeps each record, then recomputes the windows the record touches: its own window
/// ending at it, the windows ending at later records and starting after earlier records
/// that now contain it (updated), and its window starting just after it (created when
/// later records fall into it). Closed windows are left alone; a record only for closed
/// windows is dropped.
pub(crate) struct SlidingAggregate<K, V, VA> {
    store: String,
    records: String,
    windows: SlidingWindows,
    fold: Fold<K, V, VA>,
    observed_stream_time: i64,
}

impl<K: Data, V: Data, VA: Data> SlidingAggregate<K, V, VA> {
    pub(crate) fn supplier(
        store: String,
        records: String,
        windows: SlidingWindows,
        fold: impl Fn(&K, &V, Option<VA>) -> VA + Send + Sync + 'static,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let fold: Fold<K, V, VA> = Arc::new(fold);
        move || SlidingAggregate {
            store: store.clone(),
            records: records.clone(),
            windows,
            fold: fold.clone(),
            observed_stream_time: i64::MIN,
        }
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>>
    for SlidingAggregate<K, V, VA>
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let t = r.timestamp;
        let diff = self.windows.difference_ms;
        self.observed_stream_time = self.observed_stream_time.max(t);
        let close = self
            .observed_stream_time
            .saturating_sub(self.windows.grace_ms);
        if t.saturating_add(diff) < close {
            tracing::warn!(store = %self.store, record_ts = t, close_time = close, "skipping a record for closed sliding windows");
            ctx.record_dropped();
            return Ok(());
        }
        let raw = ctx.typed_store::<WindowStore<K, V>>(&self.records)?;
        raw.put(&r.key, Some(&r.value), t)?;
        let nearby = raw.fetch_range(
            &r.key,
            t.saturating_sub(diff).saturating_sub(1),
            t.saturating_add(diff).saturating_add(1),
        )?;
        // Window starts to recompute; `true` when the window contains the record.
        let mut starts: BTreeSet<(i64, bool)> = BTreeSet::new();
        starts.insert((t.saturating_sub(diff).max(0), true));
        starts.insert((t.saturating_add(1), false));
        for (ts, _) in &nearby {
            if *ts >= t && *ts <= t.saturating_add(diff) {
                starts.insert((ts.saturating_sub(diff).max(0), true));
            }
            if *ts < t && *ts >= t.saturating_sub(diff).saturating_sub(1) {
                starts.insert((ts.saturating_add(1), true));
            }
        }
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (start, contains_record) in starts {
            let end = start.saturating_add(diff);
            if !seen.insert(start) || end < close {
                continue;
            }
            let contents = ctx
                .typed_store::<WindowStore<K, V>>(&self.records)?
                .fetch_range(&r.key, start, end)?;
            let Some(max_ts) = contents.iter().map(|(ts, _)| *ts).max() else {
                continue;
            };
            let mut agg = None;
            for (_, v) in &contents {
                agg = Some((self.fold)(&r.key, v, agg));
            }
            let Some(agg) = agg else {
                continue;
            };
            let store = ctx.typed_store::<WindowStore<K, ValueAndTimestamp<VA>>>(&self.store)?;
            let old = store.fetch(&r.key, start)?.map(|o| o.value);
            if !contains_record && old.is_some() {
                continue; // an existing window the record is not in: unchanged
            }
            store.put(
                &r.key,
                Some(&ValueAndTimestamp::make(agg.clone(), max_ts)),
                start,
            )?;
            let key = Windowed::new(r.key.clone(), Window::new(start, end));
            out.push(Record::new(key, Change::new(Some(agg), old), max_ts));
        }
        for rec in out {
            ctx.forward(rec.with_headers(r.headers.clone()))?;
        }
        Ok(())
    }
}

impl<K: Data, V: Data> SlidingWindowedKStream<K, V> {
    /// Per key and sliding window, the window's records folded with `aggregator` from
    /// `initializer()`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let windows = self.windows;
        self.aggregation(
            "KSTREAM-AGGREGATE-",
            "KSTREAM-AGGREGATE-STATE-STORE-",
            materialized,
            move |store, records| {
                SlidingAggregate::supplier(store, records, windows, move |k, v, agg: Option<VA>| {
                    aggregator(k, v, agg.unwrap_or_else(&initializer))
                })
            },
        )
    }
}
