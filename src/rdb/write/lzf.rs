//! LZF compression in liblzf's format (no header), the mirror of
//! [`crate::rdb::read::lzf`]. Written by hand: the crates on crates.io that
//! produce liblzf's format bind the C library; this follows liblzf 3.6 as
//! Redis compiles it (`HLOG 16`, `VERY_FAST`), with the hash table reset per
//! call so the output is deterministic.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// A reusable compressor: owns the hash table so repeated calls do not
/// allocate, and never clears it per call (a 256 KB clear per short string
/// would cost more than compressing it): entries are stored relative to a
/// base that moves past every input, so older entries read as "none".
pub struct Compressor {
    /// `base + position + 1` of the last occurrence of each 3-byte hash;
    /// values `<= base` belong to earlier calls.
    htab: Vec<u32>,
    base: u32,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor {
            htab: vec![0; HSIZE],
            base: 0,
        }
    }
}

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

impl Compressor {
    /// Compresses `input`, appending at most `max_out` bytes to `out`.
    /// Returns the compressed length, or `None` (and `out` unchanged) when
    /// the result would not fit — the caller then stores the input raw, as
    /// Redis does when compression does not save at least 4 bytes.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>, max_out: usize) -> Option<usize> {
        if input.is_empty() || max_out == 0 || input.len() > (u32::MAX / 2) as usize {
            return None;
        }
        if (u32::MAX - self.base) as usize <= input.len() + 1 {
            self.htab.iter_mut().for_each(|s| *s = 0);
            self.base = 0;
        }
        let base = out.len();
        let r = self.run(input, out, base, max_out);
        self.base += input.len() as u32 + 1;
        if r.is_none() {
            out.truncate(base);
        }
        r
    }

    fn run(&mut self, inp: &[u8], out: &mut Vec<u8>, base: usize, max_out: usize) -> Option<usize> {
        let in_end = inp.len();
        let out_end = base + max_out;
        // `op` is the index of the next byte to write; the literal run's
        // control byte sits at `op - lit - 1`.
        out.resize(base + 1, 0);
        let mut lit: usize = 0;
        let mut ip: usize = 0;
        let frst = |p: usize| ((inp[p] as u32) << 8) | inp[p + 1] as u32;
        let next = |v: u32, p: usize| (v << 8) | inp[p + 2] as u32;
        let mut hval = if in_end >= 2 { frst(0) } else { 0 };
        while in_end >= 3 && ip < in_end - 2 {
            hval = next(hval, ip);
            let slot = idx(hval);
            let stored = self.htab[slot];
            let refp = stored.saturating_sub(self.base) as usize;
            self.htab[slot] = self.base + ip as u32 + 1;
            // refp is position + 1; a match needs an earlier position > 0
            // (liblzf's `ref > in_data`), within the offset window.
            let matched = refp > 1 && {
                let r = refp - 1;
                let off = ip - r - 1;
                off < MAX_OFF
                    && inp[r + 2] == inp[ip + 2]
                    && inp[r] == inp[ip]
                    && inp[r + 1] == inp[ip + 1]
            };
            if matched {
                let r = refp - 1;
                let off = ip - r - 1;
                let mut len = 2usize;
                let maxlen = (in_end - ip - len).min(MAX_REF);
                let op = out.len();
                if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                    return None;
                }
                out[op - lit - 1] = (lit as u8).wrapping_sub(1);
                if lit == 0 {
                    out.pop();
                }
                // Extend the match 8 bytes at a time, then byte by byte.
                len += 1;
                while len + 8 <= maxlen {
                    let a =
                        u64::from_le_bytes(inp[r + len..r + len + 8].try_into().unwrap_or([0; 8]));
                    let b = u64::from_le_bytes(
                        inp[ip + len..ip + len + 8].try_into().unwrap_or([0; 8]),
                    );
                    let x = a ^ b;
                    if x != 0 {
                        len += (x.trailing_zeros() / 8) as usize;
                        break;
                    }
                    len += 8;
                }
                while len < maxlen && inp[r + len] == inp[ip + len] {
                    len += 1;
                }
                len -= 2;
                ip += 1;
                if len < 7 {
                    out.push(((off >> 8) + (len << 5)) as u8);
                } else {
                    out.push(((off >> 8) + (7 << 5)) as u8);
                    out.push((len - 7) as u8);
                }
                out.push(off as u8);
                lit = 0;
                out.push(0);
                ip += len + 1;
                if ip >= in_end - 2 {
                    break;
                }
                // VERY_FAST: hash the two positions before the new ip.
                ip -= 2;
                hval = frst(ip);
                hval = next(hval, ip);
                self.htab[idx(hval)] = self.base + ip as u32 + 1;
                ip += 1;
                hval = next(hval, ip);
                self.htab[idx(hval)] = self.base + ip as u32 + 1;
                ip += 1;
            } else {
                if out.len() >= out_end {
                    return None;
                }
                lit += 1;
                out.push(inp[ip]);
                ip += 1;
                if lit == MAX_LIT {
                    let op = out.len();
                    out[op - lit - 1] = (lit - 1) as u8;
                    lit = 0;
                    out.push(0);
                }
            }
        }
        if out.len() + 3 > out_end {
            return None;
        }
        while ip < in_end {
            lit += 1;
            out.push(inp[ip]);
            ip += 1;
            if lit == MAX_LIT {
                let op = out.len();
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                out.push(0);
            }
        }
        let op = out.len();
        out[op - lit - 1] = (lit as u8).wrapping_sub(1);
        if lit == 0 {
            out.pop();
        }
        if out.len() > out_end {
            return None;
        }
        Some(out.len() - base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::read::lzf::decompress_into;

    fn round_trip(data: &[u8]) -> Option<usize> {
        let mut c = Compressor::default();
        let mut out = vec![0xAA];
        let n = c.compress(data, &mut out, data.len() + data.len() / 16 + 64)?;
        assert_eq!(out.len(), n + 1);
        let mut back = Vec::new();
        decompress_into(&out[1..], data.len(), &mut back).unwrap();
        assert_eq!(back, data);
        Some(n)
    }

    #[test]
    fn round_trips() {
        assert!(round_trip(b"a").is_some());
        assert!(round_trip(b"ab").is_some());
        assert!(round_trip(b"abc").is_some());
        let n = round_trip(&[b'x'; 10_000]).unwrap();
        assert!(n < 200, "runs compress: {n}");
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("key:{}:{} ", i % 97, i % 7).into_bytes())
            .collect();
        let n = round_trip(&text).unwrap();
        assert!(n < text.len() / 2, "{n} of {}", text.len());
        // Pseudo-random bytes (xorshift) exercise the literal path.
        let mut s = 0x9E3779B97F4A7C15u64;
        let noise: Vec<u8> = (0..70_000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect();
        round_trip(&noise).unwrap();
        for len in 0..300 {
            let mixed: Vec<u8> = (0..len)
                .map(|i| [b'a', b'b', (i % 7) as u8][i % 3])
                .collect();
            if len > 0 {
                round_trip(&mixed).unwrap();
            }
        }
    }

    #[test]
    fn reused_compressor_ignores_earlier_inputs() {
        let mut c = Compressor::default();
        let mut back = Vec::new();
        for i in 0..2000u32 {
            let data: Vec<u8> =
                format!("{i}:{}", "abcabcabc".repeat((i % 50) as usize + 3)).into_bytes();
            let mut out = Vec::new();
            let n = c.compress(&data, &mut out, data.len() + 64).unwrap();
            assert_eq!(n, out.len());
            decompress_into(&out, data.len(), &mut back).unwrap();
            assert_eq!(back, data);
        }
        // Forcing the base to wrap clears the table and still works.
        c.base = u32::MAX - 10;
        let data = b"wrap wrap wrap wrap wrap wrap".to_vec();
        let mut out = Vec::new();
        c.compress(&data, &mut out, 100).unwrap();
        decompress_into(&out, data.len(), &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn refuses_when_it_does_not_fit() {
        let mut c = Compressor::default();
        let mut out = b"keep".to_vec();
        let noise: Vec<u8> = (0..64u32).map(|i| (i * 151 % 251) as u8).collect();
        assert_eq!(c.compress(&noise, &mut out, noise.len() - 4), None);
        assert_eq!(out, b"keep");
    }
}
