//! The opcode loop: walks an RDB from the magic to the EOF opcode, delivers
//! each record to a sink and verifies the CRC-64 trailer.

use nom::number::complete::{le_i32, le_i64, le_u8, le_u32, le_u64};

use super::module;
use super::prim::{RdbStr, length, string};
use super::record::{Checksum, Header, KeyRecord, Record, Trailer};
use super::value::{self, Value};
use crate::error::{Error, ErrorKind, PErr, Problem, Result, perr};
use crate::model::{Flavor, RdbLayout};
use crate::sink::{Flow, RecordSink};

/// Highest RDB version of the `REDIS` line this reader knows.
pub const MAX_REDIS_VERSION: u32 = 15;
/// Valkey `VALKEY` versions this reader knows.
pub const VALKEY_VERSIONS: std::ops::RangeInclusive<u32> = 80..=81;

/// Reader settings.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Verify the CRC-64 trailer (a mismatch is an error).
    pub verify_checksum: bool,
    /// Accept versions newer than this reader knows (like Valkey's
    /// `rdb-version-check relaxed`); unknown types still fail.
    pub relaxed_version: bool,
    /// Damaged data is skipped instead of failing the read: each damaged
    /// byte range becomes a [`Record::Skipped`] and reading resumes at the
    /// next plausible record (see [`super::salvage`]); a checksum mismatch is
    /// reported in the trailer only.
    pub salvage: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            verify_checksum: true,
            relaxed_version: false,
            salvage: false,
        }
    }
}

/// Parses the 9-byte magic and version.
pub fn parse_header(data: &[u8], opts: &ReadOptions) -> Result<Header> {
    let head = data.get(..9).ok_or_else(|| {
        Error::new(ErrorKind::BadMagic(
            data[..data.len().min(9)].escape_ascii().to_string(),
        ))
        .with_record_start(0)
    })?;
    let (flavor, digits) = if &head[..5] == b"REDIS" {
        (Flavor::Redis, &head[5..9])
    } else if &head[..6] == b"VALKEY" {
        (Flavor::Valkey, &head[6..9])
    } else {
        return Err(Error::new(ErrorKind::BadMagic(
            head.escape_ascii().to_string(),
        )));
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::new(ErrorKind::BadMagic(
            head.escape_ascii().to_string(),
        )));
    }
    let version = digits.iter().fold(0u32, |v, d| v * 10 + (d - b'0') as u32);
    let known = match flavor {
        Flavor::Redis => (1..=MAX_REDIS_VERSION).contains(&version),
        Flavor::Valkey => VALKEY_VERSIONS.contains(&version),
    };
    let plausible = match flavor {
        Flavor::Redis => version >= 1,
        Flavor::Valkey => version >= 80,
    };
    if !(known || (opts.relaxed_version && plausible)) {
        return Err(Error::new(ErrorKind::UnsupportedVersion(version)));
    }
    Ok(Header {
        flavor,
        version,
        len: 9,
    })
}

/// Per-key state that prefix opcodes set and the next key consumes.
#[derive(Default)]
struct Pending {
    start: Option<u64>,
    expire_ms: Option<i64>,
    idle_s: Option<u64>,
    freq: Option<u8>,
}

/// Reads a whole RDB held in memory (a mapping or a buffer), delivering every
/// record to `sink`. Returns the trailer; a checksum mismatch is an error
/// after `finish` ran (when `verify_checksum`).
pub fn read<S: RecordSink>(data: &[u8], opts: &ReadOptions, sink: &mut S) -> Result<Trailer> {
    if opts.salvage {
        return super::salvage::read(data, opts, sink);
    }
    let header = parse_header(data, opts)?;
    sink.header(&header)?;
    let mut resync = Resync::for_input(data.len());
    read_body(data, &header, header.len, 0, opts, sink, &mut resync)
}

/// The opcode loop from offset `start` (a record boundary) with `db`
/// selected; the salvage driver restarts it after each damaged range,
/// with the same `resync` budget (one budget per pass over the input, not
/// per restart).
pub(crate) fn read_body<S: RecordSink>(
    data: &[u8],
    header: &Header,
    start: usize,
    db: u64,
    opts: &ReadOptions,
    sink: &mut S,
    resync: &mut Resync,
) -> Result<Trailer> {
    walk(data, header, start, db, opts, sink, resync, usize::MAX)
}

/// Bytes that trial walks for type-6 module values may read in total, on
/// top of [`RESYNC_BUDGET_PER_BYTE`] times the input size: bounds the work
/// a hostile file can cause. (64 MiB let a 1.4 KB file of nested type-6
/// records cost 0.6 s per pass, over 10 s under the fuzzer's
/// instrumentation; a real file's value ends are found within the per-byte
/// part.)
const RESYNC_BUDGET_BASE: usize = 4 << 20;
/// See [`RESYNC_BUDGET_BASE`].
const RESYNC_BUDGET_PER_BYTE: usize = 16;
/// Longest type-6 module payload tried, in bytes.
const RESYNC_MAX_VALUE: usize = 1 << 20;
/// Type-6 values inside a trial walk resolved recursively up to this depth.
const RESYNC_MAX_DEPTH: u32 = 3;

/// State of the search for the ends of type-6 module values.
pub(crate) struct Resync {
    /// Nesting of trial walks (0 = the real read).
    depth: u32,
    /// Bytes trial walks may still read.
    budget: usize,
}

impl Resync {
    /// The budget of one pass over an input of `len` bytes.
    pub(crate) fn for_input(len: usize) -> Self {
        Resync {
            depth: 0,
            budget: RESYNC_BUDGET_BASE.saturating_add(len.saturating_mul(RESYNC_BUDGET_PER_BYTE)),
        }
    }

    /// No budget: a type-6 module value fails the walk (speculative walks
    /// leave them to the pass's own budget).
    pub(crate) fn none() -> Self {
        Resync {
            depth: 0,
            budget: 0,
        }
    }
}

/// A sink for trial walks: accepts everything, keeps nothing.
struct Discard;

impl RecordSink for Discard {
    fn record(&mut self, _r: &Record<'_>) -> Result<Flow> {
        Ok(Flow::Continue)
    }
}

/// Finds where a type-6 (MODULE_PRE_GA) value ends. Its bytes carry no
/// annotations, so each candidate end from `from` on is tried in turn: the
/// first one from which the rest of the file reads cleanly through the EOF
/// opcode (and a verified CRC-64 when the file has one) is taken. Work is
/// bounded by [`Resync`]'s budget, the payload length by
/// [`RESYNC_MAX_VALUE`].
fn resync_module_pre_ga(
    data: &[u8],
    header: &Header,
    from: usize,
    opts: &ReadOptions,
    rs: &mut Resync,
) -> Result<usize> {
    let not_found = |what: &'static str| {
        Error::parse(
            Problem::Invalid {
                what,
                expected: "an end after which the rest of the file reads cleanly to EOF",
                found: 6,
            },
            from as u64,
        )
    };
    if rs.depth >= RESYNC_MAX_DEPTH {
        return Err(not_found("nested module value of type 6 (MODULE_PRE_GA)"));
    }
    let last = data.len().min(from.saturating_add(RESYNC_MAX_VALUE));
    let mut trial = Resync {
        depth: rs.depth + 1,
        budget: 0,
    };
    for cand in from..=last {
        if rs.budget == 0 {
            break;
        }
        trial.budget = rs.budget;
        let res = walk(
            data,
            header,
            cand,
            0,
            opts,
            &mut Discard,
            &mut trial,
            usize::MAX,
        );
        let reached = match &res {
            Ok(t) => t.end_offset as usize,
            Err(e) => e.location().offset.map_or(data.len(), |o| o as usize),
        };
        // What the trial read, and what its own nested trials used.
        let used = reached.saturating_sub(cand).max(1) + (rs.budget - trial.budget.min(rs.budget));
        rs.budget = rs.budget.saturating_sub(used);
        if res.is_ok() {
            return Ok(cand);
        }
    }
    Err(not_found("module value of type 6 (MODULE_PRE_GA)"))
}

/// The opcode loop from byte `start` (a record boundary, `db` selected) to
/// the EOF opcode, or until the first record boundary at or past `limit`
/// (then the trailer says `stopped` and `end_offset` is that boundary).
/// `resync` is the budget of the search for type-6 module value ends,
/// shared by the walks that make one pass ([`Resync::none`] fails such
/// values). The chunked reader ([`super::scan`]) walks ranges with it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn walk<S: RecordSink>(
    data: &[u8],
    header: &Header,
    start: usize,
    db: u64,
    opts: &ReadOptions,
    sink: &mut S,
    resync: &mut Resync,
    limit: usize,
) -> Result<Trailer> {
    let header = *header;
    let total = data.len();
    let off_of = |rest: &[u8]| (total - rest.len()) as u64;
    let to_err = |e: nom::Err<PErr>| {
        let e = perr(e);
        Error::parse(e.problem, (total - e.remaining) as u64)
    };
    let mut rest = data.get(start..).unwrap_or_default();
    let mut db = db;
    let mut pend = Pending::default();
    let mut ahead = Ahead::default();
    loop {
        let off = off_of(rest);
        ahead.advance(data, off as usize);
        // A boundary: no prefix opcode waits for its key.
        if off as usize >= limit && pend.start.is_none() {
            return stop(sink, off);
        }
        let Some(&op) = rest.first() else {
            return Err(Error::parse(
                Problem::Truncated {
                    what: "record (expected the EOF opcode 0xFF before the end of the file)",
                },
                off,
            ));
        };
        let body = &rest[1..];
        let record_err = |e: nom::Err<PErr>| to_err(e).with_record_start(off);
        let (next, rec): (&[u8], Option<Record<'_>>) = match op {
            0xff => {
                let eof_end = off as usize + 1;
                let (checksum, end) = if header.version >= 5 {
                    let (r, stored) = le_u64(body).map_err(|e| to_err(e).with_record_start(off))?;
                    let end = off_of(r);
                    let c = if stored == 0 {
                        Checksum::Disabled
                    } else if !opts.verify_checksum {
                        Checksum::Unchecked { stored }
                    } else {
                        let computed = crate::crc::crc64(&data[..eof_end]);
                        if computed == stored {
                            Checksum::Ok { value: stored }
                        } else {
                            Checksum::Mismatch { stored, computed }
                        }
                    };
                    (c, end)
                } else {
                    (Checksum::Absent, eof_end as u64)
                };
                if opts.salvage && (end as usize) < total {
                    // In a damaged file a stray 0xFF where a record should
                    // start is likelier than data after the trailer: the
                    // salvage driver resynchronises after it (and reports
                    // the rest as skipped if nothing plausible follows).
                    return Err(Error::parse(
                        Problem::Invalid {
                            what: "EOF opcode",
                            expected: "no bytes after the trailer",
                            found: total as u64 - end,
                        },
                        off,
                    )
                    .with_record_start(off));
                }
                let t = Trailer {
                    checksum,
                    end_offset: end,
                    stopped: false,
                };
                sink.finish(&t)?;
                if let Checksum::Mismatch { stored, computed } = checksum
                    && !opts.salvage
                {
                    let mut e = Error::new(ErrorKind::Checksum { stored, computed });
                    e.location_mut().offset = Some(eof_end as u64);
                    return Err(e);
                }
                return Ok(t);
            }
            0xfe => {
                let (r, n) = length(body).map_err(record_err)?;
                db = n;
                (r, Some(Record::SelectDb { db }))
            }
            0xfd => {
                let (r, s) = le_i32(body).map_err(record_err)?;
                pend.start.get_or_insert(off);
                pend.expire_ms = Some(s as i64 * 1000);
                (r, None)
            }
            0xfc => {
                let (r, ms) = le_i64(body).map_err(record_err)?;
                pend.start.get_or_insert(off);
                pend.expire_ms = Some(ms);
                (r, None)
            }
            0xfb => {
                let (r, keys) = length(body).map_err(record_err)?;
                let (r, expires) = length(r).map_err(record_err)?;
                (r, Some(Record::ResizeDb { db, keys, expires }))
            }
            0xfa => {
                let (r, key) = string(body).map_err(record_err)?;
                let (r, value) = string(r).map_err(record_err)?;
                (r, Some(Record::Aux { key, value }))
            }
            0xf9 => {
                let (r, f) = le_u8(body).map_err(record_err)?;
                pend.start.get_or_insert(off);
                pend.freq = Some(f);
                (r, None)
            }
            0xf8 => {
                let (r, s) = length(body).map_err(record_err)?;
                pend.start.get_or_insert(off);
                pend.idle_s = Some(s);
                (r, None)
            }
            0xf7 => {
                let (r, (module_id, when)) = module::module_aux(body).map_err(record_err)?;
                let raw = &body[..body.len() - r.len()];
                (
                    r,
                    Some(Record::ModuleAux {
                        module_id,
                        when,
                        raw,
                    }),
                )
            }
            0xf6 => {
                let (r, name) = string(body).map_err(record_err)?;
                let (r, engine) = string(r).map_err(record_err)?;
                let (r, has_desc) = length(r).map_err(record_err)?;
                let (r, description) = if has_desc != 0 {
                    let (r, d) = string(r).map_err(record_err)?;
                    (r, Some(d))
                } else {
                    (r, None)
                };
                let (r, code) = string(r).map_err(record_err)?;
                (
                    r,
                    Some(Record::FunctionPreGa {
                        name,
                        engine,
                        description,
                        code,
                    }),
                )
            }
            0xf5 => {
                let (r, code) = string(body).map_err(record_err)?;
                (r, Some(Record::Function { code }))
            }
            0xf4 => {
                let (r, slot) = length(body).map_err(record_err)?;
                let (r, keys) = length(r).map_err(record_err)?;
                let (r, expires) = length(r).map_err(record_err)?;
                (
                    r,
                    Some(Record::SlotInfo {
                        slot,
                        keys,
                        expires,
                    }),
                )
            }
            0xf3 if header.flavor == Flavor::Valkey => {
                // SLOT_IMPORT: job name and slot ranges.
                let (r, _job) = string(body).map_err(record_err)?;
                let (mut r, n) =
                    super::prim::count(r, 2, "slot range count").map_err(record_err)?;
                for _ in 0..n {
                    r = length(length(r).map_err(record_err)?.0)
                        .map_err(record_err)?
                        .0;
                }
                (
                    r,
                    Some(Record::Vendor {
                        opcode: op,
                        raw: &body[..body.len() - r.len()],
                    }),
                )
            }
            0xf3 => {
                // KEY_META: module metadata classes attached to the next key.
                let (mut r, n) = length(body).map_err(record_err)?;
                if n == 0 || n > 7 {
                    return Err(Error::parse(
                        Problem::Invalid {
                            what: "KEY_META",
                            expected: "a class count 1-7",
                            found: n,
                        },
                        off + 1,
                    ));
                }
                for _ in 0..n {
                    let (r2, _spec) = le_u32(r).map_err(record_err)?;
                    r = module::walk_items(r2).map_err(record_err)?.0;
                }
                pend.start.get_or_insert(off);
                (r, None)
            }
            // Redis Enterprise RAM_LRU / SLOT_NUM: one length each.
            107 | 121 if header.flavor == Flavor::Redis => {
                let (r, _) = length(body).map_err(record_err)?;
                (
                    r,
                    Some(Record::Vendor {
                        opcode: op,
                        raw: &body[..body.len() - r.len()],
                    }),
                )
            }
            // Dragonfly: FULLSYNC_END (8 zero bytes), JOURNAL_OFFSET (u64).
            200 | 211 if header.flavor == Flavor::Redis => {
                let (r, _) = le_u64(body).map_err(record_err)?;
                (
                    r,
                    Some(Record::Vendor {
                        opcode: op,
                        raw: &body[..8],
                    }),
                )
            }
            // Dragonfly DF_MASK: per-key flags before the type byte.
            220 if header.flavor == Flavor::Redis => {
                let (r, flags) = le_u32(body).map_err(record_err)?;
                let r = if flags & 2 != 0 {
                    le_u32(r).map_err(record_err)?.0
                } else {
                    r
                };
                pend.start.get_or_insert(off);
                (r, None)
            }
            t => {
                let Some(layout) = RdbLayout::from_type_byte(t, header.flavor, header.version)
                else {
                    return Err(Error::parse(Problem::UnknownType { byte: t }, off)
                        .with_key(db, None)
                        .with_record_start(pend.start.unwrap_or(off)));
                };
                let start = pend.start.take().unwrap_or(off);
                let (r, key) = string(body)
                    .map_err(|e| to_err(e).with_key(db, None).with_record_start(start))?;
                let key_err = |e: Error| {
                    let kb = match key {
                        RdbStr::Raw(b) => Some(b.to_vec()),
                        other => other.to_vec().ok(),
                    };
                    e.with_key(db, kb.as_deref()).with_record_start(start)
                };
                let (r2, ()) = if layout == RdbLayout::ModulePreGa {
                    let (data_start, _id) = length(r).map_err(|e| key_err(to_err(e)))?;
                    let from = off_of(data_start) as usize;
                    let end =
                        resync_module_pre_ga(data, &header, from, opts, resync).map_err(key_err)?;
                    (&data[end..], ())
                } else {
                    value::skip(r, layout).map_err(|e| key_err(to_err(e)))?
                };
                let value = Value {
                    layout,
                    type_byte: t,
                    raw: &r[..r.len() - r2.len()],
                    offset: off_of(r),
                };
                let rec = KeyRecord {
                    db,
                    key,
                    value,
                    expire_ms: pend.expire_ms.take(),
                    idle_s: pend.idle_s.take(),
                    freq: pend.freq.take(),
                    offset: start,
                    end: off_of(r2),
                };
                let flow = sink.record(&Record::Key(rec)).map_err(key_err)?;
                if flow == Flow::Stop {
                    return stop(sink, off_of(r2));
                }
                rest = r2;
                continue;
            }
        };
        if let Some(rec) = rec
            && sink.record(&rec)? == Flow::Stop
        {
            return stop(sink, off_of(next));
        }
        rest = next;
    }
}

/// How far ahead of the walk its bytes are prefetched.
const AHEAD: usize = 4096;

/// Software prefetch of the bytes ahead of the walk. The walk's next address
/// is only known once the current record is parsed, so every record start
/// was a cache miss: with records of ~500 bytes that was half of the walk's
/// time on a 1M-key file. Asking for the next [`AHEAD`] bytes lets memory
/// deliver them while the current records are parsed. A longer value is
/// jumped over: only its first [`AHEAD`] bytes are fetched in vain.
#[derive(Default)]
struct Ahead {
    /// Byte offset (cache-line aligned) up to which bytes were prefetched.
    next: usize,
}

impl Ahead {
    /// Prefetches up to [`AHEAD`] bytes past `at`.
    #[inline(always)]
    fn advance(&mut self, data: &[u8], at: usize) {
        let from = self.next.max(at & !63);
        let to = at.saturating_add(AHEAD);
        if from < to {
            super::prim::prefetch(data, from, to);
            self.next = to;
        }
    }
}

fn stop<S: RecordSink>(sink: &mut S, at: u64) -> Result<Trailer> {
    let t = Trailer {
        checksum: Checksum::Absent,
        end_offset: at,
        stopped: true,
    };
    sink.finish(&t)?;
    Ok(t)
}
