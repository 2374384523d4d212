//! A typed key-value store.

use std::any::Any;

use kstreams_state::{CacheFlushEntry, CacheFlushListener, KeyValueStore as BytesKeyValueStore};

use super::task_store::TaskStore;
use crate::error::{Result, StreamsError};
use crate::serde::{SerdeError, SharedSerde};

/// A key-value store with typed keys and values, over a byte store (RocksDB or in-memory,
/// possibly wrapped for change-logging, caching and metrics). Ranges follow the byte order of
/// the serialized keys, as in Kafka Streams.
pub struct KeyValueStore<K, V> {
    name: String,
    inner: Box<dyn BytesKeyValueStore>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    /// Buffers the writes serialize into, kept between calls (the byte store copies what it
    /// keeps), so a write allocates nothing.
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> KeyValueStore<K, V> {
    /// Wraps a byte store.
    pub fn new(
        inner: Box<dyn BytesKeyValueStore>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        KeyValueStore {
            name: inner.name().to_string(),
            inner,
            key_serde,
            value_serde,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Appends `key` serialized to `buf`; a key that serializes to null is an error.
    fn serialize_key(&self, key: &K, buf: &mut Vec<u8>) -> Result<()> {
        if self.key_serde.serialize_into(&self.name, key, buf)? {
            return Ok(());
        }
        Err(SerdeError::serialize(
            &self.name,
            "store key",
            "a store key must not serialize to null",
        )
        .into())
    }

    fn key_bytes(&self, key: &K) -> Result<Vec<u8>> {
        let mut k = Vec::new();
        self.serialize_key(key, &mut k)?;
        Ok(k)
    }

    fn value_bytes(&self, value: &V) -> Result<Option<Vec<u8>>> {
        Ok(self.value_serde.serialize(&self.name, value)?)
    }

    fn decode_value(&self, bytes: Option<&[u8]>) -> Result<Option<V>> {
        match bytes {
            None => Ok(None),
            Some(b) => Ok(Some(self.value_serde.deserialize(&self.name, Some(b))?)),
        }
    }

    /// The value of the serialized key `k`, decoded from the store's own bytes (no copy).
    fn read(&self, k: &[u8]) -> Result<Option<V>> {
        let mut value = Ok(None);
        self.inner
            .get_with(k, &mut |bytes| value = self.decode_value(bytes))?;
        value
    }

    /// `key` serialized into the kept key buffer, which the caller puts back.
    fn key_into_buf(&mut self, key: &K) -> Result<Vec<u8>> {
        let mut k = std::mem::take(&mut self.key_buf);
        k.clear();
        match self.serialize_key(key, &mut k) {
            Ok(()) => Ok(k),
            Err(e) => {
                self.key_buf = k;
                Err(e)
            }
        }
    }

    /// Writes `value` for the serialized key `k`; `None`, or a value that serializes to null,
    /// deletes the key.
    fn write(&mut self, k: &[u8], value: Option<&V>) -> Result<()> {
        let mut v = std::mem::take(&mut self.value_buf);
        v.clear();
        let present = match value {
            Some(value) => self.value_serde.serialize_into(&self.name, value, &mut v),
            None => Ok(false),
        };
        let r = match present {
            Ok(true) => self.inner.put(k, &v).map_err(Into::into),
            Ok(false) => self.inner.delete(k).map(|_| ()).map_err(Into::into),
            Err(e) => Err(e.into()),
        };
        self.value_buf = v;
        r
    }

    fn decode_pair(&self, pair: kstreams_state::Result<(Vec<u8>, Vec<u8>)>) -> Result<(K, V)> {
        let (k, v) = pair?;
        Ok((
            self.key_serde.deserialize(&self.name, Some(&k))?,
            self.value_serde.deserialize(&self.name, Some(&v))?,
        ))
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let k = self.key_bytes(key)?;
        self.read(&k)
    }

    /// Writes `value` for `key`; a value that serializes to null deletes the key.
    pub fn put(&mut self, key: &K, value: &V) -> Result<()> {
        let k = self.key_into_buf(key)?;
        let r = self.write(&k, Some(value));
        self.key_buf = k;
        r
    }

    /// Reads `key`'s value and writes back what `f` makes of it (`None` deletes), returning
    /// `f`'s second result. The key is serialized once for both: aggregations and tables read
    /// and then write the same key for every record.
    pub fn update<R>(&mut self, key: &K, f: impl FnOnce(Option<V>) -> (Option<V>, R)) -> Result<R> {
        let k = self.key_into_buf(key)?;
        let r = self
            .read(&k)
            .map(f)
            .and_then(|(new, out)| self.write(&k, new.as_ref()).map(|()| out));
        self.key_buf = k;
        r
    }

    /// Writes `value` only if `key` is absent; returns the existing value otherwise.
    pub fn put_if_absent(&mut self, key: &K, value: &V) -> Result<Option<V>> {
        let k = self.key_bytes(key)?;
        let v = self.value_bytes(value)?.ok_or_else(|| {
            StreamsError::from(SerdeError::serialize(
                &self.name,
                "store value",
                "put_if_absent of a null value",
            ))
        })?;
        let old = self.inner.put_if_absent(&k, &v)?;
        self.decode_value(old.as_deref())
    }

    /// Writes several entries.
    pub fn put_all(&mut self, entries: &[(K, V)]) -> Result<()> {
        for (k, v) in entries {
            self.put(k, v)?;
        }
        Ok(())
    }

    /// Deletes `key`, returning its old value.
    pub fn delete(&mut self, key: &K) -> Result<Option<V>> {
        let k = self.key_bytes(key)?;
        let old = self.inner.delete(&k)?;
        self.decode_value(old.as_deref())
    }

    /// Entries with `from <= key <= to` in serialized-key order (`None`: unbounded).
    pub fn range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        let f = from.map(|k| self.key_bytes(k)).transpose()?;
        let t = to.map(|k| self.key_bytes(k)).transpose()?;
        self.inner
            .range(f.as_deref(), t.as_deref())?
            .map(|p| self.decode_pair(p))
            .collect()
    }

    /// As [`KeyValueStore::range`], descending.
    pub fn reverse_range(&self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        let f = from.map(|k| self.key_bytes(k)).transpose()?;
        let t = to.map(|k| self.key_bytes(k)).transpose()?;
        self.inner
            .reverse_range(f.as_deref(), t.as_deref())?
            .map(|p| self.decode_pair(p))
            .collect()
    }

    /// Entries whose serialized key starts with the serialized `prefix`.
    pub fn prefix_scan<P: 'static>(
        &self,
        prefix: &P,
        prefix_serde: &SharedSerde<P>,
    ) -> Result<Vec<(K, V)>> {
        let p = prefix_serde
            .serialize(&self.name, prefix)?
            .unwrap_or_default();
        self.inner
            .prefix_scan(&p)?
            .map(|pair| self.decode_pair(pair))
            .collect()
    }

    /// Every entry, in serialized-key order.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        self.inner.all()?.map(|p| self.decode_pair(p)).collect()
    }

    /// Visits every entry in serialized-key order without collecting them.
    pub fn for_each(&self, mut f: impl FnMut(K, V) -> Result<()>) -> Result<()> {
        for p in self.inner.all()? {
            let (k, v) = self.decode_pair(p)?;
            f(k, v)?;
        }
        Ok(())
    }

    /// Estimated number of entries.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        Ok(self.inner.approximate_num_entries()?)
    }

    /// The typed key, new value and old value of an entry this store's cache wrote down.
    pub fn decode_flush_entry(&self, entry: &CacheFlushEntry) -> Result<(K, Option<V>, Option<V>)> {
        let key = self.key_serde.deserialize(&self.name, Some(&entry.key))?;
        let new = self.decode_value(entry.new_value.as_deref())?;
        let old = self.decode_value(entry.old_value.as_deref())?;
        Ok((key, new, old))
    }

    /// The byte store underneath.
    pub fn inner(&self) -> &dyn BytesKeyValueStore {
        self.inner.as_ref()
    }

    /// The byte store underneath, mutably.
    pub fn inner_mut(&mut self) -> &mut dyn BytesKeyValueStore {
        self.inner.as_mut()
    }
}

impl<K: 'static, V: 'static> TaskStore for KeyValueStore<K, V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn persistent(&self) -> bool {
        self.inner.persistent()
    }
    fn flush(&mut self) -> Result<()> {
        Ok(self.inner.flush()?)
    }
    fn flush_cache(&mut self) -> Result<()> {
        Ok(self.inner.flush_cache()?)
    }
    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        self.inner.set_flush_listener(listener)
    }
    fn close(&mut self) -> Result<()> {
        Ok(self.inner.close()?)
    }
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        Ok(self.inner.restore(key, value)?)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::Serdes;
    use kstreams_state::InMemoryKeyValueStore;

    #[test]
    fn update_reads_then_writes_or_deletes_the_key() {
        let mut store = KeyValueStore::new(
            Box::new(InMemoryKeyValueStore::new("s")),
            Serdes::string(),
            Serdes::i64(),
        );
        let k = "a".to_string();
        let seen = store
            .update(&k, |old| (Some(old.unwrap_or(0) + 5), old))
            .unwrap();
        assert_eq!(seen, None);
        let seen = store.update(&k, |old| (old.map(|n| n * 2), old)).unwrap();
        assert_eq!((seen, store.get(&k).unwrap()), (Some(5), Some(10)));
        let seen = store.update(&k, |old| (None, old)).unwrap();
        assert_eq!((seen, store.get(&k).unwrap()), (Some(10), None));
    }
}
