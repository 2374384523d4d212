//! [`ChangeLoggingKeyValueStore`]: sends every write of the inner store to the changelog.

use std::any::Any;

use crate::error::Result;
use crate::store::{
    CacheFlushListener, KeyValue, KeyValueIter, KeyValueStore, SharedChangelogWriter, StateStore,
};

/// Wraps a key-value store and records each write with the [`crate::ChangelogWriter`]: puts as
/// the value, deletes as tombstones. Changelog keys and values are the plain key and value.
/// Restoration writes through to the inner store without logging.
pub struct ChangeLoggingKeyValueStore<S> {
    inner: S,
    changelog: SharedChangelogWriter,
}

impl<S: KeyValueStore> ChangeLoggingKeyValueStore<S> {
    /// Wraps `inner`, logging its writes to `changelog`.
    pub fn new(inner: S, changelog: SharedChangelogWriter) -> Self {
        Self { inner, changelog }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped store, mutably (writes through it are not logged).
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    fn log(&self, key: &[u8], value: Option<&[u8]>) {
        self.changelog.log_change(self.inner.name(), key, value);
    }
}

impl<S: KeyValueStore> StateStore for ChangeLoggingKeyValueStore<S> {
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

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.inner.restore(key, value)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<S: KeyValueStore> KeyValueStore for ChangeLoggingKeyValueStore<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }

    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<()> {
        self.inner.get_with(key, read)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(key, value)?;
        self.log(key, Some(value));
        Ok(())
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        let existing = self.inner.put_if_absent(key, value)?;
        if existing.is_none() {
            self.log(key, Some(value));
        }
        Ok(existing)
    }

    fn put_all(&mut self, entries: &[KeyValue]) -> Result<()> {
        self.inner.put_all(entries)?;
        for (key, value) in entries {
            self.log(key, Some(value));
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let old = self.inner.delete(key)?;
        self.log(key, None);
        Ok(old)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.inner.range(from, to)
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.inner.reverse_range(from, to)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        self.inner.prefix_scan(prefix)
    }

    fn all(&self) -> Result<KeyValueIter<'_>> {
        self.inner.all()
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.inner.approximate_num_entries()
    }

    fn set_flush_listener(&mut self, listener: CacheFlushListener) -> bool {
        self.inner.set_flush_listener(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateError;
    use crate::in_memory_key_value_store::InMemoryKeyValueStore;
    use crate::test_support::{RecordingChangelogWriter, SuiteOptions, key_value_store_suite};

    fn logged(key: &[u8], value: Option<&[u8]>) -> (String, Vec<u8>, Option<Vec<u8>>) {
        ("kv".to_string(), key.to_vec(), value.map(<[u8]>::to_vec))
    }

    #[test]
    fn key_value_semantics() {
        let writer = RecordingChangelogWriter::shared();
        key_value_store_suite(
            || ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), writer.clone()),
            SuiteOptions::exact(),
        );
    }

    #[test]
    fn logs_exactly_the_writes_and_tombstones() {
        let writer = RecordingChangelogWriter::shared();
        let mut store =
            ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), writer.clone());
        store.put(b"a", b"1").unwrap();
        assert_eq!(
            store.put_if_absent(b"a", b"2").unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(store.put_if_absent(b"b", b"3").unwrap(), None);
        store
            .put_all(&[
                (b"c".to_vec(), b"4".to_vec()),
                (b"d".to_vec(), b"5".to_vec()),
            ])
            .unwrap();
        assert_eq!(store.delete(b"a").unwrap(), Some(b"1".to_vec()));
        store.get(b"b").unwrap();
        store.all().unwrap().for_each(drop);
        store.flush().unwrap();
        assert_eq!(
            writer.changes(),
            vec![
                logged(b"a", Some(b"1")),
                logged(b"b", Some(b"3")),
                logged(b"c", Some(b"4")),
                logged(b"d", Some(b"5")),
                logged(b"a", None),
            ]
        );
    }

    #[test]
    fn restore_is_not_logged() {
        let writer = RecordingChangelogWriter::shared();
        let mut store =
            ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), writer.clone());
        store.restore(b"a", Some(b"1")).unwrap();
        store.restore(b"a", None).unwrap();
        store.restore(b"b", Some(b"2")).unwrap();
        assert!(writer.changes().is_empty());
        assert_eq!(store.get(b"b").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn failed_writes_are_not_logged() {
        let writer = RecordingChangelogWriter::shared();
        let mut store =
            ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), writer.clone());
        store.close().unwrap();
        assert!(matches!(
            store.put(b"a", b"1"),
            Err(StateError::Closed { .. })
        ));
        assert!(matches!(store.delete(b"a"), Err(StateError::Closed { .. })));
        assert!(writer.changes().is_empty());
    }
}
