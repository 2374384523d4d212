//! [`ReadOnlyKeyValueStore`]: queries a key-value store of a running instance.

use kstreams_core::state::KeyValueStoreFacade;
use kstreams_core::{Result as StoreResult, SharedSerde};

use super::{ReadOnlyStore, StoreKind};
use crate::error::Result;

/// A read-only view of the local instances of a key-value store (one per task) of a running
/// [`crate::KafkaStreams`], for keys `K` and values `V`. Cheap to clone, usable from any
/// thread; every call reads the stores' current contents.
///
/// The DSL's stores keep each value with its timestamp: `V` may name the value (the
/// timestamps are dropped, Kafka Streams' `keyValueStore()` view of them) or
/// `ValueAndTimestamp<V>` (`timestampedKeyValueStore()`).
pub type ReadOnlyKeyValueStore<K, V> = ReadOnlyStore<KeyValueKind, K, V>;

/// The marker of [`ReadOnlyKeyValueStore`].
#[derive(Debug, Clone, Copy)]
pub struct KeyValueKind;

impl StoreKind for KeyValueKind {
    const VIEW: &'static str = "ReadOnlyKeyValueStore";
    const DESCRIPTION: &'static str = "key-value store of the requested key and value types";
}

impl<K, V> ReadOnlyKeyValueStore<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Send + 'static,
{
    fn query<R: Send + 'static>(
        &self,
        f: impl Fn(KeyValueStoreFacade<'_, K, V>) -> StoreResult<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        self.router
            .query(&self.params, KeyValueKind::DESCRIPTION, move |s| {
                KeyValueStoreFacade::of(s).map(&f)
            })
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

    /// [`Self::range`] with each task's entries descending (tasks still in task order).
    pub fn reverse_range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        let (from, to) = (from.cloned(), to.cloned());
        let parts = self.query(move |s| s.reverse_range(from.as_ref(), to.as_ref()))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// The entries whose serialized key starts with `prefix` serialized by `prefix_serde`
    /// (a `String` prefix with the string serde for `String` keys), each task's in key-byte
    /// order, task after task.
    pub fn prefix_scan<P: Clone + Send + Sync + 'static>(
        &self,
        prefix: &P,
        prefix_serde: SharedSerde<P>,
    ) -> Result<Vec<(K, V)>> {
        let prefix = prefix.clone();
        let parts = self.query(move |s| s.prefix_scan(&prefix, &prefix_serde))?;
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
