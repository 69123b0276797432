//! Locating a short run of changed bytes from a CRC-64 mismatch.
//!
//! A CRC is linear: the checksum of damaged data differs from the stored
//! one by the checksum of the damage alone (the XOR of the two contents),
//! and that difference (the *syndrome*) says where a short damage lies and
//! what it changed. Walking the syndrome back one zero byte at a time gives,
//! at each offset, the only run of bytes starting there that explains the
//! mismatch; where that run is a few bytes long, it is the damage (for
//! random damage any given offset yields one of at most `b` bytes with odd
//! 2^(8b-64), so with few offsets and short runs a match is no accident).
//! A flipped bit or a few overwritten bytes (a bad sector's stray write, a
//! transfer's error) then come back exactly.
//!
//! Written here because the CRC crates compute checksums only; none undoes
//! one. The scan is one table step per byte.

use super::crc64;

/// The Jones polynomial bit-reversed: Redis's CRC-64 is reflected, so its
/// register shifts right.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

/// `TABLE[i]`: the register after feeding byte `i` to a zero register.
const TABLE: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ POLY_REFLECTED
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The index of the table entry with a given top byte. The top bytes of
/// the entries are all different, which is what lets a step be undone: the
/// register's top byte after a step comes from the entry alone.
const BY_TOP: [u8; 256] = {
    let mut r = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        r[(TABLE[i] >> 56) as usize] = i as u8;
        i += 1;
    }
    r
};

/// Undoes one CRC step over a zero byte: from the register after it, the
/// register before. (The step is linear, and so is its inverse.)
const fn back(reg: u64) -> u64 {
    let i = BY_TOP[(reg >> 56) as usize];
    ((reg ^ TABLE[i as usize]) << 8) | i as u64
}

/// Bytes [`locate`] steps back at once.
const STRIDE: usize = 4;

/// `BACK4[k][b]`: [`back`] applied [`STRIDE`] times to a register holding
/// only `b` in its byte `4 + k`. The four low bytes just shift up over four
/// steps, so undoing four steps is a shift and four independent lookups
/// (what slicing-by-4 does for a forward CRC), not a chain of four.
const BACK4: [[u64; 256]; STRIDE] = {
    let mut t = [[0u64; 256]; STRIDE];
    let mut k = 0;
    while k < STRIDE {
        let mut b = 0;
        while b < 256 {
            let mut r = (b as u64) << (8 * (STRIDE + k));
            let mut i = 0;
            while i < STRIDE {
                r = back(r);
                i += 1;
            }
            t[k][b] = r;
            b += 1;
        }
        k += 1;
    }
    t
};

/// [`back`] applied [`STRIDE`] times.
fn back4(reg: u64) -> u64 {
    let byte = |k: usize| usize::from((reg >> (8 * (STRIDE + k))) as u8);
    (reg << (8 * STRIDE))
        ^ BACK4[0][byte(0)]
        ^ BACK4[1][byte(1)]
        ^ BACK4[2][byte(2)]
        ^ BACK4[3][byte(3)]
}

/// The chance, as a power of two, that damage the scan cannot explain is
/// explained anyway somewhere in the data: 2^-20 per damaged file.
const FALSE_MATCH_BITS: usize = 20;

/// The longest run [`locate`] looks for at all (a longer one would need
/// more than the checksum's 64 bits to tell it from chance in any file
/// worth a trailer).
const MAX_RUN: usize = 4;

/// A run of at most 8 bytes whose change explains a CRC-64 mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// Offset of the first changed byte.
    pub offset: usize,
    /// Bytes in the run (1 to 8); its first and last byte both changed.
    pub len: usize,
    /// What each byte was XORed with, the byte at `offset` lowest.
    pub xor: u64,
}

impl Burst {
    /// Sets the run in `data` back to what the checksum says it was (or
    /// damages an intact copy the same way: the change is an XOR).
    pub fn apply(&self, data: &mut [u8]) {
        for (i, b) in data.iter_mut().skip(self.offset).take(self.len).enumerate() {
            *b ^= (self.xor >> (8 * i)) as u8;
        }
    }
}

/// The longest run [`locate`] looks for in `n` bytes: the longest whose
/// chance of explaining unrelated damage at some offset, `n` times
/// 2^(8·len − 64), stays below 2^-20 (3 bytes in a file under 1 MiB, 2
/// under 256 MiB, 1 under 64 GiB, none beyond), and 4 at most.
pub fn max_len(n: usize) -> usize {
    let offsets_bits = (usize::BITS - n.leading_zeros()) as usize;
    ((64 - FALSE_MATCH_BITS).saturating_sub(offsets_bits) / 8).min(MAX_RUN)
}

/// The one run of at most [`max_len`] bytes of `data` whose change makes
/// its CRC-64 `stored`; `None` when the checksum matches, when no such run
/// exists (longer damage, damage in several places, a damaged trailer) or
/// when more than one does (then neither can be trusted).
pub fn locate(data: &[u8], stored: u64) -> Option<Burst> {
    let syndrome = stored ^ crc64(data);
    let max = max_len(data.len());
    if syndrome == 0 || max == 0 {
        return None;
    }
    let n = data.len();
    // `reg` is what the damage's bytes from offset `at` on must leave in a
    // zero register (the syndrome undone back to `at`). Damage of `len`
    // bytes that starts at `p` leaves exactly its own bytes at `p`, and
    // its bytes shifted up `p - at` bytes at each `at` before it (the
    // undone steps over zeros before it only shift). So at each multiple
    // of the stride back from the end, a register whose bytes above the
    // stride plus `max` are zero holds the run of every offset up to the
    // next: its lowest nonzero byte is the first changed one. Offsets
    // below 0 are steps over leading zeros, which the CRC ignores.
    let mut reg = syndrome;
    let mut at = n as i128;
    let mut found = None;
    loop {
        if reg != 0 && reg >> (8 * (STRIDE - 1 + max)) == 0 {
            let shift = reg.trailing_zeros() as usize / 8;
            let xor = reg >> (8 * shift);
            let len = (64 - xor.leading_zeros() as usize).div_ceil(8);
            let p = at + shift as i128;
            if shift < STRIDE && len <= max && p >= 0 && p + len as i128 <= n as i128 {
                if found.is_some() {
                    return None;
                }
                found = Some(Burst {
                    offset: p as usize,
                    len,
                    xor,
                });
            }
        }
        if at <= 0 {
            return found;
        }
        reg = back4(reg);
        at -= STRIDE as i128;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*, seeded: the same cases every run.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn table_is_the_checksums_and_steps_can_be_undone() {
        for i in 0..=255u8 {
            assert_eq!(TABLE[usize::from(i)], crc64(&[i]));
            assert_eq!(BY_TOP[(TABLE[usize::from(i)] >> 56) as usize], i);
        }
    }

    #[test]
    fn four_steps_back_at_once_are_four_steps_back() {
        let mut seed = 0xbacc_u64;
        for _ in 0..1000 {
            let r = rng(&mut seed);
            assert_eq!(back4(r), back(back(back(back(r)))));
        }
    }

    #[test]
    fn max_len_follows_the_size() {
        assert_eq!(max_len(25_000), 3);
        assert_eq!(max_len(1 << 20), 2);
        assert_eq!(max_len(1 << 30), 1);
        assert_eq!(max_len(1 << 44), 0);
    }

    #[test]
    fn every_short_run_is_located_and_set_back() {
        let mut seed = 0x5eed_u64;
        let data: Vec<u8> = (0..20_000).map(|_| rng(&mut seed) as u8).collect();
        let stored = crc64(&data);
        assert_eq!(locate(&data, stored), None);
        for case in 0..300 {
            let len = 1 + case % max_len(data.len());
            // Every offset of the first and last strides, then any.
            let offset = match case {
                0..8 => case,
                8..16 => data.len() - len - (case - 8),
                _ => rng(&mut seed) as usize % (data.len() - len + 1),
            };
            let mut xor = 0;
            while xor & 0xff == 0 || xor >> (8 * (len - 1)) == 0 {
                xor = rng(&mut seed) & (u64::MAX >> (64 - 8 * len));
            }
            let burst = Burst { offset, len, xor };
            let mut damaged = data.clone();
            burst.apply(&mut damaged);
            assert_eq!(locate(&damaged, stored), Some(burst), "case {case}");
            burst.apply(&mut damaged);
            assert_eq!(damaged, data);
        }
    }

    #[test]
    fn longer_or_scattered_damage_is_not_explained() {
        let mut seed = 0xdead_u64;
        let data: Vec<u8> = (0..20_000).map(|_| rng(&mut seed) as u8).collect();
        let stored = crc64(&data);
        for case in 0..100 {
            let mut damaged = data.clone();
            let at = rng(&mut seed) as usize % (data.len() - 64);
            let (a, b) = if case % 2 == 0 {
                // One run of 9 to 40 bytes.
                (at, at + 8 + 1 + case % 32)
            } else {
                // Two single bytes far apart.
                (at, (at + 1000) % data.len())
            };
            damaged[a] ^= 0x5a;
            damaged[b] ^= 0xa5;
            assert_eq!(locate(&damaged, stored), None, "case {case}");
        }
    }
}
