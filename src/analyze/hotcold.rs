//! Hot and cold keys from the access metadata a snapshot carries: LFU
//! counters (FREQ, decoded to approximate access counts) or LRU idle times
//! (IDLE); cold keys grouped by prefix.

use serde::Serialize;

use super::facts::KeyFacts;
use super::prefix::{PrefixMap, label};
use super::ttl::PrefixCount;

/// LFU counter buckets (inclusive upper bounds).
pub const LFU_BUCKETS: [(u8, u8); 9] = [
    (0, 4),
    (5, 5),
    (6, 10),
    (11, 20),
    (21, 50),
    (51, 100),
    (101, 200),
    (201, 254),
    (255, 255),
];

/// LRU idle buckets: upper bounds in seconds (the last is open).
pub const IDLE_BUCKETS: [(&str, u64); 6] = [
    ("<1m", 60),
    ("<1h", 3600),
    ("<1d", 86_400),
    ("<7d", 7 * 86_400),
    ("<30d", 30 * 86_400),
    ("longer", u64::MAX),
];

/// Approximate accesses that raise a fresh key's counter (5) to `c` with
/// `lfu-log-factor` `f`: each step from `i` succeeds with probability
/// 1 / ((i - 5) * f + 1).
pub fn lfu_accesses(c: u8, f: u64) -> u64 {
    let n = (c as u64).saturating_sub(5);
    n + f * n * n.saturating_sub(1) / 2
}

/// One LFU bucket.
#[derive(Debug, Clone, Serialize)]
pub struct LfuBucket {
    /// Lowest counter.
    pub min: u8,
    /// Highest counter.
    pub max: u8,
    /// Approximate accesses at `min` and `max`.
    pub accesses: (u64, u64),
    /// Keys.
    pub keys: u64,
    /// Modelled bytes.
    pub bytes: u64,
}

/// One idle bucket.
#[derive(Debug, Clone, Serialize)]
pub struct IdleBucket {
    /// Bucket name.
    pub name: &'static str,
    /// Keys.
    pub keys: u64,
    /// Modelled bytes.
    pub bytes: u64,
}

/// The hot/cold section.
#[derive(Debug, Clone, Serialize)]
pub struct HotColdReport {
    /// `lfu`, `lru`, `both` or `none`: what the file carries.
    pub source: &'static str,
    /// Keys with an LFU counter.
    pub lfu_keys: u64,
    /// Keys with an LRU idle time.
    pub lru_keys: u64,
    /// `lfu-log-factor` used to decode counters.
    pub lfu_log_factor: u64,
    /// LFU histogram.
    pub lfu: Vec<LfuBucket>,
    /// Idle histogram.
    pub idle: Vec<IdleBucket>,
    /// A key is cold with idle ≥ this many seconds ...
    pub cold_idle_s: u64,
    /// ... or an LFU counter ≤ this.
    pub cold_freq: u8,
    /// Cold keys by prefix, by bytes.
    pub cold_by_prefix: Vec<PrefixCount>,
}

/// Builds the hot/cold section.
pub struct HotCold {
    factor: u64,
    cold_idle_s: u64,
    cold_freq: u8,
    top: usize,
    lfu_keys: u64,
    lru_keys: u64,
    lfu: Vec<LfuBucket>,
    idle: Vec<IdleBucket>,
    cold: PrefixMap<PrefixCount>,
}

impl HotCold {
    /// A builder.
    pub fn new(factor: u64, cold_idle_s: u64, cold_freq: u8, top: usize, cap: usize) -> Self {
        HotCold {
            factor,
            cold_idle_s,
            cold_freq,
            top,
            lfu_keys: 0,
            lru_keys: 0,
            lfu: LFU_BUCKETS
                .iter()
                .map(|&(min, max)| LfuBucket {
                    min,
                    max,
                    accesses: (lfu_accesses(min, factor), lfu_accesses(max, factor)),
                    keys: 0,
                    bytes: 0,
                })
                .collect(),
            idle: IDLE_BUCKETS
                .iter()
                .map(|&(name, _)| IdleBucket {
                    name,
                    keys: 0,
                    bytes: 0,
                })
                .collect(),
            cold: PrefixMap::new(cap),
        }
    }

    /// The cold keys of `prefix` (or of the "other" bucket when full).
    pub fn cold(&mut self, prefix: &[u8]) -> &mut PrefixCount {
        self.cold.get(prefix)
    }

    /// Adds the counts of `o` (built by [`count`](Self::count) alone).
    pub fn merge_counts(&mut self, o: &HotCold) {
        self.lfu_keys += o.lfu_keys;
        self.lru_keys += o.lru_keys;
        for (a, b) in self.lfu.iter_mut().zip(&o.lfu) {
            a.keys += b.keys;
            a.bytes += b.bytes;
        }
        for (a, b) in self.idle.iter_mut().zip(&o.idle) {
            a.keys += b.keys;
            a.bytes += b.bytes;
        }
    }

    /// Counts one key but for its prefix; true when it is cold.
    pub fn count(&mut self, k: &KeyFacts<'_>) -> bool {
        let bytes = k.mem.bytes;
        let mut cold = false;
        if let Some(f) = k.freq {
            self.lfu_keys += 1;
            if let Some(b) = self.lfu.iter_mut().find(|b| f >= b.min && f <= b.max) {
                b.keys += 1;
                b.bytes += bytes;
            }
            cold |= f <= self.cold_freq;
        }
        if let Some(s) = k.idle_s {
            self.lru_keys += 1;
            let i = IDLE_BUCKETS
                .iter()
                .position(|&(_, lim)| s < lim)
                .unwrap_or(IDLE_BUCKETS.len() - 1);
            self.idle[i].keys += 1;
            self.idle[i].bytes += bytes;
            cold |= s >= self.cold_idle_s;
        }
        cold
    }

    /// The finished section.
    pub fn report(self) -> HotColdReport {
        let mut cold: Vec<PrefixCount> = self
            .cold
            .iter()
            .map(|(p, c)| PrefixCount {
                prefix: label(p),
                keys: c.keys,
                bytes: c.bytes,
            })
            .collect();
        cold.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.prefix.cmp(&b.prefix)));
        cold.truncate(self.top);
        HotColdReport {
            source: match (self.lfu_keys > 0, self.lru_keys > 0) {
                (true, true) => "both",
                (true, false) => "lfu",
                (false, true) => "lru",
                _ => "none",
            },
            lfu_keys: self.lfu_keys,
            lru_keys: self.lru_keys,
            lfu_log_factor: self.factor,
            lfu: self.lfu,
            idle: self.idle,
            cold_idle_s: self.cold_idle_s,
            cold_freq: self.cold_freq,
            cold_by_prefix: cold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_decoding() {
        assert_eq!(lfu_accesses(5, 10), 0);
        assert_eq!(lfu_accesses(6, 10), 1);
        assert_eq!(lfu_accesses(7, 10), 12);
        assert_eq!(lfu_accesses(255, 0), 250);
    }
}
