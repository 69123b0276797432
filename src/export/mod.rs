//! Exporters: sinks that turn records into interchange formats.

pub mod csv_keys;
pub mod json;
pub mod lines_par;
pub mod parquet;
