//! Reading the JSONL export (`formats/export-jsonl.md`) back: every line
//! becomes the record or key it describes, fed to an [`RdbSink`] — keys
//! keep their `rdb_type` layout when the target version accepts it, so an
//! export of the result matches the original export.

use std::io::BufRead;
use std::io::Write;

use base64::Engine;
use serde_json::Value as J;

use crate::error::{Error, Result};
use crate::model::owned::{HashField, OwnedKey, OwnedValue};
use crate::model::{Flavor, RdbLayout};
use crate::rdb::read::stream::{
    Consumer, Group, PendingEntry, StreamEntry, StreamMeta, StreamValue,
};
use crate::rdb::read::{Checksum, Header, RdbStr, Record, StreamId, Trailer, value};
use crate::rdb::write::RdbSink;
use crate::sink::RecordSink;

/// What a JSON value is, for "found ..." in errors (strings and numbers
/// with their text, cut at 40 characters).
fn found(v: &J) -> String {
    let cut = |s: &str| s.chars().take(40).collect::<String>();
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => format!("the number {n}"),
        J::String(s) => format!("the string {:?}", cut(s)),
        J::Array(a) => format!("an array of {} items", a.len()),
        J::Object(_) => "an object".into(),
    }
}

struct Line<'a> {
    no: usize,
    v: &'a J,
}

impl Line<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::import(format!("line {}: {msg}", self.no))
    }
    fn get(&self, name: &str) -> Result<&J> {
        self.v
            .get(name)
            .ok_or_else(|| self.err(format!("missing field \"{name}\"")))
    }
    fn u64(&self, v: &J, what: &str) -> Result<u64> {
        v.as_u64().ok_or_else(|| {
            self.err(format!(
                "field \"{what}\": expected an unsigned integer, found {}",
                found(v)
            ))
        })
    }
    fn i64(&self, v: &J, what: &str) -> Result<i64> {
        v.as_i64().ok_or_else(|| {
            self.err(format!(
                "field \"{what}\": expected an integer, found {}",
                found(v)
            ))
        })
    }
    fn opt_i64(&self, v: Option<&J>, what: &str) -> Result<Option<i64>> {
        match v {
            None | Some(J::Null) => Ok(None),
            Some(x) => self.i64(x, what).map(Some),
        }
    }
    fn bytes(&self, v: &J, what: &str) -> Result<Vec<u8>> {
        match v {
            J::String(s) => Ok(s.as_bytes().to_vec()),
            J::Object(o) => match o.get("b64").and_then(J::as_str) {
                Some(b) => base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|e| {
                        self.err(format!(
                            "field \"{what}\": expected base64, found {b:?} ({e})"
                        ))
                    }),
                None => Err(self.err(format!(
                    "field \"{what}\": expected a string or {{\"b64\": ...}}, found {}",
                    found(v)
                ))),
            },
            _ => Err(self.err(format!(
                "field \"{what}\": expected a string or {{\"b64\": ...}}, found {}",
                found(v)
            ))),
        }
    }
    fn array<'b>(&self, v: &'b J, what: &str) -> Result<&'b Vec<J>> {
        v.as_array().ok_or_else(|| {
            self.err(format!(
                "field \"{what}\": expected an array, found {}",
                found(v)
            ))
        })
    }
    fn id(&self, v: &J, what: &str) -> Result<StreamId> {
        let s = v.as_str().ok_or_else(|| {
            self.err(format!(
                "field \"{what}\": expected \"ms-seq\", found {}",
                found(v)
            ))
        })?;
        let bad = || {
            self.err(format!(
                "field \"{what}\": expected \"ms-seq\", found {s:?}"
            ))
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        Ok(StreamId {
            ms: a.parse().map_err(|_| bad())?,
            seq: b.parse().map_err(|_| bad())?,
        })
    }
    fn opt_id(&self, v: Option<&J>, what: &str) -> Result<Option<StreamId>> {
        match v {
            None | Some(J::Null) => Ok(None),
            Some(x) => self.id(x, what).map(Some),
        }
    }
    fn score(&self, v: &J) -> Result<f64> {
        match v {
            J::Number(n) => n
                .as_f64()
                .ok_or_else(|| self.err(format!("score: expected a double, found {n}"))),
            J::String(s) if s == "inf" => Ok(f64::INFINITY),
            J::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
            J::String(s) if s == "nan" => Ok(f64::NAN),
            _ => Err(self.err(format!(
                "score: expected a number, \"inf\", \"-inf\" or \"nan\", found {}",
                found(v)
            ))),
        }
    }
}

/// Parses one key line into an owned key; an error names the key when the
/// line's `db` and `key` fields read.
fn key_line(l: &Line<'_>, flavor: Flavor, version: u32) -> Result<OwnedKey> {
    key_fields(l, flavor, version).map_err(|e| {
        let db = l.v.get("db").and_then(J::as_u64);
        let key = l.v.get("key").and_then(|k| l.bytes(k, "key").ok());
        match (db, key) {
            (Some(db), Some(k)) => e.with_key(db, Some(&k)),
            _ => e,
        }
    })
}

fn key_fields(l: &Line<'_>, flavor: Flavor, version: u32) -> Result<OwnedKey> {
    let ty = l.get("type")?.as_str().ok_or_else(|| {
        l.err(format!(
            "field \"type\": expected a string, found {}",
            found(&l.v["type"])
        ))
    })?;
    let rdb_type = match l.v.get("rdb_type") {
        Some(t) => Some(
            u8::try_from(l.u64(t, "rdb_type")?)
                .map_err(|_| l.err(format!("field \"rdb_type\": expected 0-255, found {t}")))?,
        ),
        None => None,
    };
    let v = l.get("value")?;
    let value = match ty {
        "string" => OwnedValue::String(l.bytes(v, "value")?),
        "list" | "set" => {
            let mut items = Vec::new();
            for e in l.array(v, "value")? {
                // Dragonfly sets with member expiry export [member, ttl].
                let e = match e {
                    J::Array(a) if !a.is_empty() => &a[0],
                    other => other,
                };
                items.push(l.bytes(e, "element")?);
            }
            if ty == "list" {
                OwnedValue::List(items)
            } else {
                OwnedValue::Set(items)
            }
        }
        "zset" => {
            let mut items = Vec::new();
            for p in l.array(v, "value")? {
                let p = l.array(p, "zset pair")?;
                if p.len() != 2 {
                    return Err(l.err(format!(
                        "zset pair: expected [member, score], found an array of {} items",
                        p.len()
                    )));
                }
                items.push((l.bytes(&p[0], "member")?, l.score(&p[1])?));
            }
            OwnedValue::Zset(items)
        }
        "hash" => {
            let mut fields = Vec::new();
            for p in l.array(v, "value")? {
                let p = l.array(p, "hash field")?;
                if !(2..=3).contains(&p.len()) {
                    return Err(l.err(format!(
                        "hash field: expected [field, value] or [field, value, ttl], found an array of {} items",
                        p.len()
                    )));
                }
                fields.push(HashField {
                    field: l.bytes(&p[0], "field")?,
                    value: l.bytes(&p[1], "value")?,
                    expire_ms: l.opt_i64(p.get(2), "field TTL")?,
                });
            }
            OwnedValue::Hash(fields)
        }
        "stream" => OwnedValue::Stream(Box::new(stream(l, v)?)),
        "module" | "array" | "cron" => {
            let raw = l.bytes(
                v.get("raw").ok_or_else(|| l.err("value.raw missing"))?,
                "raw",
            )?;
            // The bytes are written as they are: they must be a whole value
            // of their layout, or the output would not read back. A pre-GA
            // module value (type 6) has no item annotations to check and
            // travels opaque, as the reader hands it out; the writer keeps
            // its type byte (from `rdb_type`, the source type hint).
            let whole =
                |layout| matches!(value::skip(&raw, layout), Ok((rest, ())) if rest.is_empty());
            if ty == "module" {
                // Type 6 still opens with its module id (a length), which
                // the reader needs before it looks for the value's end.
                let pre_ga = rdb_type == Some(6) && crate::rdb::read::prim::length(&raw).is_ok();
                if !pre_ga && !whole(RdbLayout::Module2) {
                    return Err(
                        l.err("value.raw: expected a module value (module id, typed items, EOF)")
                    );
                }
                OwnedValue::Module(raw)
            } else {
                let tb = rdb_type.ok_or_else(|| l.err("rdb_type required for opaque values"))?;
                let layout = RdbLayout::from_type_byte(tb, flavor, version)
                    .ok_or_else(|| l.err(format!("unknown rdb_type {tb}")))?;
                if layout.data_type().name() != ty {
                    return Err(l.err(format!("rdb_type {tb} is not a {ty} layout")));
                }
                if !whole(layout) {
                    return Err(l.err(format!(
                        "value.raw: expected a whole value of rdb_type {tb}"
                    )));
                }
                OwnedValue::Opaque {
                    type_byte: tb,
                    layout,
                    raw,
                }
            }
        }
        other => {
            return Err(l.err(format!(
                "field \"type\": expected string, list, set, zset, hash, stream or module, found {other:?}"
            )));
        }
    };
    Ok(OwnedKey {
        db: l.u64(l.get("db")?, "db")?,
        key: l.bytes(l.get("key")?, "key")?,
        expire_ms: l.opt_i64(l.v.get("expire_at_ms"), "expire_at_ms")?,
        idle_s: match l.v.get("lru_idle_s") {
            Some(x) => Some(l.u64(x, "lru_idle_s")?),
            None => None,
        },
        freq: match l.v.get("lfu_freq") {
            Some(x) => Some(
                u8::try_from(l.u64(x, "lfu_freq")?)
                    .map_err(|_| l.err(format!("field \"lfu_freq\": expected 0-255, found {x}")))?,
            ),
            None => None,
        },
        value,
        source_type: rdb_type,
    })
}

fn stream(l: &Line<'_>, v: &J) -> Result<StreamValue> {
    let field = |name: &str| {
        v.get(name)
            .ok_or_else(|| l.err(format!("stream: missing \"{name}\"")))
    };
    let mut entries = Vec::new();
    for e in l.array(field("entries")?, "entries")? {
        let mut fields = Vec::new();
        for p in l.array(e.get("fields").unwrap_or(&J::Null), "entry fields")? {
            let p = l.array(p, "entry field")?;
            if p.len() != 2 {
                return Err(l.err(format!(
                    "stream entry field: expected [field, value], found an array of {} items",
                    p.len()
                )));
            }
            fields.push((l.bytes(&p[0], "field")?, l.bytes(&p[1], "value")?));
        }
        entries.push(StreamEntry {
            id: l.id(e.get("id").unwrap_or(&J::Null), "entry id")?,
            fields,
        });
    }
    let mut groups = Vec::new();
    for g in l.array(field("groups")?, "groups")? {
        let gf = |name: &str| {
            g.get(name)
                .ok_or_else(|| l.err(format!("group: missing \"{name}\"")))
        };
        let mut pending = Vec::new();
        for p in l.array(gf("pending")?, "pending")? {
            pending.push(PendingEntry {
                id: l.id(p.get("id").unwrap_or(&J::Null), "pending id")?,
                delivery_time_ms: l.i64(
                    p.get("delivery_time_ms").unwrap_or(&J::Null),
                    "delivery_time_ms",
                )?,
                delivery_count: l.u64(
                    p.get("delivery_count").unwrap_or(&J::Null),
                    "delivery_count",
                )?,
                consumer: match p.get("consumer") {
                    None | Some(J::Null) => None,
                    Some(c) => Some(l.bytes(c, "consumer")?),
                },
            });
        }
        let mut consumers = Vec::new();
        for c in l.array(gf("consumers")?, "consumers")? {
            let mut ids = Vec::new();
            for id in l.array(c.get("pending_ids").unwrap_or(&J::Null), "pending_ids")? {
                ids.push(l.id(id, "pending id")?);
            }
            consumers.push(Consumer {
                name: l.bytes(c.get("name").unwrap_or(&J::Null), "consumer name")?,
                seen_time_ms: l.i64(c.get("seen_time_ms").unwrap_or(&J::Null), "seen_time_ms")?,
                active_time_ms: l.opt_i64(c.get("active_time_ms"), "active_time_ms")?,
                pending: ids,
            });
        }
        let mut nacked = Vec::new();
        if let Some(n) = g.get("nacked") {
            for id in l.array(n, "nacked")? {
                nacked.push(l.id(id, "nacked id")?);
            }
        }
        groups.push(Group {
            name: l.bytes(gf("name")?, "group name")?,
            last_id: l.id(gf("last_id")?, "group last_id")?,
            entries_read: match g.get("entries_read") {
                None | Some(J::Null) => None,
                Some(x) => Some(l.u64(x, "entries_read")?),
            },
            pending,
            consumers,
            nacked,
        });
    }
    let meta = StreamMeta {
        length: l.u64(field("length")?, "length")?,
        last_id: l.id(field("last_id")?, "last_id")?,
        first_id: l.opt_id(v.get("first_id"), "first_id")?,
        max_deleted_id: l.opt_id(v.get("max_deleted_entry_id"), "max_deleted_entry_id")?,
        entries_added: match v.get("entries_added") {
            None | Some(J::Null) => None,
            Some(x) => Some(l.u64(x, "entries_added")?),
        },
        nodes: 0,
        groups: groups.len() as u64,
    };
    Ok(StreamValue {
        meta,
        entries,
        groups,
    })
}

/// The node budget that keeps a list the export calls `quicklist` a
/// quicklist. On a 7.2+ target a list loads as a listpack when it is one
/// node within the limits, so a list the source server held in several
/// small nodes (a small `list-max-listpack-size`) would come back as a
/// listpack in default 8 kB nodes: such a list is written in nodes of half
/// its size instead. `None`: the default budget gives the same encoding.
fn quicklist_budget(l: &Line<'_>, k: &OwnedKey, listpack_lists: bool) -> Option<usize> {
    let OwnedValue::List(items) = &k.value else {
        return None;
    };
    if !listpack_lists
        || items.len() < 2
        || l.v.get("encoding").and_then(J::as_str) != Some("quicklist")
    {
        return None;
    }
    // Element bytes plus the writer's per-entry estimate (8).
    let total: usize = items.iter().map(|e| e.len().saturating_add(8)).sum();
    (total <= 8192).then_some(total / 2)
}

/// What an import saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportStats {
    /// Lines read.
    pub lines: u64,
    /// Keys read.
    pub keys: u64,
}

/// Reads a JSONL export from `input` and writes it through `sink`. Without
/// a header line the file is taken as RDB `default_version`.
pub fn import<R: BufRead, W: Write>(
    input: R,
    sink: &mut RdbSink<W>,
    default_version: u32,
) -> Result<ImportStats> {
    let mut stats = ImportStats::default();
    let mut header: Option<Header> = None;
    // Whether the export's encodings are those of a 7.2+ server, where a
    // list in a single small node loads as a listpack.
    let mut listpack_lists = false;
    // The source's checksum status (trailer line): a disabled checksum is
    // written disabled again; anything else gets a computed CRC-64.
    let mut checksum = Checksum::Absent;
    let mut text = String::new();
    let mut input = input;
    let mut no = 0usize;
    loop {
        text.clear();
        if input.read_line(&mut text)? == 0 {
            break;
        }
        no += 1;
        let t = text.trim();
        // A `--format json` export is one array: accept its bracket lines.
        let t = t.trim_end_matches(',');
        if t.is_empty() || t == "[" || t == "]" {
            continue;
        }
        stats.lines += 1;
        let v: J = serde_json::from_str(t).map_err(|e| {
            Error::import(format!(
                "line {no}: expected a JSON object, found invalid JSON: {e}"
            ))
        })?;
        let l = Line { no, v: &v };
        let rec = v.get("record").and_then(J::as_str);
        if header.is_none() {
            let h = match rec {
                Some("header") => {
                    let flavor = match v.get("magic").and_then(J::as_str) {
                        Some("VALKEY") => Flavor::Valkey,
                        _ => Flavor::Redis,
                    };
                    let version = l.u64(l.get("rdb_version")?, "rdb_version")? as u32;
                    listpack_lists = v
                        .get("encoding_target")
                        .and_then(J::as_str)
                        .is_some_and(|t| t != "redis-7.0");
                    Header {
                        flavor,
                        version,
                        len: 9,
                    }
                }
                _ => Header {
                    flavor: if default_version >= 80 {
                        Flavor::Valkey
                    } else {
                        Flavor::Redis
                    },
                    version: default_version,
                    len: 9,
                },
            };
            sink.start(&h)?;
            header = Some(h);
            if rec == Some("header") {
                continue;
            }
        }
        let h = header.ok_or_else(|| l.err("expected a header line first"))?;
        match rec {
            None => {
                let mut k = key_line(&l, h.flavor, h.version)?;
                stats.keys += 1;
                match quicklist_budget(&l, &k, listpack_lists) {
                    Some(budget) => {
                        let default = sink.node_bytes();
                        sink.set_node_bytes(budget);
                        let r = sink.owned_key(&mut k);
                        sink.set_node_bytes(default);
                        r?;
                    }
                    None => sink.owned_key(&mut k)?,
                }
            }
            Some("aux") => {
                let k = l.bytes(l.get("key")?, "key")?;
                let val = l.bytes(l.get("value")?, "value")?;
                sink.record(&Record::Aux {
                    key: RdbStr::Raw(&k),
                    value: RdbStr::Raw(&val),
                })?;
            }
            Some("resizedb") => {
                sink.record(&Record::ResizeDb {
                    db: l.u64(l.get("db")?, "db")?,
                    keys: l.u64(l.get("keys")?, "keys")?,
                    expires: l.u64(l.get("expires")?, "expires")?,
                })?;
            }
            Some("function") => {
                let c = l.bytes(l.get("code")?, "code")?;
                sink.record(&Record::Function {
                    code: RdbStr::Raw(&c),
                })?;
            }
            Some("function_pre_ga") => {
                let name = l.bytes(l.get("name")?, "name")?;
                let engine = l.bytes(l.get("engine")?, "engine")?;
                let code = l.bytes(l.get("code")?, "code")?;
                sink.record(&Record::FunctionPreGa {
                    name: RdbStr::Raw(&name),
                    engine: RdbStr::Raw(&engine),
                    description: None,
                    code: RdbStr::Raw(&code),
                })?;
            }
            Some("module_aux") => {
                let raw = l.bytes(l.get("raw")?, "raw")?;
                sink.record(&Record::ModuleAux {
                    module_id: l.u64(l.get("module_id")?, "module_id")?,
                    when: l.u64(l.get("when")?, "when")?,
                    raw: &raw,
                })?;
            }
            Some("header") => {
                return Err(l.err("expected a key or trailer line, found a second header line"));
            }
            Some("trailer") => {
                let status = l.get("checksum")?.get("status").and_then(J::as_str);
                if status == Some("disabled") {
                    checksum = Checksum::Disabled;
                }
            }
            // Hints describe the source file; the writer writes its own.
            Some(_) => {}
        }
    }
    if header.is_none() {
        return Err(Error::import(
            "empty input: expected a header line and key lines, found none",
        ));
    }
    sink.finish(&Trailer {
        checksum,
        end_offset: 0,
        stopped: false,
    })?;
    Ok(stats)
}
