//! `TimeWindowedKStream::aggregate`: fold each key's records per window.

use std::sync::Arc;

use kstreams_core::{Processor, ProcessorContext, Record, Result, WindowStore};

use crate::change::Change;
use crate::time_windowed_kstream::TimeWindowedKStream;
use crate::time_windowed_kstream::cache_forwarding::forward_windows_from_cache;
use crate::windowed::Windowed;
use crate::{Data, KTable, Materialized, TimeWindows};
use kstreams_core::state::ValueAndTimestamp;

type Fold<K, V, VA> = Arc<dyn Fn(&K, &V, Option<VA>) -> VA + Send + Sync>;

/// Folds a record into every window containing it that is still open (end > observed stream
/// time - grace), forwarding `(new, old)` per window at the window's highest record
/// timestamp (or, with the store cached, leaving that to its cache: one update per window
/// per commit); a record is dropped (logged, and counted in the task's dropped records) for
/// each closed window it belongs to.
pub(crate) struct WindowAggregate<K, V, VA> {
    store: String,
    windows: TimeWindows,
    fold: Fold<K, V, VA>,
    observed_stream_time: i64,
    dropped: u64,
    /// Whether the store is cached: its cache forwards.
    cached: bool,
}

impl<K: Data, V: Data, VA: Data> WindowAggregate<K, V, VA> {
    pub(crate) fn supplier(
        store: String,
        windows: TimeWindows,
        fold: impl Fn(&K, &V, Option<VA>) -> VA + Send + Sync + 'static,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let fold: Fold<K, V, VA> = Arc::new(fold);
        move || WindowAggregate {
            store: store.clone(),
            windows,
            fold: fold.clone(),
            observed_stream_time: i64::MIN,
            dropped: 0,
            cached: false,
        }
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>>
    for WindowAggregate<K, V, VA>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>) -> Result<()> {
        self.cached = forward_windows_from_cache(ctx, &self.store)?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: Record<K, V>,
    ) -> Result<()> {
        self.observed_stream_time = self.observed_stream_time.max(r.timestamp);
        let close_time = self
            .observed_stream_time
            .saturating_sub(self.windows.grace_ms);
        let mut out = Vec::new();
        let mut dropped_now = 0;
        {
            let store = ctx.typed_store::<WindowStore<K, ValueAndTimestamp<VA>>>(&self.store)?;
            for window in self.windows.windows_for(r.timestamp) {
                if window.end <= close_time {
                    self.dropped += 1;
                    dropped_now += 1;
                    tracing::warn!(
                        store = %self.store,
                        window_start = window.start,
                        window_end = window.end,
                        record_ts = r.timestamp,
                        close_time,
                        dropped = self.dropped,
                        "skipping a record for a closed window"
                    );
                    continue;
                }
                let old = store.fetch(&r.key, window.start)?;
                let ts = old
                    .as_ref()
                    .map_or(r.timestamp, |o| o.timestamp.max(r.timestamp));
                let old_value = old.map(|o| o.value);
                let new = (self.fold)(&r.key, &r.value, old_value.clone());
                store.put(
                    &r.key,
                    Some(&ValueAndTimestamp::make(new.clone(), ts)),
                    window.start,
                )?;
                out.push((window, Change::new(Some(new), old_value), ts));
            }
        }
        for _ in 0..dropped_now {
            ctx.record_dropped();
        }
        if self.cached {
            return Ok(());
        }
        for (window, change, ts) in out {
            let key = Windowed::new(r.key.clone(), window);
            ctx.forward(Record::new(key, change, ts).with_headers(r.headers.clone()))?;
        }
        Ok(())
    }
}

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
    /// Per key and window, `aggregator(key, value, aggregate)` from `initializer()`.
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
            move |store| {
                WindowAggregate::supplier(store, windows, move |k, v, agg: Option<VA>| {
                    aggregator(k, v, agg.unwrap_or_else(&initializer))
                })
            },
        )
    }
}
