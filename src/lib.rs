//! rdbtool: read, analyze, convert and write Redis-family persistence files
//! (RDB snapshots, DUMP payloads, AOF logs) without a server.
//!
//! Data flows one way: bytes ([`source`]) → parsers ([`rdb::read`]) →
//! records → sinks ([`sink::RecordSink`]: analyzers, exporters, writers) →
//! printers.

pub mod analyze;
pub mod aof;
pub mod cli;
pub mod cluster;
pub mod crc;
pub mod dump;
pub mod error;
pub mod export;
pub mod filter;
pub mod import;
pub mod model;
pub mod persist;
pub mod rdb;
pub mod restore;
pub mod server;
pub mod sink;
pub mod source;

pub use error::{Error, ErrorKind, Result};

#[cfg(test)]
mod testutil;
