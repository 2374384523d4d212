//! Read-only, typed access to a driver's key-value stores.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use kstreams_core::{KeyValueStore, Result, StreamsError};

use crate::driver::Inner;

/// A read-only view of one key-value store of a driver's topology. Each call reads the
/// store's current contents (through its cache, if it has one).
pub struct KeyValueStoreView<K, V> {
    inner: Rc<RefCell<Inner>>,
    name: String,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: 'static, V: 'static> KeyValueStoreView<K, V> {
    pub(crate) fn open(inner: Rc<RefCell<Inner>>, name: &str) -> Option<Self> {
        let ok = inner
            .borrow()
            .with_store(name, |s| s.as_any().is::<KeyValueStore<K, V>>())
            .unwrap_or(false);
        ok.then(|| KeyValueStoreView {
            inner,
            name: name.to_string(),
            _types: PhantomData,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&KeyValueStore<K, V>) -> Result<R>) -> Result<R> {
        let inner = self.inner.borrow();
        inner
            .with_store(&self.name, |s| {
                s.as_any().downcast_ref::<KeyValueStore<K, V>>().map(f)
            })
            .flatten()
            .ok_or_else(|| StreamsError::IllegalState(format!("store '{}' is gone", self.name)))?
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.with(|s| s.get(key))
    }

    /// Entries with `from <= key <= to` in key-byte order (`None`: unbounded).
    pub fn range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        self.with(|s| s.range(from, to))
    }

    /// Every entry in key-byte order.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        self.with(|s| s.all())
    }

    /// The store's estimate of its entry count.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.with(|s| s.approximate_num_entries())
    }
}
