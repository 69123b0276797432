//! One pass over an RDB for the analyzers: the reader runs on its own
//! thread and hands batches of key records to the caller's thread, which
//! estimates memory in parallel (rayon) and delivers [`KeyFacts`] in file
//! order to a consumer (the report sections, the memory listing, diff).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::prelude::*;

use super::memory::alloc::Alloc;
use super::memory::{KeyMemory, MemoryModel};
use crate::error::{Error, Result};
use crate::model::{DataType, Flavor};
use crate::rdb::read::{Header, KeyRecord, RdbStr, ReadOptions, Record, Trailer, Value, read};
use crate::server::{Profile, Target};
use crate::sink::{Flow, RecordSink};

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
    /// Re-borrows a slice the reader handed out for the call from the file
    /// itself, so it can cross threads with the file's lifetime.
    fn rebase(&self, s: &[u8]) -> Option<&'a [u8]> {
        let base = self.data.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        let off = p.checked_sub(base)?;
        self.data.get(off..off.checked_add(s.len())?)
    }

    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let b = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx
            .send(Msg::Batch(b))
            .map_err(|_| Error::sink("analysis stopped"))
    }

    fn job(&mut self, k: &KeyRecord<'_>) -> Result<Job<'a>> {
        let key = match k.key {
            RdbStr::Raw(b) => match self.rebase(b) {
                Some(r) => Cow::Borrowed(r),
                None => Cow::Owned(b.to_vec()),
            },
            other => Cow::Owned(
                other
                    .to_vec()
                    .map_err(|p| Error::parse(p, k.offset).with_key(k.db, None))?,
            ),
        };
        let raw = self
            .rebase(k.value.raw)
            .ok_or_else(|| Error::sink("value outside the file mapping"))?;
        Ok(Job {
            db: k.db,
            key,
            value: Value { raw, ..k.value },
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
                let j = self.job(k)?;
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
                let k =
                    String::from_utf8_lossy(key.bytes(&mut self.buf).unwrap_or(b"?")).into_owned();
                let v = String::from_utf8_lossy(value.bytes(&mut self.buf).unwrap_or(b"?"))
                    .into_owned();
                if k == "ctime" {
                    self.file.ctime_ms = v.parse::<i64>().ok().map(|s| s * 1000);
                }
                if k == "redis-ver" || k == "valkey-ver" {
                    self.tx
                        .send(Msg::Writer(k.clone(), v.clone()))
                        .map_err(|_| Error::sink("analysis stopped"))?;
                }
                self.file.aux.push((k, v));
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

fn facts<'a>(m: &mut MemoryModel, j: Job<'a>) -> Result<KeyFacts<'a>> {
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
    let mem = m
        .estimate(&rec)
        .map_err(|e| e.with_key(j.db, Some(&j.key)))?;
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
    })
}

fn consume<'a, F>(rx: Receiver<Msg<'a>>, cfg: &ModelConfig, f: &mut F) -> Result<Option<Target>>
where
    F: FnMut(&KeyFacts<'a>) -> Result<()>,
{
    let mut header: Option<Header> = None;
    let mut redis_ver: Option<String> = None;
    let mut valkey_ver = false;
    let mut profile: Option<Profile> = None;
    let mut sizes: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for msg in rx {
        match msg {
            Msg::Header(h) => header = Some(h),
            Msg::Resize(db, keys, expires) => {
                sizes.insert(db, (keys, expires));
            }
            Msg::Writer(field, version) => {
                if field == "valkey-ver" {
                    valkey_ver = true;
                } else {
                    redis_ver = Some(version);
                }
            }
            Msg::Batch(b) => {
                let p = match profile {
                    Some(p) => p,
                    None => {
                        let h = header.ok_or_else(|| Error::sink("key before the header"))?;
                        // Default: the server that wrote the file (Valkey
                        // also writes `redis-ver`, so its own field wins).
                        let t = cfg.target.unwrap_or_else(|| {
                            let valkey = valkey_ver || h.flavor == Flavor::Valkey;
                            Target::for_writer(
                                h.version,
                                valkey,
                                redis_ver.as_deref().map(str::as_bytes),
                            )
                        });
                        let mut p = Profile::new(t);
                        cfg.thresholds.apply(&mut p);
                        profile = Some(p);
                        p
                    }
                };
                let alloc = cfg.alloc;
                let sizes = &sizes;
                let out: Vec<Result<KeyFacts<'a>>> = b
                    .into_par_iter()
                    .map_init(
                        || MemoryModel::new(p, alloc),
                        |m, j| {
                            let hint = sizes.get(&j.db).copied();
                            let mut f = facts(m, j)?;
                            if let Some((keys, expires)) = hint {
                                f.mem.overhead =
                                    m.overhead_in(Some(keys), Some(expires), f.expire_ms.is_some());
                            }
                            Ok(f)
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
