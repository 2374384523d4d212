//! `try_flat_map_values`: fallible user code with retries and a dead-letter topic. Lowers to a
//! retry source, the retrying processor and its scheduler store (see
//! `crate::retrying_processor`).

use std::sync::Arc;

use kstreams_core::failure::ProcessingError;
use kstreams_core::{Serdes, Stores, TopologyError};

use crate::retrying_processor::{RetryingProcessor, RetryingSpec, TryFn};
use crate::{Data, KStream, Named, Retried};

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record by the values `mapper` returns; when it fails, the record is
    /// retried (a retryable error, below the maximum of attempts) or sent to the dead-letter
    /// topic, as [`try_map_values`](Self::try_map_values) describes.
    pub fn try_flat_map_values<VO: Data, I>(
        &self,
        mapper: impl Fn(&K, &V) -> Result<I, ProcessingError> + Send + Sync + 'static,
        retried: Retried,
    ) -> KStream<K, VO>
    where
        I: IntoIterator<Item = VO>,
    {
        let f: TryFn<K, V, VO> =
            Arc::new(move |k, v, _| mapper(k, v).map(|i| i.into_iter().collect()));
        self.try_values(f, retried, "KSTREAM-TRYFLATMAPVALUES-")
    }

    /// The lowering shared by the `try_*` operators.
    pub(crate) fn try_values<VO: Data>(
        &self,
        f: TryFn<K, V, VO>,
        retried: Retried,
        prefix: &str,
    ) -> KStream<K, VO> {
        let named = retried
            .name
            .clone()
            .map_or_else(Named::generated, Named::as_);
        let name = self.name(&named, prefix);
        let out = KStream::new(
            self.b.clone(),
            name.clone(),
            self.key_serde.clone(),
            None,
            self.repartition_required,
            self.source_topics.clone(),
        );
        if let Err(e) = retried.policy.validate() {
            self.b.borrow_mut().error(TopologyError::InvalidNode {
                node: name,
                reason: format!("invalid retry policy: {e}"),
            });
            return out;
        }
        let (Some(key_serde), Some(value_serde)) = (
            self.require_key_serde(None, &name),
            self.require_value_serde(None, &name),
        ) else {
            return out;
        };
        let retry_topic = format!("{name}-retry");
        let source = format!("{name}-retry-source");
        let store = format!("{name}-retry-store");
        let spec = Arc::new(RetryingSpec {
            f,
            policy: retried.policy.clone(),
            classifier: retried.classifier.clone(),
            key_serde: key_serde.clone(),
            value_serde: value_serde.clone(),
            retry_topic: retry_topic.clone(),
            store: store.clone(),
        });
        let jitter = retried.jitter.clone();
        let mut b = self.b.borrow_mut();
        b.topology.add_internal_topic(&retry_topic);
        let r = b
            .topology
            .add_source(&source, &[&retry_topic], key_serde, value_serde)
            .map(|_| ());
        b.check(r);
        let supplier = move || RetryingProcessor::new(spec.clone(), jitter());
        let r = b
            .topology
            .add_processor::<K, V, K, VO>(&name, supplier, &[&self.node, &source])
            .map(|_| ());
        b.check(r);
        let r = b
            .topology
            .add_state_store(
                Stores::key_value_store_builder_with::<Vec<u8>, Vec<u8>>(
                    &store,
                    Serdes::bytes(),
                    Serdes::bytes(),
                )
                .in_memory(),
                &[&name],
            )
            .map(|_| ());
        b.check(r);
        out
    }
}
