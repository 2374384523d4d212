//! [`ChangeLoggingWindowStore`]: sends every write of the inner window store to the changelog.

use std::any::Any;

use crate::error::Result;
use crate::store::{SharedChangelogWriter, StateStore, WindowStore, WindowedKey};
use crate::window_key_codec;

/// Wraps a window store and records each write with the [`crate::ChangelogWriter`], keyed by
/// [`window_key_codec`] (deletes as tombstones). For stores retaining duplicates, each put is
/// logged with its own sequence number, and deletes (ignored by such stores) are not logged.
/// Restoration writes through to the inner store without logging.
pub struct ChangeLoggingWindowStore<S> {
    inner: S,
    changelog: SharedChangelogWriter,
    retain_duplicates: bool,
    next_seq: u32,
}

impl<S: WindowStore> ChangeLoggingWindowStore<S> {
    /// Wraps `inner`; `retain_duplicates` must match the inner store's setting.
    pub fn new(inner: S, changelog: SharedChangelogWriter, retain_duplicates: bool) -> Self {
        Self {
            inner,
            changelog,
            retain_duplicates,
            next_seq: 0,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: WindowStore> StateStore for ChangeLoggingWindowStore<S> {
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
        self.inner.restore(key, value)?;
        let restored_seq = window_key_codec::decode(key)
            .map(|parts| parts.seq)
            .filter(|seq| self.retain_duplicates && *seq >= self.next_seq);
        if let Some(seq) = restored_seq {
            self.next_seq = seq.wrapping_add(1);
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<S: WindowStore> WindowStore for ChangeLoggingWindowStore<S> {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> Result<()> {
        self.inner.put(key, value, window_start)?;
        let seq = if self.retain_duplicates {
            if value.is_none() {
                return Ok(());
            }
            let seq = self.next_seq;
            self.next_seq = seq.wrapping_add(1);
            seq
        } else {
            0
        };
        let changelog_key = window_key_codec::encode(key, window_start, seq);
        self.changelog
            .log_change(self.inner.name(), &changelog_key, value);
        Ok(())
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>> {
        self.inner.fetch(key, window_start)
    }

    fn fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        self.inner.fetch_range(key, time_from, time_to)
    }

    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        self.inner
            .fetch_key_range(key_from, key_to, time_from, time_to)
    }

    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        self.inner.all()
    }

    fn window_size(&self) -> i64 {
        self.inner.window_size()
    }

    fn retention_period(&self) -> i64 {
        self.inner.retention_period()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::in_memory_window_store::InMemoryWindowStore;
    use crate::test_support::RecordingChangelogWriter;
    use crate::window_store_suite::{WindowSuiteStore, window_store_suite};

    #[test]
    fn window_semantics() {
        let writer = RecordingChangelogWriter::shared();
        window_store_suite(&mut |retention, size, duplicates| {
            let inner = InMemoryWindowStore::new("win", retention, size, duplicates).unwrap();
            Box::new(ChangeLoggingWindowStore::new(
                inner,
                writer.clone(),
                duplicates,
            )) as WindowSuiteStore
        });
    }

    #[test]
    fn logs_encoded_keys_and_restores_from_them() {
        let writer = RecordingChangelogWriter::shared();
        let inner = InMemoryWindowStore::new("win", 1_000, 10, false).unwrap();
        let mut store = ChangeLoggingWindowStore::new(inner, writer.clone(), false);
        store.put(b"k", Some(b"1"), 10).unwrap();
        store.put(b"k", None, 10).unwrap();
        store.put(b"j", Some(b"2"), 20).unwrap();
        let changes = writer.changes();
        assert_eq!(
            changes,
            vec![
                (
                    "win".to_string(),
                    window_key_codec::encode(b"k", 10, 0),
                    Some(b"1".to_vec())
                ),
                (
                    "win".to_string(),
                    window_key_codec::encode(b"k", 10, 0),
                    None
                ),
                (
                    "win".to_string(),
                    window_key_codec::encode(b"j", 20, 0),
                    Some(b"2".to_vec())
                ),
            ]
        );

        let restored = InMemoryWindowStore::new("win", 1_000, 10, false).unwrap();
        let mut restored = ChangeLoggingWindowStore::new(restored, writer.clone(), false);
        writer.clear();
        for (_, key, value) in &changes {
            restored.restore(key, value.as_deref()).unwrap();
        }
        assert!(writer.changes().is_empty(), "restore is not logged");
        assert_eq!(restored.all().unwrap(), store.all().unwrap());
    }

    #[test]
    fn duplicates_get_sequence_numbers() {
        let writer = RecordingChangelogWriter::shared();
        let inner = InMemoryWindowStore::new("win", 1_000, 10, true).unwrap();
        let mut store = ChangeLoggingWindowStore::new(inner, writer.clone(), true);
        store.put(b"k", Some(b"a"), 10).unwrap();
        store.put(b"k", Some(b"b"), 10).unwrap();
        store.put(b"k", None, 10).unwrap();
        let keys: Vec<Vec<u8>> = writer.changes().into_iter().map(|(_, k, _)| k).collect();
        assert_eq!(
            keys,
            vec![
                window_key_codec::encode(b"k", 10, 0),
                window_key_codec::encode(b"k", 10, 1)
            ]
        );

        let restored = InMemoryWindowStore::new("win", 1_000, 10, true).unwrap();
        let mut restored = ChangeLoggingWindowStore::new(restored, writer.clone(), true);
        for (_, key, value) in writer.changes() {
            restored.restore(&key, value.as_deref()).unwrap();
        }
        assert_eq!(
            restored.fetch_range(b"k", 10, 10).unwrap(),
            vec![(10, b"a".to_vec()), (10, b"b".to_vec())]
        );
        restored.put(b"k", Some(b"c"), 10).unwrap();
        assert_eq!(
            writer.changes().last().unwrap().1,
            window_key_codec::encode(b"k", 10, 2)
        );
    }
}
