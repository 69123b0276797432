//! Salvage mode: read as much of a damaged RDB as can be trusted.
//!
//! A file whose CRC-64 trailer matches its bytes was not damaged: it is
//! read as the normal reader reads it, each value decoded in full, and
//! the checks below apply only from a read error on (or when the file has
//! no checksum to match). A file whose trailer does not match is first
//! checked for one short run of changed bytes that explains the mismatch
//! ([`crate::crc::burst::locate`]): when the file reads cleanly with it set
//! back, that file is read instead, after a [`Record::Repaired`].
//!
//! The normal opcode loop runs until it meets damage. The damaged record is
//! then skipped and the data scanned byte by byte for the next *plausible*
//! record: a type byte the file's server writes, a key string, a value that
//! both walks and decodes completely, followed by more plausible records
//! (or the EOF opcode exactly where the trailer belongs). A candidate with
//! two plausible successors is preferred, but an earlier one with fewer is
//! taken (down to a key whose own bytes parse and check and whose next
//! byte opens a record, or one whose value checks itself over 64 bytes
//! and more whatever follows): that is the intact key right before more
//! damage. A candidate then gives way to a longer chain of records that
//! starts inside its own chain's records (false records read out of a
//! damaged value's intact rest die within a few records; the real ones run
//! on), and that chain to real keys before it whose chain more damage cut.
//! Expire/idle/freq prefixes, SELECTDB, RESIZEDB, AUX and FUNCTION2 records
//! are recognised too, where and as a server writes them (AUX and functions
//! before the first key, except the `lua` AUX fields Redis 4.0 to 6.2 write
//! after it; SELECTDB before a db's keys, dbs in increasing order; RESIZEDB
//! right after SELECTDB only, with no more keys with an expiry than keys;
//! idle/freq only when the keys read carry them; prefixes in the order
//! expiry, idle, freq; expiries in a sane range). A chain is checked as
//! the records would be read: the records after a key follow a key.
//! A damaged key whose entries read as key records (a hash with field
//! TTLs) is walked from its start to the damage: a candidate on one of its
//! entries whose chain stops before the damage is passed over.
//! A file of RDB 7 or later that opens without AUX fields was written by a
//! tool, not a server (see the private `server_written`): the checks that
//! rest on a server's habits (db order, RESIZEDB, prefixes, types) are off
//! for it.
//! A SELECTDB that neither a RESIZEDB (in a server's file) nor a key
//! follows before a read error is taken back. One found by a resync is
//! refused when the next SELECTDB in the file selects a db no higher, or
//! when the keys the current db's RESIZEDB counted are not all read and
//! the bytes skipped since could not hold the rest: damage forged it (`fe`, a db, and
//! bytes that read as a RESIZEDB), and taking it would move every key
//! after it into a false db. A server writes no empty collection: a
//! candidate with one was read out of other bytes. Nor a hash with field
//! TTLs none of which expires at the minimum the hash states: one read
//! so had a damaged length shift its entries.
//! Every skipped range is reported to the sink as a [`Record::Skipped`]
//! with the last key read intact before it.
//!
//! Every key record is decoded in full before the sink sees it, so a key
//! whose damage its structure reveals is skipped, not delivered. A key is
//! also skipped when a chain of plausible records inside it shows that its
//! lengths were damaged and it swallowed real records (see the private
//! `Check::swallowed`); the scan for the next record then starts inside
//! it. AUX values and function code are checked the same way, and a key
//! with an IDLE or FREQ prefix the keys before it lacked is refused (a
//! server writes the one its eviction policy needs on every key). So is a
//! hash, set or list whose last elements read as a string record named as
//! the file names its keys while its other elements are not (see the
//! private `Check::swallowed_pair`); reading resumes at that record. Damage
//! that leaves a value self-consistent (a changed byte inside a
//! string, a length that still lands on a record boundary) cannot always
//! be detected: RDB has no per-record checksum, only the file's CRC, which
//! is reported as mismatched.

use super::prim::{RdbStr, length, string};
use super::reader::{ReadOptions, Resync, parse_header, read_body};
use super::record::{Checksum, Header, KeyRecord, Record, Trailer};
use super::validate::validate;
use super::value::{self, Scratch, Value};
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::model::RdbLayout;
use crate::rdb::write::prim::put_len;
use crate::sink::{Flow, RecordSink};

/// How many records after a candidate must also be plausible before the
/// scan resumes there: random bytes pass one check now and then, two in a
/// row almost never.
const RESYNC_DEPTH: u8 = 2;
/// Plausible records in a row inside a key whose successor is implausible
/// that prove the key swallowed real records (see [`Check::swallowed`]).
const SWALLOWED_CHAIN: usize = 4;
/// Plausible records of more than one type in a row inside a key that
/// prove it swallowed real records whatever follows it.
const LONG_CHAIN: usize = 12;
/// Bytes past a key's end that a self-checking record from inside it
/// covers to show the key swallowed it ([`Check::lone_across`]); also how
/// far past it an empty-named first record of a chain may end
/// ([`Check::swallowed`]).
const LONE_ACROSS: usize = 64;
/// Records a [`Check::swallowed`] chain follows at most.
const MAX_CHAIN: usize = 64;
/// Work [`Check::swallowed`] may do in one salvage pass: this plus
/// [`SWALLOW_BUDGET_PER_BYTE`] per input byte (bounds what a hostile file
/// costs).
const SWALLOW_BUDGET_BASE: usize = 64 << 20;
/// See [`SWALLOW_BUDGET_BASE`].
const SWALLOW_BUDGET_PER_BYTE: usize = 64;
/// Records [`Check::jumps_over`] follows at most (bounds the work per
/// binary-keyed candidate).
const JUMP_CHAIN: usize = 16;
/// Prefix opcodes (expire, idle, freq) accepted before one key.
const MAX_PREFIXES: usize = 4;
/// Bytes [`MAX_PREFIXES`] prefix opcodes span at most (an expiry takes 9,
/// an idle time up to 10).
const PREFIXES_SPAN: usize = 40;
/// Bytes the shortest key record takes: a type byte, an empty name and
/// an empty string value (see [`Tracker::db_left`]).
const MIN_KEY_RECORD: u64 = 3;
/// Largest db number a resync accepts in a SELECTDB.
const MAX_DB: u64 = 1 << 16;
/// The dbs a SELECTDB may select that the file did not select before, in
/// a file a tool wrote ([`server_written`]) and as a resync candidate in
/// any file: a server's default `databases 16`. A false SELECTDB read out
/// of damaged bytes names any db, and a high one moves every key after it
/// there (in a server's file, refusing the real SELECTDBs below it too).
const DEFAULT_DBS: u64 = 16;

/// Reads `data` in salvage mode (see the module docs).
pub fn read<S: RecordSink>(data: &[u8], opts: &ReadOptions, sink: &mut S) -> Result<Trailer> {
    let header = parse_header(data, opts);
    let intact = opts.verify_checksum && header.as_ref().is_ok_and(|h| checksum_verifies(data, h));
    if !intact && let Some(r) = repaired(data, opts) {
        let header = parse_header(&r.data, opts)?;
        sink.header(&header)?;
        let Some(note) = r.note(data) else {
            return finish(sink, data.len(), false);
        };
        if sink.record(&note)? == Flow::Stop {
            return finish(sink, header.len, true);
        }
        return read_from(&r.data, header, Some(r.checksum), opts, sink);
    }
    let header = header?;
    sink.header(&header)?;
    let verified = intact.then(|| Checksum::Ok {
        value: stored_checksum(data).unwrap_or(0),
    });
    read_from(data, header, verified, opts, sink)
}

/// The CRC-64 a file's last 8 bytes hold.
fn stored_checksum(data: &[u8]) -> Option<u64> {
    let foot = data.len().checked_sub(8)?;
    Some(u64::from_le_bytes(data.get(foot..)?.try_into().ok()?))
}

/// A damaged file set right by its checksum (see [`repaired`]).
struct Repair {
    /// The file's bytes with the run set back.
    data: Vec<u8>,
    /// The run.
    burst: crate::crc::burst::Burst,
    /// What the damaged file's trailer says (a mismatch).
    checksum: Checksum,
}

/// The file with the one short run of changed bytes its CRC-64 trailer
/// locates ([`crate::crc::burst::locate`]) set back, when the result ends
/// with the EOF opcode and reads cleanly with every value decoded: a flipped
/// bit or a few overwritten bytes then cost nothing, not even the damaged
/// key. Not with `--no-checksum` (the caller distrusts the trailer), nor
/// before RDB 5 (no trailer) or with a zero one (saved without checksum).
fn repaired(data: &[u8], opts: &ReadOptions) -> Option<Repair> {
    if !opts.verify_checksum {
        return None;
    }
    let eof_end = data.len().checked_sub(8)?;
    let stored = stored_checksum(data)?;
    if stored == 0 {
        return None;
    }
    let burst = crate::crc::burst::locate(data.get(..eof_end)?, stored)?;
    let mut fixed = data.to_vec();
    burst.apply(&mut fixed);
    // The strict read verifies the repaired checksum itself (`opts` asks
    // for it) and ends past the EOF opcode and trailer.
    let strict = ReadOptions {
        salvage: false,
        ..opts.clone()
    };
    let mut check = CleanRead(Scratch::default());
    let tr = super::reader::read(&fixed, &strict, &mut check).ok()?;
    if tr.end_offset != fixed.len() as u64 || !matches!(tr.checksum, Checksum::Ok { .. }) {
        return None;
    }
    Some(Repair {
        data: fixed,
        burst,
        checksum: Checksum::Mismatch {
            stored,
            computed: crate::crc::crc64(&data[..eof_end]),
        },
    })
}

/// Where the checksum of a damaged `data` locates its damage, when salvage
/// would set it back (see the private `repaired`): what `check` and the
/// CLI's hint tell a user who did not ask for salvage.
pub fn repairable(data: &[u8], opts: &ReadOptions) -> Option<RepairedRange> {
    let r = repaired(data, opts)?;
    RepairedRange::from_record(&r.note(data)?)
}

impl Repair {
    /// The [`Record::Repaired`] that reports it, `damaged` being the file
    /// as read.
    fn note<'a>(&'a self, damaged: &'a [u8]) -> Option<Record<'a>> {
        let span = self.burst.offset..self.burst.offset + self.burst.len;
        Some(Record::Repaired {
            offset: self.burst.offset as u64,
            found: damaged.get(span.clone())?,
            fixed: self.data.get(span)?,
        })
    }
}

/// A sink that decodes every key's value in full and fails on the first
/// that does not: the test a repaired file must pass.
struct CleanRead(Scratch);

impl RecordSink for CleanRead {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if let Record::Key(k) = r {
            validate(&k.value, &mut self.0).map_err(|e| key_error(k, e))?;
        }
        Ok(Flow::Continue)
    }
}

/// [`read`] after the header: the opcode loop, resyncing after damage.
/// `verified`: what the trailer of a file whose checksum was verified
/// reports (the file's own mismatch for a repaired one).
fn read_from<S: RecordSink>(
    data: &[u8],
    header: Header,
    verified: Option<Checksum>,
    opts: &ReadOptions,
    sink: &mut S,
) -> Result<Trailer> {
    let mut t = Tracker {
        inner: sink,
        data,
        header,
        trusted: verified.is_some(),
        verified,
        opens: record_openers(&header),
        db: 0,
        last_key: None,
        last_end: header.len,
        prefixes_seen: 0,
        top_db: 0,
        db_undo: None,
        resize_due: false,
        server: server_written(data, &header),
        pre_ga_seen: false,
        vendor_seen: 0,
        functions_seen: false,
        resumed: false,
        resume_at: None,
        rescan: false,
        undecoded: 0..0,
        resize_at: None,
        db_left: None,
        db_counted: None,
        db_skipped: 0,
        select_open: false,
        budget: SWALLOW_BUDGET_BASE
            .saturating_add(data.len().saturating_mul(SWALLOW_BUDGET_PER_BYTE)),
        names: KeyNames::default(),
        expiry_floor: 0,
        scratch: Scratch::default(),
    };
    // One budget for the type-6 module trial walks of all the restarts
    // (a fresh one per restart made a file of many damaged ranges cost
    // that many times the bound).
    let mut resync = Resync::for_input(data.len());
    let mut pos = header.len;
    // The checksum just verified is not computed again over a trusted
    // file (a second pass over all its bytes).
    let once = ReadOptions {
        verify_checksum: false,
        ..opts.clone()
    };
    loop {
        let db = t.db;
        let pass_opts = if t.trusted { &once } else { opts };
        let e = match read_body(data, &header, pos, db, pass_opts, &mut t, &mut resync) {
            Ok(tr) => return Ok(t.settled(tr)),
            Err(e) if matches!(e.kind(), ErrorKind::Parse(_)) => e,
            Err(e) => return Err(e),
        };
        // A file whose checksum matches and still fails to read (a writer's
        // defect, a type this build lacks) is read with every check after.
        t.trusted = false;
        // A SELECTDB that no key followed before the error was read out of
        // damaged bytes, most likely: the keys after the damage stay in
        // the db before it (a false db taken would, in a server's file,
        // also refuse every real SELECTDB below it).
        if let Some((db, top_db)) = t.db_undo.take() {
            t.db = db;
            t.top_db = top_db;
        }
        t.resize_due = false;
        let loc = e.location();
        let start = loc
            .record_start
            .or(loc.offset)
            .map_or(pos, |o| o as usize)
            .max(t.last_end)
            .max(pos);
        if start >= data.len() {
            // Nothing left to skip: the records ran to the end of the data
            // (a file cut at a record boundary); the trailer reads as absent.
            return finish(t.inner, data.len(), false);
        }
        let mut budget = t.budget;
        let fail = loc.offset.map_or(start, |o| o as usize);
        let entries = damaged_entries(&t.check(), data, start, fail);
        let resume = match t.resume_at.take() {
            Some(q) if q > start => Some(q),
            _ => {
                let from = start + usize::from(!std::mem::take(&mut t.rescan));
                find_resync(t.check(), data, from, &entries, &mut budget)
            }
        };
        t.budget = budget;
        let end = resume.unwrap_or(data.len());
        t.db_skipped = t.db_skipped.saturating_add(end - start);
        let skipped = Record::Skipped {
            start: start as u64,
            end: end as u64,
            db: t.db,
            last_key: t.last_key.as_deref(),
            error: &e,
        };
        // (A record refused for where it lies that the scan takes back
        // skips nothing.)
        if end > start && t.inner.record(&skipped)? == Flow::Stop {
            return finish(t.inner, end, true);
        }
        match resume {
            Some(q) => {
                pos = q;
                // (Records found from here on start at `q`.)
                t.last_end = t.last_end.max(q);
                t.resumed = true;
            }
            None => return finish(t.inner, data.len(), false),
        }
    }
}

/// Whether `data` ends with an EOF opcode and a nonzero CRC-64 of all the
/// bytes before it: then nothing was damaged (a damaged file matches by
/// chance once in 2^64), and salvage reads the file as the reader does.
/// That matters for files a server would not write but loads (tools'
/// files, module values): the checks below refuse some of their records.
fn checksum_verifies(data: &[u8], h: &Header) -> bool {
    let Some(eof_end) = data.len().checked_sub(8) else {
        return false;
    };
    let Some(stored) = data.get(eof_end..).and_then(|b| b.try_into().ok()) else {
        return false;
    };
    let stored = u64::from_le_bytes(stored);
    h.version >= 5
        && eof_end > h.len
        && data[eof_end - 1] == 0xff
        && stored != 0
        && crate::crc::crc64(&data[..eof_end]) == stored
}

/// Whether a server wrote the file, as far as its first record tells:
/// since Redis 3.2 (RDB 7) every server opens the keyspace with AUX fields
/// (`redis-ver` first). A file of RDB 7 or later that opens with SELECTDB
/// came from a tool (redis-rdb-cli's `rdt` merging files), which follows
/// none of the server's habits the checks rely on: dbs in increasing
/// order, RESIZEDB after each SELECTDB and in its shortest form, IDLE or
/// FREQ on every key or none, functions before the first key, only the
/// types the server's version writes (the tool copies its inputs' values
/// as they are).
fn server_written(data: &[u8], h: &Header) -> bool {
    h.version < 7 || data.get(h.len) != Some(&0xfe)
}

/// Whether each SELECTDB in the file is followed by RESIZEDB: servers
/// writing RDB 7 and later write the pair.
fn resizedb_follows_selectdb(h: &Header, server: bool) -> bool {
    server && h.version >= 7
}

/// `e` located at key record `k`, with its name.
fn key_error(k: &KeyRecord<'_>, e: Error) -> Error {
    let name = k.key.to_vec().ok();
    e.with_key(k.db, name.as_deref())
        .with_record_start(k.offset)
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
    /// Whether the file's checksum matched ([`checksum_verifies`]) and no
    /// read error came yet: records pass with their values validated only.
    trusted: bool,
    /// What the trailer reports when the checksum was verified before the
    /// read (see [`Tracker::settled`]).
    verified: Option<Checksum>,
    /// The bytes a record can start with ([`record_openers`]).
    opens: [bool; 256],
    db: u64,
    last_key: Option<Vec<u8>>,
    /// End offset of the last key, AUX field or function delivered.
    last_end: usize,
    /// Prefix opcodes the keys delivered carried ([`Check::prefixes_seen`]).
    prefixes_seen: u8,
    /// The highest db selected so far ([`Check::db_follows`]).
    top_db: u64,
    /// The db and highest db before the last SELECTDB, until a key
    /// follows it (a read error before one takes the SELECTDB back).
    db_undo: Option<(u64, u64)>,
    /// Keys the current db's RESIZEDB counted that were not delivered yet
    /// (a server's RESIZEDB counts the keys it writes; in a server's file).
    db_left: Option<u64>,
    /// The count of the RESIZEDB just read, until a key after it is
    /// delivered: damage may have changed a RESIZEDB that damage follows.
    db_counted: Option<u64>,
    /// Bytes skipped since that RESIZEDB: the keys they held are the most
    /// that damage can have taken of `db_left`.
    db_skipped: usize,
    /// Whether the next record must be RESIZEDB: a server writing RDB 7
    /// or later follows each SELECTDB with one.
    resize_due: bool,
    /// Whether a server wrote the file ([`server_written`]).
    server: bool,
    /// Whether a key of a pre-release hash type was delivered
    /// ([`native_type`]).
    pre_ga_seen: bool,
    /// Vendor opcodes read (bit `opcode % 64`; the four known ones differ).
    vendor_seen: u64,
    /// Whether a function record was read: a server writes its AUX fields
    /// before its functions.
    functions_seen: bool,
    /// Whether no key was read since the last resync: the next key is the
    /// resync candidate.
    resumed: bool,
    /// Where to resume after the record just refused, instead of a resync
    /// scan: the end of an AUX field or function whose compressed content
    /// was damaged but whose length and successors read, or the first
    /// record a collection swallowed as its last elements.
    resume_at: Option<usize>,
    /// Whether the resync scan after the record just refused starts at
    /// that record rather than one byte past it: it was refused for where
    /// it lies, not for what it holds.
    rescan: bool,
    /// The extent of the last AUX field or function whose compressed
    /// content failed to decompress: a key a resync finds inside it must
    /// be named as the file names its keys (compressed bytes read as
    /// anything, while damage hits a length far less often than content).
    undecoded: std::ops::Range<usize>,
    /// Where the RESIZEDB after the SELECTDB just read starts (the end of
    /// that SELECTDB, when it was found at [`Tracker::last_end`]).
    resize_at: Option<usize>,
    /// Whether a SELECTDB was read and no key since: a server writes
    /// RESIZEDB right after one only (Redis Enterprise with AUX fields
    /// between them).
    select_open: bool,
    /// Work left for [`Check::swallowed`] (bytes its false records span
    /// plus one per record tried); when spent, keys are taken unchecked.
    budget: usize,
    /// How the keys read with plausible successors are named.
    names: KeyNames,
    /// The earliest expiry (ms) a strict check takes ([`expiry_floor`]).
    expiry_floor: i64,
    scratch: Scratch,
}

/// How long before a server's save an expiry may lie and still be in
/// its file: expired keys linger until the active expiry cycle (or an
/// access) removes them, minutes in practice; a replica cut off from its
/// master keeps them longer. A year is far beyond either.
const EXPIRY_STALE_MS: i64 = 365 * 24 * 3600 * 1000;

/// The earliest expiry a key in a server's file saved at `ctime` (its
/// AUX field, seconds) plausibly has: [`EXPIRY_STALE_MS`] before it. An
/// expiry opcode read out of damage before a key gives it a time in any
/// year; one years before the save is such. The time is taken only
/// between 2009 (the first Redis) and now, so a damaged `ctime` cannot
/// raise the floor above a year ago.
fn expiry_floor(ctime: &RdbStr<'_>) -> Option<i64> {
    let secs = match *ctime {
        RdbStr::Int(v) => v,
        RdbStr::Raw(b) => std::str::from_utf8(b).ok()?.parse().ok()?,
        RdbStr::Lzf { .. } => return None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let now = i64::try_from(now).ok()?;
    (1_230_768_000..=now)
        .contains(&secs)
        .then(|| secs * 1000 - EXPIRY_STALE_MS)
}

/// Bytes that end a key name's prefix: the separators key schemes use
/// (`user:42`, `cache.page/7`, `sess_9f`, `a|b`).
const NAME_SEPARATORS: &[u8] = b":._-/|#";
/// Longest prefix [`KeyNames`] keeps, separator included.
const NAME_PREFIX_MAX: usize = 32;
/// Letters a prefix needs before its colon to read as a name
/// ([`KeyNames::scheme`]).
const SCHEME_WORD_MIN: usize = 3;
/// Prefixes [`KeyNames`] keeps at most (bounds its memory on a hostile
/// file of distinct names; real keyspaces use a few).
const NAME_PREFIXES_MAX: usize = 4096;

/// Longest name [`KeyNames::known`] takes before any key was read, and
/// the least it takes after (it takes twice the longest name read).
const NAME_LEN_FLOOR: usize = 256;

/// The name prefixes (up to the first separator) of the keys a salvage
/// read with plausible successors: the file's own naming scheme, which
/// keys read out of other bytes rarely follow (see [`Check::lone_named`]).
#[derive(Default)]
struct KeyNames {
    prefixes: foldhash::HashSet<Vec<u8>>,
    /// The longest name read so far.
    longest: usize,
}

impl KeyNames {
    /// The prefix of `key` up to and including its first separator, when
    /// one follows a first byte within [`NAME_PREFIX_MAX`] bytes.
    fn prefix(key: &[u8]) -> Option<&[u8]> {
        // Only the first bytes can hold the separator: a long key read out
        // of damaged bytes (often all zeros) must not be scanned whole.
        let head = &key[..key.len().min(NAME_PREFIX_MAX)];
        let i = head.iter().position(|b| NAME_SEPARATORS.contains(b))?;
        (1..NAME_PREFIX_MAX).contains(&i).then(|| &key[..=i])
    }

    /// Records how `key` is named.
    fn add(&mut self, key: &[u8]) {
        self.longest = self.longest.max(key.len());
        if let Some(p) = Self::prefix(key)
            && self.prefixes.len() < NAME_PREFIXES_MAX
            && !self.prefixes.contains(p)
        {
            self.prefixes.insert(p.to_vec());
        }
    }

    /// Whether `key` is named like a key read before, or in the scheme
    /// most keyspaces use (`word:rest`, [`KeyNames::scheme`]). A name
    /// much longer than any read is a damaged length that ran the
    /// name over real records, whatever its first bytes (one read out of
    /// a value's last byte takes the next record's name as its prefix).
    fn known(&self, key: &RdbStr<'_>) -> bool {
        let longest = (2 * self.longest).max(NAME_LEN_FLOOR);
        if key.len() > longest as u64 {
            return false;
        }
        let mut buf = Vec::new();
        key.bytes(&mut buf)
            .ok()
            .and_then(Self::prefix)
            .is_some_and(|p| self.prefixes.contains(p) || Self::scheme(p))
    }

    /// Whether a prefix is a lowercase word of [`SCHEME_WORD_MIN`] letters
    /// or digits and a colon: the `object:id` convention. Records read out
    /// of damaged bytes almost never open that way (their "key" starts
    /// with the type and length bytes of a real record, or random bytes).
    fn scheme(prefix: &[u8]) -> bool {
        let Some((&sep, word)) = prefix.split_last() else {
            return false;
        };
        sep == b':'
            && word.len() >= SCHEME_WORD_MIN
            && word
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }
}

impl<S: RecordSink> RecordSink for Tracker<'_, S> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if self.trusted {
            return self.pass_trusted(r);
        }
        let keys_seen = self.last_key.is_some();
        let resize_at = self.resize_at.take();
        if std::mem::take(&mut self.resize_due) && !matches!(r, Record::ResizeDb { .. }) {
            return Err(self.out_of_place("SELECTDB", "RESIZEDB after it"));
        }
        match r {
            // A server writes AUX fields and functions before the keyspace
            // (but Lua scripts after it, see [`lua_aux`]) and dbs in
            // increasing order: after a key, one of these is a damaged
            // record (whose length may run over real records).
            Record::Aux { key: name, .. } if keys_seen && !lua_aux(name) => {
                return Err(self.out_of_place("AUX field or function", "a key record"));
            }
            Record::Function { .. } | Record::FunctionPreGa { .. } if keys_seen && self.server => {
                return Err(self.out_of_place("AUX field or function", "a key record"));
            }
            // (Its AUX fields come before its functions: one after a
            // function is read out of damaged bytes, often over the first
            // keys.)
            Record::Aux { .. } if self.functions_seen && self.server => {
                return Err(self.out_of_place("AUX field", "a function or key record"));
            }
            // An AUX field's name, a pre-GA function's name and engine: a
            // short word (a damaged length there can run over the records
            // after it; a changed byte inside one is harmless).
            Record::Aux { key: w, .. }
            | Record::FunctionPreGa { name: w, .. }
            | Record::FunctionPreGa { engine: w, .. }
                if !matches!(w, RdbStr::Raw(b) if b.len() <= 64) =>
            {
                return Err(
                    self.out_of_place("AUX field or function", "a name of at most 64 bytes")
                );
            }
            // A damaged length in an AUX field or a function's code can
            // run over the records after it (the keyspace even): the same
            // test as for keys below.
            Record::Aux { value: v, .. }
            | Record::Function { code: v }
            | Record::FunctionPreGa { code: v, .. } => {
                if let Some((from, end)) = self.extent_of(v) {
                    // Compressed, it must decompress (as a key's value
                    // must decode): what a sink reads is what salvage
                    // vouched for, whichever sink reads it. Its length
                    // read, so when the records after it are plausible,
                    // only its content was damaged and reading resumes
                    // after it (a scan inside compressed bytes finds false
                    // keys there; see `undecoded`).
                    if matches!(v, RdbStr::Lzf { .. })
                        && let Err(p) = v.bytes(&mut Vec::new())
                    {
                        if self.check().successor_ok(self.data, end, RESYNC_DEPTH) {
                            self.resume_at = Some(end);
                        }
                        // (A server stores a string compressed only when
                        // that makes it shorter: compressed bytes as many
                        // as the declared length or more mean a damaged
                        // length, and real records may lie inside.)
                        if let RdbStr::Lzf { packed, len } = *v
                            && (packed.len() as u64) < len
                        {
                            self.undecoded = from..end;
                        }
                        return Err(
                            Error::parse(p, from as u64).with_record_start(self.last_end as u64)
                        );
                    }
                    if self.str_spans_records(from, end) {
                        return Err(self.out_of_place(
                            "AUX field or function",
                            "a value that does not span other records",
                        ));
                    }
                    // The resync after later damage starts past it.
                    self.last_end = end;
                }
                self.functions_seen |= !matches!(r, Record::Aux { .. });
                self.note_ctime(r);
            }
            // A vendor's opcodes (Redis Enterprise, Dragonfly) come with
            // every key of a file that has them: one first met after keys
            // is a damaged byte that reads as one.
            Record::Vendor { opcode, .. } => {
                let bit = 1u64 << (opcode % 64);
                if keys_seen && self.vendor_seen & bit == 0 {
                    return Err(self.out_of_place("vendor opcode", "a key record"));
                }
                self.vendor_seen |= bit;
            }
            Record::SelectDb { db }
                if (keys_seen || !self.server) && !self.check().db_follows(*db, false) =>
            {
                return Err(if self.server {
                    self.out_of_place("SELECTDB", "a db above the current one")
                } else {
                    self.out_of_place("SELECTDB", "a db below 16 or one selected before")
                });
            }
            // A server writes a key's expiry, idle time and frequency
            // right before its type byte: ones read before a SELECTDB
            // (which the reader carries over to the next key, as a
            // server's load does) are damaged bytes.
            Record::SelectDb { .. }
                if self.server
                    && self.last_end > self.header.len
                    && matches!(
                        self.data.get(self.last_end),
                        Some(0xf8 | 0xf9 | 0xfc | 0xfd)
                    ) =>
            {
                return Err(self.out_of_place("SELECTDB", "no key prefix before it"));
            }
            // A SELECTDB a resync found while the keys the current db's
            // RESIZEDB counted are not all read, and the bytes skipped
            // since could not hold the rest: damage forged it (`fe`, a db,
            // and bytes that read as the RESIZEDB after it). Taken, it
            // would put every key after it in a false db.
            Record::SelectDb { .. }
                if self.server
                    && self.resumed
                    && self.db_left.is_some_and(|n| {
                        n.saturating_mul(MIN_KEY_RECORD) > self.db_skipped as u64
                    }) =>
            {
                return Err(self.out_of_place(
                    "SELECTDB",
                    "the rest of the keys the RESIZEDB before it counted",
                ));
            }
            // The same when the next SELECTDB in the file selects a db no
            // higher (a server writes its dbs in increasing order): taken,
            // it would also refuse that real one. (The scan starts past
            // this one's opcode and first length byte.)
            Record::SelectDb { db }
                if self.server
                    && self.resumed
                    && self
                        .next_selected_db(self.last_end + 2)
                        .is_some_and(|next| next <= *db) =>
            {
                return Err(
                    self.out_of_place("SELECTDB", "a db below the one the next SELECTDB selects")
                );
            }
            Record::SelectDb { db } => {
                self.db_undo.get_or_insert((self.db, self.top_db));
                self.db = *db;
                self.top_db = self.top_db.max(*db);
                self.resize_due = keys_seen && resizedb_follows_selectdb(&self.header, self.server);
                self.select_open = true;
                let at = self.last_end;
                self.resize_at = (self.data.get(at) == Some(&0xfe))
                    .then(|| length(&self.data[at + 1..]).ok())
                    .flatten()
                    .filter(|&(_, n)| n == *db)
                    .map(|(r, _)| self.data.len() - r.len());
            }
            // Servers write lengths in their shortest form: a RESIZEDB in
            // a longer one took a damaged byte, and the byte after it (the
            // next key's type byte, often) as its last length.
            Record::ResizeDb { .. } if self.server && !self.select_open => {
                return Err(self.out_of_place("RESIZEDB", "a SELECTDB right before it"));
            }
            Record::ResizeDb { keys, expires, .. } => {
                let at = resize_at.filter(|&at| self.data.get(at) == Some(&0xfb));
                // The keys with an expiry are some of the db's keys: more
                // of them is a damaged length (one that took a longer
                // form, and the next key's type byte with it).
                if expires > keys {
                    if let Some(at) = at {
                        self.last_end = at;
                    }
                    return Err(
                        self.out_of_place("RESIZEDB", "no more keys with an expiry than keys")
                    );
                }
                if let Some(at) = at.filter(|_| self.server) {
                    let mut shortest = vec![0xfb];
                    put_len(&mut shortest, *keys);
                    put_len(&mut shortest, *expires);
                    if !self.data[at..].starts_with(&shortest) {
                        self.last_end = at;
                        return Err(self.out_of_place("RESIZEDB", "lengths in their shortest form"));
                    }
                }
                // In a server's file it confirms the SELECTDB before it:
                // damage seldom forges the pair, and a real db whose first
                // key is damaged keeps the keys after it.
                if self.server {
                    self.db_undo = None;
                    self.db_left = None;
                    self.db_counted = Some(*keys);
                    self.db_skipped = 0;
                }
            }
            Record::Key(k) => {
                let key_err = |e: Error| key_error(k, e);
                // A server writes the IDLE or FREQ prefix its eviction
                // policy needs on every key or on none: one that appears
                // only after damage is a byte of a false record.
                let mine = if k.idle_s.is_some() { IDLE_SEEN } else { 0 }
                    | if k.freq.is_some() { FREQ_SEEN } else { 0 };
                let prefix_err = |expected| {
                    key_err(Error::parse(
                        Problem::Invalid {
                            what: "IDLE or FREQ prefix",
                            expected,
                            found: k.offset,
                        },
                        k.offset,
                    ))
                };
                if keys_seen && mine & !self.prefixes_seen != 0 && self.server {
                    return Err(prefix_err("the prefixes of the keys before"));
                }
                // The same for the first key, by the key after it: a
                // prefix it lacks was read out of damaged bytes before
                // the first key.
                if !keys_seen && mine != 0 && self.server {
                    let mut c = self.check();
                    let end = k.end as usize;
                    let next_lacks = c.prefixes(self.data, end).is_some_and(|(q, seen)| {
                        seen & mine != mine && self.data.get(q).is_some_and(|&t| t < 0xf0)
                    });
                    if next_lacks
                        && c.record(self.data, end, 0, false, &mut Scratch::default())
                            .is_some()
                    {
                        return Err(prefix_err("the prefixes of the key after it"));
                    }
                }
                // A server writes SELECTDB before a db's keys: a first key
                // read on from an AUX field or a function (not found by a
                // resync, past a damaged SELECTDB) was read out of the
                // damaged record before it, or is a real one that damage
                // cut from its SELECTDB: the resync scan weighs it too.
                if self.server && !keys_seen && !self.select_open && !self.resumed {
                    self.rescan = true;
                    return Err(self.out_of_place("key record", "a SELECTDB before it"));
                }
                if self.server && min_expiry_unheld(&k.value) {
                    return Err(key_err(Error::parse(
                        Problem::Invalid {
                            what: "hash field TTLs",
                            expected: "a field that expires at the hash's minimum expiry",
                            found: k.value.offset,
                        },
                        k.value.offset,
                    )));
                }
                let key = self.decoded_key(k)?;
                let (start, end) = (k.offset as usize, k.end as usize);
                let resumed = std::mem::take(&mut self.resumed);
                let mut c = self.check();
                c.keys_seen = true;
                // Its own prefixes are the ones the keys after it carry.
                if k.idle_s.is_some() {
                    c.prefixes_seen |= IDLE_SEEN;
                }
                if k.freq.is_some() {
                    c.prefixes_seen |= FREQ_SEEN;
                }
                let successor_ok = c.successor_ok(self.data, end, RESYNC_DEPTH);
                if resumed && self.undecoded.contains(&start) && !self.names.known(&k.key) {
                    return Err(key_err(Error::parse(
                        Problem::Invalid {
                            what: "key record",
                            expected: "a name like the file's keys (inside damaged compressed bytes)",
                            found: k.offset,
                        },
                        k.offset,
                    )));
                }
                c.candidate = resumed;
                // (A UTF-8 key named as the file names its keys is not
                // suspect for a control byte after its prefix: `db5:\0`.)
                c.binary_named = std::str::from_utf8(&key).is_err()
                    || (!plain_key(&k.key) && !self.names.known(&k.key));
                c.last_item = last_item(&k.value);
                if k.value.layout == RdbLayout::ZsetV2 {
                    c.score_from = end.saturating_sub(8);
                }
                if matches!(k.value.layout, RdbLayout::Stream(_)) {
                    c.named_from = usize::try_from(k.value.offset).unwrap_or(end);
                }
                let inner_chains = !entries_read_as_records(k.value.layout);
                // The chains start past the type byte (the key's own
                // record, read without its prefixes, is no other record).
                let body = c.prefixes_end(self.data, start).unwrap_or(start);
                // An empty key's name length (0) reads as a string's type
                // byte: the record one byte in has this key's value for its
                // name and runs on over whatever follows (damage, when the
                // successor is implausible). It is that, not a swallowed
                // record, unless it is named the way the file names keys.
                let own_value_as_name = key.is_empty()
                    && !self
                        .data
                        .get(body + 2..)
                        .and_then(|b| string(b).ok())
                        .is_some_and(|(_, name)| self.names.known(&name));
                let from = body + 1 + usize::from(own_value_as_name);
                // A value whose size is fixed or stated inside it cannot
                // run over a record by a damaged length: an integer string
                // (its encoding byte sets the size), an LZF one (its
                // compressed bytes must decode to exactly its declared
                // length, which bytes of other records read as LZF
                // seldom do) or one ziplist,
                // listpack or intset (its header states the size, checked
                // against the string's). A chain from inside one is a false
                // record crossing damage after an intact key and shows
                // nothing; chains from the name count (its length can be
                // damaged). In a module value (type 7) the chains count
                // from inside its string operands only: one of those is
                // what a damaged length makes run over records, while the
                // item opcodes read as record heads (the string opcode 5
                // as a zset's type byte, the EOF opcode 0 as a string's)
                // and start chains of the value's own items.
                let sized_string = k.value.layout == RdbLayout::String
                    && matches!(k.value.raw.first(), Some(0xc0..=0xc3));
                let module = k.value.layout == RdbLayout::Module2;
                let value_at = usize::try_from(k.value.offset).unwrap_or(end).min(end);
                // Unless damage follows an integer or LZF string: a
                // damaged encoding byte (INT8 read as INT16) runs it a
                // byte or two into the record after it. A chain from
                // inside its value counts then when its first record is
                // named as the file names its keys: that name lies past
                // the key's end, where a false record crossing the damage
                // has damaged bytes.
                let sized_overrun = sized_string && !successor_ok;
                if sized_overrun {
                    c.named_from = value_at;
                }
                let name =
                    if (sized_string && !sized_overrun) || sized_blob(k.value.layout) || module {
                        from..value_at
                    } else {
                        from..end
                    };
                let operands = module.then(|| self.string_operands(&k.value));
                let starts = name.chain(operands.into_iter().flatten().flatten());
                let mut budget = self.budget;
                let swallowed = spans_records(
                    &mut c,
                    self.data,
                    starts,
                    end,
                    successor_ok,
                    inner_chains,
                    &mut budget,
                );
                // A key whose value ends with the prefixes of the record
                // after it swallowed those: an empty key (rare in real
                // files, common as a false record read out of zero bytes)
                // with any, any key with an expiry among them (an opcode
                // and a time in a sane range are no value's chance ending).
                let swallowed = swallowed
                    || (!successor_ok && overran_into_record(&mut c, self.data, &k.value, end))
                    || swallowed_string_record(self.data, &k.value)
                        .is_some_and(|at| successor_ok || c.known_name_at(self.data, at))
                    || (successor_ok
                        && (end.saturating_sub(PREFIXES_SPAN).max(body + 1)..end).any(|q| {
                            (key.is_empty() || matches!(self.data[q], 0xfc | 0xfd))
                                && c.prefixes_end(self.data, q) == Some(end)
                        }))
                    || c.ends_inside_expiry(self.data, body + 1, end)
                    || ends_with_db_change(&c, self.data, body + 1, end);
                // A hash, set or list whose last elements are records it
                // swallowed ([`Check::swallowed_pair`]): reading resumes
                // at the first of them.
                let pair_at = (!swallowed && self.server)
                    .then(|| c.swallowed_pair(self.data, &k.value))
                    .flatten();
                self.budget = budget;
                // A key that runs into the trailer swallowed the EOF opcode.
                let swallowed = swallowed || end > eof_at(self.data, &self.header);
                if pair_at.is_some() {
                    self.resume_at = pair_at;
                }
                let swallowed = swallowed || pair_at.is_some();
                if swallowed {
                    // Real records run across or up to this key's end: its
                    // lengths were damaged and it swallowed them. Skip it;
                    // the resync scan finds them.
                    return Err(key_err(Error::parse(
                        Problem::Invalid {
                            what: "key record",
                            expected: "a value that does not span other records",
                            found: end as u64,
                        },
                        k.end,
                    )));
                }
                let flow = self.inner.record(r)?;
                self.delivered(k, key, successor_ok);
                return Ok(flow);
            }
            _ => {}
        }
        self.inner.record(r)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        let t = self.settled(*t);
        self.inner.finish(&t)
    }
}

impl<S> Tracker<'_, S> {
    /// The trailer as the caller sees it: a pass over a verified file does
    /// not compute the checksum again (it reads `Unchecked`), and a repaired
    /// file's verifies though the file's does not.
    fn settled(&self, mut t: Trailer) -> Trailer {
        if let Some(c) = self.verified
            && t.end_offset == self.data.len() as u64
            && matches!(t.checksum, Checksum::Unchecked { .. } | Checksum::Ok { .. })
        {
            t.checksum = c;
        }
        t
    }
}

impl<S: RecordSink> Tracker<'_, S> {
    /// Passes a record of a file whose checksum matched: keys are decoded
    /// and validated in full (a value this reader cannot decode is still
    /// skipped), the rest goes through with the state kept up to date for
    /// the checks, should a read error end the trust.
    fn pass_trusted(&mut self, r: &Record<'_>) -> Result<Flow> {
        match r {
            Record::Key(k) => {
                let key = self.decoded_key(k)?;
                let flow = self.inner.record(r)?;
                self.delivered(k, key, true);
                return Ok(flow);
            }
            Record::Aux { value: v, .. }
            | Record::Function { code: v }
            | Record::FunctionPreGa { code: v, .. } => {
                if let Some((_, end)) = self.extent_of(v) {
                    self.last_end = end;
                }
                self.note_ctime(r);
            }
            Record::Vendor { opcode, .. } => self.vendor_seen |= 1u64 << (opcode % 64),
            Record::SelectDb { db } => {
                self.db = *db;
                self.top_db = self.top_db.max(*db);
                self.select_open = true;
            }
            _ => {}
        }
        self.inner.record(r)
    }
}

impl<S> Tracker<'_, S> {
    /// The key's name, once its value decodes in full and is consistent.
    fn decoded_key(&mut self, k: &KeyRecord<'_>) -> Result<Vec<u8>> {
        validate(&k.value, &mut self.scratch).map_err(|e| key_error(k, e))?;
        k.key
            .to_vec()
            .map_err(|p| key_error(k, Error::parse(p, k.offset)))
    }

    /// Notes the save time of a server's file (its `ctime` AUX field),
    /// which bounds the expiries a strict check takes ([`expiry_floor`]).
    fn note_ctime(&mut self, r: &Record<'_>) {
        if let Record::Aux { key, value } = r
            && self.server
            && matches!(key, RdbStr::Raw(b"ctime"))
        {
            self.expiry_floor = expiry_floor(value).unwrap_or(0);
        }
    }

    /// Notes a key passed to the sink: its name (when records follow it
    /// that vouch for it), its prefixes and its end.
    fn delivered(&mut self, k: &KeyRecord<'_>, key: Vec<u8>, vouched: bool) {
        if vouched {
            self.names.add(&key);
        }
        self.last_key = Some(key);
        if let Some(n) = self.db_counted.take() {
            self.db_left = Some(n);
        }
        self.db_left = self.db_left.map(|n| n.saturating_sub(1));
        self.db_undo = None;
        self.select_open = false;
        if k.idle_s.is_some() {
            self.prefixes_seen |= IDLE_SEEN;
        }
        if k.freq.is_some() {
            self.prefixes_seen |= FREQ_SEEN;
        }
        self.pre_ga_seen |= matches!(
            k.value.layout,
            RdbLayout::HashMetadataPreGa | RdbLayout::HashListpackExPreGa
        );
        self.last_end = k.end as usize;
    }

    /// Where the bytes of string `v` (borrowed from the input) lie in it;
    /// `None` for an integer.
    fn extent_of(&self, v: &RdbStr<'_>) -> Option<(usize, usize)> {
        let bytes = match *v {
            RdbStr::Raw(b) | RdbStr::Lzf { packed: b, .. } => b,
            RdbStr::Int(_) => return None,
        };
        let from = (bytes.as_ptr() as usize).checked_sub(self.data.as_ptr() as usize)?;
        let end = from + bytes.len();
        (end <= self.data.len()).then_some((from, end))
    }

    /// Where the string operands of module value `v` (type 7) lie in the
    /// input (each with its length bytes), walked as the chains ask.
    fn string_operands<'v>(
        &self,
        v: &Value<'v>,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + 'v {
        let (base, len) = (self.data.as_ptr() as usize, self.data.len());
        // Past the module id. The key validated, so the walk succeeds; a
        // failure would end the operands early.
        let mut rest = length(v.raw).ok().map(|(r, _)| r);
        std::iter::from_fn(move || {
            loop {
                let (r, item) = super::module::item(rest?).ok()?;
                rest = Some(r);
                let (op, operand) = item?;
                let at = (operand.as_ptr() as usize).wrapping_sub(base);
                if op == 5 && at < len {
                    return Some(at..at + operand.len());
                }
            }
        })
        .fuse()
    }

    /// The db the first SELECTDB at or after `from` selects that a server
    /// would write there, with its RESIZEDB and [`RESYNC_DEPTH`] key
    /// records after it; the scan costs the salvage budget a unit per byte.
    fn next_selected_db(&mut self, from: usize) -> Option<u64> {
        let data = self.data;
        let mut c = self.check();
        let mut s = Scratch::default();
        let mut budget = self.budget;
        let mut found = None;
        let mut p = from;
        while let Some(i) = data
            .get(p..)
            .and_then(|b| b.iter().position(|&b| b == 0xfe))
        {
            let Some(left) = budget.checked_sub(i + 1) else {
                break;
            };
            budget = left;
            p += i;
            if c.plausible(data, p, RESYNC_DEPTH, &mut s).is_some() {
                found = data
                    .get(p + 1..)
                    .and_then(|b| length(b).ok())
                    .map(|(_, db)| db);
                break;
            }
            p += 1;
        }
        self.budget = budget;
        found
    }

    /// Whether an AUX value or function code at `from..end` (the end of
    /// its record) runs over real records.
    fn str_spans_records(&mut self, from: usize, end: usize) -> bool {
        let mut c = self.check();
        let successor_ok = c.successor_ok(self.data, end, RESYNC_DEPTH);
        let mut budget = self.budget;
        let swallowed = spans_records(
            &mut c,
            self.data,
            from..end,
            end,
            successor_ok,
            true,
            &mut budget,
        ) || c.ends_inside_expiry(self.data, from, end);
        self.budget = budget;
        swallowed
    }

    /// Strict checks in the state the records read so far left.
    fn check(&self) -> Check<'_> {
        Check {
            h: &self.header,
            opens: &self.opens,
            strict: true,
            db: self.db,
            top_db: self.top_db,
            keys_seen: self.last_key.is_some(),
            prefixes_seen: self.prefixes_seen,
            server: self.server,
            pre_ga_seen: self.pre_ga_seen,
            binary_keys: false,
            empty_keys: false,
            no_int_keys: false,
            empty_successors: false,
            candidate: false,
            lone: false,
            lone_named: false,
            names: &self.names,
            expiry_floor: self.expiry_floor,
            binary_named: false,
            last_item: usize::MAX,
            score_from: usize::MAX,
            named_from: usize::MAX,
        }
    }

    /// The error for a record a server does not write where it was found
    /// (located just past the last key, where the record starts).
    fn out_of_place(&self, what: &'static str, expected: &'static str) -> Error {
        Error::parse(
            Problem::Invalid {
                what,
                expected,
                found: self.last_end as u64,
            },
            self.last_end as u64,
        )
        .with_record_start(self.last_end as u64)
    }
}

/// What follows a key record that [`Check::swallowed`] tests.
#[derive(Clone, Copy)]
enum AtEnd {
    /// Plausible records ([`RESYNC_DEPTH`] + 1 of them, or the end).
    Plausible,
    /// Not: damage follows the key, or the key swallowed real records.
    Implausible {
        /// Where a plausible record at the key's end ends (one alone,
        /// with damage after it).
        record_end: Option<usize>,
        /// Where the chain of plausible records from the key's end stops
        /// (the damage after it).
        stops: usize,
        /// Whether a record head ([`Check::head`]) starts there.
        head: bool,
    },
}

/// Whether a chain of plausible records starting in `starts` (offsets
/// inside the record) shows that the record ending at `end` swallowed real
/// ones (see [`Check::swallowed`]; `c` is the state after the record).
fn spans_records(
    c: &mut Check<'_>,
    data: &[u8],
    starts: impl Iterator<Item = usize>,
    end: usize,
    successor_ok: bool,
    inner_chains: bool,
    budget: &mut usize,
) -> bool {
    c.no_int_keys = true;
    // (For [`Check::lone_across`].)
    c.lone_named = true;
    // (Before empty successors are allowed: an empty key at `end` is as
    // likely zero bytes inside a record read as one.)
    let at_end = if successor_ok {
        AtEnd::Plausible
    } else {
        // Read once here, not per start (bounded work on a big record).
        AtEnd::Implausible {
            record_end: c.record(data, end, 0, false, &mut Scratch::default()),
            stops: c.chain_end(data, end, budget),
            head: c.head(data, end),
        }
    };
    c.empty_successors = true;
    // Most bytes of a value (text, numbers) open no record: passing them
    // over here, before the record checks, makes salvage several times
    // faster and changes no chain.
    starts
        .filter(|&q| data.get(q).is_some_and(|&b| c.opens[usize::from(b)]))
        .any(|q| c.swallowed(data, q, end, at_end, inner_chains, budget))
}

/// The bytes a record can start with in a file with header `h` (slot
/// `b`): an opcode (prefix or record) or a type byte the reader knows.
fn record_openers(h: &Header) -> [bool; 256] {
    std::array::from_fn(|b| {
        let b = b as u8;
        b >= 0xf3 || RdbLayout::from_type_byte(b, h.flavor, h.version).is_some()
    })
}

/// The first offset from `from` on where a plausible record starts: first
/// looking only for records a server of the file's version writes where it
/// writes them (`c`, strict), then, if there is none, for any record this
/// reader knows. A strict candidate gives way to a longer chain that
/// starts inside its own ([`prefer_longer_chain`]; the work counts against
/// `budget`), and is passed over when it is one of the damaged key's own
/// entries ([`Entries::own`]).
fn find_resync(
    mut c: Check<'_>,
    data: &[u8],
    from: usize,
    entries: &Entries,
    budget: &mut usize,
) -> Option<usize> {
    let mut at = from;
    let strict = loop {
        match find_strict(&mut c, data, at) {
            Some(q) if entries.own(&mut c, data, q, budget) => at = q + 1,
            q => break q,
        }
    };
    if let Some(q) = strict {
        return Some(prefer_longer_chain(&mut c, data, q, budget));
    }
    let mut s = Scratch::default();
    c.strict = false;
    (from..data.len()).find(|&p| c.plausible(data, p, RESYNC_DEPTH, &mut s).is_some())
}

/// Where the entries of the damaged key a resync starts in begin, when
/// its entries read as key records ([`entries_read_as_records`]): its walk
/// from its start up to `fail`, where the walk failed on the damage.
struct Entries {
    starts: Vec<usize>,
    fail: usize,
}

impl Entries {
    /// Whether the resync candidate at `q` is the damaged key's own entry,
    /// not a key: the walk from the key's start went through `q`, and the
    /// chain of records from `q` stops before the damage where the walk
    /// failed (at an entry with an expiry, which reads as no record, or at
    /// the damage). Real keys that a walk with a damaged count ran over
    /// chain on past the failure (that walk fails inside real records).
    fn own(&self, c: &mut Check<'_>, data: &[u8], q: usize, budget: &mut usize) -> bool {
        if self.starts.binary_search(&q).is_err() {
            return false;
        }
        // An entry without a TTL reads as a string record named by its
        // field; a record of another type named as the file names its keys
        // is a real key the walk ran over (more damage may cut its chain
        // as short as an entry's).
        if c.layout_at(data, q)
            .is_some_and(|(at, _)| data.get(at) != Some(&0))
            && c.known_name_at(data, q)
        {
            return false;
        }
        let mut bounds = Vec::new();
        let n = c.chain(data, q, MAX_CHAIN, Some(&mut bounds), budget);
        n < MAX_CHAIN && bounds.last().is_some_and(|&e| e <= self.fail)
    }
}

/// The [`Entries`] of the key record at `start` that failed at `fail`:
/// none unless its entries read as records and its walk fails (a key
/// refused after a whole walk, as one that swallowed real records, has
/// no damage inside the walk to stop at).
fn damaged_entries(c: &Check<'_>, data: &[u8], start: usize, fail: usize) -> Entries {
    let mut starts = Vec::new();
    // (Only a type the file's server writes: in an older file, a key of a
    // newer type is read out of damaged bytes, and its "entries" are real
    // keys.)
    let value = c.layout_at(data, start).and_then(|(q, layout)| {
        let (v, _) = string(data.get(q + 1..)?).ok()?;
        (entries_read_as_records(layout) && c.native(data[q])).then_some((v, layout))
    });
    if let Some((v, layout)) = value {
        let walk = value::walk_entries(v, layout, &mut |r| starts.push(data.len() - r.len()));
        if walk.is_ok() {
            starts.clear();
        }
    }
    starts.retain(|&p| p < fail);
    Entries { starts, fail }
}

/// Records a resync candidate's chain is followed for at most when it is
/// compared with the chains that start inside it: a chain this long is
/// taken as real (false chains in random bytes die within a few records).
const CHAIN_CMP: usize = 32;

/// Records of a resync candidate's chain inside which
/// [`prefer_longer_chain`] looks for a longer chain. False records read
/// out of a damaged value's rest are the first one or two; further in,
/// the chain's records are real ones, and a longer chain inside one of
/// them is a damaged key's overrun that its own check catches when it is
/// read (jumping to it skipped the real keys before it).
const PREFER_WITHIN: usize = 2;

/// The start of the longest chain of records among the resync candidate
/// `cand` and the offsets inside its chain's records. A false chain read
/// out of a damaged value's intact rest can run over the first real keys
/// after it and still pass the local checks; the real chain outlives it
/// (it runs to the end of the file or to the next damage). Ties keep
/// `cand`, unless a record inside its first one ends where that ends and
/// is named as the file names its keys while `cand` is not; a chain of
/// [`CHAIN_CMP`] records is not questioned.
fn prefer_longer_chain(c: &mut Check<'_>, data: &[u8], cand: usize, budget: &mut usize) -> usize {
    // Chains of real records may hold a key with an empty name: one must
    // not cut the real chain short (as in [`Check::swallowed`]).
    c.empty_successors = true;
    let mut bounds = Vec::new();
    let score = c.chain(data, cand, CHAIN_CMP, Some(&mut bounds), budget);
    if score >= CHAIN_CMP {
        return cand;
    }
    // A first record whose value checks itself ([`Check::lone`]: a stream
    // or a listpack of 64 bytes or more) is no false record read out of a
    // damaged value's rest: a chain inside it takes its place only with a
    // resync candidate's strength ([`RESYNC_DEPTH`] + 1 records), not for
    // outliving a real key that more damage follows. (Read once, and only
    // when a shorter inner chain would win: it validates `cand` again.)
    let mut checked = None;
    // The chain's end: a record from inside that runs past it jumps over
    // the damage that ended the chain (a false record landing on a real
    // boundary), which is no sign of a real chain.
    let Some(&last) = bounds.last() else {
        return cand;
    };
    let mut inner = Vec::new();
    // The first chain met of a candidate's strength (RESYNC_DEPTH + 1
    // records) that stops at a record head, and where it stops: real keys
    // whose chain more damage cuts short. When a longer chain after it is
    // taken, they come first.
    let mut cut: Option<(usize, usize)> = None;
    // Only inside its first records: a false chain dies within a few, and
    // a longer run of records confirms itself (a later one that runs over
    // real records is caught when it is read: [`Check::swallowed`]).
    for (i, w) in bounds.windows(2).enumerate().take(PREFER_WITHIN) {
        // (Entries of hashes with field TTLs read as records: no sign.)
        if c.entries_read_as_records_at(data, w[0]) {
            continue;
        }
        for q in w[0] + 1..w[1] {
            if *budget == 0 {
                return cand;
            }
            // A real key with an empty name whose type byte the record
            // before ends on: its length byte (0, the string type) and its
            // value read as the chain's next record (as in
            // [`find_strict`]); it is tried with its empty name.
            let empty = q + 1 == w[1] && data[q] == 0 && data[w[1]] == 0;
            inner.clear();
            let n = c.any_keys(empty, |c| {
                c.chain(data, q, score + 1, Some(&mut inner), budget)
            });
            // A hash with field TTLs in this chain that the candidate's
            // chain runs through counts its entries that the candidate's
            // chain read as records: the chains are the same bytes read
            // two ways, and only this one reads that key whole.
            let n = if n <= score {
                n + entries_read_through(c, data, &inner, &bounds)
            } else {
                n
            };
            // (A record whose entries read as records may run past it: the
            // candidate's chain was those entries.)
            // A tie: a record inside the candidate's first one that ends
            // where it ends (the chains merge there) and is named as the
            // file names its keys, while the candidate is not, is a real
            // key its false first record swallowed (its type byte read as
            // an empty member, its name and value as two more).
            let merged = n == score && i == 0 && inner.get(1) == Some(&w[1]);
            let named_inside = merged
                && !c.known_name_at(data, cand)
                && (c.known_name_at(data, q) || raw_tail(c, data, cand, q));
            let longer = n > score
                && (i > 0
                    || n > RESYNC_DEPTH as usize
                    || !*checked.get_or_insert_with(|| {
                        c.lone_end(data, cand, &mut Scratch::default()).is_some()
                    }));
            // The empty-named key the candidate ends one byte into runs
            // past the candidate's chain, which stops at the rest of that
            // key (its name length and value read as a record that the
            // read refuses): it is taken with a candidate's strength.
            let runs_on = empty
                && longer
                && inner.get(1).is_some_and(|&e| e > last)
                && c.any_keys(true, |c| {
                    c.chain(data, q, RESYNC_DEPTH as usize + 1, None, budget)
                }) > RESYNC_DEPTH as usize;
            if (longer || named_inside)
                && (runs_on
                    || inner
                        .get(1)
                        .is_some_and(|&e| e <= last || c.entries_read_as_records_at(data, q)))
            {
                // Inside a record past the first that is a damaged key
                // that swallowed the longer chain, which convicts it when
                // it is read: the keys before it are real ones. (It is
                // the chain's last, without a plausible successor, and
                // holds [`SWALLOWED_CHAIN`] records; or it holds
                // [`LONG_CHAIN`] of more than one type, see
                // [`Check::swallowed`].)
                if i > 0 && convicted_by(c, data, q, w[1], i + 2 == bounds.len(), budget) {
                    return cand;
                }
                // The entries of a hash with field TTLs read as a long
                // chain of records: one such hash that starts before `q`,
                // runs over it and ends on the candidate's chain is the
                // real key those entries belong to.
                let mut s = Scratch::default();
                let q = (w[0] + 1..q)
                    .find(|&r| {
                        c.entries_read_as_records_at(data, r)
                            && c.record(data, r, 0, true, &mut s)
                                .is_some_and(|e| e > q && bounds.contains(&e))
                    })
                    .unwrap_or(q);
                // Binary-named keys that chain exactly into it are real
                // ones too (a key with a binary name reads as no first
                // record), as after damage ([`chain_back`]).
                let q = chain_back(c, data, w[0] + 1, q).unwrap_or(q);
                return cut.filter(|&(_, e)| e <= q).map_or(q, |(p, _)| p);
            }
            // (One record fewer when the head is named as the file names
            // its keys: that is the first of the real records after it.)
            if cut.is_none()
                && n >= RESYNC_DEPTH as usize
                && let Some(&e) = inner.last()
                && c.head(data, e)
                && (n > RESYNC_DEPTH as usize || c.known_name_at(data, e))
            {
                cut = Some((q, e));
            }
        }
    }
    cand
}

/// How many of `bounds` (a chain's record boundaries) lie strictly inside
/// the records of the chain `inner` whose entries read as records
/// ([`entries_read_as_records`]): those boundaries are its entries.
fn entries_read_through(c: &Check<'_>, data: &[u8], inner: &[usize], bounds: &[usize]) -> usize {
    inner
        .windows(2)
        .filter(|w| c.entries_read_as_records_at(data, w[0]))
        .map(|w| bounds.iter().filter(|&&b| w[0] < b && b < w[1]).count())
        .sum()
}

/// Whether `q` lies inside the raw string value of the string key at
/// `cand` (after its length): a record there that ends where the key ends
/// is either the tail of a value that happens to parse as a record (rare:
/// type, lengths and value must all agree to the byte) or a real key that
/// a damaged length made the candidate's value swallow. Not when the head
/// of a record ([`Check::head`]) starts in the value before `q`: that is
/// the first real key the value swallowed (a check when the candidate is
/// read finds it), and what follows it may be its entries read as records.
fn raw_tail(c: &Check<'_>, data: &[u8], cand: usize, q: usize) -> bool {
    let Some(t) = c.prefixes_end(data, cand) else {
        return false;
    };
    if !raw_string(data, t) {
        return false;
    }
    let Some(b) = data.get(t + 1..) else {
        return false;
    };
    let Ok((rest, _)) = string(b) else {
        return false;
    };
    let value_start = data.len() - rest.len();
    string(rest).is_ok_and(|(after, _)| value_start < q && q < data.len() - after.len())
        && !(value_start..q).any(|p| c.head(data, p))
}

/// Bytes a SELECTDB and the RESIZEDB after it take at most (lengths in
/// their 9-byte form).
const DB_CHANGE_MAX: usize = 1 + 9 + 1 + 9 + 9;

/// Whether the key record whose bytes after its type are `from..end`
/// ends with a SELECTDB of a db that can follow and the RESIZEDB a server
/// writes after it, ending exactly at `end`: a damaged length ran the
/// key's value over the start of the next db (its keys would be read
/// into this one). A value's bytes seldom end with such a pair.
fn ends_with_db_change(c: &Check<'_>, data: &[u8], from: usize, end: usize) -> bool {
    if !resizedb_follows_selectdb(c.h, c.server) {
        return false;
    }
    (end.saturating_sub(DB_CHANGE_MAX).max(from)..end).any(|q| {
        if data.get(q) != Some(&0xfe) {
            return false;
        }
        let Some(rest) = data.get(q + 1..end) else {
            return false;
        };
        let Ok((rest, db)) = length(rest) else {
            return false;
        };
        let Some((&0xfb, rest)) = rest.split_first() else {
            return false;
        };
        let Ok((rest, keys)) = length(rest) else {
            return false;
        };
        let Ok((rest, expires)) = length(rest) else {
            return false;
        };
        rest.is_empty() && expires <= keys && keys > 0 && c.db_follows(db, false)
    })
}

/// The bit of record type `t` in a set of types seen along a chain (types
/// past 63 share none: no server writes them).
fn type_bit(t: u8) -> u64 {
    1u64.checked_shl(u32::from(t)).unwrap_or(0)
}

/// Whether the chain from `q`, inside a key record that ends at `end`,
/// gets that key refused when it is read ([`Check::swallowed`]): it holds
/// [`LONG_CHAIN`] records of more than one type before `end`, or, when
/// the key is the last of its chain (`last`: no plausible successor),
/// runs on for [`SWALLOWED_CHAIN`] records (across `end`, the evidence
/// past it does).
fn convicted_by(
    c: &mut Check<'_>,
    data: &[u8],
    q: usize,
    end: usize,
    last: bool,
    budget: &mut usize,
) -> bool {
    let mut b = Vec::new();
    let n = c.chain(data, q, LONG_CHAIN, Some(&mut b), budget);
    // Records wholly before `end` (`b` holds their starts, then where the
    // last read ends).
    let inside = b.iter().skip(1).take(n).take_while(|&&e| e <= end).count();
    let mut types = 0u64;
    for &p in &b[..inside] {
        let t = c.prefixes_end(data, p).and_then(|a| data.get(a)).copied();
        types |= t.map_or(0, type_bit);
    }
    (last && n >= SWALLOWED_CHAIN) || (inside >= LONG_CHAIN && types.count_ones() > 1)
}

/// [`find_resync`]'s strict pass. The first candidate with
/// [`RESYNC_DEPTH`] plausible successors is taken, unless a record with
/// fewer starts before it (down to a record that only parses itself and is
/// followed by a byte that opens a record) and ends before the stronger
/// one starts: then the chain ran into more damage, and the keys before
/// that damage are still worth reading. A
/// weak candidate that is in fact a false record spanning real ones is
/// caught when it is read ([`Check::swallowed`]), and the scan resumes
/// inside it. An empty key one byte before the candidate, then binary
/// keys (with a full chain, or chaining into the candidate: see
/// [`chain_back`]) come last.
fn find_strict(c: &mut Check<'_>, data: &[u8], from: usize) -> Option<usize> {
    let mut s = Scratch::default();
    let mut to = data.len();
    let mut found = None;
    let mut found_depth = 0;
    // The first candidate with a full chain.
    let mut strongest = data.len();
    for depth in (0..=RESYNC_DEPTH).rev() {
        // A weaker candidate that runs past the start of a stronger one is
        // a false record over the stronger one's chain (unless it is a
        // value whose entries read as records).
        let limit = to;
        let weaker = (from..to).find(|&p| {
            c.plausible(data, p, depth, &mut s).is_some_and(|e| {
                found.is_none() || e <= limit || c.entries_read_as_records_at(data, p)
            })
        });
        match weaker {
            Some(q) => {
                if found.is_none() {
                    strongest = q;
                }
                found = Some(q);
                found_depth = depth;
                to = q;
            }
            None if found.is_some() => {}
            None => return None,
        }
    }
    // A key whose value checks itself ([`Check::lone`]), or one named
    // like the keys read before or `word:rest` ([`Check::lone_named`]),
    // right before more damage (nothing opens a record after it) comes
    // before the weaker candidates: those inside it are its own bytes read
    // as records.
    c.lone = true;
    c.lone_named = true;
    // (One whose entries read as records holds the stronger candidate
    // when that is its entries.)
    let lone = (from..to).find(|&p| {
        c.plausible(data, p, 0, &mut s)
            .is_some_and(|e| e <= strongest || c.entries_read_as_records_at(data, p))
    });
    c.lone = false;
    c.lone_named = false;
    if let Some(q) = lone {
        found = Some(q);
        found_depth = 0;
        to = q;
    }
    // A key with an empty name: its length byte (0, the string type) and
    // name-as-key read as a candidate one byte into it. When the record one
    // byte earlier reads with an empty key and as long a chain (one record
    // at least: a 0 byte before a real key is common, and the key string
    // then reads as its value), it is the real one.
    if let Some(q) = found
        && q > from
        && data.get(q) == Some(&0)
    {
        let real = c.any_keys(true, |c| {
            c.plausible(data, q - 1, found_depth.max(1), &mut s)
                .is_some()
        });
        if real {
            found = Some(q - 1);
            to = q - 1;
        }
    }
    // A key with an empty name that ends exactly on the head of a record
    // named as the file names its keys (more damage cut that one short):
    // zero bytes read as one seldom land so. It comes before the weaker
    // candidates, as the empty-named key one byte before one does above
    // (and it is that key, when the candidate is one byte into it).
    let empty = (from..to).find(|&p| {
        data.get(p..p + 3)
            .is_some_and(|b| b[0] == 0 && b[1] == 0 && b[2] != 0)
            && c.any_keys(true, |c| c.plausible(data, p, 0, &mut s))
                .is_some_and(|e| (e <= to || p + 1 == to) && c.known_head(data, e))
    });
    if let Some(q) = empty {
        found = Some(q);
        to = q;
    }
    // Last, a key with binary bytes right after the damage, with a full
    // chain after it. A false candidate a byte or two before a real record
    // reads that record's type and length bytes as its key and runs over
    // its start: one is not taken when a record with printable key starts
    // inside it.
    let mut binary = None;
    for p in from..to {
        c.binary_keys = true;
        let end = c.plausible(data, p, RESYNC_DEPTH, &mut s);
        c.binary_keys = false;
        if let Some(e) = end
            && !(p + 1..e).any(|q| c.plausible(data, q, 1, &mut s).is_some())
            && !found.is_some_and(|f| c.jumps_over(data, p, f, &mut s))
        {
            binary = Some(p);
            break;
        }
    }
    binary.or_else(|| chain_back(c, data, from, to)).or(found)
}

/// The first of the records with binary (or empty) keys that chain, each
/// ending exactly where the next starts, into the candidate at `to`: keys
/// right after damage and before the damage that cuts the candidate's own
/// chain short. Landing exactly on a plausible record is what random bytes
/// rarely do; each offset is read once (linear in `to - from`).
fn chain_back(c: &mut Check<'_>, data: &[u8], from: usize, to: usize) -> Option<usize> {
    if to >= data.len() || from >= to {
        return None;
    }
    let mut s = Scratch::default();
    let ends: Vec<Option<usize>> = c.any_keys(true, |c| {
        (from..to)
            .map(|p| c.plausible(data, p, 0, &mut s))
            .collect()
    });
    let mut start = to;
    for (i, e) in ends.iter().enumerate().rev() {
        if *e == Some(start) {
            start = from + i;
        }
    }
    (start < to).then_some(start)
}

/// Elements at the end of a collection [`overran_into_record`] tries as
/// the start of a record it swallowed.
const OVERRUN_TAIL: usize = 4;
/// Records [`Check::overrun_chain`] follows at most before the one that
/// crosses the value's end.
const OVERRUN_CHAIN: usize = 8;

/// Whether a collection of strings (linked list, hashtable set or hash,
/// skiplist zset) whose end is followed by implausible bytes read past its
/// real end into the next record: a damaged count or element length
/// that leaves the rest of the walk aligned reads the records after the
/// value as more elements, so the next record starts at one of its last
/// element boundaries (a string record's type byte reads as an empty
/// element, its key as the next one). A chain of records (the first with
/// any short key: the swallowed one may be binary) that starts at one of
/// the last [`OVERRUN_TAIL`] boundaries and crosses `end` into more
/// records ([`Check::overrun_chain`]) is those records. An intact value's
/// own elements read as records would have to run across the damage after
/// it and land exactly on a record boundary. (A count that lands the walk
/// exactly on a record boundary reads the string records it swallowed as
/// repeated empty members, which [`validate`] refuses in a set, zset or
/// hash.)
fn overran_into_record(c: &mut Check<'_>, data: &[u8], v: &Value<'_>, end: usize) -> bool {
    let Some((tail, _)) = tail_items(v) else {
        return false;
    };
    c.binary_keys = true;
    c.no_int_keys = true;
    let mut s = Scratch::default();
    let found = tail
        .iter()
        .filter(|&&b| b < end)
        .any(|&b| c.overrun_chain(data, b, end, &mut s));
    c.binary_keys = false;
    c.no_int_keys = false;
    found
}

/// Where the string record starts that a set (or linked list) swallowed
/// whole, when it did: a damaged count or member
/// length that leaves the walk aligned and lands it on a record boundary
/// reads a string record as three members: its type byte (0) as an empty
/// member, its key, its value. So the third member from the end is empty
/// and the key member is not. Nothing else in the bytes tells such a set
/// from an intact one whose third member from the end is the empty
/// string, a rare member in a given place; its key may hold any bytes, so
/// this catches what the chain test ([`Check::swallowed`]), which opens
/// chains with plain keys only, does not. (A hash or zset walks members
/// in pairs: one string record leaves it misaligned, which
/// [`overran_into_record`] catches.) The caller takes this from a set
/// followed by a plausible record, or by damage when the record is named as
/// the file names its keys.
fn swallowed_string_record(data: &[u8], v: &Value<'_>) -> Option<usize> {
    if !matches!(v.layout, RdbLayout::ListLinked | RdbLayout::SetHashtable) {
        return None;
    }
    let (tail, n) = tail_items(v)?;
    // The walk holds at least one member before the three (a value that
    // is only a swallowed record has no real member left to tell by).
    if n < OVERRUN_TAIL {
        return None;
    }
    let at = |i: usize| tail[(n - i) % OVERRUN_TAIL];
    (data.get(at(3)) == Some(&0) && data.get(at(2)).is_some_and(|&l| l != 0)).then(|| at(3))
}

/// Elements a server keeps a hash in a listpack (or ziplist) up to, by
/// default: 128 since Redis 7.0, 512 before.
const HASH_PACKED_ENTRIES: u64 = 512;
/// Bytes of a field or value a server keeps a hash packed up to, by
/// default (`hash-max-listpack-value`, `hash-max-ziplist-value`).
const HASH_PACKED_VALUE: u64 = 64;
/// Fields before a hash's last one whose names [`Check::swallowed_pair`]
/// compares with the file's key names.
const PAIR_NAMES_SEEN: u64 = 64;

/// The offsets where the last [`OVERRUN_TAIL`] items of a collection of
/// strings (linked list, hashtable set or hash, skiplist zset) start,
/// slot `i % OVERRUN_TAIL` for item `i`, and the number of items walked;
/// `None` for another layout or a walk that fails.
fn tail_items(v: &Value<'_>) -> Option<([usize; OVERRUN_TAIL], usize)> {
    let mut tail = [usize::MAX; OVERRUN_TAIL];
    let base = usize::try_from(v.offset).ok()?;
    let at = |r: &[u8]| base + (v.raw.len() - r.len());
    let (mut r, count) = length(v.raw).ok()?;
    // Items per entry: member strings, plus a score (a string or 8 bytes).
    let items = match v.layout {
        RdbLayout::ListLinked | RdbLayout::SetHashtable => count,
        RdbLayout::HashHashtable | RdbLayout::ZsetV1 | RdbLayout::ZsetV2 => count.checked_mul(2)?,
        _ => return None,
    };
    let mut n = 0usize;
    for i in 0..items {
        tail[n % OVERRUN_TAIL] = at(r);
        n += 1;
        let odd = i % 2 == 1;
        r = match v.layout {
            RdbLayout::ZsetV1 if odd => super::prim::string_double(r).ok()?.0,
            RdbLayout::ZsetV2 if odd => r.get(8..)?,
            _ => string(r).ok()?.0,
        };
    }
    Some((tail, n))
}

/// Where the last string of value `v` starts (its length bytes): the
/// value itself for a raw string, the last item of a collection of
/// strings ([`tail_items`]); `usize::MAX` for other values. A damaged
/// length in that string can run it over the records after it, and one
/// whole record found inside it, ending where it ends, is then a real one
/// ([`Check::swallowed`]).
fn last_item(v: &Value<'_>) -> usize {
    match v.layout {
        // (Not an integer or LZF string: its encoding sets its size.)
        RdbLayout::String if v.raw.first().is_some_and(|&b| b >> 6 != 3) => {
            usize::try_from(v.offset).unwrap_or(usize::MAX)
        }
        RdbLayout::ListQuicklist2 => last_plain_node(v).unwrap_or(usize::MAX),
        // Its last member: the 8 bytes of binary score after it are no
        // string (a record ending where the zset does ends with them).
        RdbLayout::ZsetV2 => tail_items(v)
            .filter(|&(_, n)| n >= 2)
            .map_or(usize::MAX, |(tail, n)| tail[(n - 2) % OVERRUN_TAIL]),
        _ => tail_items(v)
            .filter(|&(_, n)| n > 0)
            .map_or(usize::MAX, |(tail, n)| tail[(n - 1) % OVERRUN_TAIL]),
    }
}

/// Where the last node of a quicklist (RDB type 18) starts, when it is a
/// plain node (container 1) held as a raw string: one element's bytes,
/// any bytes, sized by a length that damage can change (a packed node's
/// listpack states its own size).
fn last_plain_node(v: &Value<'_>) -> Option<usize> {
    let base = usize::try_from(v.offset).ok()?;
    let (mut r, nodes) = length(v.raw).ok()?;
    let mut last = None;
    for _ in 0..nodes {
        let (r2, container) = length(r).ok()?;
        let at = base + (v.raw.len() - r2.len());
        let plain = container == 1 && r2.first().is_some_and(|&b| b >> 6 != 3);
        last = plain.then_some(at);
        r = string(r2).ok()?.0;
    }
    last
}

/// Whether `v` is a collection whose element count (its first length) is
/// 0: a list, set, hash or zset of the layouts that open with the count.
fn empty_collection(v: &Value<'_>) -> bool {
    matches!(
        v.layout,
        RdbLayout::ListLinked
            | RdbLayout::SetHashtable
            | RdbLayout::ZsetV1
            | RdbLayout::ZsetV2
            | RdbLayout::HashHashtable
            | RdbLayout::ListQuicklist
            | RdbLayout::ListQuicklist2
    ) && length(v.raw).is_ok_and(|(_, n)| n == 0)
}

/// Whether `v` is a hash with field TTLs (RDB type 24) of which no field
/// expires at the minimum expiry the value opens with. A server stores
/// each TTL relative to that minimum plus one (rdb.c, `rdbSaveObject`),
/// and takes the minimum exactly over the fields (`hashTypeGetMinExpire`
/// with `accurate` set), so one field of its hash stores 1. A damaged
/// length that runs the hash's last entries over the record after it
/// reads that record as an entry (its type byte 0 as "no TTL") and
/// shifts the TTLs read: seldom onto a 1.
fn min_expiry_unheld(v: &Value<'_>) -> bool {
    if v.layout != RdbLayout::HashMetadata {
        return false;
    }
    let (mut entries, mut held) = (0u64, false);
    let walk = value::walk_entries(v.raw, v.layout, &mut |r| {
        entries += 1;
        held |= length(r).is_ok_and(|(_, ttl)| ttl == 1);
    });
    walk.is_ok() && entries > 0 && !held
}

/// Whether `k` is what servers name AUX fields and functions' engines
/// with: 1 to 64 printable ASCII bytes, no spaces.
fn aux_name(k: &RdbStr<'_>) -> bool {
    k.as_raw()
        .is_some_and(|k| !k.is_empty() && k.len() <= 64 && k.iter().all(|c| c.is_ascii_graphic()))
}

/// Whether `k` names the AUX field Redis 4.0 to 6.2 write after the
/// keyspace, one per Lua script (for replicas to load): the one AUX field
/// a server writes after keys.
fn lua_aux(k: &RdbStr<'_>) -> bool {
    k.as_raw() == Some(b"lua".as_slice())
}

/// Whether the record whose type byte is at `at` is a string key with a
/// raw (neither integer nor LZF) value: any bytes read as one.
fn raw_string(data: &[u8], at: usize) -> bool {
    data.get(at) == Some(&0)
        && data
            .get(at + 1..)
            .and_then(|b| string(b).ok())
            .and_then(|(r, _)| r.first())
            .is_some_and(|&v| v >> 6 != 3)
}

/// Whether a layout's value checks its own structure (backlens, sorted
/// members, entry counts, terminators) tightly enough that random bytes
/// do not pass for one.
fn self_checking(layout: RdbLayout) -> bool {
    sized_blob(layout)
        || matches!(
            layout,
            RdbLayout::ListQuicklist | RdbLayout::ListQuicklist2 | RdbLayout::Stream(_)
        )
}

/// Whether a layout's value is one string holding a ziplist, listpack or
/// intset, whose header states its size in bytes (or entries of a fixed
/// width) and which validation checks against the string's length.
fn sized_blob(layout: RdbLayout) -> bool {
    matches!(
        layout,
        RdbLayout::ListZiplist
            | RdbLayout::SetIntset
            | RdbLayout::ZsetZiplist
            | RdbLayout::HashZiplist
            | RdbLayout::HashListpack
            | RdbLayout::ZsetListpack
            | RdbLayout::SetListpack
            | RdbLayout::HashListpackEx
            | RdbLayout::HashListpackExPreGa
    )
}

/// Members of a skiplist zset that [`descending_zset`] needs.
const ORDERED_MIN: u64 = 8;

/// Whether `v` is a skiplist zset (RDB types 3 and 5) of [`ORDERED_MIN`]
/// members or more whose scores never increase: servers write one from
/// the skiplist's tail to its head (so each member loads at the head in
/// constant time), and eight doubles read out of other bytes fall in that
/// order about once in 40,000 (8!) tries. No check of the plain reader:
/// a server loads a zset in any order, and other writers use it.
fn descending_zset(v: &Value<'_>, s: &mut Scratch) -> bool {
    if !matches!(v.layout, RdbLayout::ZsetV1 | RdbLayout::ZsetV2) {
        return false;
    }
    let (mut last, mut n) = (f64::INFINITY, 0u64);
    let ordered = v.for_each_scored(s, |_, score| {
        if score.is_nan() || score > last {
            // Stops the walk: the order is broken.
            return Err(Error::parse(
                Problem::Invalid {
                    what: "zset score",
                    expected: "scores that never increase",
                    found: n,
                },
                v.offset,
            ));
        }
        last = score;
        n += 1;
        Ok(())
    });
    ordered.is_ok() && n >= ORDERED_MIN
}

/// Whether a value's entries read as key records one after the other
/// (expiry, field string, value string: hashes with field TTLs), so a chain
/// of plausible records that ends with the value is no sign of damage.
fn entries_read_as_records(layout: RdbLayout) -> bool {
    matches!(
        layout,
        RdbLayout::HashMetadata
            | RdbLayout::HashMetadataPreGa
            | RdbLayout::ValkeyHash2
            | RdbLayout::DragonflyHashWithExpiry
            | RdbLayout::DragonflySetWithExpiry
    )
}

/// Whether servers writing RDB `version` emit type byte `t` (older layouts
/// are still read, but in a file from such a server a byte that announces
/// one is not a record start).
///
/// Redis 7.4's release candidates wrote RDB 12 with the pre-release hash
/// types 22 and 23, every release since writes 24 and 25 instead: in RDB
/// 12 those two are native only once the file showed one (`pre_ga_seen`).
/// Without that, a false record of type 22 read out of a listpack's bytes
/// (its entries read any bytes and can run over kilobytes of real records
/// onto a boundary) outlived the real chain. In a file a tool wrote (not
/// `server`) every type is native: the tool copies its inputs' values as
/// they are, whatever server wrote them.
fn native_type(t: u8, h: &Header, pre_ga_seen: bool, server: bool) -> bool {
    if !server {
        return true;
    }
    if h.flavor == crate::model::Flavor::Valkey {
        return t != 1 && t != 3 && !(9..=14).contains(&t);
    }
    match h.version {
        0..=6 => true,
        7..=9 => matches!(t, 0 | 2..=7 | 11..=15),
        10 => matches!(t, 0 | 2 | 4 | 5 | 7 | 11 | 15..=19),
        11 => matches!(t, 0 | 2 | 4 | 5 | 7 | 11 | 15..=21),
        12 => {
            matches!(t, 0 | 2 | 4 | 5 | 7 | 11 | 15..=21 | 24 | 25)
                || (pre_ga_seen && matches!(t, 22 | 23))
        }
        _ => matches!(t, 0 | 2 | 4 | 5 | 7 | 11 | 15..=21 | 24..=28),
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
        RdbStr::Lzf { len, .. } => {
            len <= STRICT_MAX_KEY
                && k.to_vec()
                    .is_ok_and(|b| b.iter().all(|&c| c >= 0x20 && c != 0x7f))
        }
    }
}

/// Whether a key may follow a plausible record in a strict resync: 1 to
/// [`STRICT_MAX_KEY`] bytes, any bytes (an empty key is legal but rare,
/// and zero bytes, as in binary doubles, would otherwise chain as empty
/// strings under empty keys; the reader itself takes empty keys, so one
/// is lost only as the first record after damage).
fn short_key(k: &RdbStr<'_>) -> bool {
    match *k {
        RdbStr::Raw(b) => !b.is_empty() && b.len() as u64 <= STRICT_MAX_KEY,
        RdbStr::Int(_) => true,
        RdbStr::Lzf { len, .. } => len <= STRICT_MAX_KEY && k.to_vec().is_ok(),
    }
}

/// Offset where the EOF opcode must sit for the trailer to end the data.
fn eof_at(data: &[u8], h: &Header) -> usize {
    let trailer = if h.version >= 5 { 9 } else { 1 };
    data.len().saturating_sub(trailer)
}

/// Record plausibility tests, strict (only what the file's server writes
/// where it writes it, short keys) or lenient.
struct Check<'h> {
    h: &'h Header,
    /// The bytes a record can start with ([`record_openers`]).
    opens: &'h [bool; 256],
    strict: bool,
    /// The db selected where the check starts.
    db: u64,
    /// The highest db selected before ([`Check::db_follows`]).
    top_db: u64,
    /// Whether a key was read before: a server writes AUX fields and
    /// functions before the first key only, and dbs in increasing order.
    keys_seen: bool,
    /// Prefixes the keys read carried: [`IDLE_SEEN`], [`FREQ_SEEN`].
    prefixes_seen: u8,
    /// Whether a server wrote the file ([`server_written`]): its habits
    /// bind the strict checks.
    server: bool,
    /// Whether a key of a pre-release hash type was read (see
    /// [`native_type`]).
    pre_ga_seen: bool,
    /// Whether a candidate's key may hold any bytes (see [`find_strict`]).
    binary_keys: bool,
    /// Whether a candidate's key may be empty (with [`Check::binary_keys`];
    /// see [`find_strict`]).
    empty_keys: bool,
    /// Whether integer-encoded keys are refused: a chain inside a value
    /// ([`Check::swallowed`]) is taken as real records only with string
    /// keys, since sets of integers read as chains of integer-keyed records.
    no_int_keys: bool,
    /// Whether a record after a plausible one may have an empty key (with
    /// a value of 2 bytes or more): [`Check::swallowed`] follows real
    /// records, and a real empty key must not cut its chain short.
    empty_successors: bool,
    /// Whether a candidate is taken without a plausible successor (damage
    /// right after it) on its own value's strength: one that checks itself
    /// ([`self_checking`], or an LZF string that decompresses to its
    /// declared length) over 64 bytes or more, which random bytes and
    /// other values' bytes do not pass for.
    lone: bool,
    /// With [`Check::lone`]: whether a first record whose key is named as
    /// the file names its keys ([`KeyNames::known`]) is taken whatever its
    /// type and size: the key right before more damage that its value does
    /// not vouch for (a short string, a hash with field TTLs).
    lone_named: bool,
    /// How the keys read so far are named.
    names: &'h KeyNames,
    /// The earliest expiry a strict check takes (ms; [`expiry_floor`]).
    expiry_floor: i64,
    /// Whether the record checked by [`Check::swallowed`] is the first one
    /// read after a resync: damage is right before it, and a chain of
    /// [`SWALLOWED_CHAIN`] records inside it shows its lengths are damaged
    /// whatever follows it (a false record out of damaged bytes can land
    /// on a real boundary, or on entries that read as records). One without
    /// plausible successors is a weak candidate: it is taken on weak
    /// evidence, and weaker evidence rejects it.
    candidate: bool,
    /// Whether the record checked by [`Check::swallowed`] has a key that
    /// is not UTF-8, or one with control bytes that is not named as the
    /// file names its keys: damage that runs from a key's name into its
    /// value's length leaves one, so one raw string record landing on its
    /// end is enough.
    binary_named: bool,
    /// Where the last string of the value of the record checked by
    /// [`Check::swallowed`] starts (its length bytes; `usize::MAX` when
    /// the value is no string or collection of strings): see
    /// [`last_item`].
    last_item: usize,
    /// Where the last score of the value of the record checked by
    /// [`Check::swallowed`] starts, for a zset of binary scores (RDB type
    /// 5; `usize::MAX` for other values): a score's zero bytes read as
    /// the type and name length of an empty-named record.
    score_from: usize,
    /// Where, in the record checked by [`Check::swallowed`], chains count
    /// only when their first record is named as the file names its keys
    /// (`usize::MAX`: nowhere): the value of a stream. Its structures
    /// check themselves, so a stream runs over real records only by a
    /// damaged count, and those it reads as its groups are whole keys;
    /// an unnamed record read out of its last bytes is its tail, which
    /// the damage after it lets run on (and land on a real boundary).
    named_from: usize,
}

/// [`Check::prefixes_seen`] bit for the IDLE opcode (0xF8).
const IDLE_SEEN: u8 = 1;
/// [`Check::prefixes_seen`] bit for the FREQ opcode (0xF9).
const FREQ_SEEN: u8 = 2;

impl Check<'_> {
    /// Whether a record of type `t` is one the file's writer makes
    /// ([`native_type`]).
    fn native(&self, t: u8) -> bool {
        native_type(t, self.h, self.pre_ga_seen, self.server)
    }

    /// Whether a SELECTDB of `db` can follow the records read: in a
    /// server's file, a db above the current one (or the current one
    /// before its first key); in a tool's, one below [`DEFAULT_DBS`] or one
    /// selected before, which a resync `candidate` needs in either.
    fn db_follows(&self, db: u64, candidate: bool) -> bool {
        let known = db < DEFAULT_DBS || db <= self.top_db;
        if self.server {
            (db > self.db || (db == self.db && !self.keys_seen)) && (known || !candidate)
        } else {
            known
        }
    }

    /// Runs `f` with a candidate's key allowed to hold any bytes or none
    /// ([`Check::binary_keys`] and [`Check::empty_keys`]) when `on`: the
    /// trials of a real key with an empty or binary name.
    fn any_keys<R>(&mut self, on: bool, f: impl FnOnce(&mut Self) -> R) -> R {
        self.binary_keys = on;
        self.empty_keys = on;
        let r = f(self);
        self.binary_keys = false;
        self.empty_keys = false;
        r
    }

    /// Whether a chain of plausible records from `q` (inside the key record
    /// that ends at `end`) shows that this record swallowed real ones:
    /// - the chain reaches `end` exactly (a damaged length that happens to
    ///   land on a real boundary) after two records, or after one that
    ///   holds more than a raw string ([`raw_string`]) or lies inside the
    ///   value's last string ([`Check::last_item`]) with a key named as
    ///   the file names keys;
    /// - when what follows `end` is implausible (`at_end`): it runs across
    ///   `end` and gathers more than [`RESYNC_DEPTH`] units of evidence
    ///   past it ([`Check::evidence`], plus one for a record head where
    ///   more damage cuts it short and one for a first record named as
    ///   the file names its keys), unless the record that crosses `end`
    ///   also runs over the record or record head that starts there (then
    ///   the key is intact and its tail read as a false record that merges
    ///   with the real chain; for a key with a binary name, which is more
    ///   often damage than a real name, only a record there that is also a
    ///   head counts so, and unless the chain opens with a named record
    ///   and runs on where the chain from `end` stops: the two never
    ///   merged); or it holds
    ///   [`SWALLOWED_CHAIN`] records, before
    ///   `end` or across it, a record head where the chain stops counting
    ///   as one; or, after one record, it
    ///   stops at a record that checks itself and crosses `end` by
    ///   [`LONE_ACROSS`] bytes ([`Check::lone_across`]);
    /// - it is the first record after a resync ([`Check::candidate`]) and
    ///   holds [`SWALLOWED_CHAIN`] records (the same way), whatever
    ///   follows;
    /// - it holds [`LONG_CHAIN`] records of more than one type before
    ///   `end`, whatever follows (no value but a damaged one holds that
    ///   many).
    ///
    /// For a key with a binary name whose successor (not named as the file
    /// names its keys) ends where a record of a chain from inside it that
    /// crosses `end` ends, the chain swallowed wins when all its records
    /// are named so (two chains meet; the named one is the real one).
    ///
    /// Plausible records after `end` that are entries of the chain's record
    /// across `end` ([`Check::entry_starts_at`]) are no plausible
    /// successors: the key's damaged length landed among them.
    ///
    /// The chain opens with a plain key, or a binary one under a known
    /// name prefix ([`KeyNames::known`]): another binary one is as likely
    /// a run of the value's bytes (a false record that crosses damage right
    /// after an intact key and lands on a real boundary), and in the test copies
    /// that is what it turned out to be more often. In a value whose
    /// entries read as records (`inner_chains` false, see
    /// [`entries_read_as_records`]) a chain counts only from its first
    /// record that no entry reads as (one with a prefix or a type other
    /// than a string's). Inside a weak resync candidate
    /// (a [`Check::candidate`] without plausible successors), or a
    /// binary-named key without them (damage in its name that ran into its
    /// length), one record that holds more than a raw string followed by a
    /// record head where the chain stops is enough.
    fn swallowed(
        &mut self,
        data: &[u8],
        q: usize,
        end: usize,
        at_end: AtEnd,
        inner_chains: bool,
        budget: &mut usize,
    ) -> bool {
        if q >= self.named_from && !self.known_name_at(data, q) {
            return false;
        }
        let mut s = Scratch::default();
        let (mut successor_ok, succ_end, head_at_end, end_stops) = match at_end {
            AtEnd::Plausible => (true, None, false, usize::MAX),
            AtEnd::Implausible {
                record_end,
                head,
                stops,
            } => (false, record_end, head, stops),
        };
        let weak_candidate = self.candidate && !successor_ok;
        let (mut p, mut beyond) = (q, 0);
        // Types of the records read (bit `t` for type `t < 64`), and the
        // number read since the chain started counting.
        let (mut types, mut counted) = (0u64, 0usize);
        let mut counting = inner_chains;
        // Whether the first record (plain-keyed) holds more than a raw
        // string (a prefix, another type, an integer or LZF string): one
        // such record landing on `end` is a real key rather than the last
        // elements of the value read as one.
        let mut strong_first = false;
        // Whether the first record is a named one: its type and plain key
        // of 4 bytes or more read as a record head ([`Check::head`]).
        let mut named_first = false;
        // Whether the first record's key is named as the file names its
        // keys ([`Check::known_name_at`]): a record read out of a value's
        // bytes seldom is, so one that crosses `end` counts one unit more.
        let mut known_first = false;
        // Whether it is named so and ends inside the key (read only for a
        // binary-named key that damage follows).
        let mut known_inside = false;
        // Whether every record of the chain so far is named so (read for a
        // key that damage follows, and a binary-named one).
        let mut all_known = true;
        let damage_follows = !successor_ok;
        // Evidence past `end` needed when more damage cuts the chain
        // short: one unit less for a key already suspect (a binary name,
        // or a weak resync candidate).
        let need = RESYNC_DEPTH as usize - usize::from(self.binary_named || weak_candidate);
        // Each step moves forward; the bound caps the work per start (a
        // swallowed run is a few records; a value of tiny false records
        // would otherwise cost quadratic time).
        for step in 0..MAX_CHAIN {
            if *budget == 0 {
                return false;
            }
            // Prefix opcodes in the key's last bytes that lead to the
            // record at its end are no sign of swallowing.
            let body = if p < end {
                self.prefixes_end(data, p).unwrap_or(p)
            } else {
                p
            };
            if p == end || body == end {
                // One raw string record is enough when it lies inside the
                // value's last string and is named as the file names its
                // keys: a value's own bytes seldom end so (the false one
                // of an empty member and the two strings after it starts
                // on a member's boundary).
                let inside_last = counted == 1
                    && named_first
                    && self.last_item != usize::MAX
                    && q > self.last_item
                    && self.known_name_at(data, q);
                return counting
                    && (counted >= 2
                        || (counted == 1 && (strong_first || self.binary_named))
                        || inside_last);
            }
            if counting && p < end {
                if counted >= SWALLOWED_CHAIN && (!successor_ok || self.candidate) {
                    return true;
                }
                if counted >= LONG_CHAIN && types.count_ones() > 1 {
                    return true;
                }
            }
            if p > end && successor_ok {
                // A chain across the end of a key whose successors are
                // plausible is most likely false records inside its value
                // that merge with the real ones after it.
                return false;
            }
            if beyond > RESYNC_DEPTH as usize {
                return true;
            }
            // Inside any key that damage follows, any record that ends on
            // the head of one named as the file names its keys, whether
            // that one reads (across the key's end) or more damage cut it:
            // the key's length ran over real records (its own value's
            // bytes seldom read as a record and such a name).
            if !successor_ok
                && p < end
                && p > q
                && self.head(data, p)
                && self.known_name_at(data, p)
            {
                return true;
            }
            // A suspect key may have swallowed a real key with an empty
            // name (type and name length both 0): as its first record,
            // one landing on the end is as telling as a plain-keyed one.
            // So may any key that damage follows, when the empty-named
            // record holds a value, crosses the key's end by at most
            // [`LONE_ACROSS`] bytes (the damaged length landed inside it)
            // and a plain-named record and [`RESYNC_DEPTH`] more follow it
            // (a run of zero bytes reads as a chain of empty records, zeros
            // inside a value as an empty record that ends in it, and a
            // binary double's zeros as one whose long value jumps over the
            // damage after the key onto a real boundary: no empty-named
            // record counts that starts in a zset's last score).
            let empty_first = step == 0
                && data.get(p..p + 2) == Some(&[0, 0])
                && p < self.score_from
                && (self.binary_named || !successor_ok);
            let vouch_needed = empty_first && !self.binary_named;
            let next = self.any_keys(empty_first, |c| c.record(data, p, 0, step == 0, &mut s));
            let next = next.filter(|&e| {
                !vouch_needed
                    || ((end + 1..=end + LONE_ACROSS).contains(&e)
                        && data.get(p + 2) != Some(&0)
                        && self.vouches(data, e, budget))
            });
            *budget = budget.saturating_sub(1 + next.map_or(0, |e| e.saturating_sub(p)));
            let Some(e) = next.filter(|&e| e > p) else {
                // More damage may cut the chain short: the head of a
                // record (type and plain key) where it stops is one more
                // unit. Inside a weak resync candidate or a binary-named
                // key that damage follows, a record that holds more than
                // a raw string followed by such a head is enough.
                let head = self.head(data, p);
                if !successor_ok
                    && p < end
                    && counted >= 1
                    && self.lone_across(data, p, end, &mut s)
                {
                    return true;
                }
                // Inside a binary-named key that damage follows, a first
                // record that holds more than a raw string and is named as
                // the file names its keys is a real key the damaged length
                // ran over, even when more damage cuts its successor (a
                // value's bytes seldom read as both).
                if self.binary_named
                    && !successor_ok
                    && p < end
                    && counted >= 1
                    && strong_first
                    && known_inside
                {
                    return true;
                }
                if (weak_candidate || (self.binary_named && !successor_ok))
                    && p < end
                    && counted >= 1
                    && strong_first
                    && head
                {
                    return true;
                }
                // The same for a first record so named that reads whole
                // inside such a key, though the damage right after it
                // leaves it no successor: its value's bytes seldom read
                // as a name and value ending before the key does.
                if self.binary_named && !successor_ok && p == q && head {
                    let e = self.lone_end(data, p, &mut s);
                    if e.is_some_and(|e| e <= end) && self.known_name_at(data, p) {
                        return true;
                    }
                }
                // Inside any key that damage follows, a named record
                // that ends on the head of another: two names, each a
                // type byte, a length and four printable bytes or more,
                // with a value that walks from the one to the other, are
                // real records (a value's bytes read so seldom, and a
                // key's own tail is what the damage after it cuts off).
                // The same inside a key whose entries read as records,
                // whatever follows it: its chains count from a record no
                // entry reads as, and a walk with a damaged count can
                // land on a boundary after running over real keys.
                if (!successor_ok || !inner_chains)
                    && p < end
                    && counted >= 1
                    && named_first
                    && head
                {
                    return true;
                }
                // Before the end of a key that damage follows, the head
                // counts as one more record of the chain.
                if (!successor_ok || self.candidate)
                    && p < end
                    && counted + usize::from(head) >= SWALLOWED_CHAIN
                {
                    return true;
                }
                // The same past the end: records that began inside the key
                // and ran on across its end, then the head of one that
                // more damage cut (the record at `end` did not vouch for
                // the key above).
                if !successor_ok && p > end && counted + usize::from(head) >= SWALLOWED_CHAIN {
                    return true;
                }
                // One record fewer when each is named as the file names
                // its keys: a value's bytes seldom read as one such name,
                // let alone three in a row.
                if damage_follows
                    && p > end
                    && all_known
                    && counted + usize::from(head) + 1 >= SWALLOWED_CHAIN
                {
                    return true;
                }
                return p > end && beyond + usize::from(head) + usize::from(known_first) > need;
            };
            let at = self.prefixes_end(data, p).unwrap_or(p);
            let t = data.get(at).copied().unwrap_or(0);
            if at > p || t != 0 {
                counting = true;
            }
            // (An opcode record is not: SELECTDB is two bytes, `fe` and
            // any small number, the end of many an integer set.)
            strong_first |=
                step == 0 && (at > p || (t != 0 && t < 0xf5) || (t == 0 && !raw_string(data, at)));
            named_first |= step == 0 && self.head(data, p);
            let known = step == 0
                && (e > end || (self.binary_named && !successor_ok))
                && self.known_name_at(data, p);
            known_first |= known && e > end;
            known_inside |= known && e <= end;
            // Inside any key that damage follows, a first record with an
            // expiry (a time in a sane range: the strict prefix check) and
            // a name as the file names its keys, whole inside the key: a
            // value's bytes seldom read as both. A damaged length ran over
            // that key, and more damage may cut what follows it.
            if step == 0
                && !successor_ok
                && e <= end
                && data.get(p) == Some(&0xfc)
                && self.known_name_at(data, p)
            {
                return true;
            }
            // The same for a first record that holds more than a raw
            // string (an integer or LZF value), lies inside the value's
            // last string ([`Check::last_item`], any bytes under a length
            // damage can change) and ends on the head of another named so,
            // which more damage cut: two names as the file names its keys
            // in a row, the first with a value that checks itself.
            if step == 0
                && !successor_ok
                && e < end
                && strong_first
                && self.last_item != usize::MAX
                && q > self.last_item
                && self.known_name_at(data, p)
                && self.known_head(data, e)
            {
                return true;
            }
            // (The name lookup is skipped for every other chain.)
            if damage_follows || (successor_ok && self.binary_named) {
                all_known &= self.known_name_at(data, p);
            }
            if counting {
                counted += 1;
            }
            types |= type_bit(t);
            // Records after the key that are the entries of a record that
            // runs across its end (a hash with field TTLs from inside it)
            // vouch for nothing: the key's damaged length landed among
            // that record's entries, which read as records.
            if successor_ok && p < end && e > end && self.entry_starts_at(data, p, end) {
                successor_ok = false;
            }
            // Two chains that meet: the key's successor, one record from
            // `end`, ends where this one across `end` ends. For a key
            // with a binary name (more often damage than a real one), the
            // chain whose records are all named as the file names its keys
            // is the real one when the successor is not so named: the key
            // swallowed those records.
            if successor_ok
                && self.binary_named
                && p < end
                && e > end
                && all_known
                && !self.known_name_at(data, end)
                && self.record(data, end, 0, false, &mut s) == Some(e)
            {
                return true;
            }
            // A key with a binary name is more often damage than a real
            // one, and so is a binary-named record at its end: for such a
            // key only a record at `end` that is also a head (a plain
            // name) vouches for it.
            let at_end_vouches = if self.binary_named {
                head_at_end && succ_end.is_some_and(|se| e >= se)
            } else {
                head_at_end || succ_end.is_some_and(|se| e >= se)
            };
            // The chain from `end` is weak when it is one record at most
            // (or a head) whose key is not named as the file names its
            // keys: against a chain whose every record is so named,
            // [`RESYNC_DEPTH`] records past where it stops are enough.
            let past_needed = |c: &Self| {
                let weak = damage_follows
                    && all_known
                    && succ_end.is_none_or(|se| se == end_stops)
                    && !c.known_name_at(data, end);
                usize::from(RESYNC_DEPTH) + usize::from(!weak)
            };
            if p < end
                && e > end
                && at_end_vouches
                && !(named_first && self.runs_past(data, e, end_stops, past_needed(self), budget))
            {
                // It runs over the record (or the head of one) at `end`
                // too: a false record merging with the real chain,
                // no sign of swallowing. (Unless it opens with a named
                // record and runs on where the chain from `end` stops:
                // then the two never merged, and that chain, not this one,
                // is read out of damage. A value's tail read as a record
                // seldom has a name, and may jump over the damage.)
                return false;
            }
            if e > end {
                beyond += self.evidence(data, at, end.max(p), e);
            }
            p = e;
            if p >= data.len() {
                return beyond > 0;
            }
        }
        false
    }

    /// Where the chain of plausible records (successors, as after a key)
    /// from `p` stops, within [`CHAIN_CMP`] records (each costs `budget`
    /// one plus its size).
    fn chain_end(&mut self, data: &[u8], mut p: usize, budget: &mut usize) -> usize {
        let mut s = Scratch::default();
        for _ in 0..CHAIN_CMP {
            match self.record(data, p, 0, false, &mut s) {
                Some(e) if e > p && *budget > 0 => {
                    *budget = budget.saturating_sub(1 + (e - p));
                    p = e;
                }
                _ => break,
            }
        }
        p
    }

    /// Whether the chain of plausible records from `p` runs on past
    /// `stops` (where another chain stopped) for `need` records: the two
    /// chains do not share their records (two chains that meet go on
    /// alike and stop at the same damage). The end of the data past
    /// `stops` counts as running on. Each record costs `budget` one plus
    /// its size.
    fn runs_past(
        &mut self,
        data: &[u8],
        mut p: usize,
        stops: usize,
        need: usize,
        budget: &mut usize,
    ) -> bool {
        let mut s = Scratch::default();
        let mut past = 0;
        for _ in 0..CHAIN_CMP {
            if past >= need || (p >= data.len() && p > stops) {
                return true;
            }
            match self.record(data, p, 0, false, &mut s) {
                Some(e) if e > p && *budget > 0 => {
                    *budget = budget.saturating_sub(1 + (e - p));
                    p = e;
                }
                _ => return false,
            }
            if p > stops {
                past += 1;
            }
        }
        past >= need
    }

    /// Whether the key record in `from..end` ends inside the expiry of a
    /// plausible record that starts in its last bytes: its damaged length
    /// stopped short of the record after it. An expiry's top byte is zero,
    /// and read as a string's type byte it makes the rest of the real
    /// record a string record whose name begins with the real type byte,
    /// ending where the real record ends: a successor that vouches for
    /// the key unless the real record is seen.
    fn ends_inside_expiry(&mut self, data: &[u8], from: usize, end: usize) -> bool {
        let mut s = Scratch::default();
        (end.saturating_sub(PREFIXES_SPAN).max(from)..end).any(|q| {
            data[q] == 0xfc
                && self.prefixes_end(data, q).is_some_and(|t| t > end)
                && self.record(data, q, 0, true, &mut s).is_some()
        })
    }

    /// Whether an entry of the value of the key record at `p` starts at
    /// `at`, for a value whose entries read as records
    /// ([`entries_read_as_records`]).
    fn entry_starts_at(&self, data: &[u8], p: usize, at: usize) -> bool {
        let Some((q, layout)) = self.layout_at(data, p) else {
            return false;
        };
        let Some((v, _)) = data.get(q + 1..).and_then(|b| string(b).ok()) else {
            return false;
        };
        let mut hit = false;
        if entries_read_as_records(layout) {
            let _ = value::walk_entries(v, layout, &mut |r| hit |= data.len() - r.len() == at);
        }
        hit
    }

    /// Whether a record whose value checks itself ([`Check::lone`]) starts
    /// at `p` (where a chain inside a key that ends at `end` stopped: it
    /// has no plausible successor) and ends [`LONE_ACROSS`] bytes or more
    /// past `end`: a real record the key swallowed, cut from its successor
    /// by more damage. The end of an intact key is followed by real
    /// records; a structure read from its value's tail that checks itself
    /// over those many of their bytes is not their chance.
    fn lone_across(&mut self, data: &[u8], p: usize, end: usize, s: &mut Scratch) -> bool {
        self.lone_end(data, p, s)
            .is_some_and(|e| e >= end + LONE_ACROSS)
    }

    /// Where the record at `p` ends when it reads as [`Check::lone`]: a
    /// value that checks itself, or (with [`Check::lone_named`]) a key
    /// named as the file names its keys, whatever follows it.
    fn lone_end(&mut self, data: &[u8], p: usize, s: &mut Scratch) -> Option<usize> {
        self.lone = true;
        let e = self.record(data, p, 0, true, s);
        self.lone = false;
        e
    }

    /// Units of evidence a plausible record whose type byte is at `at`
    /// gives for the bytes `from..e` it covers past a suspect key's end:
    /// two for 64 bytes or more of a value that checks itself (listpack,
    /// ziplist, intset, quicklist, stream: random bytes do not pass those
    /// checks), one for any other.
    fn evidence(&self, data: &[u8], at: usize, from: usize, e: usize) -> usize {
        let h = self.h;
        let checked = data
            .get(at)
            .and_then(|&t| RdbLayout::from_type_byte(t, h.flavor, h.version))
            .is_some_and(self_checking);
        if checked && e - from >= 64 { 2 } else { 1 }
    }

    /// Whether the record at `p` has a key named as the file names its
    /// keys ([`KeyNames::known`]).
    fn known_name_at(&self, data: &[u8], p: usize) -> bool {
        self.prefixes_end(data, p)
            .and_then(|q| data.get(q + 1..))
            .and_then(|b| string(b).ok())
            .is_some_and(|(_, k)| self.names.known(&k))
    }

    /// Where the records start that a collection of strings swallowed as
    /// its last elements, when it did: a damaged length that lands the
    /// walk on a record boundary reads a string record's type byte (0) as
    /// the end of the element before (its last byte, or an empty one's
    /// length), or in a hash with field TTLs as the TTL "none", and its key
    /// and value as the last field and value of a hash (a hashtable, RDB
    /// type 4, or one with field TTLs, type 24) or the last two members of
    /// a hashtable set or linked list. Taken when that key is named as the
    /// file names its keys and fewer than half the fields or members
    /// before it ([`PAIR_NAMES_SEEN`] at most) are (a collection of key
    /// names is an index, not damage), and, for a hashtable hash, when a
    /// server would have written it packed (no more fields and no longer
    /// strings than the default limits): one kept as a hashtable at that
    /// size grew and shrank, or met non-default limits. In a hash with
    /// field TTLs, a record before it whose value is one string (a string,
    /// intset, listpack or ziplist) reads as an entry too, its type byte
    /// as the TTL: the entries before the last that read as records named
    /// so are swallowed ones as well, and reading resumes at the first of
    /// them (a resync scan there would take the hash's own entries for
    /// keys).
    fn swallowed_pair(&self, data: &[u8], v: &Value<'_>) -> Option<usize> {
        const SEEN: usize = PAIR_NAMES_SEEN as usize;
        // Whether the entries are TTL, field and value; field and value.
        let (meta, pairs) = match v.layout {
            RdbLayout::HashHashtable => (false, true),
            RdbLayout::HashMetadata => (true, true),
            RdbLayout::SetHashtable | RdbLayout::ListLinked => (false, false),
            _ => return None,
        };
        let packed = v.layout == RdbLayout::HashHashtable;
        let base = usize::try_from(v.offset).ok()?;
        let (mut r, count) = length(v.raw.get(if meta { 8 } else { 0 }..)?).ok()?;
        // The entry whose name would be the swallowed record's key, after
        // one real entry at least.
        let key = count.checked_sub(if pairs { 1 } else { 2 })?;
        if key < 1 || (packed && count > HASH_PACKED_ENTRIES) {
            return None;
        }
        // Where the records that entry `i` would be the key of start, in
        // slot `i % (SEEN + 1)`.
        let mut starts = [0usize; SEEN + 1];
        let mut named = 0u64;
        for i in 0..count {
            let entry = base + (v.raw.len() - r.len());
            if meta {
                r = length(r).ok()?.0;
            }
            let name_at = base + (v.raw.len() - r.len());
            let (r2, name) = string(r).ok()?;
            r = r2;
            if pairs {
                let (r3, value) = string(r).ok()?;
                if packed && (name.len() > HASH_PACKED_VALUE || value.len() > HASH_PACKED_VALUE) {
                    return None;
                }
                r = r3;
            }
            starts[i as usize % (SEEN + 1)] = if meta {
                entry
            } else {
                name_at.saturating_sub(1)
            };
            if i < key && i + PAIR_NAMES_SEEN >= key && self.names.known(&name) {
                named += 1;
            }
        }
        let seen = key.min(PAIR_NAMES_SEEN);
        let key = key as usize;
        let at = starts[key % (SEEN + 1)];
        if data.get(at) != Some(&0) || 2 * named >= seen || !self.known_name_at(data, at) {
            return None;
        }
        let mut first = at;
        if meta {
            for i in (key.saturating_sub(seen as usize)..key).rev() {
                let p = starts[i % (SEEN + 1)];
                let blob = self.layout_at(data, p).is_some_and(|(q, layout)| {
                    q == p
                        && self.native(data[q])
                        && (layout == RdbLayout::String || sized_blob(layout))
                });
                if !blob || !self.known_name_at(data, p) {
                    break;
                }
                first = p;
            }
        }
        Some(first)
    }

    /// Whether a record head starts at `p`: plausible prefixes, a type the
    /// file's server writes and a plain key of 4 bytes or more (what is
    /// left of a real record that later damage cut short).
    fn head(&self, data: &[u8], p: usize) -> bool {
        self.head_name(data, p)
            .is_some_and(|k| k.len() >= 4 && plain_key(&k))
    }

    /// The key name of the record head at `p` (plausible prefixes, then a
    /// type the file's server writes), whatever bytes it holds.
    fn head_name<'d>(&self, data: &'d [u8], p: usize) -> Option<RdbStr<'d>> {
        let q = self.prefixes_end(data, p)?;
        let &t = data.get(q)?;
        if t >= 0xf3 || !self.native(t) {
            return None;
        }
        Some(string(data.get(q + 1..)?).ok()?.1)
    }

    /// Whether a plain-named record and [`RESYNC_DEPTH`] more follow `e`,
    /// the last of them possibly a record head named as the file names
    /// its keys ([`Check::known_head`]) that more damage cut short.
    fn vouches(&mut self, data: &[u8], e: usize, budget: &mut usize) -> bool {
        let mut bounds = Vec::new();
        let n = self.chain(
            data,
            e,
            RESYNC_DEPTH as usize + 1,
            Some(&mut bounds),
            budget,
        );
        n > RESYNC_DEPTH as usize
            || (n == RESYNC_DEPTH as usize
                && bounds.last().is_some_and(|&h| self.known_head(data, h)))
    }

    /// Whether the head of a record named as the file names its keys
    /// starts at `p`: plausible prefixes, a type the file's server writes
    /// and a name [`KeyNames::known`] takes (its prefix is enough: more
    /// damage may cut the rest of the name).
    fn known_head(&self, data: &[u8], p: usize) -> bool {
        self.head_name(data, p)
            .is_some_and(|k| self.names.known(&k))
    }

    /// How many plausible records chain from `p` (the first one read as a
    /// resync candidate), up to `max`; a chain that reaches the end of the
    /// file counts as `max`. `bounds` collects where its records start
    /// and where the last ends; each record read costs `budget` one plus
    /// its size, and the count stops when that is spent.
    fn chain(
        &mut self,
        data: &[u8],
        p: usize,
        max: usize,
        mut bounds: Option<&mut Vec<usize>>,
        budget: &mut usize,
    ) -> usize {
        let mut s = Scratch::default();
        let mut at = p;
        if let Some(b) = bounds.as_deref_mut() {
            b.push(p);
        }
        for n in 0..max {
            if at >= data.len() {
                return max;
            }
            let Some(e) = self.record(data, at, 0, n == 0, &mut s) else {
                return n;
            };
            *budget = budget.saturating_sub(1 + e.saturating_sub(at));
            if e <= at || *budget == 0 {
                return n;
            }
            at = e;
            if let Some(b) = bounds.as_deref_mut() {
                b.push(e);
            }
        }
        max
    }

    /// Whether a chain of records from `b` (inside a value that ends at
    /// `end`, at one of its element boundaries) crosses `end` and goes on:
    /// two plausible records after the one that crosses (a value's last
    /// empty element reads as a string's type byte, the damage after it as
    /// a length, and the record that makes can land on any of the many
    /// offsets where one record starts), or, when the chain held a record
    /// before that one, the head of a record (later damage may cut the
    /// chain short). See [`overran_into_record`]. A first record named as
    /// the file names its keys that holds more than a raw string (an
    /// integer or LZF value, another type) and crosses `end` is enough
    /// read whole alone, when damage right after it leaves it no
    /// successor: an element's bytes seldom read as a name and a value
    /// that checks itself.
    fn overrun_chain(&mut self, data: &[u8], b: usize, end: usize, s: &mut Scratch) -> bool {
        let mut p = b;
        for n in 1..=OVERRUN_CHAIN {
            let Some(e) = self.record(data, p, 0, p == b, s).filter(|&e| e > p) else {
                return p == b && self.strong_named_across(data, b, end, s);
            };
            if e > end {
                return self.record(data, e, 1, false, s).is_some()
                    || (n >= 2 && self.head(data, e))
                    || (n == 1 && self.known_name_at(data, b));
            }
            if e == end {
                return false;
            }
            p = e;
        }
        false
    }

    /// Whether the record at `b`, read whole alone ([`Check::lone_end`]),
    /// is named as the file names its keys, holds more than a raw string
    /// and ends past `end` (see [`Check::overrun_chain`]).
    fn strong_named_across(&mut self, data: &[u8], b: usize, end: usize, s: &mut Scratch) -> bool {
        let Some(at) = self.prefixes_end(data, b) else {
            return false;
        };
        if raw_string(data, at) || !self.known_name_at(data, b) {
            return false;
        }
        let named = std::mem::replace(&mut self.lone_named, true);
        let e = self.lone_end(data, b, s);
        self.lone_named = named;
        e.is_some_and(|e| e > end)
    }

    /// Whether the chain of plausible records from `p` runs over `f` (a
    /// record of it starts before `f` and ends after it) within
    /// [`JUMP_CHAIN`] records: a candidate whose chain merges with the one
    /// from `f` that way read its first records out of damaged bytes.
    fn jumps_over(&mut self, data: &[u8], mut p: usize, f: usize, s: &mut Scratch) -> bool {
        for _ in 0..JUMP_CHAIN {
            if p >= f {
                break;
            }
            match self.record(data, p, 0, false, s) {
                Some(e) if e > p => p = e,
                _ => return false,
            }
        }
        p > f
    }

    /// The offset of the type byte of the key record at `p` (after its
    /// expiry and idle/frequency prefixes) and the value layout it names.
    fn layout_at(&self, data: &[u8], p: usize) -> Option<(usize, RdbLayout)> {
        let h = self.h;
        let q = self.prefixes_end(data, p)?;
        let layout = RdbLayout::from_type_byte(*data.get(q)?, h.flavor, h.version)?;
        Some((q, layout))
    }

    /// Whether the key record at `p` (a plausible one) holds a value whose
    /// entries read as records ([`entries_read_as_records`]).
    fn entries_read_as_records_at(&self, data: &[u8], p: usize) -> bool {
        self.layout_at(data, p)
            .is_some_and(|(_, layout)| entries_read_as_records(layout))
    }

    /// Whether what starts at `p` can follow a record: the end of the data, or
    /// (`depth` 0) a byte that opens a record (strict: one the file's server
    /// writes there), or a plausible record.
    fn successor_ok(&mut self, data: &[u8], p: usize, depth: u8) -> bool {
        let h = self.h;
        let Some(&b) = data.get(p) else {
            // The end of the data follows a record in a file cut short; in
            // one whose EOF opcode is in place, a record that runs to the
            // end ran over it.
            return p == data.len() && data.get(eof_at(data, h)) != Some(&0xff);
        };
        if depth == 0 && !self.strict {
            return self.opens[usize::from(b)];
        }
        if depth == 0 {
            // Strict: what the file's server writes where a record starts.
            return match b {
                0xff => p == eof_at(data, h),
                0xfc | 0xfe | 0xf7 => true,
                0xf8 => self.prefixes_seen & IDLE_SEEN != 0 || !self.keys_seen || !self.server,
                0xf9 => self.prefixes_seen & FREQ_SEEN != 0 || !self.keys_seen || !self.server,
                _ => self.native(b) && RdbLayout::from_type_byte(b, h.flavor, h.version).is_some(),
            };
        }
        self.record(data, p, depth - 1, false, &mut Scratch::default())
            .is_some()
    }

    /// If a plausible record starts at `p`, where it ends. `depth` more records
    /// after it must be plausible too.
    fn plausible(&mut self, data: &[u8], p: usize, depth: u8, s: &mut Scratch) -> Option<usize> {
        self.record(data, p, depth, true, s)
    }

    /// Where the record at `p` starts once its prefix opcodes (expire,
    /// idle, freq) are read; `None` if they are implausible. Strict: an
    /// expiry is a time between 1970 and year 6400, idle and freq only when
    /// the keys read before carry them (a server writes the one its
    /// eviction policy needs on every key, or neither), each at most once
    /// and in the order a server writes them: expiry, idle, freq.
    fn prefixes_end(&self, data: &[u8], p: usize) -> Option<usize> {
        self.prefixes(data, p).map(|(q, _)| q)
    }

    /// [`Check::prefixes_end`], and the prefixes read ([`IDLE_SEEN`],
    /// [`FREQ_SEEN`]).
    fn prefixes(&self, data: &[u8], p: usize) -> Option<(usize, u8)> {
        let mut q = p;
        let mut seen = 0;
        // The rank of the last prefix read (0: none yet).
        let mut last_rank = 0;
        for _ in 0..=MAX_PREFIXES {
            let op = *data.get(q)?;
            let body = data.get(q + 1..)?;
            let rank = match op {
                0xfc | 0xfd => 1,
                0xf8 => 2,
                0xf9 => 3,
                _ => 0,
            };
            if self.strict && self.server && rank != 0 && rank <= last_rank {
                return None;
            }
            last_rank = rank;
            let n = match op {
                0xfc => {
                    let ms = i64::from_le_bytes(body.get(..8)?.try_into().ok()?);
                    if self.strict && !(self.expiry_floor..1 << 47).contains(&ms) {
                        return None;
                    }
                    8
                }
                // Seconds expiries: RDB 1 and 2 only.
                0xfd if self.strict && self.h.version >= 3 => return None,
                0xfd => 4,
                0xf8 | 0xf9 if self.strict && self.keys_seen && self.server => {
                    let bit = if op == 0xf8 { IDLE_SEEN } else { FREQ_SEEN };
                    if self.prefixes_seen & bit == 0 {
                        return None;
                    }
                    if op == 0xf9 {
                        1
                    } else {
                        body.len() - length(body).ok()?.0.len()
                    }
                }
                0xf9 => 1,
                0xf8 => body.len() - length(body).ok()?.0.len(),
                _ => return Some((q, seen)),
            };
            seen |= match op {
                0xf8 => IDLE_SEEN,
                0xf9 => FREQ_SEEN,
                _ => 0,
            };
            if body.len() < n {
                return None;
            }
            q += 1 + n;
        }
        None
    }

    /// [`Check::plausible`]; `first`: `p` is a candidate start rather than
    /// the successor of a plausible record. Strict key rules (printable, or
    /// named as the file names its keys) bind a candidate only: real keys may be binary, so a successor needs
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
        let (q, seen) = self.prefixes(data, p)?;
        let prefixes = q > p;
        let op = *data.get(q)?;
        let body = &data[q + 1..];
        let end_of = |r: &[u8]| data.len() - r.len();
        let after = match op {
            0xff => return (q == eof_at(data, h) && !prefixes).then_some(data.len()),
            _ if prefixes && op >= 0xf3 => return None,
            0xfe => {
                let (r, db) = length(body).ok()?;
                if db >= MAX_DB || (self.strict && !self.db_follows(db, first)) {
                    return None;
                }
                if self.strict && resizedb_follows_selectdb(h, self.server) {
                    // (Read here: RESIZEDB is no record start alone.)
                    let resize = r.strip_prefix(&[0xfb])?;
                    end_of(length(length(resize).ok()?.0).ok()?.0)
                } else {
                    end_of(r)
                }
            }
            // A server writes RESIZEDB right after SELECTDB only (read
            // with it above); a tool's file may have one anywhere.
            0xfb if self.strict && (first || self.server) => return None,
            0xfb => {
                let (r, _) = length(body).ok()?;
                end_of(length(r).ok()?.0)
            }
            0xf5 if self.strict && self.keys_seen && self.server => return None,
            0xfa => {
                let (r, k) = string(body).ok()?;
                if !aux_name(&k) || (self.strict && self.keys_seen && !lua_aux(&k)) {
                    return None;
                }
                end_of(string(r).ok()?.0)
            }
            0xf5 => {
                let (r, code) = string(body).ok()?;
                // A library's code opens with its shebang (`#!lua ...`).
                let mut buf = Vec::new();
                let shebang =
                    !self.strict || code.bytes(&mut buf).is_ok_and(|b| b.starts_with(b"#!"));
                shebang.then_some(end_of(r))?
            }
            t => {
                let layout = RdbLayout::from_type_byte(t, h.flavor, h.version)?;
                if self.strict && !self.native(t) {
                    return None;
                }
                let (r, key) = string(body).ok()?;
                if self.strict && self.no_int_keys && matches!(key, RdbStr::Int(_)) {
                    return None;
                }
                // An empty key after a plausible record, where allowed,
                // needs a value of 2 bytes or more (runs of zero bytes read
                // as empty keys with empty values).
                let empty_successor = !first && self.empty_successors && key.is_empty();
                if self.strict
                    && !empty_successor
                    && !(if first && !self.binary_keys {
                        plain_key(&key) || self.names.known(&key)
                    } else if first && self.empty_keys && key.is_empty() {
                        true
                    } else {
                        short_key(&key)
                    })
                {
                    return None;
                }
                let (r2, ()) = value::skip(r, layout).ok()?;
                if empty_successor && r.len() - r2.len() < 3 {
                    return None;
                }
                let v = Value {
                    layout,
                    type_byte: t,
                    raw: &r[..r.len() - r2.len()],
                    offset: end_of(r) as u64,
                };
                validate(&v, s).ok()?;
                // A server deletes a collection's key with its last
                // element, and its load skips an empty one (rdb.c's
                // "empty keys"): a count of 0 was read out of other bytes.
                if self.strict && self.server && (empty_collection(&v) || min_expiry_unheld(&v)) {
                    return None;
                }
                if self.lone && first {
                    let lzf = layout == RdbLayout::String && r.first() == Some(&0xc3);
                    let checked = self_checking(layout) || lzf || descending_zset(&v, s);
                    let named = self.lone_named && self.names.known(&key);
                    return ((checked && v.raw.len() >= 64) || named).then_some(end_of(r2));
                }
                // The records after it follow a key (with its
                // prefixes), as when the Tracker reads them.
                let state = (self.keys_seen, self.prefixes_seen);
                self.keys_seen = true;
                self.prefixes_seen |= seen;
                let ok = self.successor_ok(data, end_of(r2), depth);
                (self.keys_seen, self.prefixes_seen) = state;
                return ok.then_some(end_of(r2));
            }
        };
        if self.lone && first {
            return None;
        }
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

/// An owned copy of a [`Record::Repaired`], for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepairedRange {
    /// Offset of the first repaired byte.
    pub offset: u64,
    /// The bytes the file holds there, in hex.
    pub found: String,
    /// The bytes its checksum gives, in hex.
    pub fixed: String,
}

impl RepairedRange {
    /// The owned form of a `Repaired` record; `None` for other records.
    pub fn from_record(r: &Record<'_>) -> Option<Self> {
        let Record::Repaired {
            offset,
            found,
            fixed,
        } = r
        else {
            return None;
        };
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect();
        Some(RepairedRange {
            offset: *offset,
            found: hex(found),
            fixed: hex(fixed),
        })
    }
}

impl std::fmt::Display for RepairedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.found.len() / 2;
        write!(
            f,
            "repaired {n} byte{} at offset {} (0x{:x}): the file holds {}, its checksum gives {}",
            if n == 1 { "" } else { "s" },
            self.offset,
            self.offset,
            self.found,
            self.fixed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_floor_is_a_year_before_a_plausible_save_time() {
        let ctime = 1_700_000_000;
        let floor = Some(ctime * 1000 - EXPIRY_STALE_MS);
        assert_eq!(expiry_floor(&RdbStr::Int(ctime)), floor);
        assert_eq!(expiry_floor(&RdbStr::Raw(b"1700000000")), floor);
        // A damaged ctime: before Redis existed, in the future, not a number.
        assert_eq!(expiry_floor(&RdbStr::Int(1_000_000_000)), None);
        assert_eq!(expiry_floor(&RdbStr::Int(i64::MAX / 1000)), None);
        assert_eq!(expiry_floor(&RdbStr::Raw(b"17e8")), None);
    }
}
