//! Analyzers: sinks that answer an operator's questions about a snapshot.

pub mod bigkeys;
pub mod check;
pub mod dataloss;
pub mod diff;
pub mod evict;
pub mod evict_mem;
pub mod facts;
pub mod fleet;
pub mod hotcold;
pub mod html;
pub mod inspect;
pub mod inspect_par;
pub mod listing;
pub mod memory;
pub mod prefix;
pub mod report;
pub mod report_par;
pub mod slots;
pub mod ttl;
