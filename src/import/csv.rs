//! CSV import (`formats/csv-keys.md`): one row per string, or per hash
//! field / list element / set member / zset member, with columns `db`,
//! `key`, `type`, `field`, `value`, `expire_at_ms`, `field_expire_at_ms` and
//! `slot` (ignored: it follows from the key); only `key` and `value` are
//! required. Rows of one key are consecutive.

use std::io::{Read, Write};

use crate::error::{Error, Result};
use crate::model::Flavor;
use crate::model::owned::{HashField, OwnedKey, OwnedValue};
use crate::rdb::read::prim::parse_double;
use crate::rdb::read::{Header, Trailer};
use crate::rdb::write::RdbSink;
use crate::sink::RecordSink;

/// The columns, by name.
#[derive(Default)]
struct Cols {
    db: Option<usize>,
    key: usize,
    ty: Option<usize>,
    field: Option<usize>,
    value: usize,
    expire: Option<usize>,
    field_expire: Option<usize>,
}

/// Where a row is: its line in the file (a quoted field may span lines:
/// the row's first) and its record number (the header is record 1).
#[derive(Clone, Copy)]
struct At {
    line: u64,
    record: u64,
}

impl At {
    /// An import error at this row, in column `col`: `expected`, and what
    /// was found (cut at 40 bytes).
    fn err(self, col: &str, expected: &str, found: &[u8]) -> Error {
        let cut = &found[..found.len().min(40)];
        Error::import(format!(
            "line {} (record {}), column \"{col}\": expected {expected}, found \"{}\"",
            self.line,
            self.record,
            cut.escape_ascii()
        ))
    }
}

fn num<T: std::str::FromStr>(b: &[u8], col: &str, expected: &str, at: At) -> Result<T> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| at.err(col, expected, b))
}

fn opt_num<T: std::str::FromStr>(
    b: Option<&[u8]>,
    col: &str,
    expected: &str,
    at: At,
) -> Result<Option<T>> {
    match b {
        None => Ok(None),
        Some([]) => Ok(None),
        Some(b) => num(b, col, expected, at).map(Some),
    }
}

/// Reads CSV rows from `input` into an RDB of `version` through `sink`.
/// Returns the number of keys.
pub fn import<R: Read, W: Write>(input: R, sink: &mut RdbSink<W>, version: u32) -> Result<u64> {
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let headers = rd
        .byte_headers()
        .map_err(|e| Error::import(format!("line 1 (CSV header): {e}")))?
        .clone();
    let mut c = Cols::default();
    let (mut has_key, mut has_value) = (false, false);
    for (i, h) in headers.iter().enumerate() {
        match h {
            b"db" => c.db = Some(i),
            b"key" => (c.key, has_key) = (i, true),
            b"type" => c.ty = Some(i),
            b"field" => c.field = Some(i),
            b"value" => (c.value, has_value) = (i, true),
            b"expire_at_ms" => c.expire = Some(i),
            b"field_expire_at_ms" => c.field_expire = Some(i),
            // Derived from the key (written by `convert --to csv`).
            b"slot" => {}
            other => {
                return Err(Error::import(format!(
                    "line 1 (CSV header), column {}: expected db, key, type, field, value, \
                     expire_at_ms, field_expire_at_ms or slot, found \"{}\"",
                    i + 1,
                    other.escape_ascii()
                )));
            }
        }
    }
    if !has_key || !has_value {
        return Err(Error::import(format!(
            "line 1 (CSV header): expected columns \"key\" and \"value\", found {}",
            headers
                .iter()
                .map(|h| format!("\"{}\"", h.escape_ascii()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    sink.start(&Header {
        flavor: if version >= 80 {
            Flavor::Valkey
        } else {
            Flavor::Redis
        },
        version,
        len: 9,
    })?;
    let mut cur: Option<OwnedKey> = None;
    let mut keys = 0u64;
    let mut seen = std::collections::HashSet::new();
    let mut rec = csv::ByteRecord::new();
    let mut record = 1u64;
    loop {
        let more = rd.read_byte_record(&mut rec).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Error::import(format!("line {line} (record {}): {e}", record + 1))
        })?;
        if !more {
            break;
        }
        record += 1;
        let at = At {
            line: rec.position().map_or(0, |p| p.line()),
            record,
        };
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i));
        let db: u64 = opt_num(get(c.db), "db", "a db number", at)?.unwrap_or(0);
        let key = rec.get(c.key).unwrap_or_default();
        let value = rec.get(c.value).unwrap_or_default().to_vec();
        let field = get(c.field).unwrap_or_default();
        let ty: &[u8] = match get(c.ty) {
            Some(t) if !t.is_empty() => t,
            _ if !field.is_empty() => b"hash",
            _ => b"string",
        };
        let same = cur.as_ref().is_some_and(|k| k.db == db && k.key == key);
        if !same {
            if let Some(mut k) = cur.take() {
                keys += 1;
                sink.owned_key(&mut k)?;
            }
            if !seen.insert((db, key.to_vec())) {
                return Err(at.err(
                    "key",
                    "the rows of one key to be consecutive, a key met before",
                    key,
                ));
            }
            let empty = match ty {
                b"string" => OwnedValue::String(Vec::new()),
                b"hash" => OwnedValue::Hash(Vec::new()),
                b"list" => OwnedValue::List(Vec::new()),
                b"set" => OwnedValue::Set(Vec::new()),
                b"zset" => OwnedValue::Zset(Vec::new()),
                other => {
                    return Err(at.err("type", "string, hash, list, set or zset", other));
                }
            };
            cur = Some(OwnedKey {
                db,
                key: key.to_vec(),
                expire_ms: opt_num(get(c.expire), "expire_at_ms", "a Unix time in ms", at)?,
                idle_s: None,
                freq: None,
                value: empty,
                source_type: None,
            });
        }
        let Some(k) = cur.as_mut() else { continue };
        match &mut k.value {
            OwnedValue::String(s) if s.is_empty() && !same => *s = value,
            OwnedValue::Hash(f) => f.push(HashField {
                field: field.to_vec(),
                value,
                expire_ms: opt_num(
                    get(c.field_expire),
                    "field_expire_at_ms",
                    "a Unix time in ms",
                    at,
                )?,
            }),
            OwnedValue::List(v) | OwnedValue::Set(v) => v.push(value),
            OwnedValue::Zset(v) => {
                let s = parse_double(&value)
                    .ok_or_else(|| at.err("value", "a zset score (a double)", &value))?;
                v.push((field.to_vec(), s));
            }
            _ => {
                return Err(at.err("key", "one row for a string key, a second row of", key));
            }
        }
    }
    if let Some(mut k) = cur.take() {
        keys += 1;
        sink.owned_key(&mut k)?;
    }
    sink.finish(&Trailer {
        checksum: crate::rdb::read::Checksum::Absent,
        end_offset: 0,
        stopped: false,
    })?;
    Ok(keys)
}
