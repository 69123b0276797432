//! Per-type estimates: the bytes a value's structures take on the target
//! after loading, built the way the server's loader builds them (`rdb.c`
//! `rdbLoadObject`: pre-sized tables, conversions between encodings).

use super::alloc::{Alloc, sds_header};
use super::dict::DictSim;
use super::layout::Layout;
use super::packed::{LP_EMPTY, intset_bytes, lp_entry};
use super::rax;
use super::score::score_text;
use crate::error::{Error, Problem, Result};
use crate::model::{DataType, Elem, Encoding, RdbLayout};
use crate::rdb::read::listpack::declared_count;
use crate::rdb::read::prim::{RdbStr, count, length, string};
use crate::rdb::read::stream::{self, StreamMeta, StreamVisitor};
use crate::rdb::read::value::str_head;
use crate::rdb::read::{Scratch, StreamId, Value, intset};
use crate::server::{Profile, Target};

/// What a value's structures take, besides the object header and the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Bytes of the value's structures (without `robj`).
    pub bytes: u64,
    /// `OBJECT ENCODING` after loading.
    pub encoding: Encoding,
    /// Elements (strings: 1; streams: entries).
    pub elements: u64,
    /// Length of the largest element (strings: the value's length), or an
    /// upper bound when `largest_exact` is false.
    pub largest: u64,
    /// False when the elements were not walked ([`Ctx::lazy_largest`]):
    /// [`largest_element`] gives the exact length.
    pub largest_exact: bool,
}

/// Inputs shared by the per-type estimates.
pub struct Ctx<'p> {
    /// Encoding thresholds.
    pub profile: &'p Profile,
    /// Struct sizes.
    pub layout: &'p Layout,
    /// Decode buffers.
    pub scratch: &'p mut Scratch,
    /// Reusable ID buffer for streams.
    pub ids: &'p mut Vec<[u8; 16]>,
    /// The allocator's size classes.
    pub alloc: Alloc,
    /// Skip walking values kept as stored just for their largest element:
    /// `Part::largest` is then an upper bound.
    pub lazy_largest: bool,
}

fn bad(v: &Value<'_>, e: nom::Err<crate::error::PErr>) -> Error {
    let e = crate::error::perr(e);
    let consumed = v.raw.len().saturating_sub(e.remaining) as u64;
    Error::parse(e.problem, v.offset + consumed)
}

/// The exact length of the largest element of `v`, as the per-type walks
/// find it (hashes: fields and values; zsets: members; strings: their
/// length; streams: 0; module values: their serialized size).
pub fn largest_element(v: &Value<'_>, scratch: &mut Scratch) -> Result<u64> {
    match v.data_type() {
        DataType::String => Ok(v.as_string()?.len()),
        DataType::List | DataType::Set | DataType::Zset | DataType::Hash => {
            v.longest_element(scratch)
        }
        DataType::Stream => Ok(0),
        _ => Ok(v.raw.len() as u64),
    }
}

/// A value the loader keeps as stored, sized from its blob (`bytes`) and
/// counted from its header: the elements are walked only for the largest
/// one, and not at all under [`Ctx::lazy_largest`] (`bound` stands in).
fn kept(
    v: &Value<'_>,
    c: &mut Ctx<'_>,
    (bytes, encoding): (u64, Encoding),
    elements: u64,
    bound: u64,
) -> Result<Part> {
    let (largest, largest_exact) = if c.lazy_largest {
        (bound, false)
    } else {
        (largest_element(v, c.scratch)?, true)
    };
    Ok(Part {
        bytes,
        encoding,
        elements,
        largest,
        largest_exact,
    })
}

/// Elements (entries per `per`) and blob length of a listpack value, from
/// its header; `None` when the header does not say (the caller walks, which
/// also reports what is wrong).
fn listpack_head(v: &Value<'_>, scratch: &mut Scratch, per: u64) -> Option<(u64, u64)> {
    let (head, total) = v.blob_head(scratch, 6)?;
    let n = declared_count(head, total)?;
    (n % per == 0).then_some((n / per, total))
}

/// Quicklist v2 nodes from their headers alone: (size, packed?) per node
/// into `nodes`, and the element count and longest node (a bound on the
/// largest element). `None` when a header does not say.
fn quicklist2_head(
    v: &Value<'_>,
    scratch: &mut Scratch,
    nodes: &mut Vec<(u64, bool)>,
) -> Option<(u64, u64)> {
    let (mut r, n) = count(v.raw, 2, "quicklist node count").ok()?;
    let (mut elements, mut bound) = (0u64, 0u64);
    for _ in 0..n {
        let (r2, container) = length(r).ok()?;
        let (r2, s) = string(r2).ok()?;
        elements += match container {
            1 => 1,
            2 => str_head(&s, &mut scratch.blob, 6).and_then(|(h, t)| declared_count(h, t))?,
            _ => return None,
        };
        bound = bound.max(s.len());
        nodes.push((s.len(), container == 2));
        r = r2;
    }
    Some((elements, bound))
}

/// Expected allocation of a skiplist node with `zslRandomLevel` levels
/// (p = 1/4, at most 32): `sizeof(zskiplistNode)` is 24 + 16 per level,
/// plus `extra` bytes.
fn skiplist_node_expected(a: Alloc, extra: u64) -> f64 {
    let mut e = 0.0;
    let mut p = 0.75;
    // Levels above 12 have probability < 1e-7: fold them into level 12.
    for level in 1..=12u64 {
        let pl = if level == 12 { p / 0.75 } else { p };
        e += pl * a.class(24 + 16 * level + extra) as f64;
        p *= 0.25;
    }
    e
}

/// The skiplist header node: 32 levels.
const SKIPLIST_HEADER: u64 = 24 + 16 * 32;

fn table_bytes(l: &Layout, d: &DictSim) -> u64 {
    l.dict + 8 * d.slots()
}

/// Lists: quicklist nodes as stored (packed listpacks, plain elements), or a
/// single listpack on 7.2+ when one packed node fits `list-max-listpack-size`.
pub fn list(v: &Value<'_>, c: &mut Ctx<'_>) -> Result<Part> {
    let a = c.alloc;
    // (node allocation, packed?) per node.
    let mut nodes: Vec<(u64, bool)> = Vec::new();
    let head = if v.layout == RdbLayout::ListQuicklist2 {
        quicklist2_head(v, c.scratch, &mut nodes)
    } else {
        None
    };
    let (mut elements, mut largest, mut largest_exact) = (0u64, 0u64, true);
    match head {
        Some((n, bound)) if c.lazy_largest => {
            (elements, largest, largest_exact) = (n, bound, false)
        }
        Some((n, _)) => (elements, largest) = (n, largest_element(v, c.scratch)?),
        None => {
            nodes.clear();
            v.for_each_elem(c.scratch, |e, _| {
                elements += 1;
                largest = largest.max(e.len() as u64);
                Ok(())
            })?;
        }
    }
    let limit = c.profile.list_node_bytes().unwrap_or(8192) as u64;
    match v.layout {
        _ if head.is_some() => {}
        RdbLayout::ListQuicklist2 => {
            let (mut r, n) = count(v.raw, 2, "quicklist node count").map_err(|e| bad(v, e))?;
            for _ in 0..n {
                let (r2, container) = length(r).map_err(|e| bad(v, e))?;
                let (r2, s) = string(r2).map_err(|e| bad(v, e))?;
                nodes.push((s.len(), container != 1));
                r = r2;
            }
        }
        RdbLayout::ListQuicklist => {
            // Each ziplist node becomes a listpack of the same elements.
            let (mut r, n) = count(v.raw, 1, "quicklist node count").map_err(|e| bad(v, e))?;
            for _ in 0..n {
                let (r2, s) = string(r).map_err(|e| bad(v, e))?;
                let b = s
                    .bytes(&mut c.scratch.blob)
                    .map_err(|p| Error::parse(p, v.offset))?;
                let z = crate::rdb::read::ziplist::Ziplist::parse(b)
                    .map_err(|p| Error::parse(p, v.offset))?;
                let mut sz = LP_EMPTY;
                for e in z.iter() {
                    sz += lp_entry(&e.map_err(|p| Error::parse(p, v.offset))?);
                }
                nodes.push((sz, true));
                r = r2;
            }
        }
        _ => {
            // Elements pushed one by one (`quicklistPushTail`).
            let mut cur: Option<u64> = None;
            v.for_each_elem(c.scratch, |e, _| {
                let add = lp_entry(&e);
                match cur {
                    Some(sz) if sz + e.len() as u64 + 8 <= limit => cur = Some(sz + add),
                    Some(sz) => {
                        nodes.push((sz, true));
                        cur = Some(LP_EMPTY + add);
                    }
                    None => cur = Some(LP_EMPTY + add),
                }
                Ok(())
            })?;
            if let Some(sz) = cur {
                nodes.push((sz, true));
            }
        }
    }
    let l = c.layout;
    if l.listpack_lists && nodes.len() == 1 && nodes[0].1 && nodes[0].0 <= limit {
        return Ok(Part {
            bytes: a.class(nodes[0].0),
            encoding: Encoding::Listpack,
            elements,
            largest,
            largest_exact,
        });
    }
    let bytes = l.quicklist
        + nodes
            .iter()
            .map(|&(n, _)| l.quicklist_node + a.class(n))
            .sum::<u64>();
    Ok(Part {
        bytes,
        encoding: Encoding::Quicklist,
        elements,
        largest,
        largest_exact,
    })
}

/// Sets: intset, listpack (7.2+) or a table of sds members.
pub fn set(v: &Value<'_>, c: &mut Ctx<'_>) -> Result<Part> {
    let a = c.alloc;
    let p = c.profile;
    let l = c.layout;
    let lp_sets = p.target >= Target::Redis72;
    // Kept as stored: sized from the blob, counted from its header.
    match v.layout {
        RdbLayout::SetIntset => {
            if let Some((head, total)) = v.blob_head(c.scratch, 8)
                && let Some((width, n)) = intset::header(head, total)
                && n <= p.set_max_intset_entries
            {
                // The longest decimal text of a `width`-byte integer.
                let bound = match width {
                    2 => 6,
                    4 => 11,
                    _ => 20,
                };
                return kept(v, c, (a.class(total), Encoding::Intset), n, bound);
            }
        }
        RdbLayout::SetListpack if lp_sets => {
            if let Some((n, total)) = listpack_head(v, c.scratch, 1)
                && n <= p.set_max_listpack_entries
            {
                return kept(v, c, (a.class(total), Encoding::Listpack), n, total);
            }
        }
        _ => {}
    }
    let blob_len = |v: &Value<'_>| -> Result<u64> {
        let (_, s) = string(v.raw).map_err(|e| bad(v, e))?;
        Ok(s.len())
    };
    let (mut n, mut largest, mut sds) = (0u64, 0u64, 0u64);
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    let mut first_str: Option<u64> = None;
    let mut lp = LP_EMPTY;
    // The listpack sum sizes only sets of plain members loaded by 7.2+;
    // intsets and listpacks in the file are sized from their blob.
    let sum_lp = lp_sets && !matches!(v.layout, RdbLayout::SetIntset | RdbLayout::SetListpack);
    v.for_each_elem(c.scratch, |e, _| {
        let len = e.len() as u64;
        largest = largest.max(len);
        sds += a.sds(len);
        if sum_lp {
            lp += lp_entry(&e);
        }
        match e.as_int() {
            Some(x) => {
                min = min.min(x);
                max = max.max(x);
            }
            None => {
                first_str.get_or_insert(n);
            }
        }
        n += 1;
        Ok(())
    })?;
    let table = |d: DictSim| table_bytes(l, &d) + n * l.entry + sds;
    let presized = || {
        let mut d = DictSim::new();
        if n > 4 {
            d.expand(n);
        }
        d.add_n(n);
        d
    };
    let (bytes, encoding) = match v.layout {
        RdbLayout::SetIntset if n <= p.set_max_intset_entries => {
            (a.class(blob_len(v)?), Encoding::Intset)
        }
        RdbLayout::SetListpack if n <= p.set_max_listpack_entries && lp_sets => {
            (a.class(blob_len(v)?), Encoding::Listpack)
        }
        RdbLayout::SetIntset | RdbLayout::SetListpack => {
            let mut d = DictSim::new();
            d.expand(n);
            d.add_n(n);
            (table(d), Encoding::Hashtable)
        }
        _ if n > p.set_max_intset_entries => (table(presized()), Encoding::Hashtable),
        _ => match first_str {
            None => (a.class(intset_bytes(n, min, max)), Encoding::Intset),
            Some(_)
                if lp_sets
                    && n <= p.set_max_listpack_entries
                    && largest <= p.set_max_listpack_value =>
            {
                (a.class(lp), Encoding::Listpack)
            }
            Some(_) if lp_sets => (table(presized()), Encoding::Hashtable),
            Some(i) => {
                // 7.0: the intset so far converts (`dictExpand(d, i)`), then
                // the loader asks for the full size.
                let mut d = DictSim::new();
                d.expand(i);
                d.add_n(i);
                d.expand(n);
                d.add_n(n - i);
                (table(d), Encoding::Hashtable)
            }
        },
    };
    Ok(Part {
        bytes,
        encoding,
        elements: n,
        largest,
        largest_exact: true,
    })
}

/// Sorted sets: listpack of member/score pairs or skiplist + table.
pub fn zset(v: &Value<'_>, c: &mut Ctx<'_>) -> Result<Part> {
    let a = c.alloc;
    let p = c.profile;
    let l = c.layout;
    let target = p.target;
    if v.layout == RdbLayout::ZsetListpack
        && let Some((n, total)) = listpack_head(v, c.scratch, 2)
        && n <= p.zset_max_listpack_entries
    {
        return kept(v, c, (a.class(total), Encoding::Listpack), n, total);
    }
    let node_plain = skiplist_node_expected(a, 0);
    let node_long = skiplist_node_expected(a, 8);
    let (mut n, mut largest, mut sds, mut lp) = (0u64, 0u64, 0u64, LP_EMPTY);
    let mut nodes = 0.0f64;
    // Score text matters only when the loader packs the set into a
    // listpack: skip formatting scores of sets too large for one.
    let from_pairs = matches!(v.layout, RdbLayout::ZsetV1 | RdbLayout::ZsetV2)
        && v.element_count(c.scratch)? <= p.zset_max_listpack_entries;
    // A listpack or ziplist in the file is sized from its blob below: the
    // per-member listpack sum serves only the layouts stored as pairs.
    let sum_lp = !matches!(v.layout, RdbLayout::ZsetListpack | RdbLayout::ZsetZiplist);
    v.for_each_scored(c.scratch, |m, score| {
        let len = m.len() as u64;
        largest = largest.max(len);
        sds += a.sds(len);
        nodes += if l.zset_long_member > 0 && len >= l.zset_long_member {
            node_long
        } else {
            node_plain
        };
        if sum_lp {
            lp += lp_entry(&m);
        }
        if from_pairs {
            let t = score_text(score, target);
            lp += lp_entry(&Elem::Bytes(t.as_bytes()));
        }
        n += 1;
        Ok(())
    })?;
    let skiplist = |d: DictSim| {
        l.zset
            + table_bytes(l, &d)
            + a.class(SKIPLIST_HEADER)
            + sds
            + n * l.zset_entry
            + nodes.round() as u64
    };
    let fits = n <= p.zset_max_listpack_entries;
    let (bytes, encoding) = match v.layout {
        RdbLayout::ZsetListpack | RdbLayout::ZsetZiplist if fits => {
            let size = if v.layout == RdbLayout::ZsetListpack {
                string(v.raw).map_err(|e| bad(v, e))?.1.len()
            } else {
                // Ziplist pairs re-encoded entry by entry.
                let mut sz = LP_EMPTY;
                v.for_each_scored(c.scratch, |m, s| {
                    sz += lp_entry(&m);
                    let t = score_text(s, target);
                    sz += lp_entry(&Elem::Bytes(t.as_bytes()));
                    Ok(())
                })?;
                sz
            };
            (a.class(size), Encoding::Listpack)
        }
        RdbLayout::ZsetListpack | RdbLayout::ZsetZiplist => {
            let mut d = DictSim::new();
            d.add_n(n);
            (skiplist(d), Encoding::Skiplist)
        }
        _ if fits && largest <= p.zset_max_listpack_value => (a.class(lp), Encoding::Listpack),
        _ => {
            let mut d = DictSim::new();
            if n > 4 {
                d.expand(n);
            }
            d.add_n(n);
            (skiplist(d), Encoding::Skiplist)
        }
    };
    Ok(Part {
        bytes,
        encoding,
        elements: n,
        largest,
        largest_exact: true,
    })
}

/// Hashes: listpack, listpack-ex (7.4+, field TTLs) or a table of sds
/// field/value pairs.
pub fn hash(v: &Value<'_>, c: &mut Ctx<'_>) -> Result<Part> {
    let a = c.alloc;
    use RdbLayout::*;
    let p = c.profile;
    let l = c.layout;
    // Same band as below: a listpack in the file was allowed by its
    // writer's limit (up to the built-in 512).
    let lp_limit = p
        .hash_max_listpack_entries
        .max(p.hash_max_listpack_entries_builtin);
    if v.layout == HashListpack
        && let Some((n, total)) = listpack_head(v, c.scratch, 2)
        && n <= lp_limit
    {
        return kept(v, c, (a.class(total), Encoding::Listpack), n, total);
    }
    let (mut n, mut largest, mut sds, mut lp) = (0u64, 0u64, 0u64, LP_EMPTY);
    let mut first_long: Option<u64> = None;
    // The listpack size is rebuilt entry by entry only for the layouts the
    // loader re-encodes; a listpack in the file is sized from its header.
    let sum_lp = matches!(v.layout, HashZiplist | HashZipmap | HashHashtable);
    v.for_each_field(c.scratch, |f, val, ttl| {
        let (fl, vl) = (f.len() as u64, val.len() as u64);
        largest = largest.max(fl).max(vl);
        let field = if ttl.is_some() && l.field_ttl_meta > 0 {
            a.class(sds_header(fl) + fl + 1 + l.field_ttl_meta)
        } else {
            a.sds(fl)
        };
        sds += field + a.sds(vl);
        if sum_lp {
            lp += lp_entry(&f) + lp_entry(&val);
        }
        if fl.max(vl) > p.hash_max_listpack_value {
            first_long.get_or_insert(n);
        }
        n += 1;
        Ok(())
    })?;
    let table = |d: DictSim| table_bytes(l, &d) + n * l.entry + sds;
    let blob = |v: &Value<'_>| -> Result<u64> {
        let raw = if v.layout == HashListpackEx {
            v.raw.get(8..).ok_or_else(|| {
                Error::parse(
                    Problem::Truncated {
                        what: "hash minimum expire",
                    },
                    v.offset,
                )
            })?
        } else {
            v.raw
        };
        Ok(string(raw).map_err(|e| bad(v, e))?.1.len())
    };
    // Same band as `server::loaded_encoding`: a listpack in the file was
    // allowed by its writer's limit (up to the built-in 512), a hashtable
    // in the file stays one above the redis.conf limit (128).
    let limit = if matches!(v.layout, HashHashtable) {
        p.hash_max_listpack_entries
    } else {
        lp_limit
    };
    let too_many = n > limit;
    let (bytes, encoding) = match v.layout {
        HashListpack if !too_many => (a.class(blob(v)?), Encoding::Listpack),
        HashListpackEx | HashListpackExPreGa if !too_many && p.target >= Target::Redis74 => (
            a.class(l.listpack_ex) + a.class(blob(v)?),
            Encoding::Listpackex,
        ),
        HashListpackEx | HashListpackExPreGa if !too_many => {
            (a.class(blob(v)?), Encoding::Listpack)
        }
        HashListpack | HashListpackEx | HashListpackExPreGa => {
            let mut d = DictSim::new();
            d.expand(n);
            d.add_n(n);
            (table(d), Encoding::Hashtable)
        }
        HashZiplist | HashZipmap if !too_many && first_long.is_none() => {
            (a.class(lp), Encoding::Listpack)
        }
        HashHashtable | HashZiplist | HashZipmap => match first_long {
            _ if too_many => {
                // Converted while empty (4 buckets), then sized for all.
                let mut d = DictSim::new();
                d.expand(0);
                d.expand(n);
                d.add_n(n);
                (table(d), Encoding::Hashtable)
            }
            None => (a.class(lp), Encoding::Listpack),
            Some(i) => {
                // The listpack so far converts, then the loader sizes the
                // table for the fields still to come.
                let mut d = DictSim::new();
                d.expand(i);
                d.add_n(i + 1);
                let rest = n - i - 1;
                if rest > 4 {
                    d.expand(rest);
                }
                d.add_n(rest);
                (table(d), Encoding::Hashtable)
            }
        },
        _ => {
            // Tables with field TTLs (types 22/24) grow as fields arrive:
            // the loader does not pre-size them.
            let mut d = DictSim::new();
            d.add_n(n);
            (table(d), Encoding::Hashtable)
        }
    };
    Ok(Part {
        bytes,
        encoding,
        elements: n,
        largest,
        largest_exact: true,
    })
}

#[derive(Default)]
struct StreamSizes {
    alloc: Option<Alloc>,
    lp_bytes: u64,
    node_keys: Vec<[u8; 16]>,
    groups: Vec<GroupSizes>,
    bad_key: bool,
    meta: StreamMeta,
}

#[derive(Default)]
struct GroupSizes {
    pel: Vec<[u8; 16]>,
    consumers: Vec<(u64, Vec<[u8; 16]>)>,
}

impl<'a> StreamVisitor<'a> for StreamSizes {
    fn node(&mut self, key: RdbStr<'a>, lp: RdbStr<'a>) {
        self.lp_bytes += self.alloc.unwrap_or(Alloc::BUNDLED).class(lp.len());
        match key.as_raw().and_then(|k| <[u8; 16]>::try_from(k).ok()) {
            Some(k) => self.node_keys.push(k),
            None => self.bad_key = true,
        }
    }
    fn meta(&mut self, m: &StreamMeta) {
        self.meta = *m;
    }
    fn group(&mut self, _name: RdbStr<'a>, _last: StreamId, _read: Option<u64>) {
        self.groups.push(GroupSizes::default());
    }
    fn pel(&mut self, id: StreamId, _t: i64, _n: u64) {
        if let Some(g) = self.groups.last_mut() {
            g.pel.push(rax::id_key(id.ms, id.seq));
        }
    }
    fn consumer(&mut self, name: RdbStr<'a>, _seen: i64, _active: Option<i64>) {
        if let Some(g) = self.groups.last_mut() {
            g.consumers.push((name.len(), Vec::new()));
        }
    }
    fn consumer_pel(&mut self, id: StreamId) {
        if let Some((_, ids)) = self.groups.last_mut().and_then(|g| g.consumers.last_mut()) {
            ids.push(rax::id_key(id.ms, id.seq));
        }
    }
}

/// `streamRadixTreeMemoryUsage`: 16 bytes per element and 4 + 30 words per
/// node.
fn radix_usage(keys: &mut Vec<[u8; 16]>) -> u64 {
    keys.sort_unstable();
    keys.dedup();
    keys.len() as u64 * 16 + rax::node_count(keys) * (4 + 8 * 30)
}

/// Streams: the rax of listpack nodes plus consumer groups' PELs.
pub fn stream(v: &Value<'_>, c: &mut Ctx<'_>) -> Result<Part> {
    let a = c.alloc;
    let RdbLayout::Stream(ver) = v.layout else {
        return Err(Error::parse(
            Problem::Invalid {
                what: "memory model",
                expected: "a stream",
                found: v.type_byte as u64,
            },
            v.offset,
        ));
    };
    let l = c.layout;
    let mut s = StreamSizes {
        alloc: Some(a),
        node_keys: std::mem::take(c.ids),
        ..Default::default()
    };
    s.node_keys.clear();
    stream::walk(v.raw, ver, &mut s).map_err(|e| bad(v, e))?;
    let mut bytes = l.stream + s.lp_bytes + radix_usage(&mut s.node_keys);
    for g in &mut s.groups {
        bytes += l.stream_cg + radix_usage(&mut g.pel) + l.stream_nack * g.pel.len() as u64;
        for (name_len, ids) in &mut g.consumers {
            bytes += l.stream_consumer + *name_len + radix_usage(ids);
        }
    }
    *c.ids = s.node_keys;
    Ok(Part {
        bytes,
        encoding: Encoding::Stream,
        elements: s.meta.length,
        largest: 0,
        largest_exact: true,
    })
}

/// Strings for the 7.x object model: the object with its value (`int`:
/// the header alone; `embstr`: one block; `raw`: header + sds).
pub fn string_v7(s: &RdbStr<'_>, l: &Layout, a: Alloc) -> Part {
    let len = s.len();
    let encoding = crate::server::string_encoding(s);
    let bytes = match encoding {
        Encoding::Int => l.robj,
        Encoding::Embstr => a.class(l.robj + 3 + len + 1),
        _ => l.robj + a.sds(len),
    };
    Part {
        bytes,
        encoding,
        elements: 1,
        largest: len,
        largest_exact: true,
    }
}
