//! Simulation of Redis' eviction (`evict.c`, `performEvictions`): which keys
//! a server with a smaller `maxmemory` would evict, under each policy.
//!
//! Modelled as the server implements it: for the LRU/LFU/TTL policies every
//! eviction first samples `maxmemory-samples` keys from every db (the whole
//! keyspace for `allkeys-*`, keys with a TTL for `volatile-*`) into a
//! 16-entry pool kept sorted by score (idle time, 255 − LFU counter, or
//! "sooner expiry"), then evicts the best-scored entry that still exists;
//! pool entries survive across evictions and may turn into ghosts. The
//! random policies pick a random key of the next non-empty db, round robin.
//! `dictGetSomeKeys` walks random hash buckets; since a key's bucket is
//! independent of its idle time or size, uniform sampling without
//! replacement is statistically the same choice.

use serde::Serialize;

/// The `maxmemory-policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Refuse writes when over the limit.
    Noeviction,
    /// Approximate LRU over all keys.
    AllkeysLru,
    /// Approximate LFU over all keys.
    AllkeysLfu,
    /// Random keys.
    AllkeysRandom,
    /// Approximate LRU over keys with a TTL.
    VolatileLru,
    /// Approximate LFU over keys with a TTL.
    VolatileLfu,
    /// Random keys with a TTL.
    VolatileRandom,
    /// Keys with the nearest expiry first.
    VolatileTtl,
}

impl Policy {
    /// The name Redis uses in `maxmemory-policy`.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Noeviction => "noeviction",
            Policy::AllkeysLru => "allkeys-lru",
            Policy::AllkeysLfu => "allkeys-lfu",
            Policy::AllkeysRandom => "allkeys-random",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }
    /// True for the `volatile-*` policies, which only consider keys with a TTL.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
    fn random(self) -> bool {
        matches!(self, Policy::AllkeysRandom | Policy::VolatileRandom)
    }
}

/// What the simulation needs to know about one key.
#[derive(Debug, Clone, Copy)]
pub struct EvictKey {
    /// Database number.
    pub db: u32,
    /// Bytes freed when the key is deleted (its memory plus dict entries).
    pub bytes: u64,
    /// LRU idle time in seconds at the moment eviction runs.
    pub idle_s: u64,
    /// LFU counter (after decay) at the moment eviction runs.
    pub lfu: u8,
    /// Absolute expiry, if the key has a TTL.
    pub expire_ms: Option<i64>,
}

/// Simulation parameters.
#[derive(Debug, Clone, Copy)]
pub struct SimParams {
    /// The policy.
    pub policy: Policy,
    /// `maxmemory` in bytes.
    pub maxmemory: u64,
    /// `maxmemory-samples`.
    pub samples: usize,
    /// Memory the server uses besides the keys (empty-instance baseline and
    /// hash table arrays), which eviction cannot free.
    pub baseline: u64,
    /// Seed of the sampling RNG.
    pub seed: u64,
}

/// Result of one simulated run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimOutcome {
    /// Indices of evicted keys, in eviction order.
    pub evicted: Vec<u32>,
    /// Indices of keys whose write was refused (`noeviction`, or nothing
    /// left that the policy may evict), restore mode only.
    pub refused: Vec<u32>,
    /// Memory in use at the end.
    pub used_after: u64,
    /// True when memory ended at or under `maxmemory`.
    pub fits: bool,
}

/// A small, fast PRNG (SplitMix64): reproducible runs from a seed without
/// pulling a dependency into the library for one call site.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

const POOL_SIZE: usize = 16;

/// Live keys per db that the policy may evict, with O(1) removal.
struct Candidates {
    /// Per db: key indices.
    per_db: Vec<Vec<u32>>,
    /// Per key: position in its db's vector, or `u32::MAX` when absent.
    pos: Vec<u32>,
}

impl Candidates {
    fn new(n: usize, dbs: usize) -> Self {
        Candidates {
            per_db: vec![Vec::new(); dbs],
            pos: vec![u32::MAX; n],
        }
    }
    fn insert(&mut self, idx: u32, db: usize) {
        self.pos[idx as usize] = self.per_db[db].len() as u32;
        self.per_db[db].push(idx);
    }
    fn remove(&mut self, idx: u32, db: usize) {
        let p = self.pos[idx as usize];
        if p == u32::MAX {
            return;
        }
        let v = &mut self.per_db[db];
        v.swap_remove(p as usize);
        if let Some(&moved) = v.get(p as usize) {
            self.pos[moved as usize] = p;
        }
        self.pos[idx as usize] = u32::MAX;
    }
    fn contains(&self, idx: u32) -> bool {
        self.pos[idx as usize] != u32::MAX
    }
    fn total(&self) -> usize {
        self.per_db.iter().map(Vec::len).sum()
    }
}

/// The simulator state: the keyspace in memory and the eviction pool.
pub struct Simulator<'k> {
    keys: &'k [EvictKey],
    p: SimParams,
    rng: SplitMix64,
    cands: Candidates,
    pool: Vec<(u64, u32)>,
    next_db: usize,
    used: u64,
    scratch: Vec<u32>,
}

impl<'k> Simulator<'k> {
    /// A simulator over `keys` (none loaded yet).
    pub fn new(keys: &'k [EvictKey], p: SimParams) -> Self {
        let dbs = keys.iter().map(|k| k.db as usize + 1).max().unwrap_or(1);
        Simulator {
            keys,
            p,
            rng: SplitMix64::new(p.seed),
            cands: Candidates::new(keys.len(), dbs),
            pool: Vec::with_capacity(POOL_SIZE),
            next_db: 0,
            used: p.baseline,
            scratch: Vec::new(),
        }
    }

    fn score(&self, idx: u32) -> u64 {
        let k = &self.keys[idx as usize];
        match self.p.policy {
            Policy::AllkeysLru | Policy::VolatileLru => k.idle_s.saturating_mul(1000),
            Policy::AllkeysLfu | Policy::VolatileLfu => 255 - k.lfu as u64,
            // Sooner expiry = higher score.
            _ => u64::MAX - k.expire_ms.unwrap_or(i64::MAX).max(0) as u64,
        }
    }

    /// Adds a key to the keyspace (a load or a restored key).
    pub fn add(&mut self, idx: u32) {
        let k = self.keys[idx as usize];
        self.used += k.bytes;
        if !self.p.policy.volatile() || k.expire_ms.is_some() {
            self.cands.insert(idx, k.db as usize);
        }
    }

    fn populate_pool(&mut self) {
        for db in 0..self.cands.per_db.len() {
            let n = self.cands.per_db[db].len();
            if n == 0 {
                continue;
            }
            let take = self.p.samples.min(n);
            self.scratch.clear();
            // Partial Fisher-Yates over a copy of positions would allocate;
            // rejection of duplicates is cheap for 5 samples.
            while self.scratch.len() < take {
                let idx = self.cands.per_db[db][self.rng.below(n)];
                if !self.scratch.contains(&idx) {
                    self.scratch.push(idx);
                }
            }
            for s in 0..self.scratch.len() {
                let idx = self.scratch[s];
                let score = self.score(idx);
                // Same insertion rule as evictionPoolPopulate: ascending
                // scores, a full pool drops its smallest entry.
                let mut k = 0;
                while k < self.pool.len() && self.pool[k].0 < score {
                    k += 1;
                }
                if k == 0 && self.pool.len() == POOL_SIZE {
                    continue;
                }
                if self.pool.len() < POOL_SIZE {
                    self.pool.insert(k, (score, idx));
                } else {
                    self.pool.remove(0);
                    self.pool.insert(k - 1, (score, idx));
                }
            }
        }
    }

    fn pick(&mut self) -> Option<u32> {
        if self.p.policy.random() {
            let dbs = self.cands.per_db.len();
            for _ in 0..dbs {
                self.next_db = (self.next_db + 1) % dbs;
                let v = &self.cands.per_db[self.next_db];
                if !v.is_empty() {
                    return Some(v[self.rng.below(v.len())]);
                }
            }
            return None;
        }
        loop {
            if self.cands.total() == 0 {
                return None;
            }
            self.populate_pool();
            while let Some((_, idx)) = self.pool.pop() {
                if self.cands.contains(idx) {
                    return Some(idx);
                }
            }
        }
    }

    /// Evicts until memory is at or under `maxmemory`; returns false when the
    /// policy has nothing left to evict (or is `noeviction`).
    pub fn evict(&mut self, out: &mut Vec<u32>) -> bool {
        while self.used > self.p.maxmemory {
            if self.p.policy == Policy::Noeviction {
                return false;
            }
            let Some(idx) = self.pick() else {
                return false;
            };
            let k = self.keys[idx as usize];
            self.cands.remove(idx, k.db as usize);
            self.used = self.used.saturating_sub(k.bytes);
            out.push(idx);
        }
        true
    }

    /// Memory in use.
    pub fn used(&self) -> u64 {
        self.used
    }
}

/// `--mode load`: the whole file is loaded (loading never evicts), then the
/// next write triggers eviction down to `maxmemory`.
pub fn simulate_load(keys: &[EvictKey], p: SimParams) -> SimOutcome {
    let mut sim = Simulator::new(keys, p);
    for i in 0..keys.len() {
        sim.add(i as u32);
    }
    let mut out = SimOutcome::default();
    out.fits = sim.evict(&mut out.evicted);
    out.used_after = sim.used();
    out
}

/// `--mode restore`: keys arrive one by one (`RESTORE` order); before each
/// write the server evicts if over the limit, and refuses the write when it
/// cannot get under it.
pub fn simulate_restore(keys: &[EvictKey], p: SimParams) -> SimOutcome {
    let mut sim = Simulator::new(keys, p);
    let mut out = SimOutcome::default();
    for i in 0..keys.len() {
        if sim.evict(&mut out.evicted) {
            sim.add(i as u32);
        } else {
            out.refused.push(i as u32);
        }
    }
    out.fits = sim.used() <= p.maxmemory;
    out.used_after = sim.used();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<EvictKey> {
        (0..n)
            .map(|i| EvictKey {
                db: (i % 3) as u32,
                bytes: 100,
                idle_s: i as u64,
                lfu: (i % 256) as u8,
                expire_ms: (i % 2 == 0).then_some(1_000_000 + i as i64),
            })
            .collect()
    }

    fn params(policy: Policy, maxmemory: u64) -> SimParams {
        SimParams {
            policy,
            maxmemory,
            samples: 5,
            baseline: 1000,
            seed: 7,
        }
    }

    #[test]
    fn evicts_down_to_the_limit() {
        let k = keys(1000);
        let o = simulate_load(&k, params(Policy::AllkeysLru, 1000 + 50_000));
        assert!(o.fits);
        assert_eq!(o.evicted.len(), 500);
        // Approximate LRU: evicted keys are mostly the idlest half.
        let old = o.evicted.iter().filter(|&&i| i >= 500).count();
        assert!(old > 400, "{old}");
    }

    #[test]
    fn volatile_only_touches_keys_with_ttl() {
        let k = keys(1000);
        let o = simulate_load(&k, params(Policy::VolatileTtl, 1000 + 80_000));
        assert!(o.evicted.iter().all(|&i| k[i as usize].expire_ms.is_some()));
        // Over the limit by 20 000 bytes = 200 keys; soonest expiries first.
        assert_eq!(o.evicted.len(), 200);
        let early = o.evicted.iter().filter(|&&i| i < 600).count();
        assert!(early > 150, "{early}");
        // Not enough volatile keys to reach the limit: evicts all, fails.
        let o = simulate_load(&k, params(Policy::VolatileLru, 1000 + 10_000));
        assert!(!o.fits);
        assert_eq!(o.evicted.len(), 500);
    }

    #[test]
    fn noeviction_refuses_in_restore_mode() {
        let k = keys(100);
        let o = simulate_restore(&k, params(Policy::Noeviction, 1000 + 5_000));
        assert!(o.evicted.is_empty());
        // The server admits a write while used <= maxmemory.
        assert_eq!(o.refused.len(), 49);
    }
}
