//! The inputs of `split` and `merge`: a file opened once and fed, as
//! records, into any sink as often as a command needs (merge reads each
//! input twice). Every input kind is one arm of [`RecordInput::feed`], so a
//! new source of records (an AOF replayed into records) is one more arm.

use std::path::{Path, PathBuf};

use crate::aof::state::{AofReadOptions, detect_input, read_aof_records};
use crate::error::{Error, Result};
use crate::rdb::read::{ReadOptions, Trailer, read};
use crate::sink::RecordSink;
use crate::source::Source;

/// The kinds of record sources.
enum Kind {
    /// An RDB file, mapped.
    Rdb(Source),
    /// An AOF (file, manifest or multi-part directory), replayed on each
    /// feed: merge reads its inputs twice and a replayed keyspace is not
    /// kept between the passes, so memory stays that of one replay.
    Aof {
        /// Replay options, fixed at open so both passes see the same state.
        opts: AofReadOptions,
        /// Bytes of the log (the file, or the files of a directory).
        len: usize,
    },
}

/// One input file of a multi-file command.
pub struct RecordInput {
    path: PathBuf,
    kind: Kind,
}

impl RecordInput {
    /// Opens `path`: an RDB file (by its magic) or an AOF (file, manifest
    /// or multi-part directory, told apart by [`detect_input`]).
    pub fn open(path: &Path) -> Result<Self> {
        if detect_input(path)?.is_aof() {
            return Ok(RecordInput {
                path: path.to_path_buf(),
                kind: Kind::Aof {
                    opts: AofReadOptions::at_now(),
                    len: aof_len(path),
                },
            });
        }
        let src = Source::open(path)?;
        let b = src.bytes();
        if !(b.starts_with(b"REDIS") || b.starts_with(b"VALKEY")) {
            return Err(Error::usage(format!(
                "{}: neither an RDB file nor an AOF",
                path.display()
            )));
        }
        Ok(RecordInput {
            path: path.to_path_buf(),
            kind: Kind::Rdb(src),
        })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the input in bytes.
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Rdb(s) => s.bytes().len(),
            Kind::Aof { len, .. } => *len,
        }
    }

    /// True for an empty input.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Delivers every record of the input to `sink` (header, records,
    /// finish), naming the input in errors.
    pub fn feed(&self, opts: &ReadOptions, sink: &mut dyn RecordSink) -> Result<Trailer> {
        match &self.kind {
            Kind::Rdb(s) => read(s.bytes(), opts, &mut { sink }),
            Kind::Aof { opts, .. } => read_aof_records(&self.path, opts, sink).map(|r| r.trailer),
        }
        .map_err(|e| e.with_path(&self.path))
    }
}

/// Bytes of an AOF: the file, or the sum of a directory's files.
fn aof_len(path: &Path) -> usize {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len() as usize);
    match std::fs::read_dir(path) {
        Ok(dir) => dir.flatten().map(|e| size(&e.path())).sum(),
        Err(_) => size(path),
    }
}
