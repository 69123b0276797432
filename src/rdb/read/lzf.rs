//! LZF decompression (liblzf's format, no header), as used by RDB strings.
//!
//! Written by hand: the `lzf` crates on crates.io bind the C library or
//! allocate their own output; we need a bounds-checked decoder that writes
//! into a caller-owned, reused buffer and stops at the declared length.

use crate::error::Problem;

/// Most bytes liblzf's format can decode from one input byte: a long
/// back-reference takes 3 bytes and copies at most 264 (7 + 255 + 2), and
/// literals copy fewer than they take. A declared length beyond
/// `MAX_EXPANSION` times the compressed size is corruption, rejected before
/// anything is allocated.
pub const MAX_EXPANSION: u64 = 88;

/// Room past the declared length so the hot loop can copy fixed-size blocks
/// (a few inlined vector moves) instead of calling `memcpy` for every short
/// run: this halved the LZF share of `inspect` on a 1M-key file.
const SLACK: usize = 32;

/// Decompresses `input` into `out` (cleared first), which must end up exactly
/// `expected` bytes long. Every back-reference is bounds-checked; output never
/// grows past `expected` (plus a fixed slack, trimmed before returning), so a
/// hostile stream cannot allocate more than the caller agreed to.
pub fn decompress_into(input: &[u8], expected: usize, out: &mut Vec<u8>) -> Result<(), Problem> {
    decode(input, expected, expected, out)
}

/// Decompresses the first `want` bytes (or all, if fewer) of a stream that
/// declares `expected` bytes into `out`, decoding no further: enough to read
/// a blob's header (element count) without inflating the whole value.
/// `out` may hold a few more bytes than `want`, never more than `expected`.
pub fn decompress_prefix(
    input: &[u8],
    expected: usize,
    want: usize,
    out: &mut Vec<u8>,
) -> Result<(), Problem> {
    decode(input, expected, want.min(expected), out)
}

/// The longest single LZF operation: a back-reference of 264 bytes.
const MAX_OP: usize = 264;

/// Decodes until `stop` bytes are out (`stop == expected`: the whole stream,
/// whose length must then be exactly `expected`). On an error `out` is left
/// empty: the working buffer (declared length plus slack) is not output.
fn decode(input: &[u8], expected: usize, stop: usize, out: &mut Vec<u8>) -> Result<(), Problem> {
    let r = inflate(input, expected, stop, out);
    if r.is_err() {
        out.clear();
    }
    r
}

/// [`decode`], leaving the working buffer as it is on an error.
fn inflate(input: &[u8], expected: usize, stop: usize, out: &mut Vec<u8>) -> Result<(), Problem> {
    out.clear();
    if expected as u64 > MAX_EXPANSION.saturating_mul(input.len() as u64) {
        return Err(Problem::Invalid {
            what: "LZF string",
            expected: "an uncompressed length at most 88 times the compressed length",
            found: expected as u64,
        });
    }
    // An operation starts below `stop`, so writes end before stop + MAX_OP.
    let room = if stop >= expected {
        expected
    } else {
        expected.min(stop.saturating_add(MAX_OP))
    };
    let cap = room.checked_add(SLACK).ok_or(Problem::Limit {
        what: "LZF output allocation",
        limit: expected as u64,
    })?;
    out.try_reserve_exact(cap).map_err(|_| Problem::Limit {
        what: "LZF output allocation",
        limit: expected as u64,
    })?;
    out.resize(cap, 0);
    let buf = &mut out[..];
    let fail = |produced: usize| Problem::Lzf {
        declared: expected as u64,
        produced: produced as u64,
    };
    let n = input.len();
    let full = stop == expected;
    let (mut i, mut o) = (0usize, 0usize);
    // A full decode consumes all input (extra input is an error below).
    while i < n && (full || o < stop) {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            if i + run > n || o + run > expected {
                return Err(fail(o));
            }
            if i + SLACK <= n {
                // o + run <= expected, so o + SLACK fits in the slack.
                buf[o..o + SLACK].copy_from_slice(&input[i..i + SLACK]);
            } else {
                copy_short(&input[i..i + run], &mut buf[o..o + run]);
            }
            o += run;
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or_else(|| fail(o))? as usize;
                i += 1;
            }
            len += 2;
            let lo = *input.get(i).ok_or_else(|| fail(o))? as usize;
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + lo + 1;
            if back > o || o + len > expected {
                return Err(fail(o));
            }
            let start = o - back;
            if back >= 16 {
                // Each 16-byte block reads only bytes before the one it
                // writes, all already final; the last block may spill up to
                // 15 bytes past o + len, inside the slack, overwritten later.
                let mut k = 0;
                while k < len {
                    buf.copy_within(start + k..start + k + 16, o + k);
                    k += 16;
                }
            } else if back >= 8 {
                // The same with 8-byte blocks (each reads only final bytes).
                let mut k = 0;
                while k < len {
                    buf.copy_within(start + k..start + k + 8, o + k);
                    k += 8;
                }
            } else {
                // Overlapping reference (a run): byte by byte.
                for k in 0..len {
                    buf[o + k] = buf[start + k];
                }
            }
            o += len;
        }
    }
    if full && o != expected {
        return Err(fail(o));
    }
    out.truncate(o);
    Ok(())
}

/// Copies a literal run (at most 32 bytes) near the end of the input,
/// where the fixed 32-byte block would read past it, as two overlapping
/// fixed-size moves: `copy_from_slice` of a variable length called
/// `memmove` once per stream, 2 % of `report`'s time on a 1M-key file.
#[inline(always)]
fn copy_short(from: &[u8], to: &mut [u8]) {
    let n = from.len().min(to.len());
    if n >= 16 {
        to[..16].copy_from_slice(&from[..16]);
        to[n - 16..n].copy_from_slice(&from[n - 16..n]);
    } else if n >= 8 {
        to[..8].copy_from_slice(&from[..8]);
        to[n - 8..n].copy_from_slice(&from[n - 8..n]);
    } else if n >= 4 {
        to[..4].copy_from_slice(&from[..4]);
        to[n - 4..n].copy_from_slice(&from[n - 4..n]);
    } else if n > 0 {
        // One to three bytes (a loop here became a `memmove` call again).
        to[0] = from[0];
        to[n / 2] = from[n / 2];
        to[n - 1] = from[n - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_stream_leaves_no_output() {
        // A literal run of 5 bytes with only 2 present.
        let mut out = Vec::new();
        assert!(decompress_into(&[0x04, b'a', b'b'], 100, &mut out).is_err());
        assert!(out.is_empty());
        // The fuzz input that found it (regressions/lzf).
        let data = include_bytes!("../../../fuzz/regressions/lzf/error-left-working-buffer");
        let expected = u16::from_le_bytes([data[0], data[1]]) as usize;
        assert!(decompress_into(&data[2..], expected, &mut out).is_err());
        assert!(out.len() <= expected);
    }

    #[test]
    fn short_copies_of_every_length() {
        let from: Vec<u8> = (1..=32).collect();
        for n in 0..=32 {
            let mut to = vec![0u8; n];
            copy_short(&from[..n], &mut to);
            assert_eq!(to, &from[..n], "length {n}");
        }
    }

    #[test]
    fn literal_and_backref() {
        // "aaaaaaaaaa": literal 'a' then back-ref len 9 offset 1
        let input = [0x00, b'a', 0xe0, 0x00, 0x00];
        let mut out = Vec::new();
        decompress_into(&input, 10, &mut out).unwrap();
        assert_eq!(out, b"aaaaaaaaaa");
        assert!(decompress_into(&input, 11, &mut out).is_err());
        assert!(decompress_into(&input, 5, &mut out).is_err());
    }

    #[test]
    fn bad_backref_is_error() {
        let input = [0x20, 0x05];
        let mut out = Vec::new();
        assert!(decompress_into(&input, 3, &mut out).is_err());
    }

    /// Random valid streams (literals and references of every length and
    /// distance) decode to what a byte-by-byte reading of the format gives.
    #[test]
    fn random_streams_match_naive_decoding() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        let mut out = Vec::new();
        for _ in 0..2000 {
            let (mut stream, mut want) = (Vec::new(), Vec::new());
            for _ in 0..rnd(40) + 1 {
                if want.is_empty() || rnd(3) == 0 {
                    let run = rnd(32) + 1;
                    stream.push((run - 1) as u8);
                    for _ in 0..run {
                        let b = rnd(256) as u8;
                        stream.push(b);
                        want.push(b);
                    }
                } else {
                    let back = rnd(want.len().min(8192)) + 1;
                    let len = rnd(262) + 3;
                    let l = len - 2;
                    let off = back - 1;
                    if l < 7 {
                        stream.push(((l << 5) | (off >> 8)) as u8);
                    } else {
                        stream.push(((7 << 5) | (off >> 8)) as u8);
                        stream.push((l - 7) as u8);
                    }
                    stream.push((off & 0xff) as u8);
                    let start = want.len() - back;
                    for k in 0..len {
                        let b = want[start + k];
                        want.push(b);
                    }
                }
            }
            decompress_into(&stream, want.len(), &mut out).unwrap();
            assert_eq!(out, want);
            let head = rnd(want.len() + 2);
            decompress_prefix(&stream, want.len(), head, &mut out).unwrap();
            assert!(out.len() >= head.min(want.len()) && out.len() <= want.len());
            assert_eq!(out, want[..out.len()]);
            assert!(decompress_into(&stream, want.len() + 1, &mut out).is_err());
            if want.len() > 1 {
                assert!(decompress_into(&stream, want.len() - 1, &mut out).is_err());
            }
            let cut = rnd(stream.len());
            let _ = decompress_into(&stream[..cut], want.len(), &mut out);
        }
    }
}
