//! `BranchedKStream` and `Branched`: the branches of `KStream::split`.

use std::collections::HashMap;
use std::sync::Arc;

use kstreams_core::{ProcessorContext, Record};

use crate::stateless::Stateless;
use crate::{Data, KStream};

/// The name of one branch; the branch's stream is keyed by `<split prefix><name>` in the
/// result map (by its 1-based position, or `0` for the default branch, when unnamed).
#[derive(Debug, Clone, Default)]
pub struct Branched(pub(crate) Option<String>);

impl Branched {
    /// A branch named `name`.
    pub fn as_(name: impl Into<String>) -> Self {
        Branched(Some(name.into()))
    }

    /// An unnamed branch.
    pub fn unnamed() -> Self {
        Branched(None)
    }
}

type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// The branches of a split stream; each record goes to the first branch whose predicate
/// accepts it, else to the default branch if there is one, else it is dropped.
pub struct BranchedKStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) prefix: String,
    pub(crate) branches: Vec<(String, Predicate<K, V>)>,
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    /// Adds a branch of the records `predicate` accepts (and no earlier branch took).
    pub fn branch(
        mut self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        branched: Branched,
    ) -> Self {
        let suffix = branched
            .0
            .unwrap_or_else(|| (self.branches.len() + 1).to_string());
        let name = format!("{}{}", self.prefix, suffix);
        self.branches.push((name, Arc::new(predicate)));
        self
    }

    /// Ends the split with a default branch for the records no predicate accepted.
    pub fn default_branch(self, branched: Branched) -> HashMap<String, KStream<K, V>> {
        let name = format!(
            "{}{}",
            self.prefix,
            branched.0.unwrap_or_else(|| "0".into())
        );
        self.finish(Some(name))
    }

    /// Ends the split; records no predicate accepts are dropped.
    pub fn no_default_branch(self) -> HashMap<String, KStream<K, V>> {
        self.finish(None)
    }

    fn finish(self, default: Option<String>) -> HashMap<String, KStream<K, V>> {
        let branches = self.branches;
        let routes: Vec<(String, Predicate<K, V>)> = branches.clone();
        let default_route = default.clone();
        let split = move |ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| match routes
            .iter()
            .find(|(_, p)| p(&r.key, &r.value))
        {
            Some((child, _)) => ctx.forward_to(child, r),
            None => match &default_route {
                Some(child) => ctx.forward_to(child, r),
                None => Ok(()),
            },
        };
        self.stream
            .add_processor(&self.prefix, Stateless::supplier(split));
        let parent = self.stream.same_types(self.prefix.clone());
        branches
            .iter()
            .map(|(n, _)| n.clone())
            .chain(default)
            .map(|name| {
                let pass = |ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| ctx.forward(r);
                parent.add_processor(&name, Stateless::supplier(pass));
                (name.clone(), parent.same_types(name))
            })
            .collect()
    }
}
