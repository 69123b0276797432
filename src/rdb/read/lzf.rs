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

/// Decompresses `input` into `out` (cleared first), which must end up exactly
/// `expected` bytes long. Every back-reference is bounds-checked; output never
/// grows past `expected`, so a hostile stream cannot allocate more than the
/// caller agreed to, and `expected` itself must be within [`MAX_EXPANSION`]
/// of the input.
pub fn decompress_into(input: &[u8], expected: usize, out: &mut Vec<u8>) -> Result<(), Problem> {
    out.clear();
    if expected as u64 > MAX_EXPANSION.saturating_mul(input.len() as u64) {
        return Err(Problem::Invalid {
            what: "LZF string",
            expected: "an uncompressed length at most 88 times the compressed length",
            found: expected as u64,
        });
    }
    out.try_reserve_exact(expected)
        .map_err(|_| Problem::Limit {
            what: "LZF output allocation",
            limit: expected as u64,
        })?;
    let fail = |out: &Vec<u8>| Problem::Lzf {
        declared: expected as u64,
        produced: out.len() as u64,
    };
    let mut i = 0usize;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run).ok_or_else(|| fail(out))?;
            if out.len() + run > expected {
                return Err(fail(out));
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or_else(|| fail(out))? as usize;
                i += 1;
            }
            len += 2;
            let lo = *input.get(i).ok_or_else(|| fail(out))? as usize;
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + lo + 1;
            if back > out.len() || out.len() + len > expected {
                return Err(fail(out));
            }
            let start = out.len() - back;
            if back >= len {
                // No overlap: one memcpy.
                out.extend_from_within(start..start + len);
            } else {
                // Overlapping reference: a run, copied byte by byte.
                for k in 0..len {
                    let b = out[start + k];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != expected {
        return Err(fail(out));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
