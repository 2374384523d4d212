//! `KTable::suppress`: holds a table's updates back, until a window closes or for a time
//! limit per key.

mod buffered_change;
mod until_time_limit;
mod until_window_closes;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use kstreams_core::state::ValueAndTimestampSerde;
use kstreams_core::{ProcessorSupplier, StoreBuilder, Stores, StreamsError, TopologyError};

use crate::change::Change;

use crate::kstream::missing_serde;
use crate::ktable::KTable;
use crate::suppressed::SuppressKind;
use crate::{Data, Suppressed};
use buffered_change::BufferedChangeSerde;
use until_time_limit::SuppressUntilTimeLimit;
use until_window_closes::SuppressUntilWindowCloses;

/// The fatal error of a full strict buffer.
fn buffer_full(store: &str, max: usize) -> StreamsError {
    StreamsError::Fatal(format!(
        "suppress buffer '{store}' is full ({max} records, BufferConfig::shut_down_when_full): \
         processing stops rather than emit early or grow without bound"
    ))
}

impl<K: Data, V: Data> KTable<K, V> {
    /// Holds back this table's updates (Kafka Streams' `suppress`):
    /// - [`Suppressed::until_window_closes`], for a windowed aggregation's table: one final
    ///   result per window, once stream time ≥ window end + grace (+ the inactivity gap for
    ///   sessions);
    /// - [`Suppressed::until_time_limit`], for any table: each key's latest update once the
    ///   limit has passed since its first held-back one.
    ///
    /// Stream time here advances only with the updates reaching this node. The buffer is a
    /// change-logged in-memory store, `<name>-store`.
    pub fn suppress(&self, suppressed: Suppressed) -> KTable<K, V> {
        let b = self.b.clone();
        let name = match &suppressed.name {
            Some(n) => n.clone(),
            None => b.borrow_mut().new_name("KTABLE-SUPPRESS-"),
        };
        let store = format!("{name}-store");
        let (Some(ks), Some(vs)) = (self.key_serde.clone(), self.value_serde.clone()) else {
            b.borrow_mut().error(missing_serde(&name, "key or value"));
            return self.clone();
        };
        let invalid = |reason: &str| TopologyError::InvalidNode {
            node: name.clone(),
            reason: reason.into(),
        };
        let buffer = suppressed.buffer;
        let st = store.clone();
        let added = match suppressed.kind {
            SuppressKind::UntilWindowCloses => {
                let Some(close) = self.window_close.clone() else {
                    b.borrow_mut().error(invalid(
                        "suppress(until_window_closes) needs a table from a windowed aggregation",
                    ));
                    return self.clone();
                };
                if buffer.max_records.is_some() && !buffer.shut_down_when_full {
                    b.borrow_mut().error(invalid(
                        "until_window_closes cannot emit early: bound its buffer with \
                         BufferConfig::max_records(n).shut_down_when_full()",
                    ));
                    return self.clone();
                }
                let supplier = move || SuppressUntilWindowCloses::<K, V> {
                    store: st.clone(),
                    grace_ms: close.grace_ms,
                    window_end: close.end.clone(),
                    max_records: buffer.max_records,
                    buffered: 0,
                    index_loaded: false,
                    observed_stream_time: i64::MIN,
                    by_window_end: BTreeMap::new(),
                    _value: PhantomData,
                };
                let builder = Stores::key_value_store_builder_with(
                    &store,
                    ks,
                    Arc::new(ValueAndTimestampSerde::new(vs)),
                )
                .in_memory();
                self.add_suppress_node(&name, supplier, builder)
            }
            SuppressKind::UntilTimeLimit(limit_ms) => {
                let supplier = move || SuppressUntilTimeLimit::<K, V> {
                    store: st.clone(),
                    limit_ms,
                    max_records: buffer.max_records,
                    shut_down_when_full: buffer.shut_down_when_full,
                    buffered: 0,
                    index_loaded: false,
                    observed_stream_time: i64::MIN,
                    by_buffer_time: BTreeMap::new(),
                    _value: PhantomData,
                };
                let builder = Stores::key_value_store_builder_with(
                    &store,
                    ks,
                    Arc::new(BufferedChangeSerde::new(vs)),
                )
                .in_memory();
                self.add_suppress_node(&name, supplier, builder)
            }
        };
        if !added {
            return self.clone();
        }
        KTable {
            node: name,
            store: None,
            ..self.clone()
        }
    }

    /// Adds the suppress processor `name` after this table's node, with its buffer store;
    /// whether both went in.
    fn add_suppress_node(
        &self,
        name: &str,
        supplier: impl ProcessorSupplier<K, Change<V>, K, Change<V>>,
        buffer: impl StoreBuilder,
    ) -> bool {
        let mut s = self.b.borrow_mut();
        let r = s
            .topology
            .add_processor(name, supplier, &[&self.node])
            .map(|_| ());
        let ok = r.is_ok();
        s.check(r);
        let r = s.topology.add_state_store(buffer, &[name]).map(|_| ());
        let ok = ok && r.is_ok();
        s.check(r);
        ok
    }
}
