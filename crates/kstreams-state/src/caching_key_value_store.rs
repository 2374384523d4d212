//! [`CachingKeyValueStore`]: a write-back cache with a byte budget over a key-value store.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use foldhash::fast::RandomState;
use smallvec::SmallVec;

use crate::error::{Result, StateError};
use crate::key_bytes::{inclusive_bounds, is_inverted, prefix_successor};
use crate::merged_iterator::{CacheIter, MergedIterator};
use crate::store::{
    CacheFlushEntry, CacheFlushListener, KeyValue, KeyValueIter, KeyValueStore, StateStore,
};
use crate::thread_cache::SharedThreadCache;

/// A key or value held by the cache: inline up to 16 bytes (in the 24 bytes a `Vec` takes),
/// so a lookup of a short key reads no second allocation, and a short value's copy allocates
/// nothing.
type CacheBytes = SmallVec<[u8; 16]>;

/// Bytes charged per cache entry on top of its key (held three times) and value.
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// Dirty keys listed before a flush walks the whole cache instead (see [`DirtyKeys`]), at
/// least; the limit grows with the cache (a quarter of its entries).
const MIN_DIRTY_LIST: usize = 256;

#[derive(Debug)]
struct CacheEntry {
    /// The cached value; `None` for a delete not yet written down.
    value: Option<CacheBytes>,
    /// Position in write order: the sequence number of the entry's last write.
    seq: u64,
    /// The entry's key in `write_order`, at most `seq`: a write does not move the entry
    /// there (that would be two tree operations per write); eviction does, lazily.
    order_seq: u64,
    /// Not written down yet.
    dirty: bool,
}

/// Which entries a flush visits.
#[derive(Debug)]
enum DirtyKeys {
    /// The keys of the entries made dirty since the last flush, possibly stale (an entry
    /// removed since, or listed twice after a removal): a store committed after every record
    /// keeps most entries clean, and a flush then visits only these.
    Listed(Vec<CacheBytes>),
    /// Too many entries turned dirty to list them (a running aggregate over a bounded key
    /// space dirties most of its cache between commits): a flush walks every entry, in key
    /// order, which costs less than listing, looking up and sorting the keys.
    All,
}

/// Caches writes in memory and writes them down to the inner store on [`StateStore::flush`],
/// or when the cache grows past its byte budget (least-recently-written entries first). The
/// budget is the store's own and, with [`CachingKeyValueStore::with_thread_cache`], also the
/// stream thread's shared [`ThreadCache`](crate::ThreadCache).
/// Repeated writes of a key between flushes reach the inner store (and its changelog) once.
/// Each entry written down is passed to the flush listener with the inner store's previous
/// value, which is how a `KTable` forwards de-duplicated updates downstream.
pub struct CachingKeyValueStore<S> {
    inner: S,
    max_cache_bytes: usize,
    /// The entries, for point lookups (a hash index: the tree of `ordered` costs a dozen key
    /// comparisons per lookup).
    entries: HashMap<CacheBytes, CacheEntry, RandomState>,
    /// The entries' keys in order, for scans and for flushes in key order.
    ordered: BTreeSet<CacheBytes>,
    /// Every entry once, under its `order_seq`. The first item whose `order_seq` equals its
    /// entry's `seq` is the least recently written entry (every other entry was written at
    /// or after its own `order_seq`, which is not smaller).
    write_order: BTreeMap<u64, CacheBytes>,
    dirty_keys: DirtyKeys,
    dirty_count: usize,
    next_seq: u64,
    cached_bytes: usize,
    listener: Option<CacheFlushListener>,
    /// Whether a flush listener may be registered (see [`CachingKeyValueStore::without_forwarding`]).
    forwarding: bool,
    thread_cache: Option<SharedThreadCache>,
}

fn entry_bytes(key: &[u8], value: Option<&[u8]>) -> usize {
    3 * key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD_BYTES
}

impl<S: KeyValueStore> CachingKeyValueStore<S> {
    /// Wraps `inner` with a cache of at most `max_cache_bytes` (0 writes every entry straight
    /// through, still calling the listener).
    pub fn new(inner: S, max_cache_bytes: usize) -> Self {
        Self {
            inner,
            max_cache_bytes,
            entries: HashMap::default(),
            ordered: BTreeSet::new(),
            write_order: BTreeMap::new(),
            dirty_keys: DirtyKeys::Listed(Vec::new()),
            dirty_count: 0,
            next_seq: 0,
            cached_bytes: 0,
            listener: None,
            forwarding: true,
            thread_cache: None,
        }
    }

    /// Refuses flush listeners: a table processor over this store then forwards every update
    /// itself, at once, while reads and writes still go through the cache (repeated writes of
    /// a key between commits reach the inner store and its changelog once).
    pub fn without_forwarding(mut self) -> Self {
        self.forwarding = false;
        self
    }

    /// Also charges the entries to the thread's shared budget: a write that takes the thread
    /// over it evicts this store's least-recently-written entries.
    pub fn with_thread_cache(mut self, cache: SharedThreadCache) -> Self {
        cache.charge(self.cached_bytes);
        if let Some(old) = self.thread_cache.replace(cache) {
            old.release(self.cached_bytes);
        }
        self
    }

    fn over_budget(&self) -> bool {
        self.cached_bytes > self.max_cache_bytes
            || self.thread_cache.as_ref().is_some_and(|c| c.over_budget())
    }

    /// Drops every cached entry (written down or not) and its charge.
    fn clear_cache(&mut self) {
        self.entries.clear();
        self.ordered.clear();
        self.write_order.clear();
        self.dirty_keys = DirtyKeys::Listed(Vec::new());
        self.dirty_count = 0;
        if let Some(c) = &self.thread_cache {
            c.release(self.cached_bytes);
        }
        self.cached_bytes = 0;
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Bytes currently charged to the cache.
    pub fn cached_bytes(&self) -> usize {
        self.cached_bytes
    }

    /// Number of cached entries not yet written down.
    pub fn dirty_entries(&self) -> usize {
        self.dirty_count
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.is_open() {
            Ok(())
        } else {
            Err(StateError::Closed {
                store: self.inner.name().to_string(),
            })
        }
    }

    fn remove_entry(&mut self, key: &[u8]) -> Option<CacheEntry> {
        let entry = self.entries.remove(key)?;
        self.ordered.remove(key);
        self.write_order.remove(&entry.order_seq);
        if entry.dirty {
            self.dirty_count -= 1;
        }
        let bytes = entry_bytes(key, entry.value.as_deref());
        self.cached_bytes = self.cached_bytes.saturating_sub(bytes);
        if let Some(c) = &self.thread_cache {
            c.release(bytes);
        }
        Some(entry)
    }

    fn cache_write(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let bytes = entry_bytes(key, value);
        if let Some(entry) = self.entries.get_mut(key) {
            // A key written again (the common case of a running aggregate): update in place,
            // reusing the value buffer. Its place in `write_order` stays (see `order_seq`).
            let old_bytes = entry_bytes(key, entry.value.as_deref());
            match (value, entry.value.as_mut()) {
                (Some(v), Some(buf)) => {
                    buf.clear();
                    buf.extend_from_slice(v);
                }
                (v, _) => entry.value = v.map(CacheBytes::from_slice),
            }
            entry.seq = seq;
            if !entry.dirty {
                entry.dirty = true;
                self.note_dirty(key);
            }
            self.cached_bytes = self.cached_bytes.saturating_sub(old_bytes) + bytes;
            if let Some(c) = &self.thread_cache {
                c.release(old_bytes);
                c.charge(bytes);
            }
            return self.evict_over_budget();
        }
        self.cached_bytes += bytes;
        if let Some(c) = &self.thread_cache {
            c.charge(bytes);
        }
        self.entries.insert(
            CacheBytes::from_slice(key),
            CacheEntry {
                value: value.map(CacheBytes::from_slice),
                seq,
                order_seq: seq,
                dirty: true,
            },
        );
        self.ordered.insert(CacheBytes::from_slice(key));
        self.write_order.insert(seq, CacheBytes::from_slice(key));
        self.note_dirty(key);
        self.evict_over_budget()
    }

    /// Lists an entry that just became dirty, or stops listing when too many are (see
    /// [`DirtyKeys::All`]). Entries evicted or removed leave their keys behind until a flush:
    /// when those outnumber the dirty entries, they are dropped, so the list stays within the
    /// cache's own size between commits.
    fn note_dirty(&mut self, key: &[u8]) {
        self.dirty_count += 1;
        let DirtyKeys::Listed(keys) = &mut self.dirty_keys else {
            return;
        };
        if self.dirty_count > MIN_DIRTY_LIST.max(self.entries.len() / 4) {
            self.dirty_keys = DirtyKeys::All;
            return;
        }
        keys.push(CacheBytes::from_slice(key));
        if keys.len() > 2 * self.dirty_count + 1024 {
            let entries = &self.entries;
            let mut seen = std::collections::HashSet::new();
            keys.retain(|k| entries.get(k).is_some_and(|e| e.dirty) && seen.insert(k.clone()));
        }
    }

    /// Puts keys that were not written down back on the dirty list.
    fn relist_dirty(&mut self, keys: impl IntoIterator<Item = CacheBytes>) {
        if let DirtyKeys::Listed(listed) = &mut self.dirty_keys {
            listed.extend(keys);
        }
    }

    /// The least recently written entry's key, moving entries written since they were
    /// placed in `write_order` to their place first.
    fn least_recently_written(&mut self) -> Option<CacheBytes> {
        loop {
            let (order_seq, key) = self.write_order.pop_first()?;
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            if entry.seq == order_seq {
                self.write_order.insert(order_seq, key.clone());
                return Some(key);
            }
            entry.order_seq = entry.seq;
            self.write_order.insert(entry.seq, key);
        }
    }

    fn evict_over_budget(&mut self) -> Result<()> {
        while self.over_budget() {
            let Some(key) = self.least_recently_written() else {
                break;
            };
            let Some(entry) = self.entries.get(&key) else {
                break;
            };
            if entry.dirty {
                let value = entry.value.clone();
                tracing::trace!(store = %self.inner.name(), "evicting dirty cache entry");
                self.write_down(&key, value.as_deref())?;
            }
            self.remove_entry(&key);
        }
        Ok(())
    }

    /// Writes one entry to the inner store and tells the listener.
    fn write_down(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if self.listener.is_none() {
            // Nobody needs the old value: no read.
            match value {
                Some(value) => self.inner.put(key, value)?,
                None => {
                    self.inner.delete(key)?;
                }
            }
            return Ok(());
        }
        let old_value = self.inner.get(key)?;
        match value {
            Some(value) => self.inner.put(key, value)?,
            None if old_value.is_some() => {
                self.inner.delete(key)?;
            }
            None => return Ok(()),
        }
        if let Some(listener) = self.listener.as_mut() {
            listener(CacheFlushEntry {
                key: key.to_vec(),
                new_value: value.map(<[u8]>::to_vec),
                old_value,
            });
        }
        Ok(())
    }

    /// The dirty entries' keys in key order, once each, leaving the dirty list empty (the
    /// entries stay dirty until [`Self::mark_clean`]).
    fn take_dirty_in_key_order(&mut self) -> Vec<CacheBytes> {
        match std::mem::replace(&mut self.dirty_keys, DirtyKeys::Listed(Vec::new())) {
            DirtyKeys::Listed(mut keys) => {
                keys.retain(|key| self.entries.get(key).is_some_and(|e| e.dirty));
                keys.sort_unstable();
                keys.dedup();
                keys
            }
            DirtyKeys::All => self
                .ordered
                .iter()
                .filter(|key| self.entries.get(*key).is_some_and(|e| e.dirty))
                .cloned()
                .collect(),
        }
    }

    /// The dirty entries' keys in write order, leaving the dirty list empty.
    fn take_dirty_in_write_order(&mut self) -> Vec<CacheBytes> {
        let mut dirty: Vec<(u64, CacheBytes)> =
            match std::mem::replace(&mut self.dirty_keys, DirtyKeys::Listed(Vec::new())) {
                DirtyKeys::Listed(keys) => keys
                    .into_iter()
                    .filter_map(|key| {
                        let entry = self.entries.get(&key).filter(|e| e.dirty)?;
                        Some((entry.seq, key))
                    })
                    .collect(),
                DirtyKeys::All => self
                    .entries
                    .iter()
                    .filter(|(_, e)| e.dirty)
                    .map(|(key, e)| (e.seq, key.clone()))
                    .collect(),
            };
        // A key listed twice (removed and written again) has one seq: the repeat goes.
        dirty.sort_unstable_by_key(|(seq, _)| *seq);
        dirty.dedup_by_key(|(seq, _)| *seq);
        dirty.into_iter().map(|(_, key)| key).collect()
    }

    fn mark_clean(&mut self, key: &[u8]) {
        if let Some(entry) = self.entries.get_mut(key)
            && entry.dirty
        {
            entry.dirty = false;
            self.dirty_count -= 1;
        }
    }

    fn write_down_dirty(&mut self) -> Result<()> {
        if self.listener.is_none() {
            return self.write_down_dirty_unobserved();
        }
        let mut keys = self.take_dirty_in_write_order().into_iter();
        while let Some(key) = keys.next() {
            let value = self.entries.get(&key).and_then(|e| e.value.clone());
            if let Err(e) = self.write_down(&key, value.as_deref()) {
                // What is not written down stays dirty.
                self.relist_dirty(std::iter::once(key).chain(keys));
                return Err(e);
            }
            self.mark_clean(&key);
            if value.is_none() {
                self.remove_entry(&key);
            }
        }
        Ok(())
    }

    /// [`Self::write_down_dirty`] when nobody listens: the old values are not needed, so the
    /// puts go down in one `put_all` (one RocksDB write batch) without a read per entry.
    /// The write batch goes down in key order: RocksDB inserts sorted keys into its memtable
    /// far faster than keys in write order (its skip list reuses the last insert position).
    fn write_down_dirty_unobserved(&mut self) -> Result<()> {
        let dirty = self.take_dirty_in_key_order();
        let mut puts: Vec<KeyValue> = Vec::with_capacity(dirty.len());
        let mut deletes: Vec<CacheBytes> = Vec::new();
        for key in dirty {
            match self.entries.get(&key).and_then(|e| e.value.as_ref()) {
                Some(value) => puts.push((key.to_vec(), value.to_vec())),
                None => deletes.push(key),
            }
        }
        if !puts.is_empty()
            && let Err(e) = self.inner.put_all(&puts)
        {
            self.relist_dirty(
                puts.into_iter()
                    .map(|(key, _)| CacheBytes::from_vec(key))
                    .chain(deletes),
            );
            return Err(e);
        }
        for (key, _) in &puts {
            self.mark_clean(key);
        }
        let mut deletes = deletes.into_iter();
        while let Some(key) = deletes.next() {
            if let Err(e) = self.inner.delete(&key) {
                self.relist_dirty(std::iter::once(key).chain(deletes));
                return Err(e);
            }
            self.remove_entry(&key);
        }
        Ok(())
    }

    /// The cached entries in `bounds`, ascending or descending.
    fn cache_scan<'a>(
        &'a self,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
    ) -> CacheIter<'a> {
        let entries = &self.entries;
        let map = move |k: &'a CacheBytes| {
            let value = entries.get(k).and_then(|e| e.value.as_deref());
            (k.as_slice(), value)
        };
        let range = self.ordered.range::<[u8], _>(bounds);
        if reverse {
            Box::new(range.rev().map(map))
        } else {
            Box::new(range.map(map))
        }
    }
}

impl<S> Drop for CachingKeyValueStore<S> {
    fn drop(&mut self) {
        if let Some(c) = &self.thread_cache {
            c.release(self.cached_bytes);
        }
    }
}

impl<S: KeyValueStore> StateStore for CachingKeyValueStore<S> {
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
        self.check_open()?;
        self.write_down_dirty()?;
        self.inner.flush()
    }

    fn flush_cache(&mut self) -> Result<()> {
        self.check_open()?;
        self.write_down_dirty()?;
        self.inner.flush_cache()
    }

    fn close(&mut self) -> Result<()> {
        if !self.inner.is_open() {
            return self.inner.close();
        }
        let flushed = self.write_down_dirty();
        self.clear_cache();
        let closed = self.inner.close();
        flushed.and(closed)
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.remove_entry(key);
        self.inner.restore(key, value)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<S: KeyValueStore> KeyValueStore for CachingKeyValueStore<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        match self.entries.get(key) {
            Some(entry) => Ok(entry.value.as_deref().map(<[u8]>::to_vec)),
            None => self.inner.get(key),
        }
    }

    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<()> {
        self.check_open()?;
        match self.entries.get(key) {
            Some(entry) => {
                read(entry.value.as_deref());
                Ok(())
            }
            None => self.inner.get_with(key, read),
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_open()?;
        self.cache_write(key, Some(value))
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(existing) = self.get(key)? {
            return Ok(Some(existing));
        }
        self.cache_write(key, Some(value))?;
        Ok(None)
    }

    fn put_all(&mut self, entries: &[KeyValue]) -> Result<()> {
        self.check_open()?;
        for (key, value) in entries {
            self.cache_write(key, Some(value))?;
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let old = self.get(key)?;
        if old.is_some() {
            self.cache_write(key, None)?;
        }
        Ok(old)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.check_open()?;
        if is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let cache = self.cache_scan(inclusive_bounds(from, to), false);
        Ok(Box::new(MergedIterator::new(
            cache,
            self.inner.range(from, to)?,
            false,
        )))
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.check_open()?;
        if is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let cache = self.cache_scan(inclusive_bounds(from, to), true);
        Ok(Box::new(MergedIterator::new(
            cache,
            self.inner.reverse_range(from, to)?,
            true,
        )))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        self.check_open()?;
        let upper = prefix_successor(prefix);
        let bounds = (
            Bound::Included(prefix),
            upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        );
        let cache = self.cache_scan(bounds, false);
        Ok(Box::new(MergedIterator::new(
            cache,
            self.inner.prefix_scan(prefix)?,
            false,
        )))
    }

    fn all(&self) -> Result<KeyValueIter<'_>> {
        self.range(None, None)
    }

    /// The inner store's estimate, corrected for dirty entries that add or remove keys.
    fn approximate_num_entries(&self) -> Result<u64> {
        self.check_open()?;
        let mut count = i128::from(self.inner.approximate_num_entries()?);
        for (key, entry) in self.entries.iter().filter(|(_, e)| e.dirty) {
            let stored = self.inner.get(key)?.is_some();
            match (entry.value.is_some(), stored) {
                (true, false) => count += 1,
                (false, true) => count -= 1,
                _ => {}
            }
        }
        Ok(u64::try_from(count.max(0)).unwrap_or(u64::MAX))
    }

    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        if !self.forwarding {
            return false;
        }
        self.listener = Some(listener);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::change_logging_key_value_store::ChangeLoggingKeyValueStore;
    use crate::in_memory_key_value_store::InMemoryKeyValueStore;
    use crate::test_support::{RecordingChangelogWriter, SuiteOptions, key_value_store_suite};

    type Flushed = Arc<Mutex<Vec<CacheFlushEntry>>>;

    fn with_listener<S: KeyValueStore>(store: &mut CachingKeyValueStore<S>) -> Flushed {
        let flushed: Flushed = Arc::default();
        let sink = flushed.clone();
        assert!(store.set_flush_listener(Box::new(move |e| sink.lock().unwrap().push(e))));
        flushed
    }

    /// The keys the listener saw, in order.
    fn flushed_keys(flushed: &Flushed) -> Vec<Vec<u8>> {
        flushed
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.key.clone())
            .collect()
    }

    fn entry(key: &[u8], new: Option<&[u8]>, old: Option<&[u8]>) -> CacheFlushEntry {
        CacheFlushEntry {
            key: key.to_vec(),
            new_value: new.map(<[u8]>::to_vec),
            old_value: old.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn key_value_semantics_large_cache() {
        key_value_store_suite(
            || CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), 1 << 20),
            SuiteOptions::exact(),
        );
    }

    #[test]
    fn key_value_semantics_tiny_cache() {
        key_value_store_suite(
            || CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), 200),
            SuiteOptions::exact(),
        );
    }

    #[test]
    fn key_value_semantics_no_cache() {
        key_value_store_suite(
            || CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), 0),
            SuiteOptions::exact(),
        );
    }

    #[test]
    fn repeated_puts_are_deduplicated_until_flush() {
        let writer = RecordingChangelogWriter::shared();
        let inner =
            ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), writer.clone());
        let mut store = CachingKeyValueStore::new(inner, 1 << 20);
        store.inner.inner_mut().put(b"k", b"0").unwrap();
        let flushed = with_listener(&mut store);
        store.put(b"k", b"1").unwrap();
        store.put(b"k", b"2").unwrap();
        store.put(b"k", b"3").unwrap();
        assert_eq!(store.get(b"k").unwrap(), Some(b"3".to_vec()));
        assert_eq!(
            store.inner().get(b"k").unwrap(),
            Some(b"0".to_vec()),
            "not written down yet"
        );
        assert!(writer.changes().is_empty());
        store.flush().unwrap();
        assert_eq!(
            writer.changes(),
            vec![("kv".to_string(), b"k".to_vec(), Some(b"3".to_vec()))]
        );
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![entry(b"k", Some(b"3"), Some(b"0"))]
        );
        store.flush().unwrap();
        assert_eq!(
            writer.changes().len(),
            1,
            "clean entries are not written again"
        );
        assert_eq!(store.get(b"k").unwrap(), Some(b"3".to_vec()));
    }

    #[test]
    fn flush_writes_in_write_order() {
        let mut store = CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), 1 << 20);
        let flushed = with_listener(&mut store);
        store.put(b"b", b"1").unwrap();
        store.put(b"a", b"1").unwrap();
        store.put(b"c", b"1").unwrap();
        store.put(b"b", b"2").unwrap();
        store.flush().unwrap();
        let keys = flushed_keys(&flushed);
        assert_eq!(keys, vec![b"a".to_vec(), b"c".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn evicts_least_recently_written_when_over_budget() {
        let budget = 3 * entry_bytes(b"k1", Some(b"v1"));
        let mut store = CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), budget);
        let flushed = with_listener(&mut store);
        store.put(b"k1", b"v1").unwrap();
        store.put(b"k2", b"v2").unwrap();
        store.put(b"k3", b"v3").unwrap();
        store.put(b"k1", b"v1").unwrap();
        assert!(flushed.lock().unwrap().is_empty());
        store.put(b"k4", b"v4").unwrap();
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![entry(b"k2", Some(b"v2"), None)]
        );
        assert_eq!(store.inner().get(b"k2").unwrap(), Some(b"v2".to_vec()));
        assert_eq!(store.inner().get(b"k1").unwrap(), None);
        assert!(store.cached_bytes() <= budget);
        assert_eq!(
            store.get(b"k2").unwrap(),
            Some(b"v2".to_vec()),
            "evicted entries are read from the store"
        );
        assert_eq!(store.dirty_entries(), 3);
    }

    #[test]
    fn scans_merge_cache_and_store_and_hide_cached_deletes() {
        let mut store = CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), 1 << 20);
        let flushed = with_listener(&mut store);
        store.put(b"a", b"1").unwrap();
        store.put(b"c", b"3").unwrap();
        store.flush().unwrap();
        store.put(b"b", b"2").unwrap();
        store.put(b"c", b"33").unwrap();
        assert_eq!(store.delete(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.get(b"a").unwrap(), None);
        assert_eq!(store.inner().get(b"a").unwrap(), Some(b"1".to_vec()));
        let all: Vec<KeyValue> = store.all().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(
            all,
            vec![
                (b"b".to_vec(), b"2".to_vec()),
                (b"c".to_vec(), b"33".to_vec())
            ]
        );
        let rev: Vec<KeyValue> = store
            .reverse_range(None, None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            rev,
            vec![
                (b"c".to_vec(), b"33".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        flushed.lock().unwrap().clear();
        store.flush().unwrap();
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![
                entry(b"b", Some(b"2"), None),
                entry(b"c", Some(b"33"), Some(b"3")),
                entry(b"a", None, Some(b"1"))
            ]
        );
        assert_eq!(store.inner().get(b"a").unwrap(), None);
    }

    #[test]
    fn zero_budget_writes_every_update_through_to_the_listener() {
        let mut store = CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), 0);
        let flushed = with_listener(&mut store);
        store.put(b"k", b"1").unwrap();
        store.put(b"k", b"2").unwrap();
        store.delete(b"k").unwrap();
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![
                entry(b"k", Some(b"1"), None),
                entry(b"k", Some(b"2"), Some(b"1")),
                entry(b"k", None, Some(b"2"))
            ]
        );
        assert_eq!(store.cached_bytes(), 0);
    }

    #[test]
    fn stores_sharing_a_thread_cache_evict_their_own_entries_when_it_is_full() {
        let one = entry_bytes(b"k1", Some(b"v1"));
        let cache = crate::ThreadCache::shared(3 * one);
        let mut a = CachingKeyValueStore::new(InMemoryKeyValueStore::new("a"), usize::MAX)
            .with_thread_cache(cache.clone());
        let mut b = CachingKeyValueStore::new(InMemoryKeyValueStore::new("b"), usize::MAX)
            .with_thread_cache(cache.clone());
        let flushed_a = with_listener(&mut a);
        let flushed_b = with_listener(&mut b);
        a.put(b"k1", b"v1").unwrap();
        a.put(b"k2", b"v2").unwrap();
        b.put(b"k1", b"v1").unwrap();
        assert_eq!(cache.used_bytes(), 3 * one);
        assert!(flushed_a.lock().unwrap().is_empty());
        // The thread is full: b's write evicts b's oldest entry, not a's.
        b.put(b"k2", b"v2").unwrap();
        assert_eq!(
            *flushed_b.lock().unwrap(),
            vec![entry(b"k1", Some(b"v1"), None)]
        );
        assert!(flushed_a.lock().unwrap().is_empty());
        assert_eq!(cache.used_bytes(), 3 * one);
        // A write to a evicts a's least recently written entry.
        a.put(b"k3", b"v3").unwrap();
        assert_eq!(
            *flushed_a.lock().unwrap(),
            vec![entry(b"k1", Some(b"v1"), None)]
        );
        a.flush().unwrap();
        a.close().unwrap();
        assert_eq!(cache.used_bytes(), one, "a released its entries on close");
        drop(b);
        assert_eq!(cache.used_bytes(), 0, "b released its entries when dropped");
    }

    #[test]
    fn without_forwarding_refuses_listeners_but_still_coalesces_writes() {
        let log = RecordingChangelogWriter::shared();
        let inner = ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), log.clone());
        let mut store = CachingKeyValueStore::new(inner, 1 << 20).without_forwarding();
        assert!(!store.set_flush_listener(Box::new(|_| {})));
        for v in [b"1", b"2", b"3"] {
            store.put(b"k", v).unwrap();
        }
        assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"3"[..]));
        assert!(
            log.changes().is_empty(),
            "nothing written down before the flush"
        );
        store.flush().unwrap();
        let logged = log.changes();
        assert_eq!(
            logged.len(),
            1,
            "three writes of one key logged once: {logged:?}"
        );
        assert_eq!(logged[0].2.as_deref(), Some(&b"3"[..]));
        assert_eq!(store.inner().get(b"k").unwrap().as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn a_flush_writes_down_only_what_changed_since_the_last_one() {
        for listening in [false, true] {
            let log = RecordingChangelogWriter::shared();
            let inner =
                ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), log.clone());
            let mut store = CachingKeyValueStore::new(inner, 1 << 20);
            let flushed = listening.then(|| with_listener(&mut store));
            store.put(b"a", b"1").unwrap();
            store.put(b"b", b"1").unwrap();
            store.flush().unwrap();
            assert_eq!(log.changes().len(), 2);
            log.clear();
            store.put(b"a", b"2").unwrap();
            store.delete(b"b").unwrap();
            store.put(b"a", b"3").unwrap();
            store.flush().unwrap();
            let keys: Vec<Vec<u8>> = log.changes().into_iter().map(|(_, k, _)| k).collect();
            assert_eq!(keys.len(), 2, "listening={listening}: {keys:?}");
            assert!(keys.contains(&b"a".to_vec()) && keys.contains(&b"b".to_vec()));
            log.clear();
            store.flush().unwrap();
            assert!(
                log.changes().is_empty(),
                "listening={listening}: nothing dirty"
            );
            assert_eq!(store.dirty_entries(), 0);
            assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"3"[..]));
            assert_eq!(store.get(b"b").unwrap(), None);
            if let Some(f) = flushed {
                assert_eq!(f.lock().unwrap().len(), 4, "2 + 2 forwarded");
            }
        }
    }

    #[test]
    fn churn_without_a_flush_keeps_the_dirty_list_bounded_and_loses_nothing() {
        let budget = 8 * entry_bytes(b"key-00000", Some(b"v-00000"));
        let mut store = CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), budget);
        let mut expected = BTreeMap::new();
        // Keys cycle through more than the budget holds, with rewrites of recent keys, so
        // entries are evicted dirty, written again, and listed again.
        for i in 0..20_000u32 {
            let key = format!("key-{:05}", (i * 7) % 3_001).into_bytes();
            let value = format!("v-{i:05}").into_bytes();
            store.put(&key, &value).unwrap();
            expected.insert(key, value);
            // The list is compacted when an entry becomes dirty; the eviction that follows
            // may take one more dirty entry away.
            let DirtyKeys::Listed(keys) = &store.dirty_keys else {
                panic!("a cache of 8 entries lists its dirty keys");
            };
            assert!(keys.len() <= 2 * (store.dirty_count + 1) + 1024);
        }
        assert!(store.dirty_entries() <= 8);
        store.flush().unwrap();
        assert_eq!(store.dirty_entries(), 0);
        for (key, value) in &expected {
            assert_eq!(store.inner().get(key).unwrap().as_ref(), Some(value));
        }
    }

    #[test]
    fn a_flush_of_mostly_dirty_entries_walks_the_cache_in_the_order_asked() {
        let keys: Vec<Vec<u8>> = (0..1_000u32)
            .map(|i| format!("k{:04}", (i * 7) % 1_000).into_bytes())
            .collect();
        // With a listener: write order.
        let mut store = CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), 1 << 20);
        let flushed = with_listener(&mut store);
        for key in &keys {
            store.put(key, b"v1").unwrap();
        }
        assert!(matches!(store.dirty_keys, DirtyKeys::All));
        store.flush().unwrap();
        assert_eq!(flushed_keys(&flushed), keys);
        // The next interval lists its few dirty keys again.
        flushed.lock().unwrap().clear();
        for key in [&keys[5], &keys[2], &keys[5]] {
            store.put(key, b"v2").unwrap();
        }
        assert!(matches!(&store.dirty_keys, DirtyKeys::Listed(l) if l.len() == 2));
        store.flush().unwrap();
        assert_eq!(
            flushed_keys(&flushed),
            vec![keys[2].clone(), keys[5].clone()]
        );
        assert_eq!(store.dirty_entries(), 0);

        // Without a listener: one batch in key order, then the changelog in key order.
        let log = RecordingChangelogWriter::shared();
        let inner = ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), log.clone());
        let mut store = CachingKeyValueStore::new(inner, 1 << 20);
        for key in &keys {
            store.put(key, b"v1").unwrap();
        }
        store.delete(&keys[0]).unwrap();
        store.flush().unwrap();
        // The puts in key order, then the delete.
        let mut expected: Vec<(Vec<u8>, bool)> =
            keys[1..].iter().map(|k| (k.clone(), true)).collect();
        expected.sort();
        expected.push((keys[0].clone(), false));
        let written: Vec<(Vec<u8>, bool)> = log
            .changes()
            .into_iter()
            .map(|(_, k, v)| (k, v.is_some()))
            .collect();
        assert!(written == expected, "changelog out of key order");
        assert_eq!(store.dirty_entries(), 0);
        assert_eq!(store.get(&keys[0]).unwrap(), None);
        assert_eq!(
            store.inner().get(&keys[1]).unwrap().as_deref(),
            Some(&b"v1"[..])
        );
    }

    #[test]
    fn eviction_after_rewrites_takes_the_least_recently_written() {
        let budget = 3 * entry_bytes(b"k1", Some(b"v1"));
        let mut store = CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), budget);
        let flushed = with_listener(&mut store);
        for key in [b"k1", b"k2", b"k3", b"k1", b"k2", b"k1"] {
            store.put(key, b"v").unwrap();
        }
        // Write order now: k3, k2, k1. Two new keys evict k3, then k2.
        store.put(b"k4", b"v").unwrap();
        store.put(b"k5", b"v").unwrap();
        let evicted = flushed_keys(&flushed);
        assert_eq!(evicted, vec![b"k3".to_vec(), b"k2".to_vec()]);
        assert_eq!(store.write_order.len(), store.entries.len());
    }

    #[test]
    fn restore_invalidates_cached_entry() {
        let mut store = CachingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), 1 << 20);
        let flushed = with_listener(&mut store);
        store.put(b"a", b"1").unwrap();
        store.restore(b"a", Some(b"r")).unwrap();
        assert_eq!(store.get(b"a").unwrap(), Some(b"r".to_vec()));
        store.flush().unwrap();
        assert!(flushed.lock().unwrap().is_empty());
        assert_eq!(store.dirty_entries(), 0);
    }

    #[test]
    fn close_writes_down_dirty_entries() {
        let writer = RecordingChangelogWriter::shared();
        let inner =
            ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), writer.clone());
        let mut store = CachingKeyValueStore::new(inner, 1 << 20);
        store.put(b"a", b"1").unwrap();
        store.close().unwrap();
        assert_eq!(writer.changes().len(), 1);
        assert!(matches!(
            store.put(b"a", b"2"),
            Err(StateError::Closed { .. })
        ));
    }
}
