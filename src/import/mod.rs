//! Importers: text formats read back into keys and records — the JSONL
//! export (losslessly, [`jsonl`]) and a simple CSV layout ([`csv`]) — and
//! written through [`crate::rdb::write::RdbSink`].

pub mod csv;
pub mod jsonl;
