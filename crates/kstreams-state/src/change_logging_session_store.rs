//! [`ChangeLoggingSessionStore`]: sends every write of the inner session store to the changelog.

use std::any::Any;

use crate::error::Result;
use crate::session_key_codec;
use crate::store::{SessionStore, SharedChangelogWriter, StateStore, TimeWindow, WindowedKey};

/// Wraps a session store and records each write with the [`crate::ChangelogWriter`], keyed by
/// [`session_key_codec`]; removals are tombstones. Restoration writes through to the inner
/// store without logging.
pub struct ChangeLoggingSessionStore<S> {
    inner: S,
    changelog: SharedChangelogWriter,
}

impl<S: SessionStore> ChangeLoggingSessionStore<S> {
    /// Wraps `inner`, logging its writes to `changelog`.
    pub fn new(inner: S, changelog: SharedChangelogWriter) -> Self {
        Self { inner, changelog }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: SessionStore> StateStore for ChangeLoggingSessionStore<S> {
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

impl<S: SessionStore> SessionStore for ChangeLoggingSessionStore<S> {
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        self.inner
            .find_sessions(key, earliest_session_end, latest_session_start)
    }

    fn fetch_session(&self, key: &[u8], window: TimeWindow) -> Result<Option<Vec<u8>>> {
        self.inner.fetch_session(key, window)
    }

    fn fetch(&self, key: &[u8]) -> Result<Vec<(TimeWindow, Vec<u8>)>> {
        self.inner.fetch(key)
    }

    fn put(&mut self, key: &[u8], window: TimeWindow, value: &[u8]) -> Result<()> {
        self.inner.put(key, window, value)?;
        self.changelog.log_change(
            self.inner.name(),
            &session_key_codec::encode(key, window),
            Some(value),
        );
        Ok(())
    }

    fn remove(&mut self, key: &[u8], window: TimeWindow) -> Result<()> {
        self.inner.remove(key, window)?;
        self.changelog.log_change(
            self.inner.name(),
            &session_key_codec::encode(key, window),
            None,
        );
        Ok(())
    }

    fn all(&self) -> Result<Vec<(WindowedKey, Vec<u8>)>> {
        self.inner.all()
    }

    fn retention_period(&self) -> i64 {
        self.inner.retention_period()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::in_memory_session_store::InMemorySessionStore;
    use crate::session_store_suite::{SessionSuiteStore, session_store_suite};
    use crate::test_support::RecordingChangelogWriter;

    #[test]
    fn session_semantics() {
        let writer = RecordingChangelogWriter::shared();
        session_store_suite(&mut |retention| {
            let inner = InMemorySessionStore::new("sess", retention).unwrap();
            Box::new(ChangeLoggingSessionStore::new(inner, writer.clone())) as SessionSuiteStore
        });
    }

    #[test]
    fn logs_encoded_keys_and_restores_from_them() {
        let writer = RecordingChangelogWriter::shared();
        let mut store = ChangeLoggingSessionStore::new(
            InMemorySessionStore::new("sess", 1_000).unwrap(),
            writer.clone(),
        );
        let w1 = TimeWindow { start: 0, end: 10 };
        let w2 = TimeWindow { start: 5, end: 30 };
        store.put(b"k", w1, b"a").unwrap();
        store.put(b"k", w2, b"b").unwrap();
        store.remove(b"k", w1).unwrap();
        let changes = writer.changes();
        assert_eq!(
            changes,
            vec![
                (
                    "sess".to_string(),
                    session_key_codec::encode(b"k", w1),
                    Some(b"a".to_vec())
                ),
                (
                    "sess".to_string(),
                    session_key_codec::encode(b"k", w2),
                    Some(b"b".to_vec())
                ),
                (
                    "sess".to_string(),
                    session_key_codec::encode(b"k", w1),
                    None
                ),
            ]
        );
        writer.clear();
        let mut restored = ChangeLoggingSessionStore::new(
            InMemorySessionStore::new("sess", 1_000).unwrap(),
            writer.clone(),
        );
        for (_, key, value) in &changes {
            restored.restore(key, value.as_deref()).unwrap();
        }
        assert!(writer.changes().is_empty());
        assert_eq!(restored.fetch(b"k").unwrap(), vec![(w2, b"b".to_vec())]);
    }
}
