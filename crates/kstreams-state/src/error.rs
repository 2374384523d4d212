//! The state crate's error type, classified by consequence.

use std::path::PathBuf;

/// Errors raised by state stores.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store was used after `close()` or before it was opened.
    #[error("state store '{store}' is closed")]
    Closed {
        /// Store name.
        store: String,
    },
    /// The storage engine (RocksDB) reported an error.
    #[error("storage engine error in store '{store}': {message}")]
    Backend {
        /// Store name.
        store: String,
        /// The engine's message.
        message: String,
    },
    /// A file-system operation on the state directory failed.
    #[error("i/o error on '{path}': {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes could not be decoded (a corrupt store or a changelog record of a foreign format).
    #[error("corrupt data in store '{store}': {message}")]
    Corrupt {
        /// Store name.
        store: String,
        /// What was wrong.
        message: String,
    },
    /// The store was configured inconsistently.
    #[error("invalid configuration of store '{store}': {message}")]
    Config {
        /// Store name.
        store: String,
        /// What was wrong.
        message: String,
    },
}

impl StateError {
    /// Whether the error is fatal for the task that owns the store (it must be closed and, for a
    /// persistent store, wiped and restored from its changelog) rather than a usage error.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            StateError::Backend { .. } | StateError::Io { .. } | StateError::Corrupt { .. }
        )
    }
}

/// Result alias of the state crate.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
