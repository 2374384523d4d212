//! `Named`: an explicit name for an operator's processor.

/// The name of a DSL operator's processor node; without one, a name is generated
/// (`KSTREAM-FILTER-0000000003`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Named(pub(crate) Option<String>);

impl Named {
    /// The name `name`.
    pub fn as_(name: impl Into<String>) -> Self {
        Named(Some(name.into()))
    }

    /// A generated name.
    pub fn generated() -> Self {
        Named(None)
    }

    /// The explicit name, or a generated one with `prefix`.
    pub(crate) fn or_generate(
        &self,
        b: &mut crate::streams_builder::BuilderState,
        prefix: &str,
    ) -> String {
        match &self.0 {
            Some(n) => n.clone(),
            None => b.new_name(prefix),
        }
    }
}

impl From<&str> for Named {
    fn from(s: &str) -> Self {
        Named::as_(s)
    }
}
