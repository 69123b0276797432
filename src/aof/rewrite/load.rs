//! Values from RDB bytes into the keyspace: the records of an RDB BASE or
//! preamble, the payloads of `RESTORE` (DUMP format) and of
//! `FUNCTION RESTORE`. Decoding is the RDB reader's; this only copies.

use std::collections::{BTreeMap, VecDeque};

use super::keyspace::{
    Bytes, Entry, Group, HashMap, HashVal, Keyspace, Pending, SetVal, Stream, Val, ZSet,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{DataType, Flavor, RdbLayout};
use crate::rdb::read::{Record, Scratch, Value, prim, value};
use crate::sink::Flow;

fn unmodelled(what: String) -> Error {
    Error::new(ErrorKind::Aof(what))
}

/// Copies a value out of its RDB encoding.
pub fn val_from_rdb(v: &Value<'_>, scratch: &mut Scratch) -> Result<Val> {
    Ok(match v.data_type() {
        DataType::String => {
            let s = v.as_string()?;
            Val::Str(s.to_vec().map_err(|p| Error::parse(p, v.offset))?)
        }
        DataType::List => {
            let mut l = VecDeque::new();
            v.for_each_elem(scratch, |e, _| {
                l.push_back(Bytes::from(e.to_vec()));
                Ok(())
            })?;
            Val::List(l)
        }
        DataType::Set => {
            let mut s = SetVal::default();
            v.for_each_elem(scratch, |e, _| {
                s.insert(Bytes::from(e.to_vec()));
                Ok(())
            })?;
            s.settle();
            Val::Set(s)
        }
        DataType::Zset => {
            let mut z = Box::<ZSet>::default();
            v.for_each_scored(scratch, |e, s| {
                z.insert(Bytes::from(e.to_vec()), s);
                Ok(())
            })?;
            z.settle();
            Val::ZSet(z)
        }
        DataType::Hash => {
            let mut h = HashVal::default();
            v.for_each_field(scratch, |f, val, ttl| {
                h.insert(Bytes::from(f.to_vec()), (Bytes::from(val.to_vec()), ttl));
                Ok(())
            })?;
            h.settle();
            Val::Hash(h)
        }
        DataType::Stream => {
            let sv = v.stream()?;
            let id = |i: prim::StreamId| (i.ms, i.seq);
            let mut s = Stream {
                last_id: id(sv.meta.last_id),
                max_deleted: sv.meta.max_deleted_id.map_or((0, 0), id),
                entries_added: sv.meta.entries_added.unwrap_or(sv.meta.length),
                ..Stream::default()
            };
            for e in sv.entries {
                s.entries.insert(id(e.id), e.fields);
            }
            for g in sv.groups {
                let mut pel = BTreeMap::new();
                let mut owner = HashMap::default();
                for c in &g.consumers {
                    for p in &c.pending {
                        owner.insert(id(*p), c.name.clone());
                    }
                }
                for p in g.pending {
                    let consumer = p
                        .consumer
                        .or_else(|| owner.get(&id(p.id)).cloned())
                        .unwrap_or_default();
                    pel.insert(
                        id(p.id),
                        Pending {
                            consumer,
                            time: p.delivery_time_ms,
                            count: p.delivery_count,
                        },
                    );
                }
                s.groups.insert(
                    g.name,
                    Group {
                        last_id: id(g.last_id),
                        entries_read: g.entries_read.map_or(-1, |n| n as i64),
                        pel,
                        consumers: g.consumers.into_iter().map(|c| c.name).collect(),
                    },
                );
            }
            Val::Stream(Box::new(s))
        }
        other => {
            return Err(unmodelled(format!(
                "cannot replay a {} value (key of RDB type {})",
                other.name(),
                v.type_byte
            )));
        }
    })
}

/// Puts the key records of an RDB part into the keyspace; keeps functions.
pub fn rdb_record(ks: &mut Keyspace, r: &Record<'_>, scratch: &mut Scratch) -> Result<Flow> {
    match r {
        Record::Key(k) => {
            let key = k.key.to_vec().map_err(|p| Error::parse(p, k.offset))?;
            let val = val_from_rdb(&k.value, scratch)?;
            ks.db(k.db).insert(
                Bytes::from(key),
                Entry {
                    val,
                    expire: k.expire_ms,
                },
            );
        }
        Record::Function { code } => {
            let code = code.to_vec().map_err(|p| Error::parse(p, 0))?;
            let name = library_name(&code)
                .ok_or_else(|| unmodelled("function library without a name".into()))?;
            ks.functions.insert(name, code);
        }
        Record::ModuleAux { .. } => {
            return Err(unmodelled(
                "cannot replay module data (MODULE_AUX record)".into(),
            ));
        }
        _ => {}
    }
    Ok(Flow::Continue)
}

/// The library name of a function library's code (`#!lua name=<lib>`).
pub fn library_name(code: &[u8]) -> Option<Vec<u8>> {
    let first = code.split(|&b| b == b'\n').next()?;
    let rest = first.strip_prefix(b"#!")?;
    rest.split(|b| b.is_ascii_whitespace())
        .skip(1)
        .find_map(|t| t.strip_prefix(b"name="))
        .map(<[u8]>::to_vec)
}

/// Decodes a DUMP payload (type byte, value, 2-byte RDB version, CRC-64).
pub fn dump_payload(p: &[u8]) -> Result<Val> {
    let bad = |what: &'static str| {
        Error::parse(
            crate::error::Problem::Invalid {
                what: "DUMP payload",
                expected: what,
                found: p.len() as u64,
            },
            0,
        )
    };
    if p.len() < 11 {
        return Err(bad("a type byte, a value and a 10-byte footer"));
    }
    let (body, footer) = p.split_at(p.len() - 10);
    let ver = u16::from_le_bytes([footer[0], footer[1]]) as u32;
    let crc = u64::from_le_bytes(footer[2..10].try_into().map_err(|_| bad("a footer"))?);
    if crc != 0 && crc != crate::crc::crc64(&p[..p.len() - 8]) {
        return Err(bad("a matching CRC-64"));
    }
    let layout = RdbLayout::from_type_byte(body[0], Flavor::Redis, ver.max(1))
        .ok_or_else(|| bad("a known type byte"))?;
    let raw = &body[1..];
    let (rest, ()) =
        value::skip(raw, layout).map_err(|e| Error::parse(crate::error::perr(e).problem, 0))?;
    if !rest.is_empty() {
        return Err(bad("no bytes after the value"));
    }
    let v = Value {
        layout,
        type_byte: body[0],
        raw,
        offset: 1,
    };
    val_from_rdb(&v, &mut Scratch::default())
}

/// Decodes a `FUNCTION DUMP` payload into library codes.
pub fn function_payload(p: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = || {
        Error::parse(
            crate::error::Problem::Invalid {
                what: "FUNCTION RESTORE payload",
                expected: "FUNCTION2 records and a 10-byte footer",
                found: p.len() as u64,
            },
            0,
        )
    };
    if p.len() < 10 {
        return Err(bad());
    }
    let mut r = &p[..p.len() - 10];
    let mut out = Vec::new();
    while let Some((&op, rest)) = r.split_first() {
        if op != 0xf5 {
            return Err(bad());
        }
        let (rest, code) = prim::string(rest).map_err(|_| bad())?;
        out.push(code.to_vec().map_err(|p| Error::parse(p, 0))?);
        r = rest;
    }
    Ok(out)
}
