//! Errors: a tiny `Copy` error for the parsers' hot path ([`PErr`]) and the
//! public [`Error`] that names the file offset, the db, the key and what was
//! expected. Only the error path allocates.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What a parser found wrong. Static strings only, so it is `Copy` and free
/// to build; the driver adds position and key when it becomes an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The input ended while `what` was being read.
    Truncated {
        /// The structure being read.
        what: &'static str,
    },
    /// A byte or number had a value the format does not allow.
    Invalid {
        /// The structure being read.
        what: &'static str,
        /// What the format allows there.
        expected: &'static str,
        /// The value found.
        found: u64,
    },
    /// A declared length does not fit in the bytes that remain.
    Length {
        /// The structure being read.
        what: &'static str,
        /// The length the file declares.
        declared: u64,
        /// The bytes that actually remain.
        available: u64,
    },
    /// LZF output did not have the declared length.
    Lzf {
        /// Declared uncompressed length.
        declared: u64,
        /// Bytes the decompressor produced before stopping.
        produced: u64,
    },
    /// A configured resource limit (size, depth, count) was hit.
    Limit {
        /// What was limited.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A type byte or opcode the reader does not know.
    UnknownType {
        /// The byte found in the type position.
        byte: u8,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Problem::Truncated { what } => write!(f, "{what}: unexpected end of data"),
            Problem::Invalid {
                what,
                expected,
                found,
            } => write!(
                f,
                "{what}: expected {expected}, found {found} (0x{found:x})"
            ),
            Problem::Length {
                what,
                declared,
                available,
            } => write!(
                f,
                "{what}: declared length {declared} exceeds the {available} bytes available"
            ),
            Problem::Lzf { declared, produced } => write!(
                f,
                "LZF string: declared {declared} bytes, decompression produced {produced}"
            ),
            Problem::Limit { what, limit } => write!(f, "{what}: limit of {limit} exceeded"),
            Problem::UnknownType { byte } => {
                write!(f, "unknown object type or opcode {byte} (0x{byte:02x})")
            }
        }
    }
}

/// The parsers' error: a problem and how many input bytes remained where it
/// happened, from which the driver derives the absolute file offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PErr {
    /// Bytes of input left when the problem was found.
    pub remaining: usize,
    /// What went wrong.
    pub problem: Problem,
}

impl PErr {
    /// An error at the position where `rest` starts.
    pub fn at(rest: &[u8], problem: Problem) -> Self {
        PErr {
            remaining: rest.len(),
            problem,
        }
    }
    /// Shorthand for a truncation error at `rest`.
    pub fn truncated(rest: &[u8], what: &'static str) -> Self {
        Self::at(rest, Problem::Truncated { what })
    }
    /// Shorthand for an invalid-value error at `rest`.
    pub fn invalid(rest: &[u8], what: &'static str, expected: &'static str, found: u64) -> Self {
        Self::at(
            rest,
            Problem::Invalid {
                what,
                expected,
                found,
            },
        )
    }
}

impl<'a> nom::error::ParseError<&'a [u8]> for PErr {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        // Every nom primitive we call fails only for lack of input.
        PErr::truncated(input, "data")
    }
    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result of a parser step over a byte slice.
pub type PResult<'a, T> = nom::IResult<&'a [u8], T, PErr>;

/// Unwraps nom's `Err` wrapper: all our parsers are complete-input parsers,
/// so `Incomplete` never occurs and `Error`/`Failure` carry the same payload.
pub fn perr(e: nom::Err<PErr>) -> PErr {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => PErr {
            remaining: 0,
            problem: Problem::Truncated { what: "data" },
        },
    }
}

/// The kinds of failure the library reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file does not start with a known magic.
    #[error("not an RDB file: expected magic \"REDIS\" or \"VALKEY\" and a version, found \"{0}\"")]
    BadMagic(String),
    /// The version is outside what this reader knows.
    #[error("unsupported RDB version {0} (this reader knows 1-15 and Valkey 80-81)")]
    UnsupportedVersion(u32),
    /// A structural problem in the data.
    #[error("{0}")]
    Parse(Problem),
    /// The CRC-64 trailer does not match the data.
    #[error("checksum mismatch: file says 0x{stored:016x}, data gives 0x{computed:016x}")]
    Checksum {
        /// The trailer value.
        stored: u64,
        /// The CRC computed over the data.
        computed: u64,
    },
    /// Salvage mode read the file but had to skip damaged data.
    #[error("salvage skipped {ranges} damaged byte range(s), {bytes} bytes in all")]
    Salvaged {
        /// Number of skipped ranges.
        ranges: u64,
        /// Bytes skipped.
        bytes: u64,
    },
    /// Salvage mode read the whole file after setting back a short damage
    /// that the file's CRC-64 located (the file is still damaged).
    #[error(
        "the file's CRC-64 does not match: salvage set {len} damaged byte(s) at offset {offset} back from it and read every record"
    )]
    Repaired {
        /// Offset of the first repaired byte.
        offset: u64,
        /// Bytes repaired.
        len: u64,
    },
    /// An error raised by a consumer of records (exporter, writer, analyzer).
    #[error("{0}")]
    Sink(String),
    /// Invalid input given by the user (options, import lines).
    #[error("{0}")]
    Usage(String),
    /// A malformed line or row of a JSONL or CSV import (bad data: the
    /// message names the line, the field or column, what was expected and
    /// what was found).
    #[error("{0}")]
    Import(String),
    /// A damaged or inconsistent AOF (framing, manifest, transaction) or a
    /// command the AOF tools cannot replay.
    #[error("{0}")]
    Aof(String),
}

/// Where an error happened.
#[derive(Debug, Default, Clone)]
pub struct Location {
    /// The file, when known.
    pub path: Option<PathBuf>,
    /// Absolute byte offset in the file.
    pub offset: Option<u64>,
    /// Offset of the first byte of the record being read (its first opcode).
    pub record_start: Option<u64>,
    /// Database number.
    pub db: Option<u64>,
    /// The key being read (first 64 bytes).
    pub key: Option<Vec<u8>>,
}

/// The public error: one pointer wide, with the failure and its location.
pub struct Error(Box<(ErrorKind, Location)>);

impl Error {
    /// A new error without location.
    pub fn new(kind: ErrorKind) -> Self {
        Error(Box::new((kind, Location::default())))
    }
    /// A parse problem at an absolute offset.
    pub fn parse(problem: Problem, offset: u64) -> Self {
        let mut e = Self::new(ErrorKind::Parse(problem));
        e.0.1.offset = Some(offset);
        e
    }
    /// A consumer-side error with a message.
    pub fn sink(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Sink(msg.into()))
    }
    /// A usage error with a message.
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage(msg.into()))
    }
    /// A malformed import line or row (see [`ErrorKind::Import`]).
    pub fn import(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Import(msg.into()))
    }
    /// What failed.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.0
    }
    /// Where it failed.
    pub fn location(&self) -> &Location {
        &self.0.1
    }
    /// Mutable access to the location, for layers that know more context.
    pub fn location_mut(&mut self) -> &mut Location {
        &mut self.0.1
    }
    /// Attach the file path.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        if self.0.1.path.is_none() {
            self.0.1.path = Some(path.into());
        }
        self
    }
    /// Attach the db and key being read (the key is cut to 64 bytes).
    pub fn with_key(mut self, db: u64, key: Option<&[u8]>) -> Self {
        self.0.1.db = Some(db);
        if let Some(k) = key {
            self.0.1.key = Some(k[..k.len().min(64)].to_vec());
        }
        self
    }
    /// Attach the record start offset.
    pub fn with_record_start(mut self, off: u64) -> Self {
        self.0.1.record_start = Some(off);
        self
    }
    /// The parse problem, if this is one.
    pub fn problem(&self) -> Option<Problem> {
        match self.0.0 {
            ErrorKind::Parse(p) => Some(p),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::new(ErrorKind::Io(e))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        if e.is_io() {
            Error::new(ErrorKind::Io(e.into()))
        } else {
            Error::sink(e.to_string())
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = &self.0.1;
        let mut parts = Vec::new();
        if let Some(p) = &loc.path {
            parts.push(p.display().to_string());
        }
        if let Some(o) = loc.offset {
            parts.push(format!("offset {o} (0x{o:x})"));
        }
        if let Some(db) = loc.db {
            parts.push(format!("db {db}"));
        }
        if let Some(k) = &loc.key {
            parts.push(format!("key \"{}\"", k.escape_ascii()));
        }
        if parts.is_empty() {
            write!(f, "{}", self.0.0)
        } else {
            write!(f, "{}: {}", parts.join(", "), self.0.0)
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.0 {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Library result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
