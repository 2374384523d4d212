//! `peek`: look at each record and pass it on.

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Calls `action` for each record and forwards it unchanged.
    pub fn peek(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) -> Self {
        self.peek_named(action, Named::generated())
    }

    /// [`peek`](Self::peek) with a node name.
    pub fn peek_named(
        &self,
        action: impl Fn(&K, &V) + Send + Sync + 'static,
        named: Named,
    ) -> Self {
        let name = self.name(&named, "KSTREAM-PEEK-");
        self.stateless(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
            move |ctx, r| {
                action(&r.key, &r.value);
                ctx.forward(r)
            },
        )
    }
}
