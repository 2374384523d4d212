//! [`CacheEntries`]: a window or session store seen as a key-value store over cache keys, so
//! the record caches of those stores ([`crate::CachingWindowStore`],
//! [`crate::CachingSessionStore`]) are a [`CachingKeyValueStore`](crate::CachingKeyValueStore)
//! over it: the key-value cache's budget, eviction, write order and merged scans apply
//! unchanged.
//!
//! A cache key is `[escaped record key][ordered times]`: it sorts like the store's own scans
//! (by key, then time), so a range of cache keys is a range of the store.

use std::any::Any;
use std::marker::PhantomData;

use crate::error::Result;
use crate::key_bytes::{decode_ordered_i64, encode_ordered_i64, escape_key, unescape_key};
use crate::segments::corrupt;
use crate::store::{
    CacheFlushEntry, CacheFlushListener, KeyValue, KeyValueIter, KeyValueStore, StateStore,
};

/// How one kind of store is addressed by cache keys.
pub(crate) trait EntryShape: 'static {
    /// The store.
    type Store: StateStore;
    /// The value at `key`.
    fn get(store: &Self::Store, key: &CacheKey) -> Result<Option<Vec<u8>>>;
    /// Writes (`Some`) or deletes (`None`) the value at `key`.
    fn put(store: &mut Self::Store, key: &CacheKey, value: Option<&[u8]>) -> Result<()>;
    /// Entries with cache keys in `[from, to]` (`None`: unbounded), ascending.
    fn entries(
        store: &Self::Store,
        from: Option<&CacheKey>,
        to: Option<&CacheKey>,
    ) -> Result<Vec<KeyValue>>;
    /// The key of `key`'s entry in the store's changelog format.
    fn changelog_key(key: &CacheKey) -> Vec<u8>;
}

/// A decoded cache key: the record key and one or two times (window start; session end and
/// start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheKey {
    pub(crate) key: Vec<u8>,
    pub(crate) times: [i64; 2],
}

/// Encodes a cache key of `key` and the first `times` (`N` is 1 or 2).
pub(crate) fn encode_cache_key<const N: usize>(key: &[u8], times: [i64; N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2 + 8 * N);
    escape_key(key, &mut out);
    for t in times {
        out.extend_from_slice(&encode_ordered_i64(t));
    }
    out
}

/// Decodes a cache key with `n` times (the rest of `times` is 0); `None` if malformed.
pub(crate) fn decode_cache_key(bytes: &[u8], n: usize) -> Option<CacheKey> {
    let (key, used) = unescape_key(bytes)?;
    let rest = bytes.get(used..)?;
    if rest.len() != 8 * n {
        return None;
    }
    let mut times = [0; 2];
    for (i, chunk) in rest.chunks_exact(8).enumerate() {
        times[i] = decode_ordered_i64(chunk)?;
    }
    Some(CacheKey { key, times })
}

/// The store `Sh::Store` as a key-value store over cache keys with `TIMES` times each.
pub(crate) struct CacheEntries<Sh: EntryShape, const TIMES: usize> {
    pub(crate) inner: Sh::Store,
    shape: PhantomData<fn() -> Sh>,
}

impl<Sh: EntryShape, const TIMES: usize> CacheEntries<Sh, TIMES> {
    pub(crate) fn new(inner: Sh::Store) -> Self {
        Self {
            inner,
            shape: PhantomData,
        }
    }

    /// Wraps `listener` so that it gets the entries the cache writes down keyed in the
    /// store's changelog format instead of by cache keys.
    pub(crate) fn changelog_keyed(mut listener: CacheFlushListener) -> CacheFlushListener {
        Box::new(move |entry| {
            let Some(key) = decode_cache_key(&entry.key, TIMES) else {
                // The cache only holds keys made by `encode_cache_key`.
                tracing::error!("a cache wrote down a malformed key; not forwarded");
                return;
            };
            listener(CacheFlushEntry {
                key: Sh::changelog_key(&key),
                ..entry
            });
        })
    }

    pub(crate) fn decode(&self, cache_key: &[u8]) -> Result<CacheKey> {
        decode_cache_key(cache_key, TIMES)
            .ok_or_else(|| corrupt(self.inner.name(), "malformed cache key"))
    }

    fn entries(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<Vec<KeyValue>> {
        let lower = from.map(|f| self.decode(f)).transpose()?;
        let upper = to.map(|t| self.decode(t)).transpose()?;
        Ok(Sh::entries(&self.inner, lower.as_ref(), upper.as_ref())?
            .into_iter()
            .filter(|(k, _)| {
                from.is_none_or(|f| k.as_slice() >= f) && to.is_none_or(|t| k.as_slice() <= t)
            })
            .collect())
    }
}

impl<Sh: EntryShape, const TIMES: usize> StateStore for CacheEntries<Sh, TIMES> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn persistent(&self) -> bool {
        self.inner.persistent()
    }
    fn is_open(&self) -> bool {
        self.inner.is_open()
    }
    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }
    fn flush_cache(&mut self) -> Result<()> {
        self.inner.flush_cache()
    }
    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }
    /// `key` is a cache key; the inner store restores from its changelog key.
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let key = self.decode(key)?;
        self.inner.restore(&Sh::changelog_key(&key), value)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<Sh: EntryShape, const TIMES: usize> KeyValueStore for CacheEntries<Sh, TIMES> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Sh::get(&self.inner, &self.decode(key)?)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let key = self.decode(key)?;
        Sh::put(&mut self.inner, &key, Some(value))
    }
    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(existing) = self.get(key)? {
            return Ok(Some(existing));
        }
        self.put(key, value)?;
        Ok(None)
    }
    fn put_all(&mut self, entries: &[KeyValue]) -> Result<()> {
        entries.iter().try_for_each(|(k, v)| self.put(k, v))
    }
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let old = self.get(key)?;
        let key = self.decode(key)?;
        Sh::put(&mut self.inner, &key, None)?;
        Ok(old)
    }
    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        Ok(Box::new(self.entries(from, to)?.into_iter().map(Ok)))
    }
    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        Ok(Box::new(self.entries(from, to)?.into_iter().rev().map(Ok)))
    }
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        let prefix = prefix.to_vec();
        Ok(Box::new(
            self.entries(None, None)?
                .into_iter()
                .filter(move |(k, _)| k.starts_with(&prefix))
                .map(Ok),
        ))
    }
    fn all(&self) -> Result<KeyValueIter<'_>> {
        self.range(None, None)
    }
    fn approximate_num_entries(&self) -> Result<u64> {
        Ok(self.entries(None, None)?.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_sort_by_key_then_times_and_round_trip() {
        let keys = [
            (&b"a"[..], [-5, 3]),
            (b"a", [0, -1]),
            (b"a", [0, 7]),
            (b"a\x00", [-100, 0]),
            (b"ab", [i64::MIN, i64::MIN]),
            (b"b", [3, 3]),
        ];
        let encoded: Vec<Vec<u8>> = keys.iter().map(|(k, t)| encode_cache_key(k, *t)).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]));
        for ((key, times), bytes) in keys.iter().zip(&encoded) {
            let decoded = CacheKey {
                key: key.to_vec(),
                times: *times,
            };
            assert_eq!(decode_cache_key(bytes, 2), Some(decoded));
            assert_eq!(decode_cache_key(bytes, 1), None, "wrong number of times");
        }
        let one = encode_cache_key(b"k", [9]);
        assert_eq!(
            decode_cache_key(&one, 1),
            Some(CacheKey {
                key: b"k".to_vec(),
                times: [9, 0]
            })
        );
        assert_eq!(decode_cache_key(b"a\x00\x00\x01", 1), None);
    }
}
