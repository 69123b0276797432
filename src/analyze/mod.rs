//! Analyzers: sinks that answer an operator's questions about a snapshot.

pub mod inspect;
pub mod memory;
