//! The inputs of `split` and `merge`: a file opened once and fed, as
//! records, into any sink as often as a command needs (merge reads each
//! input twice). Every input kind is one arm of [`RecordInput::feed`], so a
//! new source of records (an AOF replayed into records) is one more arm.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rdb::read::{ReadOptions, Trailer, read};
use crate::sink::RecordSink;
use crate::source::Source;

/// The kinds of record sources.
enum Kind {
    /// An RDB file, mapped.
    Rdb(Source),
}

/// One input file of a multi-file command.
pub struct RecordInput {
    path: PathBuf,
    kind: Kind,
}

impl RecordInput {
    /// Opens `path`; only RDB files are accepted (by their magic).
    pub fn open(path: &Path) -> Result<Self> {
        let src = Source::open(path)?;
        let b = src.bytes();
        if !(b.starts_with(b"REDIS") || b.starts_with(b"VALKEY")) {
            return Err(Error::usage(format!(
                "{}: not an RDB file (split and merge read RDB snapshots)",
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
        }
        .map_err(|e| e.with_path(&self.path))
    }
}
