//! [`TaskStores`]: the stores of one task, in the order the topology added them, found by
//! name or, on the per-record path, by position.

use std::sync::Arc;

use kstreams_state::StoreContext;

use crate::error::Result;
use crate::state::{StoreBuilder, TaskStore};

/// A task's stores in topology order (upstream stores first: the order caches flush in).
/// Processors reach them by position: the plan resolves each processor's connected store
/// names to positions once, so a per-record store access hashes no name.
pub(crate) struct TaskStores {
    names: Vec<String>,
    stores: Vec<Box<dyn TaskStore>>,
}

impl TaskStores {
    /// Builds one store per builder, in the builders' order.
    pub(crate) fn build(builders: &[Arc<dyn StoreBuilder>], ctx: &StoreContext) -> Result<Self> {
        let mut names = Vec::with_capacity(builders.len());
        let mut stores = Vec::with_capacity(builders.len());
        for b in builders {
            stores.push(b.build(ctx)?);
            names.push(b.name().to_string());
        }
        Ok(TaskStores { names, stores })
    }

    /// How many stores the task has.
    pub(crate) fn len(&self) -> usize {
        self.stores.len()
    }

    /// The position of the store `name`.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The store at `position`.
    pub(crate) fn at_mut(&mut self, position: usize) -> Option<&mut (dyn TaskStore + 'static)> {
        self.stores.get_mut(position).map(|s| s.as_mut())
    }

    /// The store `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&dyn TaskStore> {
        self.position(name).map(|i| self.stores[i].as_ref())
    }

    /// The store `name`, mutably.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut (dyn TaskStore + 'static)> {
        self.position(name).and_then(|i| self.at_mut(i))
    }

    /// The stores' names, in topology order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Every store, in topology order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn TaskStore>> {
        self.stores.iter_mut()
    }
}
