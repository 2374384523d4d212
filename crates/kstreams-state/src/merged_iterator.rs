//! Merges a cache's sorted entries over a store's sorted scan: cache entries win on equal keys
//! and cached deletes hide the store's entry.

use std::cmp::Ordering;
use std::iter::Peekable;

use crate::error::Result;
use crate::store::{KeyValue, KeyValueIter};

/// Sorted cache entries: key and value, `None` for a cached delete.
pub(crate) type CacheIter<'a> = Box<dyn Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a>;

/// The merge of a cache scan and a store scan over the same range and direction.
pub(crate) struct MergedIterator<'a> {
    cache: Peekable<CacheIter<'a>>,
    store: Peekable<KeyValueIter<'a>>,
    reverse: bool,
}

impl<'a> MergedIterator<'a> {
    /// Merges two scans that are both ascending (`reverse == false`) or both descending.
    pub(crate) fn new(cache: CacheIter<'a>, store: KeyValueIter<'a>, reverse: bool) -> Self {
        Self {
            cache: cache.peekable(),
            store: store.peekable(),
            reverse,
        }
    }
}

impl Iterator for MergedIterator<'_> {
    type Item = Result<KeyValue>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.cache.peek(), self.store.peek()) {
                (None, None) => return None,
                (None, Some(_)) | (Some(_), Some(Err(_))) => return self.store.next(),
                (Some(_), None) => Ordering::Less,
                (Some((cached, _)), Some(Ok((stored, _)))) => {
                    let order = (*cached).cmp(stored.as_slice());
                    if self.reverse { order.reverse() } else { order }
                }
            };
            match order {
                Ordering::Greater => return self.store.next(),
                Ordering::Equal | Ordering::Less => {
                    if order == Ordering::Equal {
                        self.store.next();
                    }
                    let (key, value) = self.cache.next()?;
                    if let Some(value) = value {
                        return Some(Ok((key.to_vec(), value.to_vec())));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(
        cache: Vec<(&'static [u8], Option<&'static [u8]>)>,
        store: Vec<KeyValue>,
        reverse: bool,
    ) -> Vec<KeyValue> {
        let store: KeyValueIter<'static> = Box::new(store.into_iter().map(Ok));
        MergedIterator::new(Box::new(cache.into_iter()), store, reverse)
            .collect::<Result<Vec<_>>>()
            .unwrap()
    }

    fn kv(k: &[u8], v: &[u8]) -> KeyValue {
        (k.to_vec(), v.to_vec())
    }

    #[test]
    fn cache_wins_and_deletes_hide() {
        let out = merged(
            vec![(b"a", Some(b"A")), (b"c", None), (b"d", Some(b"D"))],
            vec![
                kv(b"b", b"b"),
                kv(b"c", b"c"),
                kv(b"d", b"d"),
                kv(b"e", b"e"),
            ],
            false,
        );
        assert_eq!(
            out,
            vec![
                kv(b"a", b"A"),
                kv(b"b", b"b"),
                kv(b"d", b"D"),
                kv(b"e", b"e")
            ]
        );
    }

    #[test]
    fn merges_descending() {
        let out = merged(
            vec![(b"d", Some(b"D")), (b"c", None), (b"a", Some(b"A"))],
            vec![kv(b"e", b"e"), kv(b"c", b"c"), kv(b"b", b"b")],
            true,
        );
        assert_eq!(
            out,
            vec![
                kv(b"e", b"e"),
                kv(b"d", b"D"),
                kv(b"b", b"b"),
                kv(b"a", b"A")
            ]
        );
    }
}
