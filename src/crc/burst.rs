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

/// The chance, as a power of two, that damage the scan cannot explain is
/// explained anyway somewhere in the data: 2^-20 per damaged file.
const FALSE_MATCH_BITS: usize = 20;

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
/// under 256 MiB, 1 under 64 GiB, none beyond).
pub fn max_len(n: usize) -> usize {
    let offsets_bits = (usize::BITS - n.leading_zeros()) as usize;
    (64 - FALSE_MATCH_BITS)
        .saturating_sub(offsets_bits)
        .checked_div(8)
        .unwrap_or(0)
        .min(8)
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
    let mut reg = syndrome;
    let mut found = None;
    for at in (0..n).rev() {
        // Undo one step over a zero byte: `reg` becomes what the damage's
        // bytes from `at` on must leave in a zero register. Damage that
        // starts at `at` and spans `len` bytes leaves exactly its own bytes
        // there: the register is short and its low byte is not zero.
        let i = BY_TOP[(reg >> 56) as usize];
        reg = ((reg ^ TABLE[usize::from(i)]) << 8) | u64::from(i);
        if reg & 0xff == 0 || reg.checked_shr(8 * max as u32).unwrap_or(0) != 0 {
            continue;
        }
        let len = (64 - reg.leading_zeros() as usize).div_ceil(8);
        if at + len > n {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(Burst {
            offset: at,
            len,
            xor: reg,
        });
    }
    found
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
            let offset = rng(&mut seed) as usize % (data.len() - len + 1);
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
