//! `process`: a Processor API node inside a DSL program, with state stores.

use kstreams_core::ProcessorSupplier;

use crate::{Data, KStream, Named};

impl<K: Data, V: Data> KStream<K, V> {
    /// Runs processors from `supplier` on this stream, connected to the named `stores` (add
    /// them with [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store)).
    /// The output may change the key, so a later grouping repartitions; it has no serdes.
    pub fn process<KO: Data, VO: Data>(
        &self,
        supplier: impl ProcessorSupplier<K, V, KO, VO>,
        named: Named,
        stores: &[&str],
    ) -> KStream<KO, VO> {
        let name = self.name(&named, "KSTREAM-PROCESSOR-");
        self.add_processor(&name, supplier);
        let mut b = self.b.borrow_mut();
        let r = b
            .topology
            .connect_processor_and_state_stores(&name, stores)
            .map(|_| ());
        b.check(r);
        drop(b);
        KStream::new(
            self.b.clone(),
            name,
            None,
            None,
            true,
            self.source_topics.clone(),
        )
    }
}
