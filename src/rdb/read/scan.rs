//! Several threads walking one RDB: the file is cut into byte ranges of
//! [`CHUNK`] bytes, and rayon workers walk them at the same time.
//!
//! A worker does not know where records begin inside its range, nor which
//! db is selected there. It looks for the first offset from which a few
//! records parse cleanly ([`find_sync`]) and walks from it, with the db
//! unknown, to the first record boundary at or past the next range's start.
//! That walk is speculation; one thread (the resolver) accepts the ranges
//! in file order: a range whose walk began exactly where the accepted walk
//! before it ended, at a boundary with no prefix opcode pending, read the
//! same records the sequential reader reads there, and the records before
//! its first SELECTDB get the db the previous range ended with. Any other
//! range (no start found, a false start, an error, a type-6 module value
//! whose end needs the search of the whole pass) is walked again by the
//! resolver from the accepted end with the right db and the pass's own
//! resync budget, so errors name the same offset, db and key as a
//! sequential [`read`](super::read) does.
//!
//! Accepted records are handed to the consumer ([`ChunkPass`]) in two steps:
//! in file order, `observe` sees the records other than keys (aux fields,
//! SELECTDB, RESIZEDB...) and `snapshot` captures what a chunk starts from;
//! then `process` runs on the pool over the chunk's records, and `absorb`
//! merges its results in file order. At most [`WINDOW`] chunks are in
//! flight, so memory does not grow with the file. The CRC-64 runs as one
//! more job over the whole file. Given a [`Release`], the pass gives back
//! the mapped pages behind both the absorbed chunks and the CRC as it goes,
//! so unmapping a big file is spread over the run instead of following it
//! on one thread.
//!
//! Salvage mode is not supported here: callers use the sequential reader.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::prim::{length, string};
use super::reader::{Resync, parse_header, walk};
use super::record::{Checksum, Header, Record, Trailer};
use super::value::skip;
use super::{RdbStr, ReadOptions};
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::model::RdbLayout;
use crate::sink::{Flow, RecordSink, rebase_key, rebase_slice};
use crate::source::Source;

/// Bytes per range: small enough that both cores stay busy to the end and
/// a chunk's records stay in cache, large enough that finding a start and
/// scheduling are noise.
pub const CHUNK: usize = 4 << 20;
/// Gives back the pages of a byte range of the input the pass no longer
/// reads ([`crate::source::Source::release`]); the bytes stay readable.
pub type Release<'r> = &'r (dyn Fn(Range<usize>) + Sync);
/// Chunks walked or processed ahead of the one being merged.
pub const WINDOW: usize = 6;
/// Records that must parse from a candidate start ...
const SYNC_RECORDS: usize = 4;
/// ... within this many bytes (the trial walk sees no more; records cut
/// at its end count when two whole ones came before, so a big value after
/// a start does not hide it, and a trial costs little).
const SYNC_WINDOW: usize = 64 << 10;
/// Candidate offsets tried per range before giving up on it (inside a big
/// value, or past the end of the RDB in an AOF preamble).
const SYNC_SEARCH: usize = 256 << 10;

/// A consumer of a chunked pass (see the module documentation).
pub trait ChunkPass<'d> {
    /// What a chunk's parallel step starts from (settings, hints).
    type Snapshot: Send;
    /// What a chunk's parallel step yields.
    type Out: Send;
    /// The file header, first.
    fn header(&mut self, h: &Header) -> Result<()>;
    /// In file order, before the chunk is processed: every record (most
    /// consumers look at those other than keys only).
    fn observe(&mut self, r: &Record<'d>) -> Result<()>;
    /// The state a chunk starts from (taken before its records are
    /// observed: `process` applies them itself, in place).
    fn snapshot(&mut self) -> Self::Snapshot;
    /// On the pool: the chunk's records, in file order.
    fn process(snap: Self::Snapshot, records: &[Record<'d>]) -> Self::Out;
    /// In file order: a processed chunk, `end` the offset it reached. An
    /// error stops the pass (as a sink error stops a read).
    fn absorb(&mut self, out: Self::Out, end: u64) -> Result<()>;
    /// After the last chunk, with the trailer (as [`RecordSink::finish`]).
    fn finish(&mut self, t: &Trailer) -> Result<()>;
}

/// The error a sink's failure on key record `k` becomes in the reader (its
/// db, key and record offset), for consumers that fail in `process`.
pub fn key_error(k: &super::KeyRecord<'_>, e: Error) -> Error {
    let kb = match k.key {
        RdbStr::Raw(b) => Some(b.to_vec()),
        other => other.to_vec().ok(),
    };
    e.with_key(k.db, kb.as_deref()).with_record_start(k.offset)
}

/// Re-borrows a record from the input it points into.
fn rebase<'d>(data: &'d [u8], r: &Record<'_>) -> Option<Record<'d>> {
    let s = |x: &RdbStr<'_>| -> Option<RdbStr<'d>> {
        Some(match *x {
            RdbStr::Raw(b) => RdbStr::Raw(rebase_slice(data, b)?),
            RdbStr::Int(v) => RdbStr::Int(v),
            RdbStr::Lzf { packed, len } => RdbStr::Lzf {
                packed: rebase_slice(data, packed)?,
                len,
            },
        })
    };
    Some(match r {
        Record::Key(k) => Record::Key(rebase_key(data, k)?),
        Record::Aux { key, value } => Record::Aux {
            key: s(key)?,
            value: s(value)?,
        },
        Record::SelectDb { db } => Record::SelectDb { db: *db },
        Record::ResizeDb { db, keys, expires } => Record::ResizeDb {
            db: *db,
            keys: *keys,
            expires: *expires,
        },
        Record::Function { code } => Record::Function { code: s(code)? },
        Record::FunctionPreGa {
            name,
            engine,
            description,
            code,
        } => Record::FunctionPreGa {
            name: s(name)?,
            engine: s(engine)?,
            description: match description {
                Some(d) => Some(s(d)?),
                None => None,
            },
            code: s(code)?,
        },
        Record::ModuleAux {
            module_id,
            when,
            raw,
        } => Record::ModuleAux {
            module_id: *module_id,
            when: *when,
            raw: rebase_slice(data, raw)?,
        },
        Record::SlotInfo {
            slot,
            keys,
            expires,
        } => Record::SlotInfo {
            slot: *slot,
            keys: *keys,
            expires: *expires,
        },
        Record::Vendor { opcode, raw } => Record::Vendor {
            opcode: *opcode,
            raw: rebase_slice(data, raw)?,
        },
        // Salvage mode only, which does not come here.
        Record::Skipped { .. } | Record::Repaired { .. } => return None,
    })
}

/// Collects a walk's records, re-borrowed from the input.
struct Collect<'d> {
    data: &'d [u8],
    records: Vec<Record<'d>>,
    /// Key record starts (ascending) where the walk is to stop: those of a
    /// speculative walk it joins there (see [`Resolver::rewalk`]).
    join: Vec<u64>,
    /// The one it stopped at.
    joined: Option<u64>,
}

/// Record vectors kept for reuse: a chunk's worth is megabytes, which the
/// allocator would map and unmap (page faults) for every chunk.
type Spare<'d> = Mutex<Vec<Vec<Record<'d>>>>;

impl<'d> Collect<'d> {
    fn new(data: &'d [u8], spare: &Spare<'d>) -> Self {
        let records = spare.lock().ok().and_then(|mut s| s.pop());
        Collect {
            data,
            records: records.unwrap_or_default(),
            join: Vec::new(),
            joined: None,
        }
    }
}

/// Returns a record vector for reuse.
fn give_back<'d>(spare: &Spare<'d>, mut v: Vec<Record<'d>>) {
    v.clear();
    if let Ok(mut s) = spare.lock()
        && s.len() < 2 * WINDOW
    {
        s.push(v);
    }
}

impl RecordSink for Collect<'_> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if let Record::Key(k) = r
            && self.join.binary_search(&k.offset).is_ok()
        {
            self.joined = Some(k.offset);
            return Ok(Flow::Stop);
        }
        let Some(r) = rebase(self.data, r) else {
            return Err(Error::sink("a record outside the input"));
        };
        self.records.push(r);
        Ok(Flow::Continue)
    }
}

/// Counts records of a trial walk; stops after [`SYNC_RECORDS`].
struct Count(usize);

impl RecordSink for Count {
    fn record(&mut self, _r: &Record<'_>) -> Result<Flow> {
        self.0 += 1;
        Ok(if self.0 >= SYNC_RECORDS {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
}

/// True when `b` can begin a record in the keyspace: a type byte, or an
/// opcode that precedes or separates keys.
fn may_start(b: u8, h: &Header) -> bool {
    matches!(b, 0xf8 | 0xf9 | 0xfb | 0xfc | 0xfd | 0xfe)
        || RdbLayout::from_type_byte(b, h.flavor, h.version)
            .is_some_and(|l| l != RdbLayout::ModulePreGa)
}

/// Prefix opcodes tried before a key's type byte.
const MAX_PREFIXES: usize = 4;

/// A cheap first test of a candidate start (no allocation on failure):
/// prefix opcodes, then a type byte, a key and a value that skip cleanly;
/// a SELECTDB or RESIZEDB is left to the trial walk.
fn plausible(view: &[u8], p: usize, h: &Header) -> bool {
    let mut i = view.get(p..).unwrap_or_default();
    for _ in 0..=MAX_PREFIXES {
        let Some((&op, rest)) = i.split_first() else {
            return false;
        };
        let fixed = match op {
            0xfc => 8,
            0xfd => 4,
            0xf9 => 1,
            0xf8 => match length(rest) {
                Ok((r, _)) => {
                    i = r;
                    continue;
                }
                Err(_) => return false,
            },
            0xfe | 0xfb => return true,
            t => {
                let Some(layout) = RdbLayout::from_type_byte(t, h.flavor, h.version) else {
                    return false;
                };
                if layout == RdbLayout::ModulePreGa {
                    return false;
                }
                return string(rest).is_ok_and(|(r, _)| skip(r, layout).is_ok());
            }
        };
        let Some(r) = rest.get(fixed..) else {
            return false;
        };
        i = r;
    }
    false
}

/// The first offset in `from..to` from which `SYNC_RECORDS` records (or
/// at least one, then the EOF opcode) parse cleanly: a plausible record
/// boundary, to be confirmed by the walk before it.
pub fn find_sync(data: &[u8], h: &Header, from: usize, to: usize) -> Option<usize> {
    let opts = ReadOptions {
        verify_checksum: false,
        ..ReadOptions::default()
    };
    let to = to.min(data.len()).min(from.saturating_add(SYNC_SEARCH));
    (from..to).find(|&p| {
        if !may_start(data[p], h) {
            return false;
        }
        let view = &data[..data.len().min(p.saturating_add(SYNC_WINDOW))];
        if !plausible(view, p, h) {
            return false;
        }
        let mut c = Count(0);
        match walk(
            view,
            h,
            p,
            0,
            &opts,
            &mut c,
            &mut Resync::none(),
            usize::MAX,
        ) {
            Ok(_) => c.0 > 0,
            Err(e) => {
                c.0 >= 2
                    && view.len() < data.len()
                    && matches!(e.kind(), ErrorKind::Parse(Problem::Truncated { .. }))
            }
        }
    })
}

/// A range's speculative walk.
struct Walked<'d> {
    /// Where the walk began (`None`: no start found).
    sync: Option<usize>,
    records: Vec<Record<'d>>,
    outcome: Result<Trailer>,
}

/// Starts tried per range: a start found inside a big value (whose
/// elements look like records: quicklist nodes, runs of zero bytes) mostly
/// ends in an error, a stray EOF opcode or a record that swallows the
/// range; a start past the value falls in step, and the resolver joins
/// such a walk where it meets it, walking only the stretch before.
const SPECULATE_TRIES: usize = 16;
/// After a doubtful walk the next start is looked for at least this far
/// on: big values are crossed in a few tries.
const SPECULATE_STEP: usize = 64 << 10;

/// Walks the range `from..limit`: from its first plausible boundary, with
/// the db unknown (records before a SELECTDB are fixed when accepted); a
/// walk that fails, or reads fewer than [`SYNC_RECORDS`] records to the
/// range's end, is tried again from the next plausible boundary.
fn speculate<'d>(
    data: &'d [u8],
    h: &Header,
    opts: &ReadOptions,
    mut from: usize,
    limit: usize,
    spare: &Spare<'d>,
) -> Walked<'d> {
    let opts = ReadOptions {
        verify_checksum: false,
        ..opts.clone()
    };
    for tries in 1.. {
        let Some(sync) = find_sync(data, h, from, limit) else {
            break;
        };
        let mut c = Collect::new(data, spare);
        let outcome = walk(data, h, sync, 0, &opts, &mut c, &mut Resync::none(), limit);
        // Where to look again when the walk is doubtful: past the bytes a
        // false start read before it failed (its records were not there).
        let again = match &outcome {
            Ok(t) if t.stopped => (c.records.len() < SYNC_RECORDS).then_some(sync + 1),
            // An EOF opcode before the end of the data: likely a 0xFF byte.
            Ok(t) => (t.end_offset as usize != data.len()).then_some(t.end_offset as usize),
            Err(e) => Some(e.location().offset.map_or(sync + 1, |o| o as usize + 1)),
        };
        let Some(again) = again.filter(|_| tries < SPECULATE_TRIES) else {
            return Walked {
                sync: Some(sync),
                records: c.records,
                outcome,
            };
        };
        give_back(spare, c.records);
        from = again.max(sync + SPECULATE_STEP);
    }
    Walked {
        sync: None,
        records: Vec::new(),
        outcome: Err(Error::sink("no record boundary found")),
    }
}

/// Where a speculative walk joins the accepted chain ending at `pos`: the
/// index of its first record there, when its walk began at `pos` or passed
/// a key record starting at `pos` (no prefix opcode pending, so from there
/// on it read what the sequential walk reads, the db aside), and it ended
/// without error.
fn accepted_from(w: &Walked<'_>, pos: usize) -> Option<usize> {
    if w.outcome.is_err() {
        return None;
    }
    if w.sync? == pos {
        return Some(0);
    }
    w.records
        .iter()
        .position(|r| match r {
            Record::Key(k) => k.offset as usize >= pos,
            _ => false,
        })
        .filter(|&i| matches!(&w.records[i], Record::Key(k) if k.offset as usize == pos))
}

/// A job's result slot, and a signal that some job finished.
type Slot<T> = Arc<Mutex<Option<T>>>;

#[derive(Default)]
struct Signal {
    done: Mutex<u64>,
    cv: Condvar,
}

impl Signal {
    fn notify(&self) {
        if let Ok(mut d) = self.done.lock() {
            *d += 1;
        }
        self.cv.notify_all();
    }
    /// Runs a queued job here, or waits a little for one to finish (the
    /// timeout covers a signal sent before the wait began).
    fn help_or_wait(&self) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            return;
        }
        if let Ok(d) = self.done.lock() {
            let _ = self.cv.wait_timeout(d, Duration::from_millis(1));
        }
    }
}

fn ready<T>(s: &Slot<T>) -> bool {
    s.lock().map_or(true, |g| g.is_some())
}

fn take<T>(s: &Slot<T>) -> Option<T> {
    s.lock().ok().and_then(|mut g| g.take())
}

/// Reads `data` (a whole RDB) in chunks on the rayon pool, feeding `pass`;
/// the records, the trailer and any error are those of [`super::read`]
/// over the same data (salvage mode excepted: see the module docs).
pub fn read_chunked<'d, P: ChunkPass<'d> + Send>(
    data: &'d [u8],
    opts: &ReadOptions,
    pass: &mut P,
    release: Option<Release<'_>>,
) -> Result<Trailer>
where
    P::Snapshot: 'd,
    P::Out: 'd,
{
    read_in_chunks(data, opts, pass, CHUNK, release)
}

/// [`read_chunked`] with ranges of `chunk` bytes (tests use tiny ones to
/// put range starts everywhere).
pub(crate) fn read_in_chunks<'d, P: ChunkPass<'d> + Send>(
    data: &'d [u8],
    opts: &ReadOptions,
    pass: &mut P,
    chunk: usize,
    release: Option<Release<'_>>,
) -> Result<Trailer>
where
    P::Snapshot: 'd,
    P::Out: 'd,
{
    let chunk = chunk.max(1);
    let header = parse_header(data, opts)?;
    pass.header(&header)?;
    let stop = AtomicBool::new(false);
    let crc_slot: Slot<u64> = Arc::new(Mutex::new(None));
    let signal = Signal::default();
    let spare: Spare<'d> = Mutex::new(Vec::new());
    // Bytes the CRC job has read (all of them when there is none).
    let crc_done = AtomicUsize::new(usize::MAX);
    let res = rayon::scope(|s| {
        // The CRC covers everything before the 8-byte trailer.
        if opts.verify_checksum && header.version >= 5 && data.len() >= 8 {
            let slot = Arc::clone(&crc_slot);
            let done = &crc_done;
            done.store(0, Ordering::Relaxed);
            s.spawn(move |_| {
                let c = crate::crc::crc64_reporting(&data[..data.len() - 8], done);
                if let Ok(mut g) = slot.lock() {
                    *g = Some(c);
                }
            });
        }
        let mut r = Resolver {
            data,
            header,
            opts,
            pos: header.len,
            db: 0,
            chunk,
            resync: Resync::for_input(data.len()),
            signal: &signal,
            spare: &spare,
            stop: &stop,
            release,
            released: 0,
            crc_done: &crc_done,
        };
        let out = r.run(s, pass);
        stop.store(true, Ordering::Relaxed);
        out
    });
    let mut t = res?;
    if let (true, Checksum::Unchecked { stored }) = (opts.verify_checksum, t.checksum) {
        let eof_end = usize::try_from(t.end_offset)
            .unwrap_or(0)
            .saturating_sub(8)
            .min(data.len());
        let ahead = take(&crc_slot).filter(|_| eof_end + 8 == data.len());
        let computed = ahead.unwrap_or_else(|| crate::crc::crc64(&data[..eof_end]));
        t.checksum = if computed == stored {
            Checksum::Ok { value: stored }
        } else {
            Checksum::Mismatch { stored, computed }
        };
        pass.finish(&t)?;
        if let Checksum::Mismatch { stored, computed } = t.checksum {
            let mut e = Error::new(ErrorKind::Checksum { stored, computed });
            e.location_mut().offset = Some(eof_end as u64);
            return Err(e);
        }
        return Ok(t);
    }
    pass.finish(&t)?;
    Ok(t)
}

/// The thread that accepts ranges in file order.
struct Resolver<'d, 'a> {
    data: &'d [u8],
    header: Header,
    opts: &'a ReadOptions,
    /// Where the accepted walk ended (a record boundary).
    pos: usize,
    /// The db selected there.
    db: u64,
    /// Bytes per range.
    chunk: usize,
    /// The pass's budget for type-6 module values (walks on this thread).
    resync: Resync,
    signal: &'a Signal,
    /// Record vectors for reuse.
    spare: &'a Spare<'d>,
    stop: &'a AtomicBool,
    /// Gives back pages no longer read, if the input allows it.
    release: Option<Release<'a>>,
    /// Bytes before this offset were given back.
    released: usize,
    /// Bytes the CRC job has read.
    crc_done: &'a AtomicUsize,
}

impl<'d> Resolver<'d, '_> {
    /// Gives back the pages before `end` (where an absorbed chunk ended:
    /// nothing before it is read again, but by the walks of the next range,
    /// which read ahead of it) that the CRC job has read, once a
    /// [`Source::RELEASE_STEP`] has gathered. Here, not as a job: queued behind the
    /// chunks, such jobs ran at the end, on one thread.
    fn release_behind(&mut self, end: u64) {
        let Some(release) = self.release else { return };
        let low = usize::try_from(end)
            .unwrap_or(usize::MAX)
            .min(self.crc_done.load(Ordering::Relaxed));
        if low >= self.released.saturating_add(Source::RELEASE_STEP) {
            release(self.released..low);
            self.released = low;
        }
    }

    /// Walks a range whose speculative walk `w` did not begin on the
    /// accepted chain: from the accepted end, with the db, until `limit`
    /// or until it meets a key record that `w` also read (from a record's
    /// first byte both read the same bytes alike: `w`'s records from there
    /// on are the sequential walk's, their db aside). A start found inside
    /// a big value usually falls back in step after it, so only the stretch
    /// before is walked twice.
    fn rewalk(
        &mut self,
        w: Option<Walked<'d>>,
        limit: usize,
    ) -> (Vec<Record<'d>>, Result<Trailer>) {
        let mut c = Collect::new(self.data, self.spare);
        let w = w.filter(|w| w.outcome.is_ok());
        if let Some(w) = &w {
            c.join.extend(w.records.iter().filter_map(|r| match r {
                Record::Key(k) if k.offset as usize > self.pos => Some(k.offset),
                _ => None,
            }));
        }
        let opts = ReadOptions {
            verify_checksum: false,
            ..self.opts.clone()
        };
        let outcome = walk(
            self.data,
            &self.header,
            self.pos,
            self.db,
            &opts,
            &mut c,
            &mut self.resync,
            limit,
        );
        let (Some(at), Some(w)) = (c.joined, w) else {
            return (c.records, outcome);
        };
        let mut records = c.records;
        let mut db = records
            .iter()
            .rev()
            .find_map(|r| match r {
                Record::SelectDb { db } => Some(*db),
                _ => None,
            })
            .unwrap_or(self.db);
        let from = w
            .records
            .iter()
            .position(|r| matches!(r, Record::Key(k) if k.offset == at))
            .unwrap_or(w.records.len());
        let mut rest = w.records;
        for r in rest.drain(from..) {
            match r {
                Record::Key(mut k) => {
                    k.db = db;
                    records.push(Record::Key(k));
                }
                Record::ResizeDb { keys, expires, .. } => {
                    records.push(Record::ResizeDb { db, keys, expires })
                }
                Record::SelectDb { db: d } => {
                    db = d;
                    records.push(r);
                }
                other => records.push(other),
            }
        }
        give_back(self.spare, rest);
        (records, w.outcome)
    }
}

/// A processed chunk waiting to be absorbed (or the error that ends the
/// pass after it).
struct Done<O> {
    out: Slot<O>,
    end: u64,
    then: Option<Result<Trailer>>,
}

impl<'d, 'a> Resolver<'d, 'a> {
    fn run<'s, P: ChunkPass<'d>>(&mut self, s: &rayon::Scope<'s>, pass: &mut P) -> Result<Trailer>
    where
        'd: 's,
        'a: 's,
        P::Snapshot: 's,
        P::Out: 's,
    {
        let data = self.data;
        let h = self.header;
        let chunk = self.chunk;
        // The last two chunks' worth is cut four times finer: the pass ends
        // when its last chunk does, and the chunk before may already be done
        // (a 16 MiB analysis chunk of LZF lists is ~20 ms on one core, the
        // other idle).
        let coarse = data.len().saturating_sub(2 * chunk) / chunk;
        let fine = (chunk / 4).max(1);
        let n = (coarse + (data.len() - coarse * chunk).div_ceil(fine)).max(1);
        // Range k is `bound(k)..bound(k + 1)`; range 0 starts after the header.
        let bound = |k: usize| {
            if k == 0 {
                h.len
            } else if k <= coarse {
                k * chunk
            } else {
                ((k - coarse).saturating_mul(fine))
                    .saturating_add(coarse * chunk)
                    .min(data.len())
            }
        };
        let mut walks: VecDeque<(usize, Slot<Walked<'d>>)> = VecDeque::new();
        let mut done: VecDeque<Done<P::Out>> = VecDeque::new();
        let mut next = 1;
        let mut started = false;
        loop {
            // Keep ranges walking ahead (range 0 is the resolver's own).
            while next < n && walks.len() + done.len() < 2 * WINDOW {
                let (from, limit) = (bound(next), bound(next + 1));
                let slot: Slot<Walked<'d>> = Arc::new(Mutex::new(None));
                let (sl, sig, stop) = (Arc::clone(&slot), self.signal, self.stop);
                let (spare, opts) = (self.spare, self.opts);
                s.spawn(move |_| {
                    if !stop.load(Ordering::Relaxed) {
                        let w = speculate(data, &h, opts, from, limit, spare);
                        if let Ok(mut g) = sl.lock() {
                            *g = Some(w);
                        }
                    }
                    sig.notify();
                });
                walks.push_back((next, slot));
                next += 1;
            }
            // Absorb processed chunks in order.
            while done.front().is_some_and(|d| ready(&d.out)) {
                let Some(d) = done.pop_front() else { break };
                let out = take(&d.out).ok_or_else(|| Error::sink("a chunk went missing"))?;
                pass.absorb(out, d.end)?;
                self.release_behind(d.end);
                if let Some(then) = d.then {
                    return then;
                }
            }
            if done.len() >= WINDOW {
                self.signal.help_or_wait();
                continue;
            }
            // The next range to resolve: the first one at the start.
            let walked = if !started {
                // Range 0, from the header: walked here.
                started = true;
                let limit = if n == 1 { usize::MAX } else { bound(1) };
                Some((0, limit, None))
            } else {
                match walks.front() {
                    None if done.is_empty() => {
                        // Past the last range without reaching EOF: the
                        // sequential walk from here reports what follows.
                        Some((n, usize::MAX, None))
                    }
                    None => {
                        self.signal.help_or_wait();
                        continue;
                    }
                    Some((_, slot)) if !ready(slot) => {
                        self.signal.help_or_wait();
                        continue;
                    }
                    Some(&(k, _)) => {
                        let Some((_, slot)) = walks.pop_front() else {
                            continue;
                        };
                        let limit = if k + 1 >= n { usize::MAX } else { bound(k + 1) };
                        Some((k, limit, take(&slot)))
                    }
                }
            };
            let Some((_k, limit, w)) = walked else {
                continue;
            };
            if limit != usize::MAX && limit <= self.pos {
                // Already covered by the walk before.
                continue;
            }
            let joins = w.as_ref().and_then(|w| accepted_from(w, self.pos));
            let (mut records, outcome) = match (w, joins) {
                (Some(w), Some(from)) => {
                    let mut records = w.records;
                    records.drain(..from);
                    (records, w.outcome)
                }
                (w, _) => self.rewalk(w, limit),
            };
            // Records before the first SELECTDB belong to the db selected
            // at the start.
            let db = self.db;
            for r in &mut records {
                match r {
                    Record::Key(k) => k.db = db,
                    Record::ResizeDb { db: d, .. } => *d = db,
                    Record::SelectDb { .. } => break,
                    _ => {}
                }
            }
            if let Some(d) = records.iter().rev().find_map(|r| match r {
                Record::SelectDb { db } => Some(*db),
                _ => None,
            }) {
                self.db = d;
            }
            let snap = pass.snapshot();
            for r in &records {
                pass.observe(r)?;
            }
            let (end, then) = match &outcome {
                Ok(t) if t.stopped => {
                    self.pos = t.end_offset as usize;
                    (t.end_offset, None)
                }
                Ok(t) => (t.end_offset, Some(outcome)),
                Err(e) => (e.location().offset.unwrap_or(0), Some(outcome)),
            };
            let slot: Slot<P::Out> = Arc::new(Mutex::new(None));
            let (sl, sig, spare) = (Arc::clone(&slot), self.signal, self.spare);
            s.spawn(move |_| {
                let out = P::process(snap, &records);
                give_back(spare, records);
                if let Ok(mut g) = sl.lock() {
                    *g = Some(out);
                }
                sig.notify();
            });
            let last = then.is_some();
            done.push_back(Done {
                out: slot,
                end,
                then,
            });
            if last {
                // Nothing after the EOF or an error: stop walking ahead.
                self.stop.store(true, Ordering::Relaxed);
                walks.clear();
                next = n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::FnSink;

    /// Writes every record (Debug text) and the trailer.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl<'d> ChunkPass<'d> for Log {
        type Snapshot = ();
        type Out = Vec<String>;
        fn header(&mut self, h: &Header) -> Result<()> {
            self.0.push(format!("{h:?}"));
            Ok(())
        }
        fn observe(&mut self, r: &Record<'d>) -> Result<()> {
            if !matches!(r, Record::Key(_)) {
                self.0.push(format!("observed {r:?}"));
            }
            Ok(())
        }
        fn snapshot(&mut self) {}
        fn process((): (), records: &[Record<'d>]) -> Vec<String> {
            records.iter().map(|r| format!("{r:?}")).collect()
        }
        fn absorb(&mut self, out: Vec<String>, _end: u64) -> Result<()> {
            self.0.extend(out);
            Ok(())
        }
        fn finish(&mut self, t: &Trailer) -> Result<()> {
            self.0.push(format!("{t:?}"));
            Ok(())
        }
    }

    /// What the sequential reader delivers, in the same notation (records
    /// other than keys also as `observed`, which the chunked pass reports
    /// before the chunk's records: compared separately).
    fn sequential(data: &[u8], opts: &ReadOptions) -> (Vec<String>, Vec<String>, String) {
        let (mut recs, mut seen) = (Vec::new(), Vec::new());
        let mut fin = None;
        struct S<'a>(
            &'a mut Vec<String>,
            &'a mut Vec<String>,
            &'a mut Option<String>,
        );
        impl RecordSink for S<'_> {
            fn header(&mut self, h: &Header) -> Result<()> {
                self.0.push(format!("{h:?}"));
                Ok(())
            }
            fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
                if !matches!(r, Record::Key(_)) {
                    self.1.push(format!("observed {r:?}"));
                }
                self.0.push(format!("{r:?}"));
                Ok(Flow::Continue)
            }
            fn finish(&mut self, t: &Trailer) -> Result<()> {
                *self.2 = Some(format!("{t:?}"));
                Ok(())
            }
        }
        let r = super::super::read(data, opts, &mut S(&mut recs, &mut seen, &mut fin));
        recs.extend(fin);
        (recs, seen, format!("{:?}", r.map_err(|e| e.to_string())))
    }

    fn check(data: &[u8], opts: &ReadOptions, what: &str) {
        let (want, want_seen, want_res) = sequential(data, opts);
        for chunk in [13, 64, 301, 4096, CHUNK] {
            let mut log = Log::default();
            let res = read_in_chunks(data, opts, &mut log, chunk, None);
            let (seen, recs): (Vec<String>, Vec<String>) =
                log.0.into_iter().partition(|l| l.starts_with("observed "));
            assert_eq!(recs, want, "{what}, chunk {chunk}");
            assert_eq!(seen, want_seen, "{what}, chunk {chunk}");
            assert_eq!(
                format!("{:?}", res.map_err(|e| e.to_string())),
                want_res,
                "{what}, chunk {chunk}"
            );
        }
    }

    /// Every RDB of the shared corpus (many dbs, functions, module aux,
    /// streams, other writers) reads the same in chunks as sequentially,
    /// with ranges starting everywhere.
    #[test]
    fn chunks_read_what_the_sequential_reader_reads() {
        let files = crate::testutil::corpus_rdb_files();
        assert!(files.len() >= 10, "corpus files not found");
        for f in &files {
            let data = std::fs::read(f).unwrap();
            check(&data, &ReadOptions::default(), &f.display().to_string());
        }
    }

    /// Damaged copies: the same records up to the same error.
    #[test]
    fn chunks_fail_where_the_sequential_reader_fails() {
        let files = crate::testutil::for_each_flipped_corpus_file(
            0x6a09_e667_f3bc_c908,
            30,
            |path, round, d, opts| check(d, opts, &format!("{path:?} round {round}")),
        );
        assert!(files >= 3, "corpus files not found");
    }

    /// A speculative start inside a value is not trusted: the resolver
    /// walks the range again (records still equal: checked above); here,
    /// `find_sync` finds the true boundary on a plain file.
    #[test]
    fn sync_finds_record_starts() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let data = std::fs::read(root.join("corpus/redis-7.0/encodings.rdb")).unwrap();
        let opts = ReadOptions::default();
        let h = parse_header(&data, &opts).unwrap();
        let mut starts = Vec::new();
        let mut sink = FnSink(|r: &Record<'_>| {
            if let Record::Key(k) = r {
                starts.push(k.offset as usize);
            }
            Ok(Flow::Continue)
        });
        super::super::read(&data, &opts, &mut sink).unwrap();
        let hits = starts
            .iter()
            .filter(|&&s| find_sync(&data, &h, s, s + 1) == Some(s))
            .count();
        assert!(hits * 10 >= starts.len() * 9, "{hits} of {}", starts.len());
    }
}
