//! Parsing and verifying DUMP payloads. The value is read with the RDB
//! value walker ([`crate::rdb::read::value::skip`]) and handed out as the
//! same lazy [`Value`] view a file record carries; [`validate`] performs the
//! deep checks Redis runs with `sanitize-dump-payload yes` (and a few it
//! does not), so a payload can be vetted before it is sent anywhere.

use std::collections::HashSet;

use crate::error::{Error, ErrorKind, Problem, Result, perr};
use crate::model::{DataType, Elem, Flavor, RdbLayout};
use crate::rdb::read::listpack::Listpack;
use crate::rdb::read::prim::{RdbStr, length, raw_stream_id};
use crate::rdb::read::stream::{StreamVisitor, walk};
use crate::rdb::read::{Scratch, StreamId, Value, value};

/// Highest Redis footer version understood.
pub const MAX_REDIS_VERSION: u16 = 15;

/// Verification settings.
#[derive(Debug, Clone, Copy)]
pub struct DumpOptions {
    /// Check the CRC-64 footer.
    pub verify_crc: bool,
    /// Accept a stored CRC of 0 as "not computed" (Redis 8.4+ behaviour;
    /// 7.x rejects it).
    pub allow_zero_crc: bool,
    /// Highest footer version accepted (a server accepts `≤` its own);
    /// `None`: every version this reader knows.
    pub max_version: Option<u16>,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            verify_crc: true,
            allow_zero_crc: false,
            max_version: None,
        }
    }
}

/// A parsed payload.
#[derive(Debug, Clone, Copy)]
pub struct Dump<'a> {
    /// The value view (offsets are payload offsets).
    pub value: Value<'a>,
    /// Footer RDB version.
    pub version: u16,
    /// Stored CRC-64.
    pub crc: u64,
}

fn parse_err(p: Problem, off: usize) -> Error {
    Error::parse(p, off as u64)
}

/// Parses `data` as a DUMP payload: footer version and CRC first (as
/// `verifyDumpPayload` does), then the type byte (after an optional
/// KEY_META prefix) and the value, which must end exactly at the footer.
pub fn parse<'a>(data: &'a [u8], opts: &DumpOptions) -> Result<Dump<'a>> {
    if data.len() < 10 {
        return Err(parse_err(
            Problem::Length {
                what: "DUMP payload (type, value, 2-byte version, 8-byte CRC)",
                declared: 10,
                available: data.len() as u64,
            },
            0,
        ));
    }
    let foot = data.len() - 10;
    let version = u16::from_le_bytes([data[foot], data[foot + 1]]);
    let mut c = [0u8; 8];
    c.copy_from_slice(&data[foot + 2..]);
    let crc = u64::from_le_bytes(c);
    let known = (1..=MAX_REDIS_VERSION).contains(&version) || (80..=81).contains(&version);
    if !known || opts.max_version.is_some_and(|m| version > m) {
        let mut e = Error::new(ErrorKind::UnsupportedVersion(version as u32));
        e.location_mut().offset = Some(foot as u64);
        return Err(e);
    }
    if opts.verify_crc && !(crc == 0 && opts.allow_zero_crc) {
        let computed = crate::crc::crc64(&data[..foot + 2]);
        if computed != crc {
            let mut e = Error::new(ErrorKind::Checksum {
                stored: crc,
                computed,
            });
            e.location_mut().offset = Some(foot as u64 + 2);
            return Err(e);
        }
    }
    let flavor = if version >= 80 {
        Flavor::Valkey
    } else {
        Flavor::Redis
    };
    let body = &data[..foot];
    let mut at = 0usize;
    if flavor == Flavor::Redis && body.first() == Some(&0xf3) {
        at = skip_key_meta(body)?;
    }
    let tb = *body
        .get(at)
        .ok_or_else(|| parse_err(Problem::Truncated { what: "type byte" }, at))?;
    let layout = RdbLayout::from_type_byte(tb, flavor, version as u32)
        .ok_or_else(|| parse_err(Problem::UnknownType { byte: tb }, at))?;
    let rest = &body[at + 1..];
    let (after, ()) = value::skip(rest, layout).map_err(|e| {
        let e = perr(e);
        parse_err(e.problem, foot - e.remaining)
    })?;
    if !after.is_empty() {
        return Err(parse_err(
            Problem::Invalid {
                what: "DUMP payload",
                expected: "the value to end at the version footer",
                found: after.len() as u64,
            },
            foot - after.len(),
        ));
    }
    Ok(Dump {
        value: Value {
            layout,
            type_byte: tb,
            raw: &rest[..rest.len() - after.len()],
            offset: at as u64 + 1,
        },
        version,
        crc,
    })
}

fn skip_key_meta(body: &[u8]) -> Result<usize> {
    let to = |e| {
        let e = perr(e);
        parse_err(e.problem, body.len() - e.remaining)
    };
    let (mut r, n) = length(&body[1..]).map_err(to)?;
    if n == 0 || n > 7 {
        return Err(parse_err(
            Problem::Invalid {
                what: "KEY_META",
                expected: "a class count 1-7",
                found: n,
            },
            1,
        ));
    }
    for _ in 0..n {
        let spec = r.get(4..).ok_or_else(|| {
            parse_err(
                Problem::Truncated { what: "KEY_META" },
                body.len() - r.len(),
            )
        })?;
        r = crate::rdb::read::module::walk_items(spec).map_err(to)?.0;
    }
    Ok(body.len() - r.len())
}

fn invalid(what: &'static str, expected: &'static str, found: u64, off: u64) -> Error {
    Error::parse(
        Problem::Invalid {
            what,
            expected,
            found,
        },
        off,
    )
}

/// Largest hash field expiry a file may hold (`EB_EXPIRE_TIME_MAX`).
const EB_EXPIRE_TIME_MAX: i64 = (1 << 48) - 1;

/// Deep validation: walks every element (bounds, listpack backlens,
/// ziplist prevlens), and checks declared counts, non-emptiness, duplicate
/// members/fields, intset order, NaN scores, field-TTL ranges and order,
/// and stream structure (node entries, `lp_count`, unique node keys,
/// group and consumer names, PEL ownership). The sum of node counts is not
/// compared with the stream length: Redis 5/6 files with trimmed streams
/// disagree and load fine.
pub fn validate(v: &Value<'_>, scratch: &mut Scratch) -> Result<()> {
    let off = v.offset;
    let empty = || invalid("value", "a non-empty aggregate", 0, off);
    let dup = |what| invalid(what, "unique members", 0, off);
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    match v.data_type() {
        DataType::String => {
            v.as_string()?.to_vec().map_err(|p| Error::parse(p, off))?;
        }
        DataType::List | DataType::Set => {
            let is_set = v.data_type() == DataType::Set;
            let mut n = 0u64;
            let mut prev: Option<i64> = None;
            let mut ordered = true;
            v.for_each_elem(scratch, |e, _| {
                n += 1;
                if is_set {
                    if v.layout == RdbLayout::SetIntset
                        && let Elem::Int(x) = e
                    {
                        ordered &= prev.is_none_or(|p| p < x);
                        prev = Some(x);
                    }
                    if !seen.insert(e.to_vec()) {
                        return Err(dup("set"));
                    }
                }
                Ok(())
            })?;
            if !ordered {
                return Err(invalid("intset", "strictly ascending elements", 0, off));
            }
            if n == 0 {
                return Err(empty());
            }
            check_declared(v, scratch, n)?;
            if v.layout == RdbLayout::ListQuicklist2 {
                check_node_sizes(v)?;
            }
            if matches!(
                v.layout,
                RdbLayout::ListQuicklist | RdbLayout::ListQuicklist2
            ) {
                let mut bad = false;
                v.for_each_quicklist_node(scratch, |c| {
                    bad |= c == 0;
                    Ok(())
                })?;
                if bad {
                    return Err(invalid("quicklist node", "at least one element", 0, off));
                }
            }
        }
        DataType::Zset => {
            let mut n = 0u64;
            v.for_each_scored(scratch, |m, s| {
                n += 1;
                if s.is_nan() {
                    return Err(invalid("zset score", "a number (not NaN)", 0, off));
                }
                if !seen.insert(m.to_vec()) {
                    return Err(dup("zset"));
                }
                Ok(())
            })?;
            if n == 0 {
                return Err(empty());
            }
            check_declared(v, scratch, n)?;
        }
        DataType::Hash => {
            let mut n = 0u64;
            let mut last_ttl: Option<i64> = Some(i64::MIN);
            let ordered_ttls = matches!(
                v.layout,
                RdbLayout::HashListpackEx | RdbLayout::HashListpackExPreGa
            );
            v.for_each_field(scratch, |f, _, ttl| {
                n += 1;
                if !seen.insert(f.to_vec()) {
                    return Err(dup("hash"));
                }
                if let Some(t) = ttl
                    && !(0..=EB_EXPIRE_TIME_MAX).contains(&t)
                {
                    return Err(invalid(
                        "hash field TTL",
                        "an expiry within 0..2^48-1",
                        t as u64,
                        off,
                    ));
                }
                if ordered_ttls {
                    // Non-decreasing expiries, fields without TTL last.
                    match (last_ttl, ttl) {
                        (None, Some(t)) => {
                            return Err(invalid(
                                "hash field TTLs",
                                "fields without TTL after those with one",
                                t as u64,
                                off,
                            ));
                        }
                        (Some(p), Some(t)) if t < p => {
                            return Err(invalid(
                                "hash field TTLs",
                                "ascending expiries",
                                t as u64,
                                off,
                            ));
                        }
                        _ => {}
                    }
                    last_ttl = ttl;
                }
                Ok(())
            })?;
            if n == 0 {
                return Err(empty());
            }
            check_declared(v, scratch, n)?;
        }
        DataType::Stream => validate_stream(v, scratch)?,
        DataType::Module | DataType::Array | DataType::Cron => {}
    }
    Ok(())
}

/// Quicklist v2 nodes must hold data (a 0-byte node is corruption).
fn check_node_sizes(v: &Value<'_>) -> Result<()> {
    let to = |e| Error::parse(perr(e).problem, v.offset);
    let (mut r, n) = length(v.raw).map_err(to)?;
    for _ in 0..n {
        let (r2, _container) = length(r).map_err(to)?;
        let (r2, data) = crate::rdb::read::prim::string(r2).map_err(to)?;
        if data.is_empty() {
            return Err(invalid(
                "quicklist node",
                "non-empty node data",
                0,
                v.offset,
            ));
        }
        r = r2;
    }
    Ok(())
}

/// Declared blob counts (listpack/ziplist headers, top-level counts) must
/// match what the walk found.
fn check_declared(v: &Value<'_>, scratch: &mut Scratch, walked: u64) -> Result<()> {
    let declared = v.element_count(scratch)?;
    if declared != walked {
        return Err(invalid(
            "element count",
            "the header count to match the elements present",
            declared,
            v.offset,
        ));
    }
    Ok(())
}

#[derive(Default)]
struct StreamParts<'a> {
    nodes: Vec<(RdbStr<'a>, RdbStr<'a>)>,
    groups: Vec<Vec<u8>>,
    pels: Vec<Vec<StreamId>>,
    consumers: Vec<Vec<(Vec<u8>, Vec<StreamId>)>>,
}

impl<'a> StreamVisitor<'a> for StreamParts<'a> {
    fn node(&mut self, key: RdbStr<'a>, lp: RdbStr<'a>) {
        self.nodes.push((key, lp));
    }
    fn group(&mut self, name: RdbStr<'a>, _last: StreamId, _read: Option<u64>) {
        self.groups.push(name.to_vec().unwrap_or_default());
        self.pels.push(Vec::new());
        self.consumers.push(Vec::new());
    }
    fn pel(&mut self, id: StreamId, _t: i64, _n: u64) {
        if let Some(p) = self.pels.last_mut() {
            p.push(id);
        }
    }
    fn consumer(&mut self, name: RdbStr<'a>, _seen: i64, _active: Option<i64>) {
        if let Some(c) = self.consumers.last_mut() {
            c.push((name.to_vec().unwrap_or_default(), Vec::new()));
        }
    }
    fn consumer_pel(&mut self, id: StreamId) {
        if let Some(c) = self.consumers.last_mut().and_then(|c| c.last_mut()) {
            c.1.push(id);
        }
    }
}

fn int_elem(e: Option<std::result::Result<Elem<'_>, Problem>>, off: u64) -> Result<i64> {
    match e {
        Some(Ok(Elem::Int(v))) => Ok(v),
        Some(Ok(Elem::Bytes(b))) => Err(invalid(
            "stream node",
            "an integer element",
            b.len() as u64,
            off,
        )),
        Some(Err(p)) => Err(Error::parse(p, off)),
        None => Err(Error::parse(
            Problem::Truncated {
                what: "stream node",
            },
            off,
        )),
    }
}

fn validate_stream(v: &Value<'_>, scratch: &mut Scratch) -> Result<()> {
    let off = v.offset;
    let RdbLayout::Stream(ver) = v.layout else {
        return Ok(());
    };
    let mut parts = StreamParts::default();
    walk(v.raw, ver, &mut parts).map_err(|e| {
        let e = perr(e);
        Error::parse(e.problem, off)
    })?;
    let mut keys = HashSet::new();
    for (key, lp) in &parts.nodes {
        let kb = key.to_vec().map_err(|p| Error::parse(p, off))?;
        let (_, master) = raw_stream_id(&kb).map_err(|e| Error::parse(perr(e).problem, off))?;
        if !keys.insert(master) {
            return Err(invalid("stream", "unique node keys", master.ms, off));
        }
        let blob = lp
            .bytes(&mut scratch.blob)
            .map_err(|p| Error::parse(p, off))?;
        let l = Listpack::parse(blob).map_err(|p| Error::parse(p, off))?;
        let mut walked = 0u64;
        for e in l.iter() {
            e.map_err(|p| Error::parse(p, off))?;
            walked += 1;
        }
        if l.declared.is_some_and(|d| d as u64 != walked) {
            return Err(invalid(
                "stream node listpack",
                "a matching count",
                walked,
                off,
            ));
        }
        let mut it = l.iter();
        let count = int_elem(it.next(), off)?;
        let deleted = int_elem(it.next(), off)?;
        let nfields = int_elem(it.next(), off)?;
        if count <= 0 || deleted < 0 || nfields < 0 {
            return Err(invalid(
                "stream node",
                "a positive entry count",
                count as u64,
                off,
            ));
        }
        for _ in 0..nfields {
            it.next()
                .ok_or_else(|| {
                    Error::parse(
                        Problem::Truncated {
                            what: "stream node",
                        },
                        off,
                    )
                })?
                .map_err(|p| Error::parse(p, off))?;
        }
        if int_elem(it.next(), off)? != 0 {
            return Err(invalid("stream node", "master entry terminator 0", 0, off));
        }
        for _ in 0..(count as u64).saturating_add(deleted as u64) {
            let flags = int_elem(it.next(), off)?;
            int_elem(it.next(), off)?;
            int_elem(it.next(), off)?;
            let items = if flags & 2 != 0 {
                nfields
            } else {
                let n = int_elem(it.next(), off)?;
                if n < 0 {
                    return Err(invalid("stream entry", "a field count", n as u64, off));
                }
                n.saturating_mul(2)
            };
            for _ in 0..items {
                it.next()
                    .ok_or_else(|| {
                        Error::parse(
                            Problem::Truncated {
                                what: "stream entry",
                            },
                            off,
                        )
                    })?
                    .map_err(|p| Error::parse(p, off))?;
            }
            let want = if flags & 2 != 0 {
                nfields + 3
            } else {
                items + 4
            };
            let lp_count = int_elem(it.next(), off)?;
            if lp_count != want {
                return Err(invalid(
                    "stream entry",
                    "lp-count equal to its element count",
                    lp_count as u64,
                    off,
                ));
            }
        }
        if it.next().is_some() {
            return Err(invalid(
                "stream node",
                "no data after the last entry",
                0,
                off,
            ));
        }
    }

    let mut names = HashSet::new();
    for (gi, g) in parts.groups.iter().enumerate() {
        if !names.insert(g.clone()) {
            return Err(invalid("stream", "unique consumer group names", 0, off));
        }
        let pel: HashSet<StreamId> = parts.pels[gi].iter().copied().collect();
        if pel.len() != parts.pels[gi].len() {
            return Err(invalid("stream group PEL", "unique IDs", 0, off));
        }
        let mut owned = HashSet::new();
        let mut cnames = HashSet::new();
        for (cname, ids) in &parts.consumers[gi] {
            if !cnames.insert(cname.clone()) {
                return Err(invalid("stream", "unique consumer names", 0, off));
            }
            for id in ids {
                if !pel.contains(id) {
                    return Err(invalid(
                        "consumer PEL",
                        "IDs present in the group PEL",
                        id.ms,
                        off,
                    ));
                }
                if !owned.insert(*id) {
                    return Err(invalid(
                        "consumer PEL",
                        "IDs owned by one consumer",
                        id.ms,
                        off,
                    ));
                }
            }
        }
        if owned.len() != pel.len() {
            return Err(invalid(
                "stream group PEL",
                "every entry owned by a consumer",
                pel.len() as u64,
                off,
            ));
        }
    }
    Ok(())
}
