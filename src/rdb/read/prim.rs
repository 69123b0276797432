//! Primitive RDB encodings as `nom` parsers over borrowed bytes: lengths,
//! strings (raw, INT8/16/32, LZF), times, doubles and stream IDs.

use nom::number::complete::{be_u32, be_u64, le_f64, le_i64, le_u8};

use super::lzf;
use crate::error::{PErr, PResult, Problem};

/// A decoded RDB length: either a plain length or a special string encoding
/// marker (`11xxxxxx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// A plain length or count.
    Plain(u64),
    /// A special string encoding id (0 INT8, 1 INT16, 2 INT32, 3 LZF).
    Special(u8),
}

/// Reads an RDB `len` (6-, 14-, 32- or 64-bit) or a special-encoding marker.
#[inline]
pub fn len_or_special(i: &[u8]) -> PResult<'_, Len> {
    let Some(&b) = i.first() else {
        return Err(nom::Err::Error(PErr::truncated(i, "length")));
    };
    match b >> 6 {
        0 => Ok((&i[1..], Len::Plain((b & 0x3f) as u64))),
        1 => match i.get(1) {
            Some(&n) => Ok((&i[2..], Len::Plain((((b & 0x3f) as u64) << 8) | n as u64))),
            None => Err(nom::Err::Error(PErr::truncated(i, "length"))),
        },
        2 => match b {
            0x80 => {
                let (r, v) = be_u32(&i[1..])?;
                Ok((r, Len::Plain(v as u64)))
            }
            0x81 => {
                let (r, v) = be_u64(&i[1..])?;
                Ok((r, Len::Plain(v)))
            }
            _ => Err(nom::Err::Error(PErr::invalid(
                i,
                "length",
                "a length form 0x00-0x81 or a string marker 0xC0-0xC3",
                b as u64,
            ))),
        },
        _ => Ok((&i[1..], Len::Special(b & 0x3f))),
    }
}

/// Reads a plain `len` in a count position; a special marker is an error.
#[inline]
pub fn length(i: &[u8]) -> PResult<'_, u64> {
    match len_or_special(i)? {
        (r, Len::Plain(n)) => Ok((r, n)),
        (_, Len::Special(s)) => Err(nom::Err::Error(PErr::invalid(
            i,
            "length",
            "a plain length",
            0xc0 | s as u64,
        ))),
    }
}

/// Reads a `len` used as a count of following items, each at least
/// `min_item` bytes: the count is checked against what remains so that a
/// hostile count can never drive an allocation or a long loop.
#[inline]
pub fn count<'a>(i: &'a [u8], min_item: u64, what: &'static str) -> PResult<'a, u64> {
    let (r, n) = length(i)?;
    if n.saturating_mul(min_item) > r.len() as u64 {
        return Err(nom::Err::Error(PErr::at(
            i,
            Problem::Length {
                what,
                declared: n,
                available: r.len() as u64,
            },
        )));
    }
    Ok((r, n))
}

/// Takes exactly `n` bytes, failing with a length error naming `what`.
#[inline]
pub fn take_n<'a>(i: &'a [u8], n: u64, what: &'static str) -> PResult<'a, &'a [u8]> {
    if n > i.len() as u64 {
        return Err(nom::Err::Error(PErr::at(
            i,
            Problem::Length {
                what,
                declared: n,
                available: i.len() as u64,
            },
        )));
    }
    // In range: `n <= i.len()` was checked above.
    let (b, r) = i.split_at(n as usize);
    Ok((r, b))
}

/// An RDB string as stored: described first, decoded on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbStr<'a> {
    /// Raw bytes borrowed from the input.
    Raw(&'a [u8]),
    /// An INT8/16/32-encoded integer; its text is the canonical decimal.
    Int(i64),
    /// LZF-compressed bytes and the declared uncompressed length.
    Lzf {
        /// The compressed bytes.
        packed: &'a [u8],
        /// The declared decompressed length.
        len: u64,
    },
}

/// Number of bytes in the canonical decimal text of `v`.
pub fn int_text_len(v: i64) -> usize {
    // Counted, not formatted: element lengths of packed ints are on the
    // memory model's hot path.
    let digits = v
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1);
    digits + (v < 0) as usize
}

impl<'a> RdbStr<'a> {
    /// Decoded length in bytes, without decoding.
    pub fn len(&self) -> u64 {
        match *self {
            RdbStr::Raw(b) => b.len() as u64,
            RdbStr::Int(v) => int_text_len(v) as u64,
            RdbStr::Lzf { len, .. } => len,
        }
    }
    /// True when the decoded string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The decoded bytes: borrowed when raw, otherwise written into `buf`.
    pub fn bytes<'s>(&'s self, buf: &'s mut Vec<u8>) -> Result<&'s [u8], Problem> {
        match *self {
            RdbStr::Raw(b) => Ok(b),
            RdbStr::Int(v) => {
                buf.clear();
                buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
                Ok(buf)
            }
            RdbStr::Lzf { packed, len } => {
                let n = usize::try_from(len).map_err(|_| Problem::Limit {
                    what: "LZF string length",
                    limit: usize::MAX as u64,
                })?;
                lzf::decompress_into(packed, n, buf)?;
                Ok(buf)
            }
        }
    }
    /// The decoded bytes as an owned vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, Problem> {
        let mut buf = Vec::new();
        let b = self.bytes(&mut buf)?;
        Ok(b.to_vec())
    }
    /// The raw bytes when the string is stored uncompressed and not as an int.
    pub fn as_raw(&self) -> Option<&'a [u8]> {
        match *self {
            RdbStr::Raw(b) => Some(b),
            _ => None,
        }
    }
}

/// Reads an RDB `str`.
#[inline]
pub fn string(i: &[u8]) -> PResult<'_, RdbStr<'_>> {
    // Keys, small values and elements are raw strings with a 6- or 14-bit
    // length: read those here, inline in the walks; everything else
    // (including every error) in `string_full`.
    let (n, head) = match i {
        [b @ 0..=0x3f, ..] => (*b as usize, 1),
        [b @ 0x40..=0x7f, c, ..] => ((((*b & 0x3f) as usize) << 8) | *c as usize, 2),
        _ => return string_full(i),
    };
    match i[head..].split_at_checked(n) {
        Some((b, r)) => Ok((r, RdbStr::Raw(b))),
        None => string_full(i),
    }
}

/// [`string`] for every encoding.
fn string_full(i: &[u8]) -> PResult<'_, RdbStr<'_>> {
    let (r, l) = len_or_special(i)?;
    match l {
        Len::Plain(n) => {
            let (r, b) = take_n(r, n, "string")?;
            Ok((r, RdbStr::Raw(b)))
        }
        Len::Special(0) => {
            let (r, v) = le_u8(r)?;
            Ok((r, RdbStr::Int(v as i8 as i64)))
        }
        Len::Special(1) => {
            let (r, b) = take_n(r, 2, "INT16 string")?;
            Ok((r, RdbStr::Int(i16::from_le_bytes([b[0], b[1]]) as i64)))
        }
        Len::Special(2) => {
            let (r, b) = take_n(r, 4, "INT32 string")?;
            Ok((
                r,
                RdbStr::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
            ))
        }
        Len::Special(3) => {
            let (r, clen) = length(r)?;
            let (r, ulen) = length(r)?;
            let (r, packed) = take_n(r, clen, "LZF string")?;
            // liblzf cannot expand more than MAX_EXPANSION times; more is
            // corruption, caught before any allocation.
            if ulen > clen.saturating_mul(lzf::MAX_EXPANSION) {
                return Err(nom::Err::Error(PErr::invalid(
                    i,
                    "LZF string",
                    "an uncompressed length at most 88 times the compressed length",
                    ulen,
                )));
            }
            Ok((r, RdbStr::Lzf { packed, len: ulen }))
        }
        Len::Special(s) => Err(nom::Err::Error(PErr::invalid(
            i,
            "string",
            "encoding 0 (INT8), 1 (INT16), 2 (INT32) or 3 (LZF)",
            s as u64,
        ))),
    }
}

/// Skips an RDB `str` without building a view.
#[inline]
pub fn skip_string(i: &[u8]) -> PResult<'_, ()> {
    let (r, _) = string(i)?;
    Ok((r, ()))
}

/// Reads an `i64le` millisecond timestamp.
#[inline]
pub fn ms_time(i: &[u8]) -> PResult<'_, i64> {
    le_i64(i)
}

/// Reads an `f64le` binary double.
#[inline]
pub fn binary_double(i: &[u8]) -> PResult<'_, f64> {
    le_f64(i)
}

/// Reads a ZSET (type 3) string double: `u8 len` then ASCII, with 253/254/255
/// meaning NaN/+inf/-inf.
pub fn string_double(i: &[u8]) -> PResult<'_, f64> {
    let (r, l) = le_u8(i)?;
    match l {
        253 => Ok((r, f64::NAN)),
        254 => Ok((r, f64::INFINITY)),
        255 => Ok((r, f64::NEG_INFINITY)),
        n => {
            let (r, b) = take_n(r, n as u64, "string double")?;
            match parse_double(b) {
                Some(v) => Ok((r, v)),
                None => Err(nom::Err::Error(PErr::invalid(
                    i,
                    "string double",
                    "a decimal number",
                    n as u64,
                ))),
            }
        }
    }
}

/// Parses a score as Redis' `strtod` would accept it (incl. `inf`, `-inf`).
pub fn parse_double(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" | "-nan" => return Some(f64::NAN),
        _ => {}
    }
    t.parse::<f64>().ok()
}

/// Asks the CPU to load the cache lines of `data[from..to]` (clamped to
/// `data`) into its caches, so that a walk about to read them does not wait
/// for memory. A hint: it reads nothing architecturally and never faults.
#[inline(always)]
pub fn prefetch(data: &[u8], from: usize, to: usize) {
    let to = to.min(data.len());
    let mut at = from;
    while at < to {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `at < data.len()`, so the address is inside `data`; a
        // prefetch reads nothing architecturally and cannot fault, and SSE
        // (which has the instruction) is part of the x86_64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                data.as_ptr().add(at).cast(),
            );
        }
        at += 64;
    }
}

/// [`prefetch`] of the cache lines holding `x` (a hint, as there).
#[inline(always)]
pub fn prefetch_ref<T>(x: &T) {
    // SAFETY: `x` is a live reference, so its `size_of::<T>()` bytes are
    // readable for the duration of the call.
    let bytes = unsafe { std::slice::from_raw_parts((x as *const T).cast::<u8>(), size_of::<T>()) };
    prefetch(bytes, 0, bytes.len());
}

/// A stream ID (`ms-seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl serde::Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Reads a raw 16-byte big-endian stream ID.
#[inline]
pub fn raw_stream_id(i: &[u8]) -> PResult<'_, StreamId> {
    let (r, ms) = be_u64(i)?;
    let (r, seq) = be_u64(r)?;
    Ok((r, StreamId { ms, seq }))
}

/// Reads a stream ID written as two `len`s.
#[inline]
pub fn len_stream_id(i: &[u8]) -> PResult<'_, StreamId> {
    let (r, ms) = length(i)?;
    let (r, seq) = length(r)?;
    Ok((r, StreamId { ms, seq }))
}

/// Parses canonical decimal text as Redis' `string2ll` does (no `+`, no
/// leading zeros, no spaces, `-0` rejected).
pub fn parse_canonical_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = if b[0] == b'-' {
        (true, &b[1..])
    } else {
        (false, b)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i128;
        if v > i64::MAX as i128 + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(length(&[0x05]).unwrap().1, 5);
        assert_eq!(length(&[0x41, 0x02]).unwrap().1, 0x102);
        assert_eq!(length(&[0x80, 0, 0, 1, 0]).unwrap().1, 256);
        assert_eq!(length(&[0x81, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap().1, 256);
        assert!(length(&[0x82]).is_err());
        assert!(length(&[0xc0]).is_err());
        assert!(length(&[0x41]).is_err());
    }

    #[test]
    fn strings() {
        assert_eq!(string(&[0xc0, 0x40]).unwrap().1, RdbStr::Int(64));
        assert_eq!(string(&[0xc1, 0xff, 0xff]).unwrap().1, RdbStr::Int(-1));
        assert_eq!(string(&[0x02, b'h', b'i']).unwrap().1, RdbStr::Raw(b"hi"));
        assert!(string(&[0x03, b'h', b'i']).is_err());
        assert!(string(&[0xc4]).is_err());
    }

    /// The counted length is the formatted one, at every power of ten and
    /// at the extremes.
    #[test]
    fn int_text_lengths() {
        let mut vals = vec![0i64, i64::MIN, i64::MAX, i64::MIN + 1];
        let mut p = 1i64;
        while let Some(q) = p.checked_mul(10) {
            vals.extend([p - 1, p, p + 1, -p + 1, -p, -p - 1]);
            p = q;
        }
        for v in vals {
            assert_eq!(int_text_len(v), v.to_string().len(), "{v}");
        }
    }

    #[test]
    fn canonical_ints() {
        assert_eq!(parse_canonical_i64(b"-12"), Some(-12));
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-0"), None);
        assert_eq!(parse_canonical_i64(b"007"), None);
        assert_eq!(parse_canonical_i64(b"+1"), None);
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
    }
}
