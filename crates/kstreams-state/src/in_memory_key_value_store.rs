//! [`InMemoryKeyValueStore`]: a key-value store over a `BTreeMap`, not persistent.

use std::any::Any;
use std::collections::BTreeMap;

use crate::error::{Result, StateError};
use crate::key_bytes::{inclusive_bounds, is_inverted, prefix_successor};
use crate::store::{KeyValue, KeyValueIter, KeyValueStore, StateStore};

/// A key-value store held in memory in key order. Its contents are lost on close; it is
/// rebuilt from its changelog on restart.
#[derive(Debug)]
pub struct InMemoryKeyValueStore {
    name: String,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    open: bool,
}

impl InMemoryKeyValueStore {
    /// Creates an empty, open store.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            map: BTreeMap::new(),
            open: true,
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.open {
            Ok(())
        } else {
            Err(StateError::Closed {
                store: self.name.clone(),
            })
        }
    }

    fn owned_iter<'a>(
        iter: impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + 'a,
    ) -> KeyValueIter<'a> {
        Box::new(iter.map(|(k, v)| Ok((k.clone(), v.clone()))))
    }
}

impl StateStore for InMemoryKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn is_open(&self) -> bool {
        self.open
    }

    fn flush(&mut self) -> Result<()> {
        self.check_open()
    }

    fn close(&mut self) -> Result<()> {
        self.open = false;
        self.map.clear();
        Ok(())
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        match value {
            Some(value) => {
                self.map.insert(key.to_vec(), value.to_vec());
            }
            None => {
                self.map.remove(key);
            }
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

impl KeyValueStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        Ok(self.map.get(key).cloned())
    }

    fn get_with(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<()> {
        self.check_open()?;
        read(self.map.get(key).map(Vec::as_slice));
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_open()?;
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        if let Some(existing) = self.map.get(key) {
            return Ok(Some(existing.clone()));
        }
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(None)
    }

    fn put_all(&mut self, entries: &[KeyValue]) -> Result<()> {
        self.check_open()?;
        for (key, value) in entries {
            self.map.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        Ok(self.map.remove(key))
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.check_open()?;
        if is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        Ok(Self::owned_iter(
            self.map.range::<[u8], _>(inclusive_bounds(from, to)),
        ))
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.check_open()?;
        if is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        Ok(Self::owned_iter(
            self.map.range::<[u8], _>(inclusive_bounds(from, to)).rev(),
        ))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        self.check_open()?;
        let upper = prefix_successor(prefix);
        let bounds = (
            std::ops::Bound::Included(prefix),
            upper
                .as_deref()
                .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
        );
        Ok(Self::owned_iter(self.map.range::<[u8], _>(bounds)))
    }

    fn all(&self) -> Result<KeyValueIter<'_>> {
        self.check_open()?;
        Ok(Self::owned_iter(self.map.iter()))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.check_open()?;
        Ok(self.map.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{SuiteOptions, key_value_store_suite};

    #[test]
    fn key_value_semantics() {
        key_value_store_suite(|| InMemoryKeyValueStore::new("kv"), SuiteOptions::exact());
    }

    #[test]
    fn close_drops_contents() {
        let mut store = InMemoryKeyValueStore::new("kv");
        store.put(b"a", b"1").unwrap();
        store.close().unwrap();
        assert!(!store.is_open());
        assert!(matches!(store.get(b"a"), Err(StateError::Closed { .. })));
    }
}
