//! Primitive RDB encodings, the mirror of [`crate::rdb::read::prim`]:
//! lengths, strings (INT8/16/32, LZF, raw), times, doubles and stream IDs,
//! appended to a caller-owned buffer.

use super::lzf::Compressor;
use crate::rdb::read::StreamId;
use crate::rdb::read::prim::parse_canonical_i64;

/// Appends an RDB `len` in the shortest form Redis writes. Values above
/// `u32::MAX` use the 64-bit form, which only RDB 8+ readers know (no value
/// an older server could hold needs it).
#[inline]
pub fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends `v` as an INT8/16/32 string when it fits `i32`; returns false
/// (writing nothing) otherwise.
#[inline]
pub fn put_int_str(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.push(0xc0);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xc1);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xc2);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends a string in raw form (`len` + bytes).
#[inline]
pub fn put_raw_str(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// How strings are encoded: the choices `rdbSaveRawString` makes.
pub struct StrEncoder {
    /// LZF-compress strings over 20 bytes when that saves space
    /// (`rdbcompression yes`).
    pub compress: bool,
    lzf: Compressor,
    buf: Vec<u8>,
}

impl StrEncoder {
    /// A new encoder.
    pub fn new(compress: bool) -> Self {
        StrEncoder {
            compress,
            lzf: Compressor::default(),
            buf: Vec::new(),
        }
    }

    /// Appends `b` as Redis would: INT8/16/32 for canonical decimal within
    /// `i32` (at most 11 bytes), LZF for strings over 20 bytes when the
    /// compressed form is at least 4 bytes shorter, else raw.
    pub fn put(&mut self, out: &mut Vec<u8>, b: &[u8]) {
        if b.len() <= 11
            && let Some(v) = parse_canonical_i64(b)
            && put_int_str(out, v)
        {
            return;
        }
        if self.compress && b.len() > 20 {
            self.buf.clear();
            if let Some(clen) = self.lzf.compress(b, &mut self.buf, b.len() - 4) {
                out.push(0xc3);
                put_len(out, clen as u64);
                put_len(out, b.len() as u64);
                out.extend_from_slice(&self.buf);
                return;
            }
        }
        put_raw_str(out, b);
    }

    /// Appends an integer's canonical decimal text as a string.
    pub fn put_int(&mut self, out: &mut Vec<u8>, v: i64) {
        if !put_int_str(out, v) {
            put_raw_str(out, itoa::Buffer::new().format(v).as_bytes());
        }
    }
}

/// Appends an `i64le` millisecond time.
#[inline]
pub fn put_ms(out: &mut Vec<u8>, ms: i64) {
    out.extend_from_slice(&ms.to_le_bytes());
}

/// Appends a ZSET (type 3) string double: `u8 len` + text, 253/254/255 for
/// NaN/+inf/-inf.
pub fn put_string_double(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.push(253);
    } else if v == f64::INFINITY {
        out.push(254);
    } else if v == f64::NEG_INFINITY {
        out.push(255);
    } else {
        let mut t = Vec::with_capacity(24);
        score_text(&mut t, v);
        out.push(t.len() as u8);
        out.extend_from_slice(&t);
    }
}

/// Appends the text Redis uses for a score inside a ziplist/listpack or an
/// AOF command: integral values as integer digits (so the blob stores an
/// integer entry), `-0` keeps its sign, `inf`/`-inf`, otherwise the shortest
/// text that parses back to the same double.
pub fn score_text(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"nan");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-inf");
    } else if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Appends a raw 16-byte big-endian stream ID.
#[inline]
pub fn put_raw_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_be_bytes());
    out.extend_from_slice(&id.seq.to_be_bytes());
}

/// Appends a stream ID as two `len`s.
#[inline]
pub fn put_len_id(out: &mut Vec<u8>, id: StreamId) {
    put_len(out, id.ms);
    put_len(out, id.seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::read::prim::{RdbStr, length, parse_double, string, string_double};

    #[test]
    fn lengths_round_trip() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_len(&mut b, n);
            let (r, v) = length(&b).unwrap();
            assert!(r.is_empty());
            assert_eq!(v, n);
        }
    }

    #[test]
    fn strings_choose_redis_forms() {
        let mut e = StrEncoder::new(true);
        let enc = |e: &mut StrEncoder, s: &[u8]| {
            let mut b = Vec::new();
            e.put(&mut b, s);
            b
        };
        assert_eq!(enc(&mut e, b"64"), [0xc0, 0x40]);
        assert_eq!(enc(&mut e, b"-129"), [0xc1, 0x7f, 0xff]);
        assert_eq!(enc(&mut e, b"2147483647")[0], 0xc2);
        assert_eq!(enc(&mut e, b"4294967296")[0], 10);
        assert_eq!(enc(&mut e, b"007"), [3, b'0', b'0', b'7']);
        assert_eq!(enc(&mut e, b"-0"), [2, b'-', b'0']);
        let long = vec![b'z'; 100];
        let b = enc(&mut e, &long);
        assert_eq!(b[0], 0xc3);
        let (_, s) = string(&b).unwrap();
        assert!(matches!(s, RdbStr::Lzf { .. }));
        assert_eq!(s.to_vec().unwrap(), long);
        let incompressible: Vec<u8> = (0..21u8).collect();
        assert_eq!(enc(&mut e, &incompressible)[0], 21);
        e.compress = false;
        assert_eq!(enc(&mut e, &long)[..2], [0x40, 100]);
    }

    #[test]
    fn scores_round_trip() {
        for v in [
            0.1,
            -0.0,
            0.0,
            3.0,
            -2.5e-300,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9.1e15,
        ] {
            let mut t = Vec::new();
            score_text(&mut t, v);
            let back = parse_double(&t).unwrap();
            assert_eq!(
                back.to_bits(),
                v.to_bits(),
                "{}",
                String::from_utf8_lossy(&t)
            );
            let mut b = Vec::new();
            put_string_double(&mut b, v);
            assert_eq!(string_double(&b).unwrap().1.to_bits(), v.to_bits());
        }
    }
}
