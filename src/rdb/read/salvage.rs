//! Salvage mode: read as much of a damaged RDB as can be trusted.
//!
//! The normal opcode loop runs until it meets damage. The damaged record is
//! then skipped and the data scanned byte by byte for the next *plausible*
//! record: a known type byte, a key string, a value that both walks and
//! decodes completely, followed by another plausible record (or the EOF
//! opcode exactly where the trailer belongs). Expire/idle/freq prefixes,
//! SELECTDB, RESIZEDB, AUX and FUNCTION2 records are recognised too. Every
//! skipped range is reported to the sink as a [`Record::Skipped`] with the
//! last key read intact before it.
//!
//! Every key record is decoded in full before the sink sees it, so a key
//! whose damage its structure reveals is skipped, not delivered. When what
//! follows a key is implausible and a chain of plausible records runs across
//! the key's end, the key's lengths were damaged and it swallowed them: it
//! is skipped and the scan for the next record starts inside it. Damage that
//! leaves a value self-consistent (a changed byte inside a string, a length
//! that still lands on a record boundary) cannot be detected: RDB has no
//! per-record checksum, only the file's CRC, which is reported as mismatched.

use super::prim::{RdbStr, length, string};
use super::reader::{ReadOptions, parse_header, read_body};
use super::record::{Checksum, Header, Record, Trailer};
use super::validate::validate;
use super::value::{self, Scratch, Value};
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::model::RdbLayout;
use crate::sink::{Flow, RecordSink};

/// How many records after a candidate must also be plausible before the
/// scan resumes there: random bytes pass one check now and then, two in a
/// row almost never.
const RESYNC_DEPTH: u8 = 2;
/// Plausible records in a row inside a key whose successor is implausible
/// that prove the key swallowed real records (see [`Check::passes_over`]).
const SWALLOWED_CHAIN: usize = 4;
/// Prefix opcodes (expire, idle, freq) accepted before one key.
const MAX_PREFIXES: usize = 4;
/// Largest db number a resync accepts in a SELECTDB.
const MAX_DB: u64 = 1 << 16;

/// Reads `data` in salvage mode (see the module docs).
pub fn read<S: RecordSink>(data: &[u8], opts: &ReadOptions, sink: &mut S) -> Result<Trailer> {
    let header = parse_header(data, opts)?;
    sink.header(&header)?;
    let mut t = Tracker {
        inner: sink,
        data,
        header,
        db: 0,
        last_key: None,
        last_end: header.len,
        scratch: Scratch::default(),
    };
    let mut pos = header.len;
    loop {
        let db = t.db;
        let e = match read_body(data, &header, pos, db, opts, &mut t) {
            Ok(tr) => return Ok(tr),
            Err(e) if matches!(e.kind(), ErrorKind::Parse(_)) => e,
            Err(e) => return Err(e),
        };
        let loc = e.location();
        let start = loc
            .record_start
            .or(loc.offset)
            .map_or(pos, |o| o as usize)
            .max(t.last_end)
            .max(pos);
        let resume = find_resync(data, &header, start + 1, data.len());
        let end = resume.unwrap_or(data.len());
        let skipped = Record::Skipped {
            start: start as u64,
            end: end as u64,
            db: t.db,
            last_key: t.last_key.as_deref(),
            error: &e,
        };
        if t.inner.record(&skipped)? == Flow::Stop {
            return finish(t.inner, end, true);
        }
        match resume {
            Some(q) => pos = q,
            None => return finish(t.inner, data.len(), false),
        }
    }
}

fn finish<S: RecordSink>(sink: &mut S, at: usize, stopped: bool) -> Result<Trailer> {
    let t = Trailer {
        checksum: Checksum::Absent,
        end_offset: at as u64,
        stopped,
    };
    sink.finish(&t)?;
    Ok(t)
}

/// Wraps the caller's sink: checks each key before passing it on and
/// remembers the db and the last good key for the skip reports.
struct Tracker<'d, S> {
    inner: S,
    data: &'d [u8],
    header: Header,
    db: u64,
    last_key: Option<Vec<u8>>,
    /// End offset of the last key delivered.
    last_end: usize,
    scratch: Scratch,
}

impl<S: RecordSink> RecordSink for Tracker<'_, S> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        match r {
            Record::SelectDb { db } => self.db = *db,
            Record::Key(k) => {
                let key_err = |e: Error| {
                    let kb = k.key.to_vec().ok();
                    e.with_key(k.db, kb.as_deref()).with_record_start(k.offset)
                };
                validate(&k.value, &mut self.scratch).map_err(key_err)?;
                let (start, end) = (k.offset as usize, k.end as usize);
                let mut c = Check {
                    h: &self.header,
                    strict: true,
                };
                if !c.successor_ok(self.data, end, RESYNC_DEPTH)
                    && (start + 1..end).any(|q| c.passes_over(self.data, q, end))
                {
                    // Real records run across this key's end: its lengths
                    // were damaged and it swallowed them. Skip it; the
                    // resync scan finds them.
                    return Err(key_err(Error::parse(
                        Problem::Invalid {
                            what: "key record",
                            expected: "a value ending on a record boundary",
                            found: end as u64,
                        },
                        k.end,
                    )));
                }
                let flow = self.inner.record(r)?;
                self.last_key = k.key.to_vec().ok();
                self.last_end = end;
                return Ok(flow);
            }
            _ => {}
        }
        self.inner.record(r)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.inner.finish(t)
    }
}

/// The first offset in `from..to` where a plausible record starts: first
/// looking only for records a server of the file's version writes, then,
/// if there is none, for any record this reader knows.
fn find_resync(data: &[u8], h: &Header, from: usize, to: usize) -> Option<usize> {
    find_strict(data, h, from, to).or_else(|| {
        let mut s = Scratch::default();
        let mut c = Check { h, strict: false };
        (from..to.min(data.len())).find(|&p| c.plausible(data, p, RESYNC_DEPTH, &mut s).is_some())
    })
}

/// [`find_resync`]'s strict pass. The first candidate with
/// [`RESYNC_DEPTH`] plausible successors is taken, unless a record with
/// one successor fewer (but at least one) starts before it: then the chain
/// ran into more damage, and the keys before that damage are still worth
/// reading.
fn find_strict(data: &[u8], h: &Header, from: usize, to: usize) -> Option<usize> {
    let mut s = Scratch::default();
    let mut c = Check { h, strict: true };
    let mut to = to.min(data.len());
    let mut found = None;
    for depth in (1..=RESYNC_DEPTH).rev() {
        match (from..to).find(|&p| c.plausible(data, p, depth, &mut s).is_some()) {
            Some(q) => {
                found = Some(q);
                to = q;
            }
            None if found.is_some() => {}
            None => return None,
        }
    }
    found
}

/// Whether servers writing RDB `version` emit type byte `t` (older layouts
/// are still read, but in a file from such a server a byte that announces
/// one is not a record start).
fn native_type(t: u8, h: &Header) -> bool {
    if h.flavor == crate::model::Flavor::Valkey {
        return t != 1 && t != 3 && !(9..=14).contains(&t);
    }
    match h.version {
        0..=6 => true,
        7..=9 => matches!(t, 0 | 2..=7 | 11..=15),
        10 => matches!(t, 0 | 2 | 4 | 5 | 7 | 11 | 15..=19),
        _ => matches!(t, 0 | 2 | 4 | 5 | 7 | 11 | 15..=28),
    }
}

/// Longest key a strict resync accepts: real keys are short, and a long
/// "key" is how a false candidate swallows the records after it.
const STRICT_MAX_KEY: u64 = 1024;

/// What a strict resync accepts as a key: 1 to [`STRICT_MAX_KEY`] bytes
/// without control characters. A false candidate that starts just before a
/// real record reads that record's type and length bytes as its key, so
/// control bytes are the sign of one.
fn plain_key(k: &RdbStr<'_>) -> bool {
    match *k {
        RdbStr::Raw(b) => {
            !b.is_empty()
                && b.len() as u64 <= STRICT_MAX_KEY
                && b.iter().all(|&c| c >= 0x20 && c != 0x7f)
        }
        RdbStr::Int(_) => true,
        RdbStr::Lzf { len, .. } => len <= STRICT_MAX_KEY,
    }
}

/// Whether a key may follow a plausible record in a strict resync: 1 to
/// [`STRICT_MAX_KEY`] bytes, any bytes (an empty key is legal but rare,
/// and zero bytes would otherwise chain as empty strings under empty keys).
fn short_key(k: &RdbStr<'_>) -> bool {
    match *k {
        RdbStr::Raw(b) => !b.is_empty() && b.len() as u64 <= STRICT_MAX_KEY,
        RdbStr::Int(_) => true,
        RdbStr::Lzf { len, .. } => len <= STRICT_MAX_KEY,
    }
}

/// Offset where the EOF opcode must sit for the trailer to end the data.
fn eof_at(data: &[u8], h: &Header) -> usize {
    let trailer = if h.version >= 5 { 9 } else { 1 };
    data.len().saturating_sub(trailer)
}

/// Record plausibility tests, strict (only what the file's server writes,
/// short keys) or lenient.
struct Check<'h> {
    h: &'h Header,
    strict: bool,
}

impl Check<'_> {
    /// Whether a chain of plausible records from `q` runs across `end`
    /// without a boundary there and goes on for [`RESYNC_DEPTH`] records,
    /// or holds [`SWALLOWED_CHAIN`] records before `end`: the sign that
    /// the record ending at `end` (whose successor is implausible) swallowed
    /// real records, even when more damage cuts the chain short of `end`.
    fn passes_over(&mut self, data: &[u8], q: usize, end: usize) -> bool {
        let mut s = Scratch::default();
        let (mut p, mut beyond) = (q, 0);
        // Each step moves forward; the bound only caps the work per start.
        for step in 0..100_000 {
            if p == end {
                return false;
            }
            if p < end && step >= SWALLOWED_CHAIN {
                return true;
            }
            if p > end {
                beyond += 1;
                if beyond > RESYNC_DEPTH as usize {
                    return true;
                }
            }
            match self.record(data, p, 0, true, &mut s) {
                Some(e) if e > p => p = e,
                _ => return false,
            }
            if p >= data.len() {
                return beyond > 0;
            }
        }
        false
    }

    /// Whether what starts at `p` can follow a record: the end of the data, or
    /// (`depth` 0) a byte that opens a record, or a plausible record.
    fn successor_ok(&mut self, data: &[u8], p: usize, depth: u8) -> bool {
        let h = self.h;
        let Some(&b) = data.get(p) else {
            return p == data.len();
        };
        if depth == 0 {
            return b >= 0xf3 || RdbLayout::from_type_byte(b, h.flavor, h.version).is_some();
        }
        self.record(data, p, depth - 1, false, &mut Scratch::default())
            .is_some()
    }

    /// If a plausible record starts at `p`, where it ends. `depth` more records
    /// after it must be plausible too.
    fn plausible(&mut self, data: &[u8], p: usize, depth: u8, s: &mut Scratch) -> Option<usize> {
        self.record(data, p, depth, true, s)
    }

    /// [`Check::plausible`]; `first`: `p` is a candidate start rather than
    /// the successor of a plausible record. Strict key rules (printable)
    /// bind a candidate only: real keys may be binary, so a successor needs
    /// a short non-empty key ([`short_key`]). (A candidate with a binary key
    /// is not taken even with a longer chain: one byte before a real record,
    /// its "key" is that record's type and length bytes, and its chain is
    /// the real one.)
    fn record(
        &mut self,
        data: &[u8],
        p: usize,
        depth: u8,
        first: bool,
        s: &mut Scratch,
    ) -> Option<usize> {
        let h = self.h;
        let mut q = p;
        let mut prefixes = 0;
        // Prefix opcodes must lead to a key record.
        loop {
            let op = *data.get(q)?;
            let body = &data[q + 1..];
            let n = match op {
                0xfc => 8,
                0xfd => 4,
                0xf9 => 1,
                0xf8 => body.len() - length(body).ok()?.0.len(),
                _ => break,
            };
            if body.len() < n || prefixes == MAX_PREFIXES {
                return None;
            }
            q += 1 + n;
            prefixes += 1;
        }
        let op = data[q];
        let body = &data[q + 1..];
        let end_of = |r: &[u8]| data.len() - r.len();
        let after = match op {
            0xff => return (q == eof_at(data, h) && prefixes == 0).then_some(data.len()),
            _ if prefixes > 0 && op >= 0xf3 => return None,
            0xfe => {
                let (r, db) = length(body).ok()?;
                (db < MAX_DB).then_some(end_of(r))?
            }
            0xfb => {
                let (r, _) = length(body).ok()?;
                end_of(length(r).ok()?.0)
            }
            0xfa => {
                let (r, k) = string(body).ok()?;
                let k = k.as_raw()?;
                if k.is_empty() || k.len() > 64 || !k.iter().all(|c| c.is_ascii_graphic()) {
                    return None;
                }
                end_of(string(r).ok()?.0)
            }
            0xf5 => end_of(string(body).ok()?.0),
            t => {
                let layout = RdbLayout::from_type_byte(t, h.flavor, h.version)?;
                if self.strict && !native_type(t, h) {
                    return None;
                }
                let (r, key) = string(body).ok()?;
                if self.strict
                    && !(if first {
                        plain_key(&key)
                    } else {
                        short_key(&key)
                    })
                {
                    return None;
                }
                let (r2, ()) = value::skip(r, layout).ok()?;
                let v = Value {
                    layout,
                    type_byte: t,
                    raw: &r[..r.len() - r2.len()],
                    offset: end_of(r) as u64,
                };
                validate(&v, s).ok()?;
                end_of(r2)
            }
        };
        self.successor_ok(data, after, depth).then_some(after)
    }
}

/// An owned copy of a [`Record::Skipped`], for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SkippedRange {
    /// Offset of the first skipped byte.
    pub start: u64,
    /// Offset where reading resumed (end of the data if it never did).
    pub end: u64,
    /// The db selected at the damage.
    pub db: u64,
    /// The last key read intact before the range (non-printable bytes
    /// written as `\xNN`).
    pub last_key: Option<String>,
    /// Why the damaged record was rejected (offset, key, structure,
    /// expected and found).
    pub error: String,
}

impl SkippedRange {
    /// The owned form of a `Skipped` record; `None` for other records.
    pub fn from_record(r: &Record<'_>) -> Option<Self> {
        let Record::Skipped {
            start,
            end,
            db,
            last_key,
            error,
        } = r
        else {
            return None;
        };
        Some(SkippedRange {
            start: *start,
            end: *end,
            db: *db,
            last_key: last_key.map(|k| k.escape_ascii().to_string()),
            error: error.to_string(),
        })
    }
}

impl std::fmt::Display for SkippedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "skipped bytes {}..{} ({} bytes) in db {}, ",
            self.start,
            self.end,
            self.end - self.start,
            self.db
        )?;
        match &self.last_key {
            Some(k) => write!(f, "after key \"{k}\"")?,
            None => write!(f, "before the first key")?,
        }
        write!(f, ": {}", self.error)
    }
}
