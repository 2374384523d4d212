//! Answering interactive queries between two steps of the thread's loop.

use kstreams_core::TaskState;

use super::StreamThread;
use crate::interactive_queries::{LocalStore, StoreQuery, StoreUnavailable};
use crate::state::State;

impl StreamThread {
    /// Runs every waiting query against this thread's instances of its store: those of the
    /// running active tasks, and with stale stores enabled those of the standby tasks too.
    /// A thread between assignments (its tasks closed for a rebalance, or restoring) answers
    /// that it is rebalancing rather than with a part of the keys, unless the query takes
    /// stale stores.
    pub(super) fn serve_queries(&mut self) {
        while let Ok(query) = self.queries.try_recv() {
            if !query.stale_stores && !self.shared.state.is_thread_running(self.index) {
                (query.run)(Err(StoreUnavailable::NotRunning(State::Rebalancing)));
                continue;
            }
            let stores = self.local_stores(&query);
            (query.run)(Ok(&stores));
        }
    }

    fn local_stores(&self, query: &StoreQuery) -> Vec<LocalStore<'_>> {
        let wanted = |partition: i32| query.partition.is_none_or(|p| p == partition);
        let active = self
            .tasks
            .iter()
            .filter(|(id, task)| task.state() == TaskState::Running && wanted(id.partition))
            .filter_map(|(id, task)| {
                task.graph()
                    .store(&query.store)
                    .map(|store| LocalStore { task: *id, store })
            });
        let standby = self
            .standbys
            .iter()
            .filter(|(id, _)| query.stale_stores && wanted(id.partition))
            .filter_map(|(id, graph)| {
                graph
                    .store(&query.store)
                    .map(|store| LocalStore { task: *id, store })
            });
        active.chain(standby).collect()
    }
}
