//! AOFs where commands take an RDB: `export` streams the replayed state
//! into the exporter ([`crate::aof::state`]); the commands that work on
//! RDB bytes (`convert`, `inspect`, `memory`, `report`, `diff`) get the
//! replayed state written as an in-memory RDB.

use std::path::Path;

use super::args::ExportFormat;
use super::commands::written_at_s;
use super::output::Output;
use crate::aof::state::{AofReadOptions, detect_input, read_aof_records};
use crate::error::{Error, Result};
use crate::export::json::{JsonExporter, JsonMode};
use crate::rdb::write::{RdbSink, RdbSinkOptions};
use crate::server::Target;
use crate::source::Source;

/// Opens an input for the commands that read RDB bytes: an RDB is mapped;
/// an AOF (file, manifest or directory) is replayed and its final state
/// written as an RDB in memory.
pub fn open_source(path: &Path) -> Result<Source> {
    if !detect_input(path)?.is_aof() {
        return Source::open(path);
    }
    let mut sink = RdbSink::new(
        Vec::new(),
        RdbSinkOptions {
            keep_aux: true,
            ctime_s: written_at_s(),
            ..RdbSinkOptions::default()
        },
    );
    let r = read_aof_records(path, &AofReadOptions::at_now(), &mut sink);
    if let Some(e) = sink.refusal_error() {
        return Err(e.with_path(path));
    }
    r.map_err(|e| e.with_path(path))?;
    let bytes = sink
        .into_inner()
        .ok_or_else(|| Error::sink("no RDB written").with_path(path))?;
    Ok(Source::from_bytes(path, bytes))
}

/// `rdbtool export` of an AOF, when `path` is one (`Ok(false)` otherwise):
/// the replayed state streamed into the exporter.
pub fn export(
    path: &Path,
    format: ExportFormat,
    output: Option<&Path>,
    target: Option<Target>,
) -> Result<bool> {
    if !detect_input(path)?.is_aof() {
        return Ok(false);
    }
    let mut out = Output::create(output, &[path])?;
    let mode = match format {
        ExportFormat::Json => JsonMode::Array,
        ExportFormat::Jsonl => JsonMode::Lines,
    };
    let mut sink = JsonExporter::new(&mut out, mode, target);
    match read_aof_records(path, &AofReadOptions::at_now(), &mut sink) {
        Ok(_) => {
            out.commit()?;
            Ok(true)
        }
        Err(e) => {
            out.abort();
            Err(e.with_path(path))
        }
    }
}
