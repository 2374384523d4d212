//! `foreach`: a terminal action per record.

use kstreams_core::Record;

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Calls `action` for each record; nothing is forwarded.
    pub fn foreach(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) {
        self.foreach_named(action, Named::generated())
    }

    /// [`foreach`](Self::foreach) with a node name.
    pub fn foreach_named(&self, action: impl Fn(&K, &V) + Send + Sync + 'static, named: Named) {
        let name = self.name(&named, "KSTREAM-FOREACH-");
        let _: KStream<K, V> =
            self.stateless(name, None, None, false, move |_ctx, r: Record<K, V>| {
                action(&r.key, &r.value);
                Ok(())
            });
    }
}
