//! Placeholder library target of the root package, which exists for its examples, tests and benches.
