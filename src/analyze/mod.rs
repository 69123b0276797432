//! Analyzers: sinks that answer an operator's questions about a snapshot.

pub mod evict;
pub mod inspect;
pub mod inspect_par;
