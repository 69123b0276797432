//! Values: [`skip`] finds where a value ends without decoding its elements;
//! [`Value`] is the lazy view handed to consumers, which decodes elements on
//! request into caller-owned [`Scratch`] buffers.

use nom::number::complete::{le_f64, le_i64, le_u64};

use super::intset::Intset;
use super::listpack::Listpack;
use super::module;
use super::prim::{self, RdbStr, count, length, string};
use super::stream;
use super::ziplist::Ziplist;
use super::zipmap;
use crate::error::{Error, PErr, PResult, Problem};
use crate::model::{DataType, Elem, RdbLayout};

/// Reusable buffers for decoding: LZF blobs and LZF elements land here, so a
/// pass over a file allocates only while the buffers grow.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Decompressed blob (ziplist, listpack, intset, quicklist node).
    pub blob: Vec<u8>,
    /// First decompressed element.
    pub a: Vec<u8>,
    /// Second decompressed element.
    pub b: Vec<u8>,
    /// Member hashes of the set, zset or hash being validated (kept here
    /// so that validating many values does not grow a table for each).
    pub(crate) members: MemberSet,
}

/// A set of member hashes. The hashes come from a seeded hasher already,
/// so the set's own hasher need not be: a fixed one costs nothing to make.
pub(crate) type MemberSet = std::collections::HashSet<u64, foldhash::fast::FixedState>;

/// The longest of every `stride`-th element of a packed blob, from the
/// first (stride 2: zset members, not their scores).
fn longest_of<'s>(
    it: impl Iterator<Item = Result<Elem<'s>, Problem>>,
    stride: usize,
) -> Result<u64, Problem> {
    let mut longest = 0u64;
    for (i, e) in it.enumerate() {
        let e = e?;
        if i % stride == 0 {
            longest = longest.max(e.len() as u64);
        }
    }
    Ok(longest)
}

fn elem_of<'s>(s: &RdbStr<'s>, buf: &'s mut Vec<u8>) -> Result<Elem<'s>, Problem> {
    Ok(match *s {
        RdbStr::Raw(b) => Elem::Bytes(b),
        RdbStr::Int(v) => Elem::Int(v),
        RdbStr::Lzf { packed, len } => {
            let n = usize::try_from(len).map_err(|_| Problem::Limit {
                what: "LZF string length",
                limit: usize::MAX as u64,
            })?;
            super::lzf::decompress_into(packed, n, buf)?;
            Elem::Bytes(buf)
        }
    })
}

/// The first bytes of string `s` (at least `want` when it is that long) and
/// its full length, inflating an LZF string only as far as `want` (into
/// `buf`): enough to read a listpack's or intset's header without decoding
/// the rest. `None` when the prefix cannot be inflated; the full decode
/// then reports what is wrong.
pub fn str_head<'s>(s: &RdbStr<'s>, buf: &'s mut Vec<u8>, want: usize) -> Option<(&'s [u8], u64)> {
    match *s {
        RdbStr::Raw(b) => Some((b, b.len() as u64)),
        RdbStr::Int(_) => None,
        RdbStr::Lzf { packed, len } => {
            let n = usize::try_from(len).ok()?;
            super::lzf::decompress_prefix(packed, n, want, buf).ok()?;
            Some((buf.as_slice(), len))
        }
    }
}

/// Walks a value of a layout whose entries carry their own expiry (hashes
/// with field TTLs, Valkey's hash, Dragonfly's hash and set with expiry)
/// like [`skip`], calling `entry` with the bytes from each entry's start
/// on; other layouts are skipped whole. A salvage needs those starts: an
/// entry of these layouts reads byte for byte as a key record, so a
/// damaged value's intact entries read as keys.
pub fn walk_entries<'a>(
    i: &'a [u8],
    layout: RdbLayout,
    entry: &mut dyn FnMut(&'a [u8]),
) -> PResult<'a, ()> {
    use RdbLayout::*;
    /// One entry's walk.
    type One = for<'b> fn(&'b [u8]) -> PResult<'b, ()>;
    let (mut r, n, one): (&[u8], u64, One) = match layout {
        HashMetadata | HashMetadataPreGa => {
            // The GA layout opens with the hash's minimum expiry.
            let i = if layout == HashMetadata {
                le_u64(i)?.0
            } else {
                i
            };
            let (r, n) = count(i, 3, "hash field count")?;
            (r, n, |r| Ok((string(string(length(r)?.0)?.0)?.0, ())))
        }
        ValkeyHash2 => {
            let (r, n) = count(i, 10, "hash field count")?;
            (r, n, |r| Ok((le_i64(string(string(r)?.0)?.0)?.0, ())))
        }
        DragonflyHashWithExpiry => {
            let (r, n) = count(i, 3, "hash field count")?;
            (r, n, |r| Ok((string(string(string(r)?.0)?.0)?.0, ())))
        }
        DragonflySetWithExpiry => {
            let (r, n) = count(i, 2, "set member count")?;
            (r, n, |r| Ok((string(string(r)?.0)?.0, ())))
        }
        _ => return skip(i, layout),
    };
    for _ in 0..n {
        entry(r);
        r = one(r)?.0;
    }
    Ok((r, ()))
}

/// Finds the end of a value of layout `layout`, walking its structure but
/// decoding nothing. Every count is checked against the remaining bytes.
pub fn skip(i: &[u8], layout: RdbLayout) -> PResult<'_, ()> {
    use RdbLayout::*;
    let r = match layout {
        String | HashZipmap | ListZiplist | SetIntset | ZsetZiplist | HashZiplist
        | HashListpack | ZsetListpack | SetListpack | HashListpackExPreGa => string(i)?.0,
        HashListpackEx => string(le_u64(i)?.0)?.0,
        ListLinked | SetHashtable => {
            let (mut r, n) = count(i, 1, "element count")?;
            for _ in 0..n {
                r = string(r)?.0;
            }
            r
        }
        HashHashtable => {
            let (mut r, n) = count(i, 2, "hash field count")?;
            for _ in 0..n {
                r = string(string(r)?.0)?.0;
            }
            r
        }
        ZsetV1 => {
            let (mut r, n) = count(i, 2, "zset member count")?;
            for _ in 0..n {
                r = prim::string_double(string(r)?.0)?.0;
            }
            r
        }
        ZsetV2 => {
            let (mut r, n) = count(i, 9, "zset member count")?;
            for _ in 0..n {
                r = le_f64(string(r)?.0)?.0;
            }
            r
        }
        ListQuicklist => {
            let (mut r, n) = count(i, 1, "quicklist node count")?;
            for _ in 0..n {
                r = string(r)?.0;
            }
            r
        }
        ListQuicklist2 => {
            let (mut r, n) = count(i, 2, "quicklist node count")?;
            for _ in 0..n {
                r = string(length(r)?.0)?.0;
            }
            r
        }
        HashMetadata
        | HashMetadataPreGa
        | ValkeyHash2
        | DragonflyHashWithExpiry
        | DragonflySetWithExpiry => walk_entries(i, layout, &mut |_| ())?.0,
        Stream(v) => stream::walk(i, v, &mut stream::Skip)?.0,
        Module2 => module::module_value(i)?.0,
        // Only the reader can delimit it (by resynchronising on the rest of
        // the file); a bare value gives no way to find its end.
        ModulePreGa => {
            return Err(nom::Err::Error(PErr::invalid(
                i,
                "module value of type 6 (MODULE_PRE_GA)",
                "a value whose end can be found (type 6 has no item annotations)",
                6,
            )));
        }
        Array => skip_array(i)?.0,
        KeydbCron => {
            let (r, _) = string(i)?;
            let (r, _) = le_i64(r)?;
            let (r, _) = le_i64(r)?;
            let (mut r, n) = count(r, 1, "cron key count")?;
            for _ in 0..n {
                r = string(r)?.0;
            }
            let (mut r, n) = count(r, 1, "cron argument count")?;
            for _ in 0..n {
                r = string(r)?.0;
            }
            r
        }
    };
    Ok((r, ()))
}

fn skip_array(i: &[u8]) -> PResult<'_, ()> {
    let (r, n) = count(i, 3, "array element count")?;
    if n == 0 {
        return Err(nom::Err::Error(PErr::invalid(
            i,
            "array",
            "a non-zero count",
            0,
        )));
    }
    let (mut r, has_idx) = length(r)?;
    match has_idx {
        0 => {}
        1 => r = length(r)?.0,
        other => {
            return Err(nom::Err::Error(PErr::invalid(
                r,
                "array",
                "insert flag 0 or 1",
                other,
            )));
        }
    }
    for _ in 0..n {
        let (r2, _idx) = length(r)?;
        let at = r2;
        let (r2, tag) = length(r2)?;
        r = match tag {
            0 | 3 => string(r2)?.0,
            1 => le_i64(r2)?.0,
            2 => le_f64(r2)?.0,
            t => {
                return Err(nom::Err::Error(PErr::invalid(
                    at,
                    "array element",
                    "tag 0-3",
                    t,
                )));
            }
        };
    }
    Ok((r, ()))
}

/// A value as stored, with its layout: the lazy view consumers receive.
/// `raw` is exactly the serialized value (what a DUMP payload carries after
/// the type byte), borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    /// How the value is laid out.
    pub layout: RdbLayout,
    /// The on-disk type byte.
    pub type_byte: u8,
    /// The serialized value bytes.
    pub raw: &'a [u8],
    /// Absolute file offset of `raw`.
    pub offset: u64,
}

/// Dragonfly's base for member expiries: 2023-02-01T00:00:00Z.
const DF_MEMBER_EXPIRY_BASE_S: i64 = 1_675_209_600;

fn df_expiry(e: &RdbStr<'_>, buf: &mut Vec<u8>) -> Result<Option<i64>, Problem> {
    let b = e.bytes(buf)?;
    let v = prim::parse_canonical_i64(b).ok_or(Problem::Invalid {
        what: "Dragonfly member expiry",
        expected: "a decimal integer",
        found: b.len() as u64,
    })?;
    if v < 0 {
        return Ok(None);
    }
    DF_MEMBER_EXPIRY_BASE_S
        .checked_add(v)
        .and_then(|s| s.checked_mul(1000))
        .map(Some)
        .ok_or(Problem::Invalid {
            what: "Dragonfly member expiry",
            expected: "seconds that fit a millisecond timestamp",
            found: v as u64,
        })
}

impl<'a> Value<'a> {
    /// Logical type.
    pub fn data_type(&self) -> DataType {
        self.layout.data_type()
    }

    fn err_at(&self, rest_len: usize, p: Problem) -> Error {
        let consumed = self.raw.len().saturating_sub(rest_len) as u64;
        Error::parse(p, self.offset + consumed)
    }
    fn perr(&self, e: nom::Err<PErr>) -> Error {
        let e = crate::error::perr(e);
        self.err_at(e.remaining, e.problem)
    }
    fn blob_err(&self, p: Problem) -> Error {
        Error::parse(p, self.offset)
    }

    /// The string of a STRING value.
    pub fn as_string(&self) -> Result<RdbStr<'a>, Error> {
        string(self.raw).map(|(_, s)| s).map_err(|e| self.perr(e))
    }

    /// The blob string that holds the whole value, for blob layouts.
    fn blob(&self) -> Result<RdbStr<'a>, Error> {
        let i = if self.layout == RdbLayout::HashListpackEx {
            le_u64(self.raw).map_err(|e| self.perr(e))?.0
        } else {
            self.raw
        };
        string(i).map(|(_, s)| s).map_err(|e| self.perr(e))
    }

    /// The head of the blob that holds the whole value (blob layouts; see
    /// [`str_head`]), with the blob's full length.
    pub fn blob_head<'s>(&self, scratch: &'s mut Scratch, want: usize) -> Option<(&'s [u8], u64)>
    where
        'a: 's,
    {
        let s = self.blob().ok()?;
        str_head(&s, &mut scratch.blob, want)
    }

    /// Visits every element of a list or set (and Dragonfly set members
    /// with their expiry), in stored order.
    pub fn for_each_elem<F>(&self, scratch: &mut Scratch, mut f: F) -> Result<(), Error>
    where
        F: FnMut(Elem<'_>, Option<i64>) -> Result<(), Error>,
    {
        use RdbLayout::*;
        match self.layout {
            ListLinked | SetHashtable => {
                let (mut r, n) = count(self.raw, 1, "element count").map_err(|e| self.perr(e))?;
                for _ in 0..n {
                    let (r2, s) = string(r).map_err(|e| self.perr(e))?;
                    let el = elem_of(&s, &mut scratch.a).map_err(|p| self.err_at(r.len(), p))?;
                    f(el, None)?;
                    r = r2;
                }
            }
            DragonflySetWithExpiry => {
                let (mut r, n) =
                    count(self.raw, 2, "set member count").map_err(|e| self.perr(e))?;
                for _ in 0..n {
                    let (r2, s) = string(r).map_err(|e| self.perr(e))?;
                    let (r2, e) = string(r2).map_err(|e| self.perr(e))?;
                    let exp = df_expiry(&e, &mut scratch.b).map_err(|p| self.err_at(r.len(), p))?;
                    let el = elem_of(&s, &mut scratch.a).map_err(|p| self.err_at(r.len(), p))?;
                    f(el, exp)?;
                    r = r2;
                }
            }
            ListZiplist => {
                let s = self.blob()?;
                let b = s.bytes(&mut scratch.blob).map_err(|p| self.blob_err(p))?;
                let z = Ziplist::parse(b).map_err(|p| self.blob_err(p))?;
                for e in z.iter() {
                    f(e.map_err(|p| self.blob_err(p))?, None)?;
                }
            }
            SetListpack => {
                let s = self.blob()?;
                let b = s.bytes(&mut scratch.blob).map_err(|p| self.blob_err(p))?;
                let l = Listpack::parse(b).map_err(|p| self.blob_err(p))?;
                for e in l.iter() {
                    f(e.map_err(|p| self.blob_err(p))?, None)?;
                }
            }
            SetIntset => {
                let s = self.blob()?;
                let b = s.bytes(&mut scratch.blob).map_err(|p| self.blob_err(p))?;
                let is = Intset::parse(b).map_err(|p| self.blob_err(p))?;
                for v in is.iter() {
                    f(Elem::Int(v), None)?;
                }
            }
            ListQuicklist => {
                let (mut r, n) =
                    count(self.raw, 1, "quicklist node count").map_err(|e| self.perr(e))?;
                for _ in 0..n {
                    let (r2, s) = string(r).map_err(|e| self.perr(e))?;
                    let b = s
                        .bytes(&mut scratch.blob)
                        .map_err(|p| self.err_at(r.len(), p))?;
                    let z = Ziplist::parse(b).map_err(|p| self.err_at(r.len(), p))?;
                    for e in z.iter() {
                        f(e.map_err(|p| self.err_at(r.len(), p))?, None)?;
                    }
                    r = r2;
                }
            }
            ListQuicklist2 => self.each_quicklist2_node(|packed, s, at| {
                if packed {
                    let b = s.bytes(&mut scratch.blob).map_err(|p| self.err_at(at, p))?;
                    let l = Listpack::parse(b).map_err(|p| self.err_at(at, p))?;
                    for e in l.iter() {
                        f(e.map_err(|p| self.err_at(at, p))?, None)?;
                    }
                    Ok(())
                } else {
                    let el = elem_of(&s, &mut scratch.a).map_err(|p| self.err_at(at, p))?;
                    f(el, None)
                }
            })?,
            _ => return Err(self.wrong_type("a list or set")),
        }
        Ok(())
    }

    /// Walks the nodes of a quicklist v2 value in order: `f(packed, node,
    /// at)`, `at` being the bytes left from the node's first byte (where
    /// errors about it point). A container other than plain (1) or packed
    /// (2) is an error.
    fn each_quicklist2_node<F>(&self, mut f: F) -> Result<(), Error>
    where
        F: FnMut(bool, RdbStr<'a>, usize) -> Result<(), Error>,
    {
        let (mut r, n) = count(self.raw, 2, "quicklist node count").map_err(|e| self.perr(e))?;
        for _ in 0..n {
            let (r2, container) = length(r).map_err(|e| self.perr(e))?;
            let (r2, s) = string(r2).map_err(|e| self.perr(e))?;
            let packed = match container {
                1 => false,
                2 => true,
                c => {
                    return Err(self.err_at(
                        r.len(),
                        Problem::Invalid {
                            what: "quicklist node",
                            expected: "container 1 (plain) or 2 (packed)",
                            found: c,
                        },
                    ));
                }
            };
            f(packed, s, r.len())?;
            r = r2;
        }
        Ok(())
    }

    fn wrong_type(&self, expected: &'static str) -> Error {
        Error::parse(
            Problem::Invalid {
                what: "value visitor",
                expected,
                found: self.type_byte as u64,
            },
            self.offset,
        )
    }

    /// Visits every (member, score) of a zset in stored order.
    pub fn for_each_scored<F>(&self, scratch: &mut Scratch, mut f: F) -> Result<(), Error>
    where
        F: FnMut(Elem<'_>, f64) -> Result<(), Error>,
    {
        use RdbLayout::*;
        match self.layout {
            ZsetV1 | ZsetV2 => {
                let (mut r, n) =
                    count(self.raw, 2, "zset member count").map_err(|e| self.perr(e))?;
                for _ in 0..n {
                    let (r2, s) = string(r).map_err(|e| self.perr(e))?;
                    let (r2, score) = if self.layout == ZsetV1 {
                        prim::string_double(r2)
                    } else {
                        le_f64(r2)
                    }
                    .map_err(|e| self.perr(e))?;
                    let el = elem_of(&s, &mut scratch.a).map_err(|p| self.err_at(r.len(), p))?;
                    f(el, score)?;
                    r = r2;
                }
            }
            ZsetZiplist | ZsetListpack => {
                let s = self.blob()?;
                let b = s.bytes(&mut scratch.blob).map_err(|p| self.blob_err(p))?;
                let bad_score = |e: &Elem<'_>| Problem::Invalid {
                    what: "zset score",
                    expected: "a number",
                    found: e.len() as u64,
                };
                let mut pair = |m: Elem<'_>, sc: Elem<'_>| -> Result<(), Error> {
                    let score = sc.as_score().ok_or_else(|| self.blob_err(bad_score(&sc)))?;
                    f(m, score)
                };
                if self.layout == ZsetZiplist {
                    let z = Ziplist::parse(b).map_err(|p| self.blob_err(p))?;
                    let mut it = z.iter();
                    while let Some(m) = it.next() {
                        let m = m.map_err(|p| self.blob_err(p))?;
                        let sc = it
                            .next()
                            .ok_or_else(|| self.blob_err(Problem::Truncated { what: "zset pair" }))?
                            .map_err(|p| self.blob_err(p))?;
                        pair(m, sc)?;
                    }
                } else {
                    let l = Listpack::parse(b).map_err(|p| self.blob_err(p))?;
                    let mut it = l.iter();
                    while let Some(m) = it.next() {
                        let m = m.map_err(|p| self.blob_err(p))?;
                        let sc = it
                            .next()
                            .ok_or_else(|| self.blob_err(Problem::Truncated { what: "zset pair" }))?
                            .map_err(|p| self.blob_err(p))?;
                        pair(m, sc)?;
                    }
                }
            }
            _ => return Err(self.wrong_type("a zset")),
        }
        Ok(())
    }

    /// Length of the longest element as [`Elem::len`] counts it: list and
    /// set elements, zset members, hash fields and values (0 for other
    /// types). Only what the answer needs is decoded: lengths come from
    /// string and entry headers, so compressed elements are not inflated and
    /// zset scores are not parsed (a report asks this of every list and zset
    /// that could hold its type's longest element). Layouts without a
    /// shortcut go through the element visitors.
    pub fn longest_element(&self, scratch: &mut Scratch) -> Result<u64, Error> {
        use RdbLayout::*;
        let blob = |s: &mut Scratch, stride: usize, ziplist: bool| -> Result<u64, Error> {
            let str = self.blob()?;
            let b = str.bytes(&mut s.blob).map_err(|p| self.blob_err(p))?;
            if ziplist {
                longest_of(
                    Ziplist::parse(b).map_err(|p| self.blob_err(p))?.iter(),
                    stride,
                )
            } else {
                longest_of(
                    Listpack::parse(b).map_err(|p| self.blob_err(p))?.iter(),
                    stride,
                )
            }
            .map_err(|p| self.blob_err(p))
        };
        let mut longest = 0u64;
        match self.layout {
            ListZiplist | HashZiplist => longest = blob(scratch, 1, true)?,
            ZsetZiplist => longest = blob(scratch, 2, true)?,
            SetListpack | HashListpack => longest = blob(scratch, 1, false)?,
            ZsetListpack => longest = blob(scratch, 2, false)?,
            ListLinked | SetHashtable | HashHashtable => {
                let (per, what) = if self.layout == HashHashtable {
                    (2, "hash field count")
                } else {
                    (1, "element count")
                };
                let (mut r, n) = count(self.raw, per, what).map_err(|e| self.perr(e))?;
                for _ in 0..n.saturating_mul(per) {
                    let (r2, s) = string(r).map_err(|e| self.perr(e))?;
                    longest = longest.max(s.len());
                    r = r2;
                }
            }
            ListQuicklist2 => self.each_quicklist2_node(|packed, s, at| {
                let node = if packed {
                    s.bytes(&mut scratch.blob)
                        .and_then(|b| longest_of(Listpack::parse(b)?.iter(), 1))
                } else {
                    Ok(s.len())
                };
                longest = longest.max(node.map_err(|p| self.err_at(at, p))?);
                Ok(())
            })?,
            _ => match self.data_type() {
                DataType::List | DataType::Set => self.for_each_elem(scratch, |e, _| {
                    longest = longest.max(e.len() as u64);
                    Ok(())
                })?,
                DataType::Zset => self.for_each_scored(scratch, |m, _| {
                    longest = longest.max(m.len() as u64);
                    Ok(())
                })?,
                DataType::Hash => self.for_each_field(scratch, |f, v, _| {
                    longest = longest.max(f.len().max(v.len()) as u64);
                    Ok(())
                })?,
                _ => {}
            },
        }
        Ok(longest)
    }

    /// Visits every (field, value, field expire ms) of a hash in stored order.
    pub fn for_each_field<F>(&self, scratch: &mut Scratch, mut f: F) -> Result<(), Error>
    where
        F: FnMut(Elem<'_>, Elem<'_>, Option<i64>) -> Result<(), Error>,
    {
        use RdbLayout::*;
        let Scratch { blob, a, b, .. } = scratch;
        match self.layout {
            HashHashtable
            | HashMetadata
            | HashMetadataPreGa
            | ValkeyHash2
            | DragonflyHashWithExpiry => {
                let (mut r, min) = if self.layout == HashMetadata {
                    let (r, m) = le_u64(self.raw).map_err(|e| self.perr(e))?;
                    (r, m)
                } else {
                    (self.raw, 0)
                };
                let (r2, n) = count(r, 2, "hash field count").map_err(|e| self.perr(e))?;
                r = r2;
                let mut c = Vec::new();
                for _ in 0..n {
                    let start = r;
                    let (r2, ttl) = match self.layout {
                        HashMetadata => {
                            let (r2, k) = length(r).map_err(|e| self.perr(e))?;
                            (
                                r2,
                                (k != 0).then(|| min.wrapping_add(k).wrapping_sub(1) as i64),
                            )
                        }
                        HashMetadataPreGa => {
                            let (r2, k) = length(r).map_err(|e| self.perr(e))?;
                            (r2, (k != 0).then_some(k as i64))
                        }
                        _ => (r, None),
                    };
                    let (r2, fs) = string(r2).map_err(|e| self.perr(e))?;
                    let (r2, vs) = string(r2).map_err(|e| self.perr(e))?;
                    let (r2, ttl) = match self.layout {
                        ValkeyHash2 => {
                            let (r3, t) = le_i64(r2).map_err(|e| self.perr(e))?;
                            (r3, (t != -1).then_some(t))
                        }
                        DragonflyHashWithExpiry => {
                            let (r3, es) = string(r2).map_err(|e| self.perr(e))?;
                            let t =
                                df_expiry(&es, &mut c).map_err(|p| self.err_at(start.len(), p))?;
                            (r3, t)
                        }
                        _ => (r2, ttl),
                    };
                    let fe = elem_of(&fs, a).map_err(|p| self.err_at(start.len(), p))?;
                    let ve = elem_of(&vs, b).map_err(|p| self.err_at(start.len(), p))?;
                    f(fe, ve, ttl)?;
                    r = r2;
                }
            }
            HashZipmap => {
                let s = self.blob()?;
                let bytes = s.bytes(blob).map_err(|p| self.blob_err(p))?;
                let mut res = Ok(());
                zipmap::for_each_pair(bytes, |k, v| {
                    if res.is_ok() {
                        res = f(Elem::Bytes(k), Elem::Bytes(v), None);
                    }
                    Ok(())
                })
                .map_err(|p| self.blob_err(p))?;
                res?;
            }
            HashZiplist => {
                let s = self.blob()?;
                let bytes = s.bytes(blob).map_err(|p| self.blob_err(p))?;
                let z = Ziplist::parse(bytes).map_err(|p| self.blob_err(p))?;
                let mut it = z.iter();
                while let Some(k) = it.next() {
                    let k = k.map_err(|p| self.blob_err(p))?;
                    let v = it
                        .next()
                        .ok_or_else(|| self.blob_err(Problem::Truncated { what: "hash pair" }))?
                        .map_err(|p| self.blob_err(p))?;
                    f(k, v, None)?;
                }
            }
            HashListpack | HashListpackEx | HashListpackExPreGa => {
                let s = self.blob()?;
                let bytes = s.bytes(blob).map_err(|p| self.blob_err(p))?;
                let l = Listpack::parse(bytes).map_err(|p| self.blob_err(p))?;
                let triples = self.layout != HashListpack;
                let mut it = l.iter();
                while let Some(k) = it.next() {
                    let k = k.map_err(|p| self.blob_err(p))?;
                    let v = it
                        .next()
                        .ok_or_else(|| self.blob_err(Problem::Truncated { what: "hash pair" }))?
                        .map_err(|p| self.blob_err(p))?;
                    let ttl = if triples {
                        let t = it
                            .next()
                            .ok_or_else(|| {
                                self.blob_err(Problem::Truncated {
                                    what: "hash field TTL",
                                })
                            })?
                            .map_err(|p| self.blob_err(p))?;
                        let t = t.as_int().ok_or_else(|| {
                            self.blob_err(Problem::Invalid {
                                what: "hash field TTL",
                                expected: "an integer",
                                found: t.len() as u64,
                            })
                        })?;
                        (t != 0).then_some(t)
                    } else {
                        None
                    };
                    f(k, v, ttl)?;
                }
            }
            _ => return Err(self.wrong_type("a hash")),
        }
        Ok(())
    }

    /// Decodes a stream value.
    pub fn stream(&self) -> Result<stream::StreamValue, Error> {
        let RdbLayout::Stream(v) = self.layout else {
            return Err(self.wrong_type("a stream"));
        };
        stream::decode(self.raw, v).map_err(|e| self.err_at(e.remaining, e.problem))
    }

    /// Stream metadata only (no entry decoding).
    pub fn stream_meta(&self) -> Result<stream::StreamMeta, Error> {
        let RdbLayout::Stream(v) = self.layout else {
            return Err(self.wrong_type("a stream"));
        };
        stream::walk(self.raw, v, &mut stream::Skip)
            .map(|(_, m)| m)
            .map_err(|e| self.perr(e))
    }

    /// The module type id of a module value.
    pub fn module_id(&self) -> Result<u64, Error> {
        length(self.raw).map(|(_, id)| id).map_err(|e| self.perr(e))
    }

    /// Number of elements (string: 1; list/set/zset/hash: members; stream:
    /// live entries). Decompresses blobs when needed, decodes no element.
    pub fn element_count(&self, scratch: &mut Scratch) -> Result<u64, Error> {
        use RdbLayout::*;
        let blob_count = |s: &mut Scratch, per: u64, lp: bool| -> Result<u64, Error> {
            let st = self.blob()?;
            let b = st.bytes(&mut s.blob).map_err(|p| self.blob_err(p))?;
            let n = if lp {
                Listpack::parse(b).and_then(|l| l.count())
            } else {
                Ziplist::parse(b).and_then(|z| z.count())
            }
            .map_err(|p| self.blob_err(p))?;
            Ok(n / per)
        };
        Ok(match self.layout {
            String | Module2 | ModulePreGa | KeydbCron => 1,
            ListLinked
            | SetHashtable
            | HashHashtable
            | ZsetV1
            | ZsetV2
            | HashMetadataPreGa
            | ValkeyHash2
            | DragonflyHashWithExpiry
            | DragonflySetWithExpiry => length(self.raw).map_err(|e| self.perr(e))?.1,
            HashMetadata => {
                let (r, _) = le_u64(self.raw).map_err(|e| self.perr(e))?;
                length(r).map_err(|e| self.perr(e))?.1
            }
            ListZiplist => blob_count(scratch, 1, false)?,
            ZsetZiplist | HashZiplist => blob_count(scratch, 2, false)?,
            SetListpack => blob_count(scratch, 1, true)?,
            ZsetListpack | HashListpack => blob_count(scratch, 2, true)?,
            HashListpackEx | HashListpackExPreGa => blob_count(scratch, 3, true)?,
            SetIntset => {
                let st = self.blob()?;
                let b = st.bytes(&mut scratch.blob).map_err(|p| self.blob_err(p))?;
                Intset::parse(b).map_err(|p| self.blob_err(p))?.len() as u64
            }
            HashZipmap => {
                let st = self.blob()?;
                let b = st.bytes(&mut scratch.blob).map_err(|p| self.blob_err(p))?;
                zipmap::for_each_pair(b, |_, _| Ok(())).map_err(|p| self.blob_err(p))?
            }
            ListQuicklist | ListQuicklist2 => {
                let mut n = 0u64;
                self.for_each_quicklist_node(scratch, |c| {
                    n += c;
                    Ok(())
                })?;
                n
            }
            Stream(_) => self.stream_meta()?.length,
            Array => length(self.raw).map_err(|e| self.perr(e))?.1,
        })
    }

    /// True when a server loading this value skips it as an empty key
    /// ("rdbLoadObject skipping empty key", spec §7): a list, set, zset or
    /// hash without elements (a quicklist counts only non-empty nodes).
    /// Empty intsets and zipmaps are corruption instead (their decoders
    /// reject them); strings, streams and module values are never empty keys.
    pub fn is_empty_key(&self, scratch: &mut Scratch) -> Result<bool, Error> {
        use RdbLayout::*;
        match self.layout {
            ListQuicklist | ListQuicklist2 => {
                // Stop at the first non-empty node: usually the first one,
                // so at most one compressed node is inflated here.
                let v2 = self.layout == ListQuicklist2;
                let (mut r, n) =
                    count(self.raw, 1, "quicklist node count").map_err(|e| self.perr(e))?;
                for _ in 0..n {
                    let (r2, container) = if v2 {
                        length(r).map_err(|e| self.perr(e))?
                    } else {
                        (r, 2)
                    };
                    let (r2, s) = string(r2).map_err(|e| self.perr(e))?;
                    if container == 1 {
                        return Ok(false);
                    }
                    let b = s
                        .bytes(&mut scratch.blob)
                        .map_err(|p| self.err_at(r.len(), p))?;
                    let c = if v2 {
                        Listpack::parse(b).and_then(|l| l.count())
                    } else {
                        Ziplist::parse(b).and_then(|z| z.count())
                    }
                    .map_err(|p| self.err_at(r.len(), p))?;
                    if c > 0 {
                        return Ok(false);
                    }
                    r = r2;
                }
                Ok(true)
            }
            _ => Ok(matches!(
                self.data_type(),
                DataType::List | DataType::Set | DataType::Zset | DataType::Hash
            ) && self.element_count(scratch)? == 0),
        }
    }

    /// Visits the element count of each quicklist node.
    pub fn for_each_quicklist_node<F>(&self, scratch: &mut Scratch, mut f: F) -> Result<(), Error>
    where
        F: FnMut(u64) -> Result<(), Error>,
    {
        self.for_each_quicklist_node_detail(scratch, |_, _, c| f(c))
    }

    /// Visits each quicklist node: whether it is packed (a ziplist or
    /// listpack, else a PLAIN single element), its decompressed size in
    /// bytes and its element count.
    pub fn for_each_quicklist_node_detail<F>(
        &self,
        scratch: &mut Scratch,
        mut f: F,
    ) -> Result<(), Error>
    where
        F: FnMut(bool, usize, u64) -> Result<(), Error>,
    {
        let v2 = self.layout == RdbLayout::ListQuicklist2;
        let (mut r, n) = count(self.raw, 1, "quicklist node count").map_err(|e| self.perr(e))?;
        for _ in 0..n {
            let (r2, container) = if v2 {
                length(r).map_err(|e| self.perr(e))?
            } else {
                (r, 2)
            };
            let (r2, s) = string(r2).map_err(|e| self.perr(e))?;
            if container == 1 {
                f(false, s.len() as usize, 1)?;
            } else {
                let b = s
                    .bytes(&mut scratch.blob)
                    .map_err(|p| self.err_at(r.len(), p))?;
                let c = if v2 {
                    Listpack::parse(b).and_then(|l| l.count())
                } else {
                    Ziplist::parse(b).and_then(|z| z.count())
                }
                .map_err(|p| self.err_at(r.len(), p))?;
                f(true, b.len(), c)?;
            }
            r = r2;
        }
        Ok(())
    }
}
