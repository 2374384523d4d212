//! `KGroupedStream::cogroup`: the first input of a [`CogroupedKStream`].

use crate::Data;
use crate::cogrouped_kstream::CogroupedKStream;
use crate::kgrouped_stream::KGroupedStream;

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Starts aggregating this grouped stream together with others into one table
    /// ([`CogroupedKStream::cogroup`] adds them, [`CogroupedKStream::aggregate`] finishes):
    /// `aggregator(key, value, aggregate)` folds this stream's records.
    pub fn cogroup<VA: Data>(
        &self,
        aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    ) -> CogroupedKStream<K, VA> {
        CogroupedKStream::new(self, aggregator)
    }
}
