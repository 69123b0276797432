//! Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its first
//! non-empty `{hash tag}`, modulo 16384.

/// Number of hash slots in a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// CRC16/XMODEM (poly 0x1021, init 0), the checksum Redis Cluster uses.
/// Table-driven; the table is built at compile time.
pub fn crc16(data: &[u8]) -> u16 {
    const TABLE: [u16; 256] = {
        let mut t = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = (i as u16) << 8;
            let mut k = 0;
            while k < 8 {
                c = if c & 0x8000 != 0 {
                    (c << 1) ^ 0x1021
                } else {
                    c << 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ TABLE[((crc >> 8) as u8 ^ b) as usize]
    })
}

/// The part of a key that is hashed: the content of the first `{...}` when
/// it is non-empty, else the whole key (as `keyHashSlot` in cluster.c).
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// The cluster hash slot of `key`.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOTS
}

/// A set of slots given as `0-5460,8000` ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSet {
    bits: Box<[u64; 256]>,
}

impl SlotSet {
    /// Parses `a-b,c,...`; each slot must be below 16384.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut bits = Box::new([0u64; 256]);
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (part, part),
            };
            let parse = |s: &str| -> Result<u16, String> {
                s.parse::<u16>()
                    .ok()
                    .filter(|&v| v < SLOTS)
                    .ok_or_else(|| format!("invalid slot {s:?} (expected 0-16383)"))
            };
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                return Err(format!("invalid slot range {part:?}"));
            }
            for s in a..=b {
                bits[s as usize / 64] |= 1 << (s % 64);
            }
        }
        Ok(SlotSet { bits })
    }
    /// True when `slot` is in the set.
    pub fn contains(&self, slot: u16) -> bool {
        slot < SLOTS && self.bits[slot as usize / 64] & (1 << (slot % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slots() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") % SLOTS);
    }

    #[test]
    fn slot_sets() {
        let s = SlotSet::parse("0-5460,8000").unwrap();
        assert!(s.contains(0) && s.contains(5460) && s.contains(8000));
        assert!(!s.contains(5461) && !s.contains(16383));
        assert!(SlotSet::parse("5-1").is_err());
        assert!(SlotSet::parse("16384").is_err());
    }
}
