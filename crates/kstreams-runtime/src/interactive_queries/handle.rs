//! [`InteractiveQueries`]: everything an application's query server needs of one instance,
//! in a handle it can clone into its own threads.

use std::sync::{Arc, OnceLock};

use kstreams_core::processor::GlobalStateStores;
use kstreams_core::{ProcessorTopology, Serde, TaskId};

use super::{
    QueryInboxes, QueryRouter, ReadOnlyKeyValueStore, ReadOnlySessionStore, ReadOnlyWindowStore,
    StoreQueryParameters, StoreUnavailable,
};
use crate::error::{Result, RuntimeError};
use crate::internal_topics::PartitionCounts;
use crate::state::SharedState;
use crate::stream_thread::PollWakeups;
use crate::streams_metadata::{
    ClusterMetadata, HostInfo, KeyQueryMetadata, StreamsMetadata, all_metadata, key_metadata,
};

/// Interactive queries on one [`crate::KafkaStreams`] instance: views of its stores and where
/// the group keeps each key. Cheap to clone, `Send` and `Sync`; valid for the instance's
/// whole life (calls before its start or after its close answer that it is not running).
#[derive(Clone)]
pub struct InteractiveQueries {
    topology: Arc<ProcessorTopology>,
    application_server: Option<String>,
    state: SharedState,
    wakeups: PollWakeups,
    inboxes: QueryInboxes,
    cluster: ClusterMetadata,
    partition_counts: Arc<OnceLock<PartitionCounts>>,
    global_stores: Arc<OnceLock<GlobalStateStores>>,
}

impl std::fmt::Debug for InteractiveQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractiveQueries")
            .field("application_server", &self.application_server)
            .field("state", &self.state.get())
            .finish()
    }
}

impl InteractiveQueries {
    pub(crate) fn new(
        topology: Arc<ProcessorTopology>,
        application_server: Option<String>,
        state: SharedState,
        wakeups: PollWakeups,
    ) -> Self {
        InteractiveQueries {
            topology,
            application_server,
            state,
            wakeups,
            inboxes: QueryInboxes::default(),
            cluster: ClusterMetadata::default(),
            partition_counts: Arc::default(),
            global_stores: Arc::default(),
        }
    }

    pub(crate) fn inboxes(&self) -> &QueryInboxes {
        &self.inboxes
    }

    pub(crate) fn cluster(&self) -> &ClusterMetadata {
        &self.cluster
    }

    pub(crate) fn set_partition_counts(&self, counts: PartitionCounts) {
        let _ = self.partition_counts.set(counts);
    }

    pub(crate) fn partition_counts(&self) -> Option<&PartitionCounts> {
        self.partition_counts.get()
    }

    pub(crate) fn set_global_stores(&self, stores: GlobalStateStores) {
        let _ = self.global_stores.set(stores);
    }

    /// A read-only view of the key-value store `params` names, over this instance's tasks
    /// (Kafka Streams' `store(...)` with `QueryableStoreTypes.keyValueStore()`). The view
    /// outlives rebalances: each call reads the stores of the tasks the instance has then.
    /// Fails at once for a name the topology does not have; wrong `K`/`V` show at the first
    /// call that finds a local store.
    pub fn key_value_store<K, V>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlyKeyValueStore<K, V>>
    where
        K: Clone + Send + Sync + 'static,
        V: Send + 'static,
    {
        Ok(ReadOnlyKeyValueStore::new(self.router(&params)?, params))
    }

    /// A read-only view of the window store `params` names, over this instance's tasks.
    pub fn window_store<K, V>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlyWindowStore<K, V>>
    where
        K: Clone + Send + Sync + 'static,
        V: Send + 'static,
    {
        Ok(ReadOnlyWindowStore::new(self.router(&params)?, params))
    }

    /// A read-only view of the session store `params` names, over this instance's tasks.
    pub fn session_store<K, V>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlySessionStore<K, V>>
    where
        K: Clone + Send + Sync + 'static,
        V: Send + 'static,
    {
        Ok(ReadOnlySessionStore::new(self.router(&params)?, params))
    }

    fn is_global(&self, store: &str) -> bool {
        self.topology
            .global_store_names()
            .iter()
            .any(|g| g == store)
    }

    fn unknown(store: &str) -> RuntimeError {
        RuntimeError::InvalidStateStore {
            store: store.to_string(),
            reason: StoreUnavailable::UnknownStore,
        }
    }

    fn router(&self, params: &StoreQueryParameters) -> Result<QueryRouter> {
        let name = params.store_name();
        let store_is_global = self.is_global(name);
        if !store_is_global && self.topology.subtopology_of_store(name).is_none() {
            return Err(Self::unknown(name));
        }
        Ok(QueryRouter {
            inboxes: self.inboxes.clone(),
            wakeups: self.wakeups.clone(),
            state: self.state.clone(),
            global: self.global_stores.clone(),
            store_is_global,
        })
    }

    /// Every instance of the group with an `application.server`, with the tasks and stores it
    /// hosts, as of the latest rebalance (Kafka Streams' `metadataForAllStreamsClients`).
    /// Empty before the first assignment.
    pub fn metadata_for_all_streams_clients(&self) -> Vec<StreamsMetadata> {
        let topics = self
            .partition_counts()
            .map(|c| c.topics.clone())
            .unwrap_or_default();
        all_metadata(&self.cluster.hosts(), &self.topology, &topics)
    }

    /// The instances hosting store `store`: an active task of it, a standby replica, or (for
    /// a global store) every instance.
    pub fn streams_metadata_for_store(&self, store: &str) -> Vec<StreamsMetadata> {
        self.metadata_for_all_streams_clients()
            .into_iter()
            .filter(|m| {
                m.state_store_names.contains(store) || m.standby_state_store_names.contains(store)
            })
            .collect()
    }

    /// Which instance to ask for `key` of store `store`: the partition `key_serde`'s bytes
    /// map to (Kafka's default partitioner over the store's input topics, so `key_serde` must
    /// be the serde those topics are written with), the instance with that partition's task
    /// active, and those with a standby of it. `None` while that is unknown: before the
    /// first assignment, or when the owner has no `application.server`. For a global store,
    /// this instance (partition -1).
    pub fn query_metadata_for_key<K: 'static>(
        &self,
        store: &str,
        key: &K,
        key_serde: &dyn Serde<K>,
    ) -> Result<Option<KeyQueryMetadata>> {
        self.query_metadata_with(store, |topic, partitions| {
            let bytes = key_serde
                .serialize(topic, key)
                .map_err(kstreams_core::StreamsError::from)?;
            let bytes = bytes.ok_or_else(|| {
                RuntimeError::IllegalState(format!("a null key has no partition (store '{store}')"))
            })?;
            Ok(kstreams_kafka::producer::partitioner::partition_for_key(
                &bytes,
                partitions as usize,
            ))
        })
    }

    /// [`Self::query_metadata_for_key`] for a store whose input is partitioned by
    /// `partitioner` (`(key, partition count) -> partition`) instead of the default one.
    pub fn query_metadata_for_key_with_partitioner<K>(
        &self,
        store: &str,
        key: &K,
        partitioner: impl FnOnce(&K, i32) -> i32,
    ) -> Result<Option<KeyQueryMetadata>> {
        self.query_metadata_with(store, |_, partitions| Ok(partitioner(key, partitions)))
    }

    fn query_metadata_with(
        &self,
        store: &str,
        partition_of: impl FnOnce(&str, i32) -> Result<i32>,
    ) -> Result<Option<KeyQueryMetadata>> {
        if self.is_global(store) {
            return Ok(self
                .application_server
                .as_deref()
                .and_then(HostInfo::parse)
                .map(|active_host| KeyQueryMetadata {
                    active_host,
                    standby_hosts: Vec::new(),
                    partition: -1,
                }));
        }
        let subtopology = self
            .topology
            .subtopology_of_store(store)
            .ok_or_else(|| Self::unknown(store))?;
        let Some(partitions) = self
            .partition_counts()
            .and_then(|c| c.tasks_per_subtopology.get(subtopology as usize))
            .map(|n| *n as i32)
            .filter(|n| *n > 0)
        else {
            return Ok(None);
        };
        let topic = self
            .topology
            .source_topics(subtopology)
            .into_iter()
            .next()
            .unwrap_or_default();
        let partition = partition_of(&topic, partitions)?;
        if !(0..partitions).contains(&partition) {
            return Err(RuntimeError::IllegalState(format!(
                "the partitioner chose partition {partition} of {partitions} for store '{store}'"
            )));
        }
        Ok(key_metadata(
            &self.cluster.hosts(),
            TaskId::new(subtopology, partition),
        ))
    }
}
