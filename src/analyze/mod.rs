//! Analyzers: sinks that answer an operator's questions about a snapshot.

pub mod check;
pub mod inspect;
