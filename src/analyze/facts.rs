//! One pass over an RDB for the analyzers: the reader runs on its own
//! thread and hands batches of key records to the caller's thread, which
//! estimates memory in parallel (rayon) and delivers [`KeyFacts`] in file
//! order to a consumer (the report sections, the memory listing, diff).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::prelude::*;

use super::memory::alloc::Alloc;
use super::memory::estimate::largest_element;
use super::memory::{KeyMemory, MemoryModel};
use crate::error::{Error, Result};
use crate::model::{DataType, Flavor};
use crate::rdb::read::prim::prefetch;
use crate::rdb::read::scan::{ChunkPass, Release, key_error, read_in_chunks};
use crate::rdb::read::{
    Header, KeyRecord, RdbStr, ReadOptions, Record, Scratch, Trailer, Value, read,
};
use crate::server::{Profile, Target};
use crate::sink::{Flow, RecordSink, rebase_key};

/// What the analyzers know about one key.
#[derive(Debug, Clone)]
pub struct KeyFacts<'a> {
    /// Database.
    pub db: u64,
    /// Key bytes (borrowed from the file when stored plainly).
    pub key: Cow<'a, [u8]>,
    /// Logical type.
    pub dtype: DataType,
    /// The memory model's answer (bytes, encoding, elements, largest).
    pub mem: KeyMemory,
    /// Serialized value size in the file.
    pub rdb_bytes: u64,
    /// Absolute expiry (Unix ms).
    pub expire_ms: Option<i64>,
    /// LRU idle seconds (IDLE opcode).
    pub idle_s: Option<u64>,
    /// LFU counter (FREQ opcode).
    pub freq: Option<u8>,
    /// The value itself, for consumers that look inside (diff).
    pub value: Value<'a>,
    /// The largest element once walked: several report sections ask for it
    /// (big-key tops by bytes and by elements, each type's longest), and a
    /// walk may inflate an LZF blob, so a key is walked at most once.
    pub(crate) largest_walked: Cell<Option<u64>>,
}

impl KeyFacts<'_> {
    /// The exact length of the largest element: the model's, or walked now
    /// when the model skipped it ([`Analysis::lazy_largest`]).
    pub fn largest_element(&self, scratch: &mut Scratch) -> Result<u64> {
        if self.mem.largest_exact {
            return Ok(self.mem.largest_element);
        }
        if let Some(n) = self.largest_walked.get() {
            return Ok(n);
        }
        let n = largest_element(&self.value, scratch)
            .map_err(|e| e.with_key(self.db, Some(&self.key)))?;
        self.largest_walked.set(Some(n));
        Ok(n)
    }
}

/// File-level facts gathered during the pass.
#[derive(Debug, Clone, Default)]
pub struct FileFacts {
    /// The header, once read.
    pub header: Option<Header>,
    /// AUX fields (lossy UTF-8).
    pub aux: Vec<(String, String)>,
    /// Snapshot time from the `ctime` aux field (Unix ms).
    pub ctime_ms: Option<i64>,
    /// Databases announced by SELECTDB / RESIZEDB (db → keys hint).
    pub dbs_announced: BTreeMap<u64, Option<u64>>,
    /// The trailer.
    pub trailer: Option<Trailer>,
    /// The target the model used.
    pub target: Option<Target>,
}

impl FileFacts {
    /// Records an aux field (lossy UTF-8; `ctime` also as the snapshot
    /// time); returns it when it names the writer (see [`writer_field`]).
    fn aux(
        &mut self,
        key: &RdbStr<'_>,
        value: &RdbStr<'_>,
        buf: &mut Vec<u8>,
    ) -> Option<(String, String)> {
        let (k, v) = aux_text(key, value, buf);
        if k == "ctime" {
            self.ctime_ms = v.parse::<i64>().ok().map(|s| s * 1000);
        }
        let writer = writer_field(&k).then(|| (k.clone(), v.clone()));
        self.aux.push((k, v));
        writer
    }
}

/// An aux field as lossy UTF-8 text.
fn aux_text(key: &RdbStr<'_>, value: &RdbStr<'_>, buf: &mut Vec<u8>) -> (String, String) {
    let k = String::from_utf8_lossy(key.bytes(buf).unwrap_or(b"?")).into_owned();
    let v = String::from_utf8_lossy(value.bytes(buf).unwrap_or(b"?")).into_owned();
    (k, v)
}

/// True for the aux fields naming the writer (`redis-ver`, `valkey-ver`),
/// which pick the model's default target.
fn writer_field(k: &str) -> bool {
    k == "redis-ver" || k == "valkey-ver"
}

/// Encoding thresholds that override the target's defaults (the loading
/// server's `*-max-listpack-*` settings).
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    /// `hash-max-listpack-entries`.
    pub hash_max_listpack_entries: Option<u64>,
    /// `hash-max-listpack-value`.
    pub hash_max_listpack_value: Option<u64>,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: Option<u64>,
    /// `zset-max-listpack-value`.
    pub zset_max_listpack_value: Option<u64>,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: Option<u64>,
    /// `set-max-listpack-entries`.
    pub set_max_listpack_entries: Option<u64>,
    /// `set-max-listpack-value`.
    pub set_max_listpack_value: Option<u64>,
    /// `list-max-listpack-size`.
    pub list_max_listpack_size: Option<i64>,
}

impl Thresholds {
    /// Applies the overrides to `p`.
    pub fn apply(&self, p: &mut Profile) {
        let set = |dst: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(
            &mut p.hash_max_listpack_entries,
            self.hash_max_listpack_entries,
        );
        set(&mut p.hash_max_listpack_value, self.hash_max_listpack_value);
        set(
            &mut p.zset_max_listpack_entries,
            self.zset_max_listpack_entries,
        );
        set(&mut p.zset_max_listpack_value, self.zset_max_listpack_value);
        set(&mut p.set_max_intset_entries, self.set_max_intset_entries);
        set(
            &mut p.set_max_listpack_entries,
            self.set_max_listpack_entries,
        );
        set(&mut p.set_max_listpack_value, self.set_max_listpack_value);
        if let Some(v) = self.list_max_listpack_size {
            p.list_max_listpack_size = v;
        }
    }
}

/// How the model is configured for a pass.
#[derive(Debug, Clone, Copy)]
pub struct ModelConfig {
    /// Target override (default: the writer named by the `redis-ver` /
    /// `valkey-ver` aux field, else the line that writes the file's RDB
    /// version).
    pub target: Option<Target>,
    /// Threshold overrides applied on top of the target's defaults.
    pub thresholds: Thresholds,
    /// Allocator size classes.
    pub alloc: Alloc,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            target: None,
            thresholds: Thresholds::default(),
            alloc: Alloc::BUNDLED,
        }
    }
}

/// A key as handed from the reader thread: borrowed from the file.
#[derive(Clone)]
struct Job<'a> {
    db: u64,
    key: Cow<'a, [u8]>,
    value: Value<'a>,
    expire_ms: Option<i64>,
    idle_s: Option<u64>,
    freq: Option<u8>,
}

enum Msg<'a> {
    Header(Header),
    /// An aux field naming the writer (`redis-ver`, `valkey-ver`).
    Writer(String, String),
    /// RESIZEDB: a db's key and expire counts.
    Resize(u64, u64, u64),
    Batch(Vec<Job<'a>>),
}

const BATCH: usize = 2048;

struct Collector<'a, 'p> {
    data: &'a [u8],
    tx: SyncSender<Msg<'a>>,
    batch: Vec<Job<'a>>,
    file: FileFacts,
    progress: Option<&'p (dyn Fn(u64) + Sync)>,
    buf: Vec<u8>,
}

impl<'a> Collector<'a, '_> {
    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let b = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx
            .send(Msg::Batch(b))
            .map_err(|_| Error::sink("analysis stopped"))
    }
}

impl<'a> Job<'a> {
    /// The key of record `k` (borrowed from the file when stored plainly).
    fn of(k: &KeyRecord<'a>) -> Result<Self> {
        let key = match k.key {
            RdbStr::Raw(b) => Cow::Borrowed(b),
            other => Cow::Owned(
                other
                    .to_vec()
                    .map_err(|p| Error::parse(p, k.offset).with_key(k.db, None))?,
            ),
        };
        Ok(Job {
            db: k.db,
            key,
            value: k.value,
            expire_ms: k.expire_ms,
            idle_s: k.idle_s,
            freq: k.freq,
        })
    }
}

impl<'a> RecordSink for Collector<'a, '_> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.file.header = Some(*h);
        self.tx
            .send(Msg::Header(*h))
            .map_err(|_| Error::sink("analysis stopped"))
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        match r {
            Record::Key(k) => {
                // Re-borrowed from the file, so it can cross threads.
                let k = rebase_key(self.data, k)
                    .ok_or_else(|| Error::sink("value outside the file mapping"))?;
                let j = Job::of(&k)?;
                self.file.dbs_announced.entry(k.db).or_insert(None);
                self.batch.push(j);
                if self.batch.len() >= BATCH {
                    if let Some(p) = self.progress {
                        p(k.end);
                    }
                    self.flush()?;
                }
            }
            Record::Aux { key, value } => {
                if let Some((k, v)) = self.file.aux(key, value, &mut self.buf) {
                    self.tx
                        .send(Msg::Writer(k, v))
                        .map_err(|_| Error::sink("analysis stopped"))?;
                }
            }
            Record::SelectDb { db } => {
                self.file.dbs_announced.entry(*db).or_insert(None);
            }
            Record::ResizeDb { db, keys, expires } => {
                self.file.dbs_announced.insert(*db, Some(*keys));
                // Keys of the db follow: flush the ones before first.
                self.flush()?;
                self.tx
                    .send(Msg::Resize(*db, *keys, *expires))
                    .map_err(|_| Error::sink("analysis stopped"))?;
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.file.trailer = Some(*t);
        self.flush()
    }
}

/// The facts of job `j`, with the keyspace overhead from its db's RESIZEDB
/// hint when known.
fn facts<'a>(m: &mut MemoryModel, j: Job<'a>, hint: Option<(u64, u64)>) -> Result<KeyFacts<'a>> {
    let rec = KeyRecord {
        db: j.db,
        key: RdbStr::Raw(&j.key),
        value: j.value,
        expire_ms: j.expire_ms,
        idle_s: j.idle_s,
        freq: j.freq,
        offset: j.value.offset,
        end: j.value.offset + j.value.raw.len() as u64,
    };
    let mut mem = m
        .estimate(&rec)
        .map_err(|e| e.with_key(j.db, Some(&j.key)))?;
    if let Some((keys, expires)) = hint {
        mem.overhead = m.overhead_in(Some(keys), Some(expires), j.expire_ms.is_some());
    }
    Ok(KeyFacts {
        db: j.db,
        dtype: j.value.data_type(),
        mem,
        rdb_bytes: j.value.raw.len() as u64,
        expire_ms: j.expire_ms,
        idle_s: j.idle_s,
        freq: j.freq,
        value: j.value,
        key: j.key,
        largest_walked: Cell::new(None),
    })
}

/// What picks the model's target when none is given: the header and the
/// aux fields naming the writer, as far as they came before the keys.
#[derive(Debug, Clone, Default)]
struct Writer {
    header: Option<Header>,
    redis_ver: Option<String>,
    valkey_ver: bool,
}

impl Writer {
    fn note(&mut self, field: &str, version: String) {
        if field == "valkey-ver" {
            self.valkey_ver = true;
        } else {
            self.redis_ver = Some(version);
        }
    }

    fn profile(&self, cfg: &ModelConfig) -> Result<Profile> {
        let h = self
            .header
            .ok_or_else(|| Error::sink("key before the header"))?;
        // Default: the server that wrote the file (Valkey also writes
        // `redis-ver`, so its own field wins).
        let t = cfg.target.unwrap_or_else(|| {
            let valkey = self.valkey_ver || h.flavor == Flavor::Valkey;
            Target::for_writer(
                h.version,
                valkey,
                self.redis_ver.as_deref().map(str::as_bytes),
            )
        });
        let mut p = Profile::new(t);
        cfg.thresholds.apply(&mut p);
        Ok(p)
    }
}

fn consume<'a, F>(rx: Receiver<Msg<'a>>, cfg: &ModelConfig, f: &mut F) -> Result<Option<Target>>
where
    F: FnMut(&KeyFacts<'a>) -> Result<()>,
{
    let mut writer = Writer::default();
    let mut profile: Option<Profile> = None;
    let mut sizes: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for msg in rx {
        match msg {
            Msg::Header(h) => writer.header = Some(h),
            Msg::Resize(db, keys, expires) => {
                sizes.insert(db, (keys, expires));
            }
            Msg::Writer(field, version) => writer.note(&field, version),
            Msg::Batch(b) => {
                let p = match profile {
                    Some(p) => p,
                    None => *profile.insert(writer.profile(cfg)?),
                };
                let alloc = cfg.alloc;
                let sizes = &sizes;
                let out: Vec<Result<KeyFacts<'a>>> = b
                    .into_par_iter()
                    .map_init(
                        || MemoryModel::new(p, alloc),
                        |m, j| {
                            let hint = sizes.get(&j.db).copied();
                            facts(m, j, hint)
                        },
                    )
                    .collect();
                for r in out {
                    f(&r?)?;
                }
            }
        }
    }
    Ok(profile.map(|p| p.target).or(cfg.target))
}

/// Runs one pass over `data`: every key's facts go to `f` in file order.
/// `progress` (if any) is called with the file offset reached.
pub fn scan<'a, F>(
    data: &'a [u8],
    opts: &ReadOptions,
    cfg: &ModelConfig,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    mut f: F,
) -> Result<FileFacts>
where
    F: FnMut(&KeyFacts<'a>) -> Result<()>,
{
    let (tx, rx) = sync_channel::<Msg<'a>>(4);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut c = Collector {
                data,
                tx,
                batch: Vec::with_capacity(BATCH),
                file: FileFacts::default(),
                progress,
                buf: Vec::new(),
            };
            let r = read(data, opts, &mut c);
            if r.is_err() {
                // The keys read before the error are counted (a bad value
                // among them is the first error, as on the chunked pass).
                let _ = c.flush();
            }
            (r, c.file)
        });
        let consumed = consume(rx, cfg, &mut f);
        let (read_res, mut file) = reader
            .join()
            .map_err(|_| Error::sink("reader thread panicked"))?;
        let target = consumed?;
        read_res?;
        file.target = target;
        Ok(file)
    })
}

/// A consumer of [`scan_chunked`]: what it learns from the keys of one
/// chunk (on a worker) goes into an accumulator, merged in file order, so
/// the result is the one of counting every key in order.
pub trait Analysis<'a> {
    /// The per-chunk accumulator.
    type Chunk: Send + 'a;
    /// A fresh accumulator for the next chunk (called in file order on the
    /// merging thread, so it may hand out reused buffers).
    fn chunk(&mut self) -> Self::Chunk;
    /// Counts one key into a chunk's accumulator (on a worker).
    fn add(chunk: &mut Self::Chunk, k: &KeyFacts<'a>) -> Result<()>;
    /// Merges a chunk's accumulator (in file order).
    fn merge(&mut self, chunk: Self::Chunk) -> Result<()>;
    /// True when the analysis reads the largest element only through
    /// [`KeyFacts::largest_element`], and for few keys: the model may then
    /// skip walking values just for it ([`MemoryModel::lazy_largest`]).
    fn lazy_largest(&self) -> bool {
        false
    }
}

/// What a chunk's worker starts from: the model's settings as they stand
/// before the chunk's records (which it applies itself, in order).
struct Start<C> {
    cfg: ModelConfig,
    writer: Writer,
    profile: Option<Profile>,
    sizes: BTreeMap<u64, (u64, u64)>,
    lazy_largest: bool,
    chunk: C,
}

/// The in-order side of [`scan_chunked`].
struct Pass<'x, A> {
    analysis: &'x mut A,
    cfg: ModelConfig,
    file: FileFacts,
    writer: Writer,
    /// Settled at the first key (as the sequential pass does).
    profile: Option<Profile>,
    /// RESIZEDB hints: db → (keys, expires).
    sizes: BTreeMap<u64, (u64, u64)>,
    /// The db of the last key seen (to note each db once per run of keys).
    last_db: Option<u64>,
    buf: Vec<u8>,
    progress: Option<&'x (dyn Fn(u64) + Sync)>,
}

/// Bytes of the next value [`count_chunk`] asks the CPU to load ahead.
const PREFETCH_VALUE: usize = 2048;

/// Counts a chunk's keys; stops at the first error (the keys before it
/// stay counted, as in the sequential pass).
fn count_chunk<'a, A: Analysis<'a>>(
    s: Start<A::Chunk>,
    records: &[Record<'a>],
) -> (A::Chunk, Option<Error>) {
    let Start {
        cfg,
        mut writer,
        mut profile,
        mut sizes,
        lazy_largest,
        mut chunk,
    } = s;
    let mut model: Option<MemoryModel> = None;
    let mut buf = Vec::new();
    for (i, r) in records.iter().enumerate() {
        // The chunk's walk read these bytes long ago (a chunk is larger
        // than the cache): fetch the next value's head while this key is
        // counted, as the inspect jobs do.
        if let Some(Record::Key(n)) = records.get(i + 1) {
            prefetch(n.value.raw, 0, PREFETCH_VALUE);
        }
        match r {
            Record::Aux { key, value } if profile.is_none() => {
                let (k, v) = aux_text(key, value, &mut buf);
                if writer_field(&k) {
                    writer.note(&k, v);
                }
            }
            Record::ResizeDb { db, keys, expires } => {
                sizes.insert(*db, (*keys, *expires));
            }
            Record::Key(k) => {
                let p = match profile {
                    Some(p) => p,
                    None => match writer.profile(&cfg) {
                        Ok(p) => *profile.insert(p),
                        Err(e) => return (chunk, Some(e)),
                    },
                };
                let m = model.get_or_insert_with(|| {
                    MemoryModel::new(p, cfg.alloc).lazy_largest(lazy_largest)
                });
                let res = Job::of(k)
                    .map_err(|e| key_error(k, e))
                    .and_then(|j| facts(m, j, sizes.get(&k.db).copied()))
                    .and_then(|f| A::add(&mut chunk, &f));
                if let Err(e) = res {
                    return (chunk, Some(e));
                }
            }
            _ => {}
        }
    }
    (chunk, None)
}

impl<'a, A: Analysis<'a>> ChunkPass<'a> for Pass<'_, A> {
    type Snapshot = Start<A::Chunk>;
    type Out = (A::Chunk, Option<Error>);

    fn header(&mut self, h: &Header) -> Result<()> {
        self.file.header = Some(*h);
        self.writer.header = Some(*h);
        Ok(())
    }

    fn observe(&mut self, r: &Record<'a>) -> Result<()> {
        match r {
            Record::Key(k) => {
                if self.last_db != Some(k.db) {
                    self.file.dbs_announced.entry(k.db).or_insert(None);
                    self.last_db = Some(k.db);
                }
                if self.profile.is_none() {
                    self.profile = Some(self.writer.profile(&self.cfg)?);
                }
            }
            Record::Aux { key, value } => {
                if let Some((k, v)) = self.file.aux(key, value, &mut self.buf) {
                    self.writer.note(&k, v);
                }
            }
            Record::SelectDb { db } => {
                self.file.dbs_announced.entry(*db).or_insert(None);
            }
            Record::ResizeDb { db, keys, expires } => {
                self.file.dbs_announced.insert(*db, Some(*keys));
                self.sizes.insert(*db, (*keys, *expires));
            }
            _ => {}
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Start<A::Chunk> {
        Start {
            cfg: self.cfg,
            writer: self.writer.clone(),
            profile: self.profile,
            sizes: self.sizes.clone(),
            lazy_largest: self.analysis.lazy_largest(),
            chunk: self.analysis.chunk(),
        }
    }

    fn process(s: Start<A::Chunk>, records: &[Record<'a>]) -> Self::Out {
        count_chunk::<A>(s, records)
    }

    fn absorb(&mut self, (chunk, err): Self::Out, end: u64) -> Result<()> {
        if let Some(p) = self.progress {
            p(end);
        }
        self.analysis.merge(chunk)?;
        err.map_or(Ok(()), Err)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.file.trailer = Some(*t);
        Ok(())
    }
}

/// Bytes per range of [`scan_chunked`]: four times the reader's
/// [`crate::rdb::read::scan::CHUNK`]: a quarter of the start searches and
/// merges (`report` on rdb-1m 0.335 -> 0.312 s) for ~50 MiB more memory
/// in flight (report and memory ~80 MiB anonymous on a 1M-key file; the
/// export, whose chunks buffer their output, keeps the smaller ranges).
pub const ANALYSIS_CHUNK: usize = 16 << 20;

/// [`scan`] on several threads: the file is walked in chunks
/// ([`crate::rdb::read::scan`]), each chunk's keys are estimated and counted
/// by `analysis` into an accumulator of their own on the rayon pool, and
/// the accumulators are merged in file order. The facts, the result and
/// any error are those of [`scan`] (salvage mode aside: callers run that
/// sequentially). `release` gives back the pages read (see
/// [`crate::rdb::read::scan`]).
pub fn scan_chunked<'a, A: Analysis<'a> + Send>(
    data: &'a [u8],
    opts: &ReadOptions,
    cfg: &ModelConfig,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    analysis: &mut A,
    release: Option<Release<'_>>,
) -> Result<FileFacts> {
    scan_in_chunks(data, opts, cfg, progress, analysis, ANALYSIS_CHUNK, release)
}

/// [`scan_chunked`] with ranges of `chunk` bytes (tests use tiny ones).
pub(crate) fn scan_in_chunks<'a, A: Analysis<'a> + Send>(
    data: &'a [u8],
    opts: &ReadOptions,
    cfg: &ModelConfig,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    analysis: &mut A,
    chunk: usize,
    release: Option<Release<'_>>,
) -> Result<FileFacts> {
    let mut pass = Pass {
        analysis,
        cfg: *cfg,
        file: FileFacts::default(),
        writer: Writer::default(),
        profile: None,
        sizes: BTreeMap::new(),
        last_db: None,
        buf: Vec::new(),
        progress,
    };
    read_in_chunks(data, opts, &mut pass, chunk, release)?;
    let mut file = pass.file;
    file.target = pass.profile.map(|p| p.target).or(cfg.target);
    Ok(file)
}
