//! An AOF as a record source: the log is replayed to its final state (as a
//! loading server would: [`super::rewrite::replay()`]) and that state is fed
//! to any [`RecordSink`] as the records an RDB of it would give — header,
//! AUX fields, functions, db selectors with RESIZEDB hints, keys with their
//! expiry, trailer. Each value is serialized by the RDB writer's encoders
//! into one reused buffer in the layout the target server would hold it
//! in, and handed out as a [`KeyRecord`] borrowing that buffer, so every
//! exporter, analyzer and writer works on an AOF unchanged.

use std::path::Path;

use super::read::{AofSet, ReadOptions};
use super::rewrite::keyspace::{Bytes, Keyspace, Stream, Val};
use super::rewrite::{ReplayStats, replay};
use crate::error::{Error, Result};
use crate::model::Flavor;
use crate::model::owned::{HashField, OwnedValue};
use crate::rdb::read::stream::{
    Consumer, Group, PendingEntry, StreamEntry, StreamMeta, StreamValue,
};
use crate::rdb::read::{Checksum, Header, KeyRecord, RdbStr, Record, StreamId, Trailer, Value};
use crate::rdb::write::{RdbVersion, ValueEncoder, choose_layout, type_byte};
use crate::sink::{Flow, RecordSink};

/// What kind of input a path holds, for commands that take either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// An RDB file (or anything that is not recognisably an AOF).
    Rdb,
    /// A single append-only file (RESP, possibly after an RDB preamble).
    AofFile,
    /// A Redis 7 multi-part directory (or a server dir holding one).
    AofDir,
    /// A multi-part manifest file.
    AofManifest,
}

impl InputKind {
    /// Whether the input is read by replaying an AOF.
    pub fn is_aof(self) -> bool {
        self != InputKind::Rdb
    }
}

/// Tells RDB files from AOFs by content (and, for an RDB preamble, the
/// tail): a directory is a multi-part AOF; a manifest has `file` lines; a
/// file that starts with RESP (`*`) or an annotation (`#`) is an AOF; one
/// that starts with the RDB magic is an AOF with a preamble when RESP text
/// follows the RDB (it ends in CRLF where an RDB has its EOF opcode and
/// CRC-64) or when it is named `*.aof`, otherwise an RDB.
pub fn detect_input(path: &Path) -> Result<InputKind> {
    let meta = std::fs::metadata(path).map_err(|e| Error::from(e).with_path(path))?;
    if meta.is_dir() {
        return Ok(InputKind::AofDir);
    }
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| Error::from(e).with_path(path))?;
    let mut head = [0u8; 512];
    let n = read_up_to(&mut f, &mut head).map_err(|e| Error::from(e).with_path(path))?;
    let head = &head[..n];
    if head.starts_with(b"*") || head.starts_with(b"#") {
        return Ok(InputKind::AofFile);
    }
    if !(head.starts_with(b"REDIS") || head.starts_with(b"VALKEY")) {
        let small = meta.len() <= 1 << 20;
        if small && meta.is_file() {
            let mut all = Vec::new();
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.read_to_end(&mut all))
                .map_err(|e| Error::from(e).with_path(path))?;
            if super::read::manifest::looks_like_manifest(&all) {
                return Ok(InputKind::AofManifest);
            }
        }
        return Ok(InputKind::Rdb);
    }
    let named_aof = path.extension().is_some_and(|e| e == "aof");
    let mut tail = [0u8; 9];
    let resp_tail = meta.len() >= 9
        && f.seek(SeekFrom::End(-9)).is_ok()
        && f.read_exact(&mut tail).is_ok()
        && tail.ends_with(b"\r\n")
        && tail[0] != 0xff;
    Ok(if named_aof || resp_tail {
        InputKind::AofFile
    } else {
        InputKind::Rdb
    })
}

fn read_up_to(f: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// How to read an AOF as records.
#[derive(Debug, Clone)]
pub struct AofReadOptions {
    /// "Now" in Unix ms: the base of relative times in pre-2.6 logs
    /// (EXPIRE, SETEX) and the seen-time of stream consumers, which a log
    /// does not carry (a loading server sets it to its load time too).
    pub now_ms: i64,
    /// Accept inline (non-RESP) command lines.
    pub inline: bool,
    /// The RDB version the records are laid out for (its encodings, and
    /// the header the sinks see). Default: the version of the server that
    /// wrote the log when an RDB part names it (`redis-ver`), else 10
    /// (Redis 7.0), or 12 when a hash has field TTLs.
    pub version: Option<RdbVersion>,
}

impl AofReadOptions {
    /// RESP only, the layout of the log's own server, with "now" read from
    /// the clock: what every command that takes an AOF as input uses.
    pub fn at_now() -> Self {
        AofReadOptions {
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            inline: false,
            version: None,
        }
    }
}

/// What [`read_aof_records`] did.
#[derive(Debug, Clone)]
pub struct AofRead {
    /// The replay's counters.
    pub stats: ReplayStats,
    /// Keys handed to the sink.
    pub keys: u64,
    /// The trailer the sink saw.
    pub trailer: Trailer,
}

/// Replays the AOF at `path` (file, manifest or directory) and feeds its
/// final state to `sink` as RDB records.
pub fn read_aof_records<S: RecordSink + ?Sized>(
    path: &Path,
    opts: &AofReadOptions,
    sink: &mut S,
) -> Result<AofRead> {
    let set = AofSet::open(path)?;
    let ropts = ReadOptions {
        inline: opts.inline,
        ..ReadOptions::default()
    };
    let (replayed, stats) = replay(&set, opts.now_ms, &ropts)?;
    let version = opts
        .version
        .unwrap_or_else(|| default_version(&replayed.ks, &stats.aux));
    let res = emit_records(&replayed.ks, &stats.aux, version, opts.now_ms, sink);
    // Freeing millions of small allocations one by one costs a sixth of a
    // replay; the caller is usually a command about to exit.
    std::mem::forget(replayed);
    let (keys, trailer) = res?;
    Ok(AofRead {
        stats,
        keys,
        trailer,
    })
}

/// The version a replayed keyspace is laid out for by default.
fn default_version(ks: &Keyspace, aux: &[(Vec<u8>, Vec<u8>)]) -> RdbVersion {
    let ver = aux
        .iter()
        .find(|(k, _)| k == b"redis-ver")
        .map(|(_, v)| v.as_slice());
    let by_writer = match ver {
        Some(v) if v.starts_with(b"7.0.") => Some(10),
        Some(v) if v.starts_with(b"7.2.") => Some(11),
        Some(v)
            if v.starts_with(b"7.4.") || v.first().is_some_and(|c| (b'8'..=b'9').contains(c)) =>
        {
            Some(12)
        }
        _ => None,
    };
    let field_ttls = || {
        ks.dbs
            .values()
            .flat_map(|d| d.values())
            .any(|e| matches!(&e.val, Val::Hash(h) if h.values().any(|(_, t)| t.is_some())))
    };
    let n = by_writer.unwrap_or_else(|| if field_ttls() { 12 } else { 10 });
    RdbVersion::new(n).unwrap_or(RdbVersion::VALKEY_80)
}

/// Feeds a keyspace to `sink` as the records of an RDB of `version`:
/// keys in byte order within each db (so exports are reproducible).
/// Returns the number of keys and the trailer.
pub fn emit_records<S: RecordSink + ?Sized>(
    ks: &Keyspace,
    aux: &[(Vec<u8>, Vec<u8>)],
    version: RdbVersion,
    now_ms: i64,
    sink: &mut S,
) -> Result<(u64, Trailer)> {
    let mut stopped = false;
    let mut keys = 0u64;
    let go =
        |r: &Record<'_>, sink: &mut S| -> Result<bool> { Ok(sink.record(r)? == Flow::Continue) };
    sink.header(&Header {
        flavor: version.flavor(),
        version: version.number(),
        len: if version.flavor() == Flavor::Valkey {
            10
        } else {
            9
        },
    })?;
    // A log without an RDB part names no writer: say what a server of the
    // chosen version would, so the records read like that server's RDB.
    let ctime = (now_ms / 1000).to_string();
    let fresh: [(&[u8], &[u8]); 3] = [
        (b"redis-ver", version.server_version().as_bytes()),
        (b"redis-bits", b"64"),
        (b"ctime", ctime.as_bytes()),
    ];
    let aux: Vec<(&[u8], &[u8])> = if aux.is_empty() {
        fresh.to_vec()
    } else {
        aux.iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect()
    };
    'all: {
        for (k, v) in aux {
            let r = Record::Aux {
                key: RdbStr::Raw(k),
                value: RdbStr::Raw(v),
            };
            if !go(&r, sink)? {
                stopped = true;
                break 'all;
            }
        }
        for code in ks.functions.values() {
            if !go(
                &Record::Function {
                    code: RdbStr::Raw(code),
                },
                sink,
            )? {
                stopped = true;
                break 'all;
            }
        }
        let mut enc = ValueEncoder::new(true);
        let mut buf = Vec::new();
        for (&db, entries) in &ks.dbs {
            if entries.is_empty() {
                continue;
            }
            let expires = entries.values().filter(|e| e.expire.is_some()).count();
            let mut names: Vec<&Bytes> = entries.keys().collect();
            names.sort_unstable();
            if !go(&Record::SelectDb { db }, sink)?
                || !go(
                    &Record::ResizeDb {
                        db,
                        keys: names.len() as u64,
                        expires: expires as u64,
                    },
                    sink,
                )?
            {
                stopped = true;
                break 'all;
            }
            for name in names {
                let Some(e) = entries.get(name.as_slice()) else {
                    continue;
                };
                let (owned, hint) = owned_value(&e.val, version, now_ms);
                let err = |m: String| Error::sink(m).with_key(db, Some(name));
                let layout = choose_layout(&owned, version, hint)
                    .map_err(|p| err(format!("cannot lay out for RDB {version}: {p}")))?;
                buf.clear();
                enc.encode(&owned, layout, &mut buf)
                    .map_err(|p| err(format!("cannot encode: {p}")))?;
                let k = KeyRecord {
                    db,
                    key: RdbStr::Raw(name),
                    value: Value {
                        layout,
                        type_byte: type_byte(layout),
                        raw: &buf,
                        offset: 0,
                    },
                    expire_ms: e.expire,
                    idle_s: None,
                    freq: None,
                    offset: 0,
                    end: 0,
                };
                keys += 1;
                if !go(&Record::Key(k), sink)? {
                    stopped = true;
                    break 'all;
                }
            }
        }
    }
    let t = Trailer {
        checksum: Checksum::Disabled,
        end_offset: 0,
        stopped,
    };
    sink.finish(&t)?;
    Ok((keys, t))
}

/// A replayed value as the writer's owned model, with the type byte of the
/// encoding the server holds it in when that depends on its history (a
/// sorted set that grew past the listpack limits stays a skiplist).
fn owned_value(v: &Val, version: RdbVersion, now_ms: i64) -> (OwnedValue, Option<u8>) {
    match v {
        Val::Str(s) => (OwnedValue::String(s.clone()), None),
        Val::List(l) => (
            OwnedValue::List(l.iter().map(|e| e.to_vec()).collect()),
            None,
        ),
        // RDB 11+ servers hold small sets as listpacks: no history to
        // follow there, the content decides.
        Val::Set(s) => (
            OwnedValue::Set(s.iter().map(|e| e.to_vec()).collect()),
            (version.number() <= 10).then_some(if s.compact { 11 } else { 2 }),
        ),
        Val::ZSet(z) => (
            OwnedValue::Zset(z.scores.iter().map(|(m, s)| (m.to_vec(), *s)).collect()),
            Some(if z.listpack { 17 } else { 5 }),
        ),
        Val::Hash(h) => (
            OwnedValue::Hash(
                h.iter()
                    .map(|(f, (v, t))| HashField {
                        field: f.to_vec(),
                        value: v.to_vec(),
                        expire_ms: *t,
                    })
                    .collect(),
            ),
            Some(if h.compact { 16 } else { 4 }),
        ),
        Val::Stream(s) => (OwnedValue::Stream(Box::new(stream_value(s, now_ms))), None),
    }
}

fn sid(id: (u64, u64)) -> StreamId {
    StreamId {
        ms: id.0,
        seq: id.1,
    }
}

/// A replayed stream in the reader's model. Consumers' seen times are not
/// in a log; they get `now_ms`, as a loading server gives them its clock.
fn stream_value(s: &Stream, now_ms: i64) -> StreamValue {
    let entries: Vec<StreamEntry> = s
        .entries
        .iter()
        .map(|(id, f)| StreamEntry {
            id: sid(*id),
            fields: f.clone(),
        })
        .collect();
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let mut consumers: Vec<Consumer> = g
                .consumers
                .iter()
                .map(|c| Consumer {
                    name: c.clone(),
                    seen_time_ms: now_ms,
                    active_time_ms: None,
                    pending: Vec::new(),
                })
                .collect();
            for (id, p) in &g.pel {
                match consumers.binary_search_by(|c| c.name.as_slice().cmp(&p.consumer)) {
                    Ok(i) => consumers[i].pending.push(sid(*id)),
                    Err(i) => consumers.insert(
                        i,
                        Consumer {
                            name: p.consumer.clone(),
                            seen_time_ms: now_ms,
                            active_time_ms: None,
                            pending: vec![sid(*id)],
                        },
                    ),
                }
            }
            Group {
                name: name.clone(),
                last_id: sid(g.last_id),
                entries_read: u64::try_from(g.entries_read).ok(),
                pending: g
                    .pel
                    .iter()
                    .map(|(id, p)| PendingEntry {
                        id: sid(*id),
                        delivery_time_ms: p.time,
                        delivery_count: p.count,
                        consumer: Some(p.consumer.clone()),
                    })
                    .collect(),
                consumers,
                nacked: Vec::new(),
            }
        })
        .collect::<Vec<_>>();
    StreamValue {
        meta: StreamMeta {
            length: entries.len() as u64,
            last_id: sid(s.last_id),
            first_id: entries.first().map(|e| e.id),
            max_deleted_id: Some(sid(s.max_deleted)),
            entries_added: Some(s.entries_added),
            nodes: 0,
            groups: s.groups.len() as u64,
        },
        entries,
        groups,
    }
}
