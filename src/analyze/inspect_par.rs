//! `inspect` over a whole file in memory, on the rayon pool.
//!
//! Profiling a 1M-key snapshot showed the single-threaded pass spending its
//! time in three separable parts: the walk over records (the reader), the
//! encoding of aggregates after loading (LZF blobs decompressed and counted,
//! hashtable layouts walked), and the CRC-64 plus the page faults of first
//! touching the mapping. Here the reader stays on one thread and does the
//! cheap per-key accounting; aggregates whose encoding needs a look inside
//! are handed out in batches to the pool, located by their file offset in
//! the shared bytes (records themselves are borrowed for one call only); the
//! CRC runs as another job over the bytes up to the trailer. The report is
//! the same as [`InspectSink`]'s. When anything fails, the sequential sink
//! reruns the file so the error names the first bad key exactly as it would
//! without parallelism.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::Scope;

use super::inspect::{Inspect, InspectSink, TypeStats};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{DataType, Encoding, RdbLayout};
use crate::rdb::read::prim::prefetch;
use crate::rdb::read::{Checksum, Header, ReadOptions, Record, Scratch, Trailer, Value, read};
use crate::server::{Profile, Target, key_encoding, loaded_encoding};
use crate::sink::{Flow, RecordSink};
use crate::source::Source;

/// Keys per job: large enough that scheduling is noise, small enough to
/// keep both cores busy until the end.
const BATCH: usize = 2048;
/// Batches waiting for a worker before the reader decodes one itself: the
/// backlog, hence the memory held, stays bounded (~40 bytes per key).
const MAX_PENDING: usize = 32;
/// Bytes of the next job's value prefetched while a job runs: the part the
/// encoding decision reads (a blob header, or the first elements).
const JOB_PREFETCH: u64 = 2048;

/// Keys between two looks at what can be given back.
const RELEASE_EVERY: u32 = 4096;

/// Where a deferred value lies, and what it is counted under.
#[derive(Clone, Copy)]
struct Job {
    db: u64,
    layout: RdbLayout,
    type_byte: u8,
    offset: u64,
    len: u64,
}

/// Per-(db, type, encoding) counts.
type Types = BTreeMap<(u64, DataType, Encoding), TypeStats>;

/// State shared by the reader and the jobs.
struct Shared {
    types: Mutex<Types>,
    failed: AtomicBool,
    pending: AtomicUsize,
    crc: Mutex<Option<u64>>,
    /// Bytes the CRC job has read (all of them when there is none).
    crc_done: AtomicUsize,
    /// File offsets of the first values of the batches not yet decoded.
    in_flight: Mutex<BTreeSet<u64>>,
}

/// True when the loaded encoding of `layout` needs a look at the value's
/// elements; false when it follows from the layout, a length prefix or a
/// blob's header alone (read by the reader: the bytes are in its cache,
/// where a job would wait for memory).
fn needs_decoding(layout: RdbLayout, p: &Profile) -> bool {
    use RdbLayout::*;
    match layout {
        // Converted on the header's count (see `server::loaded_encoding`).
        SetIntset | SetListpack | ZsetZiplist | ZsetListpack | HashZiplist | HashListpack => false,
        _ => match layout.data_type() {
            DataType::String | DataType::Stream | DataType::Module => false,
            DataType::Array | DataType::Cron => false,
            // Before 7.2 every list loads as a quicklist.
            DataType::List => p.target >= Target::Redis72,
            DataType::Set | DataType::Zset | DataType::Hash => true,
        },
    }
}

/// Decodes the encodings of a batch and adds them to the shared counts.
fn run_batch(data: &[u8], profile: &Profile, jobs: &[Job], shared: &Shared) {
    let mut scratch = Scratch::default();
    let mut local = Types::new();
    for (n, j) in jobs.iter().enumerate() {
        // The values lie behind the reader, long evicted from this core's
        // caches: fetching the next one while this one is decoded halves
        // the jobs' time.
        if let Some(next) = jobs.get(n + 1) {
            let from = usize::try_from(next.offset).unwrap_or(usize::MAX);
            let len = usize::try_from(next.len.min(JOB_PREFETCH)).unwrap_or(0);
            prefetch(data, from & !63, from.saturating_add(len));
        }
        let (Ok(start), Ok(len)) = (usize::try_from(j.offset), usize::try_from(j.len)) else {
            shared.failed.store(true, Ordering::Relaxed);
            return;
        };
        let Some(raw) = data.get(start..start.saturating_add(len)) else {
            shared.failed.store(true, Ordering::Relaxed);
            return;
        };
        let v = Value {
            layout: j.layout,
            type_byte: j.type_byte,
            raw,
            offset: j.offset,
        };
        match loaded_encoding(&v, profile, &mut scratch) {
            Ok(enc) => {
                let t = local.entry((j.db, j.layout.data_type(), enc)).or_default();
                t.keys += 1;
                t.value_bytes += j.len;
            }
            Err(_) => {
                shared.failed.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
    if let Ok(mut all) = shared.types.lock() {
        for (k, v) in local {
            let t = all.entry(k).or_default();
            t.keys += v.keys;
            t.value_bytes += v.value_bytes;
        }
    }
}

/// The reader-side sink: counts keys inline, defers encodings.
struct Deferring<'s, 'scope> {
    inner: InspectSink,
    scope: &'s Scope<'scope>,
    data: &'scope [u8],
    shared: &'scope Shared,
    batch: Vec<Job>,
    scratch: Scratch,
    release: &'scope (dyn Fn(Range<usize>) + Sync),
    /// Bytes before this offset were given back.
    released: usize,
    /// Keys since the last look at what can be given back.
    since_release: u32,
}

impl<'scope> Deferring<'_, 'scope> {
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let jobs = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let profile = self.inner.profile();
        let (data, shared) = (self.data, self.shared);
        if shared.pending.load(Ordering::Relaxed) >= MAX_PENDING {
            run_batch(data, &profile, &jobs, shared);
            return;
        }
        shared.pending.fetch_add(1, Ordering::Relaxed);
        let first = jobs[0].offset;
        if let Ok(mut f) = shared.in_flight.lock() {
            f.insert(first);
        }
        self.scope.spawn(move |_| {
            run_batch(data, &profile, &jobs, shared);
            if let Ok(mut f) = shared.in_flight.lock() {
                f.remove(&first);
            }
            shared.pending.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Gives back the pages before `at` (the reader's position) that no job
    /// (queued, or still being batched) and no checksum still reads, in [`Source::RELEASE_STEP`]s, as a job: the
    /// unmapping is then spread over the run on whichever core is free,
    /// instead of taking a sixth of the time at the end.
    fn release_behind(&mut self, at: u64) {
        let shared = self.shared;
        let mut low = usize::try_from(at).unwrap_or(usize::MAX);
        low = low.min(shared.crc_done.load(Ordering::Relaxed));
        if let Some(j) = self.batch.first() {
            low = low.min(usize::try_from(j.offset).unwrap_or(usize::MAX));
        }
        match shared.in_flight.lock() {
            Ok(f) => {
                if let Some(&first) = f.first() {
                    low = low.min(usize::try_from(first).unwrap_or(usize::MAX));
                }
            }
            Err(_) => return,
        }
        if low < self.released.saturating_add(Source::RELEASE_STEP) {
            return;
        }
        let range = self.released..low;
        self.released = low;
        let release = self.release;
        self.scope.spawn(move |_| release(range));
    }
}

impl RecordSink for Deferring<'_, '_> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.inner.header(h)
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        let Record::Key(k) = r else {
            self.inner.other_record(r);
            return Ok(Flow::Continue);
        };
        let profile = self.inner.profile();
        self.since_release += 1;
        if self.since_release >= RELEASE_EVERY {
            self.since_release = 0;
            self.release_behind(k.offset);
        }
        self.inner.count_key(k)?;
        let v = &k.value;
        if needs_decoding(v.layout, &profile) {
            self.batch.push(Job {
                db: k.db,
                layout: v.layout,
                type_byte: v.type_byte,
                offset: v.offset,
                len: v.raw.len() as u64,
            });
            if self.batch.len() >= BATCH {
                self.flush();
            }
        } else {
            // Strings depend on the key too (Redis 8 embeds it).
            let enc = key_encoding(k, &profile, &mut self.scratch)?;
            let ts = TypeStats {
                keys: 1,
                value_bytes: v.raw.len() as u64,
            };
            self.inner.add_types(k.db, v.data_type(), enc, &ts);
        }
        Ok(Flow::Continue)
    }

    // The report is finished after the jobs joined (see `inspect`).
    fn finish(&mut self, _t: &Trailer) -> Result<()> {
        self.flush();
        Ok(())
    }
}

/// Inspects `data` (a whole RDB file) in parallel; returns the report (as
/// far as it got) and the read result, exactly as running an
/// [`InspectSink`] through [`read`] would.
pub fn inspect(
    data: &[u8],
    opts: &ReadOptions,
    target: Option<Target>,
    now_ms: i64,
) -> (Inspect, Result<Trailer>) {
    inspect_with(data, opts, &|| {
        InspectSink::new(data.len() as u64, target, now_ms)
    })
}

/// As [`inspect`], with the sink `make` builds (e.g. one that also counts
/// per slot); `make` is called again for the sequential rerun after a
/// failure.
pub fn inspect_with(
    data: &[u8],
    opts: &ReadOptions,
    make: &(dyn Fn() -> InspectSink + Sync),
) -> (Inspect, Result<Trailer>) {
    inspect_releasing(data, opts, make, &|_| {})
}

/// As [`inspect_with`]; `release` is told the byte ranges of `data` that
/// will not be read again (e.g. to drop a mapping's pages with
/// [`crate::source::Source::release`]). Unmapping a 500 MB file's pages
/// took a sixth of the run when done at the end, on one core; released
/// behind the reader, it overlaps the read. Reading a released byte again
/// must still work (as a mapping refaults it).
pub fn inspect_releasing(
    data: &[u8],
    opts: &ReadOptions,
    make: &(dyn Fn() -> InspectSink + Sync),
    release: &(dyn Fn(Range<usize>) + Sync),
) -> (Inspect, Result<Trailer>) {
    let sequential = |data: &[u8], opts: &ReadOptions| {
        let mut sink = make();
        let res = read(data, opts, &mut sink);
        (sink.report, res)
    };
    let shared = Shared {
        types: Mutex::new(Types::new()),
        failed: AtomicBool::new(false),
        pending: AtomicUsize::new(0),
        crc: Mutex::new(None),
        crc_done: AtomicUsize::new(data.len()),
        in_flight: Mutex::new(BTreeSet::new()),
    };
    // An RDB ends with the EOF opcode and the 8-byte CRC of everything
    // before it: computed ahead, checked against where the trailer is found.
    let crc_end = data.len().checked_sub(8);
    let unchecked = ReadOptions {
        verify_checksum: false,
        ..opts.clone()
    };
    let mut inner = None;
    let res = rayon::scope(|s| {
        if opts.verify_checksum
            && let Some(end) = crc_end
        {
            let (shared, data) = (&shared, data);
            shared.crc_done.store(0, Ordering::Relaxed);
            s.spawn(move |_| {
                let c = crate::crc::crc64_reporting(&data[..end], &shared.crc_done);
                if let Ok(mut slot) = shared.crc.lock() {
                    *slot = Some(c);
                }
            });
        }
        let mut sink = Deferring {
            inner: make(),
            scope: s,
            data,
            shared: &shared,
            batch: Vec::with_capacity(BATCH),
            scratch: Scratch::default(),
            release,
            released: 0,
            since_release: 0,
        };
        let res = read(data, &unchecked, &mut sink);
        sink.flush();
        inner = Some(sink.inner);
        res
    });
    let Some(mut inner) = inner else {
        return sequential(data, opts);
    };
    if res.is_err() || shared.failed.load(Ordering::Relaxed) {
        return sequential(data, opts);
    }
    let Ok(mut t) = res else {
        return sequential(data, opts);
    };
    if let Ok(types) = shared.types.into_inner() {
        for ((db, dt, enc), ts) in types {
            inner.add_types(db, dt, enc, &ts);
        }
    }
    let mut mismatch = None;
    if let (true, Checksum::Unchecked { stored }) = (opts.verify_checksum, t.checksum) {
        // `end_offset` is just past the trailer: the CRC covers up to it.
        let end = usize::try_from(t.end_offset).unwrap_or(0).saturating_sub(8);
        let ahead = shared.crc.into_inner().ok().flatten();
        let computed = match ahead {
            Some(c) if Some(end) == crc_end => c,
            _ => crate::crc::crc64(&data[..end.min(data.len())]),
        };
        t.checksum = if computed == stored {
            Checksum::Ok { value: stored }
        } else {
            mismatch = Some((stored, computed, end));
            Checksum::Mismatch { stored, computed }
        };
    }
    if let Err(e) = inner.finish(&t) {
        return (inner.report, Err(e));
    }
    if let Some((stored, computed, end)) = mismatch {
        let mut e = Error::new(ErrorKind::Checksum { stored, computed });
        e.location_mut().offset = Some(end as u64);
        return (inner.report, Err(e));
    }
    (inner.report, Ok(t))
}

/// The single-threaded pass (also the authority on errors).
pub fn sequential(
    data: &[u8],
    opts: &ReadOptions,
    target: Option<Target>,
    now_ms: i64,
) -> (Inspect, Result<Trailer>) {
    let mut sink = InspectSink::new(data.len() as u64, target, now_ms);
    let res = read(data, opts, &mut sink);
    (sink.report, res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same report and outcome as the sequential sink, on files of the
    /// corpus and on copies with bytes flipped.
    #[test]
    fn matches_the_sequential_sink() {
        let files = crate::testutil::for_each_flipped_corpus_file(
            0x9e37_79b9_7f4a_7c15,
            40,
            |path, round, d, opts| {
                let (want, wr) = sequential(d, opts, None, 1);
                let (got, gr) = inspect(d, opts, None, 1);
                assert_eq!(
                    serde_json::to_string(&got).unwrap(),
                    serde_json::to_string(&want).unwrap(),
                    "{path:?} round {round}"
                );
                assert_eq!(
                    gr.map_err(|e| e.to_string()).map(|t| t.end_offset),
                    wr.map_err(|e| e.to_string()).map(|t| t.end_offset)
                );
            },
        );
        assert!(files >= 3, "corpus files not found");
    }
}
