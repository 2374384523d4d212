//! [`ReadOnlyKeyValueStore`]: queries a key-value store of a running instance.

use std::marker::PhantomData;

use kstreams_core::state::ValueAndTimestamp;
use kstreams_core::{KeyValueStore, Result as StoreResult, TaskStore};

use super::{QueryRouter, StoreQueryParameters};
use crate::error::Result;

/// A read-only view of the local instances of a key-value store (one per task) of a running
/// [`crate::KafkaStreams`], for keys `K` and values `V`. Cheap to clone, usable from any
/// thread; every call reads the stores' current contents.
///
/// The DSL's stores keep each value with its timestamp: `V` may name the value (the
/// timestamps are dropped, Kafka Streams' `keyValueStore()` view of them) or
/// `ValueAndTimestamp<V>` (`timestampedKeyValueStore()`).
#[derive(Clone)]
pub struct ReadOnlyKeyValueStore<K, V> {
    router: QueryRouter,
    params: StoreQueryParameters,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> std::fmt::Debug for ReadOnlyKeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyKeyValueStore")
            .field("params", &self.params)
            .finish()
    }
}

const KIND: &str = "key-value store of the requested key and value types";

/// A local store seen with values `V`: stored as `V`, or with timestamps to drop.
enum View<'a, K, V> {
    Plain(&'a KeyValueStore<K, V>),
    Timestamped(&'a KeyValueStore<K, ValueAndTimestamp<V>>),
}

impl<'a, K: 'static, V: 'static> View<'a, K, V> {
    fn of(store: &'a dyn TaskStore) -> Option<Self> {
        let any = store.as_any();
        any.downcast_ref::<KeyValueStore<K, V>>()
            .map(View::Plain)
            .or_else(|| {
                any.downcast_ref::<KeyValueStore<K, ValueAndTimestamp<V>>>()
                    .map(View::Timestamped)
            })
    }

    fn get(&self, key: &K) -> StoreResult<Option<V>> {
        match self {
            View::Plain(s) => s.get(key),
            View::Timestamped(s) => Ok(s.get(key)?.map(|v| v.value)),
        }
    }

    fn range(&self, from: Option<&K>, to: Option<&K>) -> StoreResult<Vec<(K, V)>> {
        match self {
            View::Plain(s) => s.range(from, to),
            View::Timestamped(s) => Ok(values(s.range(from, to)?)),
        }
    }

    fn all(&self) -> StoreResult<Vec<(K, V)>> {
        match self {
            View::Plain(s) => s.all(),
            View::Timestamped(s) => Ok(values(s.all()?)),
        }
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        match self {
            View::Plain(s) => s.approximate_num_entries(),
            View::Timestamped(s) => s.approximate_num_entries(),
        }
    }
}

fn values<K, V>(entries: Vec<(K, ValueAndTimestamp<V>)>) -> Vec<(K, V)> {
    entries.into_iter().map(|(k, v)| (k, v.value)).collect()
}

impl<K, V> ReadOnlyKeyValueStore<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Send + 'static,
{
    pub(crate) fn new(router: QueryRouter, params: StoreQueryParameters) -> Self {
        ReadOnlyKeyValueStore {
            router,
            params,
            _types: PhantomData,
        }
    }

    /// The query's parameters.
    pub fn parameters(&self) -> &StoreQueryParameters {
        &self.params
    }

    fn query<R: Send + 'static>(
        &self,
        f: impl Fn(View<'_, K, V>) -> StoreResult<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        self.router
            .query(&self.params, KIND, move |s| View::of(s).map(&f))
    }

    /// The value of `key`, from whichever local task holds it.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let key = key.clone();
        let found = self.query(move |s| s.get(&key))?;
        Ok(found.into_iter().flatten().next())
    }

    /// The entries with `from <= key <= to` (`None`: unbounded), each task's in key-byte
    /// order, task after task.
    pub fn range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        let (from, to) = (from.cloned(), to.cloned());
        let parts = self.query(move |s| s.range(from.as_ref(), to.as_ref()))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Every entry, each task's in key-byte order, task after task.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        let parts = self.query(|s| s.all())?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// The sum of the local stores' estimates of their entry counts.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        let counts = self.query(|s| s.approximate_num_entries())?;
        Ok(counts.into_iter().fold(0, u64::saturating_add))
    }
}
