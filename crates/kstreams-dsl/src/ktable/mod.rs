//! `KTable`: a changelog stream seen as a table, and its operators (one per file).
//!
//! A table node forwards `Record<K, Change<V>>`: the new and the old value of a key. Tables
//! also offer a *value getter*, which reads the current value of a key from the nearest
//! materialized ancestor store and applies the operators in between (used by joins).

mod cache_forwarding;
mod filter;
mod foreign_key_join;
mod group_by;
mod join;
mod map_values;
mod mapper;
pub(crate) mod source;
mod suppress;
mod to_stream;

use std::sync::Arc;

use kstreams_core::{KeyValueStore, ProcessorContext, Result, SharedSerde, TaskStore};

use crate::change::Change;
use crate::streams_builder::Shared;
use crate::{Data, Materialized, Named};
use kstreams_core::state::ValueAndTimestamp;

/// Store access for value getters, independent of the processor's output types.
pub(crate) use cache_forwarding::forward_from_cache;

/// Store access for value getters, independent of the processor's output types.
pub(crate) trait StoreAccess {
    fn store(&mut self, name: &str) -> Result<&mut dyn TaskStore>;
}

impl<K, V> StoreAccess for ProcessorContext<'_, K, V> {
    fn store(&mut self, name: &str) -> Result<&mut dyn TaskStore> {
        self.state_store(name)
    }
}

type GetFn<K, V> =
    dyn Fn(&mut dyn StoreAccess, &K) -> Result<Option<ValueAndTimestamp<V>>> + Send + Sync;

/// Reads a table's current value of a key.
pub(crate) struct ValueGetter<K, V> {
    /// Stores the getter reads (to connect to the reading processor).
    pub(crate) stores: Vec<String>,
    pub(crate) get: Arc<GetFn<K, V>>,
}

impl<K, V> Clone for ValueGetter<K, V> {
    fn clone(&self) -> Self {
        ValueGetter {
            stores: self.stores.clone(),
            get: self.get.clone(),
        }
    }
}

impl<K: Data, V: Data> ValueGetter<K, V> {
    /// Reads store `name`.
    pub(crate) fn of_store(name: &str) -> Self {
        let store = name.to_string();
        ValueGetter {
            stores: vec![store.clone()],
            get: Arc::new(move |ctx: &mut dyn StoreAccess, k: &K| {
                let s = ctx.store(&store)?;
                let s = s
                    .as_any_mut()
                    .downcast_mut::<KeyValueStore<K, ValueAndTimestamp<V>>>()
                    .ok_or_else(|| {
                        kstreams_core::StreamsError::IllegalState(format!(
                            "store '{store}' is not a table store of these types"
                        ))
                    })?;
                s.get(k)
            }),
        }
    }

    /// Reads the window store `name` (the table of a windowed aggregation).
    pub(crate) fn of_window_store<KW: Data>(name: &str) -> ValueGetter<crate::Windowed<KW>, V> {
        let store = name.to_string();
        ValueGetter {
            stores: vec![store.clone()],
            get: Arc::new(move |ctx: &mut dyn StoreAccess, k: &crate::Windowed<KW>| {
                let s = ctx.store(&store)?;
                let s = s
                    .as_any_mut()
                    .downcast_mut::<kstreams_core::WindowStore<KW, ValueAndTimestamp<V>>>()
                    .ok_or_else(|| {
                        kstreams_core::StreamsError::IllegalState(format!(
                            "store '{store}' is not a window store of these types"
                        ))
                    })?;
                s.fetch(&k.key, k.window.start)
            }),
        }
    }

    /// Reads the session store `name` (the table of a session aggregation); the timestamp
    /// is the session end.
    pub(crate) fn of_session_store<KW: Data>(name: &str) -> ValueGetter<crate::Windowed<KW>, V> {
        let store = name.to_string();
        ValueGetter {
            stores: vec![store.clone()],
            get: Arc::new(move |ctx: &mut dyn StoreAccess, k: &crate::Windowed<KW>| {
                let s = ctx.store(&store)?;
                let s = s
                    .as_any_mut()
                    .downcast_mut::<kstreams_core::SessionStore<KW, V>>()
                    .ok_or_else(|| {
                        kstreams_core::StreamsError::IllegalState(format!(
                            "store '{store}' is not a session store of these types"
                        ))
                    })?;
                let w = kstreams_state::TimeWindow {
                    start: k.window.start,
                    end: k.window.end,
                };
                Ok(s.fetch_session(&k.key, w)?
                    .map(|v| ValueAndTimestamp::make(v, k.window.end)))
            }),
        }
    }

    /// The getter with `f` applied to what it reads.
    pub(crate) fn then<W: Data>(
        &self,
        f: impl Fn(&K, ValueAndTimestamp<V>) -> Option<ValueAndTimestamp<W>> + Send + Sync + 'static,
    ) -> ValueGetter<K, W> {
        let inner = self.get.clone();
        ValueGetter {
            stores: self.stores.clone(),
            get: Arc::new(move |ctx: &mut dyn StoreAccess, k: &K| {
                Ok(inner(ctx, k)?.and_then(|v| f(k, v)))
            }),
        }
    }
}

/// A table: the latest value per key.
pub struct KTable<K, V> {
    pub(crate) b: Shared,
    pub(crate) node: String,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// The store this node materializes, if any (queryable by this name).
    pub(crate) store: Option<String>,
    pub(crate) getter: ValueGetter<K, V>,
    pub(crate) source_topics: Vec<String>,
    /// When the window of a key closes, for a table from a windowed aggregation (for
    /// `suppress(until_window_closes)`).
    pub(crate) window_close: Option<WindowClose<K>>,
}

/// When a windowed table's windows close: a key's window end plus the aggregation's grace.
pub(crate) struct WindowClose<K> {
    pub(crate) grace_ms: i64,
    pub(crate) end: Arc<dyn Fn(&K) -> i64 + Send + Sync>,
}

impl<K> Clone for WindowClose<K> {
    fn clone(&self) -> Self {
        WindowClose {
            grace_ms: self.grace_ms,
            end: self.end.clone(),
        }
    }
}

impl<K: 'static> WindowClose<crate::windowed::Windowed<K>> {
    /// For a table keyed by windows, closing `grace_ms` after their end.
    pub(crate) fn windowed(grace_ms: i64) -> Option<Self> {
        Some(WindowClose {
            grace_ms,
            end: Arc::new(|k: &crate::windowed::Windowed<K>| k.window.end),
        })
    }
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            b: self.b.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            store: self.store.clone(),
            getter: self.getter.clone(),
            source_topics: self.source_topics.clone(),
            window_close: self.window_close.clone(),
        }
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    /// The name of the node whose output this table is.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The name of the store materializing this table, when this node has one.
    pub fn queryable_store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// Adds a table node mapping each change with `f` (`None`: nothing to forward),
    /// optionally materializing the result into a queryable store (whose getter then
    /// replaces `getter`).
    pub(crate) fn mapped<VO: Data>(
        &self,
        named: &Named,
        prefix: &str,
        value_serde: Option<SharedSerde<VO>>,
        getter: ValueGetter<K, VO>,
        materialized: Option<Materialized<K, VO>>,
        f: impl Fn(&K, Change<V>) -> Option<Change<VO>> + Send + Sync + 'static,
    ) -> KTable<K, VO> {
        let name = named.or_generate(&mut self.b.borrow_mut(), prefix);
        let mut table = KTable {
            b: self.b.clone(),
            node: name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde,
            store: None,
            getter,
            source_topics: self.source_topics.clone(),
            window_close: self.window_close.clone(),
        };
        let store = materialized.and_then(|m| {
            let mut b = self.b.borrow_mut();
            let store = match &m.name {
                Some(n) => n.clone(),
                None => b.new_name(&format!("{name}-STATE-STORE-")),
            };
            let ks = m
                .key_serde
                .clone()
                .or_else(|| table.key_serde.clone())
                .or_else(|| b.serde_of::<K>());
            let vs = m
                .value_serde
                .clone()
                .or_else(|| table.value_serde.clone())
                .or_else(|| b.serde_of::<VO>());
            let (Some(ks), Some(vs)) = (ks, vs) else {
                b.error(crate::kstream::missing_serde(&store, "key or value"));
                return None;
            };
            table.key_serde = Some(ks.clone());
            table.value_serde = Some(vs.clone());
            let builder = m.store_builder(&store, ks, vs);
            Some((store, builder))
        });
        let mut b = self.b.borrow_mut();
        let store_name = store.as_ref().map(|(n, _)| n.clone());
        let r = b
            .topology
            .add_processor(
                &name,
                mapper::supplier(store_name.clone(), f),
                &[&self.node],
            )
            .map(|_| ());
        b.check(r);
        if let Some((n, builder)) = store {
            let r = b.topology.add_state_store(builder, &[&name]).map(|_| ());
            b.check(r);
            table.getter = ValueGetter::of_store(&n);
            table.store = Some(n);
        }
        table
    }
}
