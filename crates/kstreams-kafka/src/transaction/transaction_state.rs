//! The transactional producer's lifecycle as an enum with checked transitions. Pure.

use crate::error::{KafkaError, Result};
use std::fmt;

/// States of a transactional producer (as the Java client's `TransactionManager.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionState {
    /// Created; `init_transactions` not called yet.
    Uninitialized,
    /// InitProducerId in progress.
    Initializing,
    /// Has a producer id; no open transaction.
    Ready,
    /// `begin_transaction` called; sends and offsets join the transaction.
    InTransaction,
    /// EndTxn(commit) in progress.
    Committing,
    /// EndTxn(abort) in progress.
    Aborting,
    /// A send or an offset commit in the transaction failed: only abort is possible.
    AbortableError,
    /// Fenced by a newer instance or another unrecoverable error: the producer must be closed.
    Fatal,
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl TransactionState {
    /// Whether `self → to` is a legal transition.
    pub fn can_transition_to(self, to: TransactionState) -> bool {
        use TransactionState::*;
        match (self, to) {
            (_, Fatal) => true,
            (Uninitialized, Initializing) => true,
            // A failed init (retriable) may be retried.
            (Initializing, Ready | Uninitialized) => true,
            (Ready, InTransaction) => true,
            (InTransaction, Committing | Aborting | AbortableError) => true,
            (Committing, Ready) => true,
            // A commit whose batches failed turns abortable.
            (Committing, AbortableError) => true,
            (Aborting, Ready) => true,
            (AbortableError, Aborting) => true,
            // Abort of an abortable error may itself become abortable again (retry later).
            (Aborting, AbortableError) => true,
            _ => false,
        }
    }

    /// The state after the transition, or `IllegalState`.
    pub fn transition(self, to: TransactionState) -> Result<TransactionState> {
        if self.can_transition_to(to) {
            Ok(to)
        } else {
            Err(KafkaError::IllegalState(format!(
                "invalid transaction transition {self} -> {to}"
            )))
        }
    }

    /// Whether records may be sent (in a transaction).
    pub fn accepts_sends(self) -> bool {
        self == TransactionState::InTransaction
    }

    /// All states, for exhaustive tests.
    pub const ALL: [TransactionState; 8] = [
        TransactionState::Uninitialized,
        TransactionState::Initializing,
        TransactionState::Ready,
        TransactionState::InTransaction,
        TransactionState::Committing,
        TransactionState::Aborting,
        TransactionState::AbortableError,
        TransactionState::Fatal,
    ];
}

#[cfg(test)]
mod tests {
    use super::TransactionState::*;
    use super::*;

    #[test]
    fn happy_path() {
        let mut s = Uninitialized;
        for to in [
            Initializing,
            Ready,
            InTransaction,
            Committing,
            Ready,
            InTransaction,
            Aborting,
            Ready,
        ] {
            s = s.transition(to).unwrap();
        }
        assert_eq!(s, Ready);
    }

    #[test]
    fn abortable_error_only_aborts() {
        let s = InTransaction.transition(AbortableError).unwrap();
        assert!(s.transition(Committing).is_err());
        assert!(s.transition(InTransaction).is_err());
        assert!(s.transition(Ready).is_err());
        assert_eq!(s.transition(Aborting).unwrap(), Aborting);
    }

    #[test]
    fn exhaustive_transition_table() {
        let allowed: &[(TransactionState, TransactionState)] = &[
            (Uninitialized, Initializing),
            (Initializing, Ready),
            (Initializing, Uninitialized),
            (Ready, InTransaction),
            (InTransaction, Committing),
            (InTransaction, Aborting),
            (InTransaction, AbortableError),
            (Committing, Ready),
            (Committing, AbortableError),
            (Aborting, Ready),
            (Aborting, AbortableError),
            (AbortableError, Aborting),
        ];
        for from in TransactionState::ALL {
            for to in TransactionState::ALL {
                let expected = to == Fatal || allowed.contains(&(from, to));
                assert_eq!(from.can_transition_to(to), expected, "{from} -> {to}");
                assert_eq!(from.transition(to).is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn fatal_is_terminal_except_fatal() {
        for to in TransactionState::ALL {
            assert_eq!(Fatal.can_transition_to(to), to == Fatal);
        }
    }

    #[test]
    fn sends_only_in_transaction() {
        for s in TransactionState::ALL {
            assert_eq!(s.accepts_sends(), s == InTransaction);
        }
    }

    #[test]
    fn illegal_transition_is_illegal_state_error() {
        let e = Ready.transition(Committing).unwrap_err();
        assert!(matches!(e, KafkaError::IllegalState(_)));
        assert_eq!(e.class(), crate::error::ErrorClass::Fatal);
    }
}
