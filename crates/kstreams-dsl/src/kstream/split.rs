//! `split`: route each record to the first branch whose predicate accepts it.

use crate::{BranchedKStream, Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Starts a split; add branches with [`BranchedKStream::branch`]. The split node is
    /// `KSTREAM-BRANCH-<n>` (or the given name), which is also the prefix of branch names.
    pub fn split(&self, named: Named) -> BranchedKStream<K, V> {
        let prefix = self.name(&named, "KSTREAM-BRANCH-");
        BranchedKStream {
            stream: self.clone(),
            prefix,
            branches: Vec::new(),
        }
    }
}
