//! `StreamsBuilder`: the entry point of the DSL.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use kstreams_core::{DefaultSerde, SharedSerde, Topology, TopologyError};

use crate::Data;
use crate::consumed::Consumed;
use crate::global_ktable::GlobalKTable;
use crate::kstream::KStream;
use crate::ktable::KTable;
use crate::materialized::Materialized;

/// The topology under construction, shared by every stream and table of one builder.
pub(crate) struct BuilderState {
    pub(crate) topology: Topology,
    index: usize,
    errors: Vec<TopologyError>,
    /// Serdes by type, used where an operator changed a type and no serde was given.
    serdes: HashMap<TypeId, Box<dyn Any>>,
}

pub(crate) type Shared = Rc<RefCell<BuilderState>>;

impl BuilderState {
    /// A generated name, `<prefix><10-digit index>`, as Kafka Streams names nodes and stores.
    pub(crate) fn new_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}{:010}", self.index);
        self.index += 1;
        name
    }

    /// Keeps the first error of a topology call; `build` reports it.
    pub(crate) fn check<T>(&mut self, r: Result<T, TopologyError>) {
        if let Err(e) = r {
            self.errors.push(e);
        }
    }

    pub(crate) fn error(&mut self, e: TopologyError) {
        self.errors.push(e);
    }

    /// The registered serde of `T`, if any.
    pub(crate) fn serde_of<T: 'static>(&self) -> Option<SharedSerde<T>> {
        self.serdes
            .get(&TypeId::of::<T>())
            .and_then(|s| s.downcast_ref::<SharedSerde<T>>())
            .cloned()
    }

    fn register<T: 'static>(&mut self, serde: SharedSerde<T>) {
        self.serdes.insert(TypeId::of::<T>(), Box::new(serde));
    }

    fn register_default<T: DefaultSerde>(&mut self) {
        self.register(T::default_serde());
        self.register(Option::<T>::default_serde());
    }
}

/// Builds a [`Topology`] from KStream and KTable operators.
pub struct StreamsBuilder {
    state: Shared,
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        let mut state = BuilderState {
            topology: Topology::new(),
            index: 0,
            errors: Vec::new(),
            serdes: HashMap::new(),
        };
        state.register_default::<String>();
        state.register_default::<Vec<u8>>();
        state.register_default::<i16>();
        state.register_default::<i32>();
        state.register_default::<i64>();
        state.register_default::<u32>();
        state.register_default::<u64>();
        state.register_default::<f32>();
        state.register_default::<f64>();
        state.register_default::<()>();
        StreamsBuilder {
            state: Rc::new(RefCell::new(state)),
        }
    }

    /// Registers the serde used for `T` wherever an operator changed a key or value type to
    /// `T` and no serde was passed (Kafka Streams' default serdes, per type). The
    /// [`DefaultSerde`] types (strings, numbers, bytes, and their options) are registered
    /// from the start.
    pub fn with_serde<T: 'static>(self, serde: SharedSerde<T>) -> Self {
        self.state.borrow_mut().register(serde);
        self
    }

    /// A stream of the records of `topic`.
    pub fn stream<K: Data, V: Data>(&self, topic: &str, consumed: Consumed<K, V>) -> KStream<K, V> {
        self.stream_from(&[topic], consumed)
    }

    /// A stream of the records of several topics.
    pub fn stream_from<K: Data, V: Data>(
        &self,
        topics: &[&str],
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let name = {
            let mut s = self.state.borrow_mut();
            match &consumed.name {
                Some(n) => n.clone(),
                None => s.new_name("KSTREAM-SOURCE-"),
            }
        };
        consumed.add_source(&self.state, &name, topics);
        KStream::new(
            self.state.clone(),
            name,
            Some(consumed.key_serde.clone()),
            Some(consumed.value_serde.clone()),
            false,
            topics.iter().map(|t| t.to_string()).collect(),
        )
    }

    /// A table of the latest value per key of `topic`, materialized in a key-value store.
    /// Null values (tombstones) delete keys.
    pub fn table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        crate::ktable::source::table(&self.state, topic, consumed, materialized)
    }

    /// A [`GlobalKTable`] of `topic`: every instance keeps the whole table (all partitions)
    /// in the store of `materialized`, kept up to date outside of tasks; streams join it
    /// with [`KStream::join_global`] on a key derived from each record. The topic is the
    /// store's changelog (the store is never change-logged again). Null values delete keys.
    pub fn global_table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        crate::global_ktable::global_table(&self.state, topic, consumed, materialized)
    }

    /// The topology, validated; the first error of any operator is reported here.
    pub fn build(self) -> Result<Topology, TopologyError> {
        let state = Rc::try_unwrap(self.state)
            .map(RefCell::into_inner)
            .unwrap_or_else(|rc| {
                let mut s = rc.borrow_mut();
                BuilderState {
                    topology: std::mem::take(&mut s.topology),
                    index: s.index,
                    errors: std::mem::take(&mut s.errors),
                    serdes: HashMap::new(),
                }
            });
        if let Some(e) = state.errors.into_iter().next() {
            return Err(e);
        }
        state.topology.build(None)?;
        Ok(state.topology)
    }
}

impl StreamsBuilder {
    /// Adds a state store for [`KStream::process`] nodes to connect to.
    pub fn add_state_store(&self, builder: impl kstreams_core::StoreBuilder) -> &Self {
        let mut s = self.state.borrow_mut();
        let r = s.topology.add_state_store(builder, &[]).map(|_| ());
        s.check(r);
        drop(s);
        self
    }
}
