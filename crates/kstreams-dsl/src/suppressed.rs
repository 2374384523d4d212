//! `Suppressed`: how `KTable::suppress` holds back updates.

/// Suppression settings. Only `until_window_closes` exists: one final result per window,
/// emitted once stream time passes the window's end plus the aggregation's grace period.
#[derive(Debug, Clone, Default)]
pub struct Suppressed {
    pub(crate) name: Option<String>,
}

impl Suppressed {
    /// Emits only the final result of each window.
    pub fn until_window_closes() -> Self {
        Suppressed { name: None }
    }

    /// Names the suppress node (its buffer store is `<name>-store`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}
