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
//! replacement is statistically the same choice, except in a sparse table:
//! the walk gives up after `10 × samples` buckets, so a db drained to a few
//! percent of its table returns fewer keys, or none (modelled: the keys a
//! walk of 50 buckets finds are Poisson-distributed with the table's load).
//!
//! Time (`--mode load`): eviction runs in slices of at most 500 µs
//! (`maxmemory-eviction-tenacity` 10) continued from a time event, so the
//! server's cron (hz 10: every 100 ms) runs between slices. The cron shrinks
//! tables under 10 % full (`tryResizeHashTables`) and finishes one dict's
//! rehash per tick (`incrementallyRehash`); lookups and deletes on a
//! rehashing table advance it too. That frees bucket arrays — hundreds of
//! kB when the pool's ties empty a db — and so how many keys must go
//! depends on when the ticks fall: [`Cron`].

use serde::Serialize;

use crate::analyze::evict_mem::Table;

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

/// When the server's cron runs during the eviction (it can shrink the hash
/// tables of a drained db, which frees memory and so ends the eviction
/// sooner).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cron {
    /// No tick falls inside the eviction: tables keep their size (the
    /// most keys evicted).
    Never,
    /// A tick before every eviction: tables shrink as soon as the server
    /// lets them (the fewest keys evicted).
    Eager,
    /// Ticks every 100 ms (hz 10); each eviction takes `key_us`
    /// microseconds of wall time.
    Timed {
        /// Wall time per evicted key, µs (the server's `evicted_keys` over
        /// `total_eviction_exceeded_time`).
        key_us: f64,
        /// When the first tick falls, as a share of the period (`[0, 1)`;
        /// uniform over runs: the write that starts the eviction arrives
        /// at any point of the cron's period).
        phase: f64,
    },
}

/// The cron period at the default `hz 10`, µs.
const CRON_PERIOD_US: f64 = 100_000.0;

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
    /// Cron timing (load mode; restore mode leaves the tables alone).
    pub cron: Cron,
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
    /// Uniform value in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A Poisson draw with mean `lambda` (Knuth's product of uniforms; the
    /// callers' means are small), capped at `cap`.
    fn poisson(&mut self, lambda: f64, cap: usize) -> usize {
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.unit();
        while p > limit && k < cap {
            k += 1;
            p *= self.unit();
        }
        k
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

/// Per db: the main and expires tables, with the cron's state.
struct Tables {
    main: Vec<Table>,
    expires: Vec<Table>,
    /// `incrementallyRehash`'s db cursor (kept across ticks).
    rehash_db: usize,
    /// Evictions so far and the time of the next tick (µs), for
    /// [`Cron::Timed`].
    evictions: u64,
    next_tick_us: f64,
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
    /// Present in load mode: the tables as loaded, shrunk by the cron.
    tables: Option<Tables>,
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
            tables: None,
        }
    }

    /// Tracks the db tables from here on, sized as the loader sizes them
    /// for the keys added so far (their bytes are part of the baseline).
    fn track_tables(&mut self) {
        let dbs = self.cands.per_db.len();
        let mut main = vec![0u64; dbs];
        let mut expires = vec![0u64; dbs];
        for k in self.keys {
            main[k.db as usize] += 1;
            expires[k.db as usize] += k.expire_ms.is_some() as u64;
        }
        let phase = match self.p.cron {
            Cron::Timed { phase, .. } => phase.clamp(0.0, 1.0) * CRON_PERIOD_US,
            _ => 0.0,
        };
        self.tables = Some(Tables {
            main: main.into_iter().map(Table::loaded).collect(),
            expires: expires.into_iter().map(Table::loaded).collect(),
            rehash_db: 0,
            evictions: 0,
            next_tick_us: phase,
        });
    }

    /// The sampled table of `db` (main for `allkeys-*`, expires for
    /// `volatile-*`).
    fn sampled(&self, db: usize) -> Option<&Table> {
        let t = self.tables.as_ref()?;
        if self.p.policy.volatile() {
            t.expires.get(db)
        } else {
            t.main.get(db)
        }
    }

    /// Rehash steps on `db`'s tables (main, expires); frees what they end.
    fn steps(&mut self, db: usize, main: u64, expires: u64) {
        if let Some(t) = self.tables.as_mut() {
            let freed = t.main[db].step(main) + t.expires[db].step(expires);
            self.used = self.used.saturating_sub(freed);
        }
    }

    /// Runs the cron if a tick is due before the next eviction:
    /// `tryResizeHashTables` on every db, then `incrementallyRehash`
    /// finishing the first rehashing dict from the cursor on.
    fn cron(&mut self) {
        let Some(t) = self.tables.as_mut() else {
            return;
        };
        match self.p.cron {
            Cron::Never => return,
            Cron::Eager => {}
            Cron::Timed { key_us, .. } => {
                let now = t.evictions as f64 * key_us;
                if now < t.next_tick_us {
                    return;
                }
                while t.next_tick_us <= now {
                    t.next_tick_us += CRON_PERIOD_US;
                }
            }
        }
        let mut grown = 0;
        for table in t.main.iter_mut().chain(t.expires.iter_mut()) {
            grown += table.cron_resize();
        }
        let dbs = t.main.len();
        let mut freed = 0;
        for _ in 0..dbs {
            let db = t.rehash_db;
            if t.main[db].rehashing() {
                freed = t.main[db].finish();
                break;
            }
            if t.expires[db].rehashing() {
                freed = t.expires[db].finish();
                break;
            }
            t.rehash_db = (db + 1) % dbs;
        }
        self.used = (self.used + grown).saturating_sub(freed);
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

    /// Tracks the db tables from empty (restore mode): they grow as keys
    /// arrive ([`Table::insert`]) and the writes' lookups advance their
    /// rehash; the cron is not modelled there.
    fn grow_tables(&mut self) {
        let dbs = self.cands.per_db.len();
        self.tables = Some(Tables {
            main: vec![Table::default(); dbs],
            expires: vec![Table::default(); dbs],
            rehash_db: 0,
            evictions: 0,
            next_tick_us: 0.0,
        });
    }

    /// Adds a key to the keyspace (a load or a restored key); tracked
    /// tables grow (restore mode: a load tracks them once loaded).
    pub fn add(&mut self, idx: u32) {
        let k = self.keys[idx as usize];
        self.used += k.bytes;
        let db = k.db as usize;
        let ttl = k.expire_ms.is_some();
        // RESTORE: the lookup of the key (and of its expiry, when the db
        // has any), then the adds, each a rehash step.
        if let Some(e) = self.tables.as_ref().map(|t| t.expires[db].used > 0 || ttl) {
            self.steps(db, 1, e as u64);
        }
        if let Some(t) = self.tables.as_mut() {
            self.used += t.main[db].insert(self.used, self.p.maxmemory);
            if ttl {
                self.used += t.expires[db].insert(self.used, self.p.maxmemory);
            }
            self.steps(db, 1 + ttl as u64, ttl as u64);
        }
        if !self.p.policy.volatile() || k.expire_ms.is_some() {
            self.cands.insert(idx, k.db as usize);
        }
    }

    fn populate_pool(&mut self) {
        let volatile = self.p.policy.volatile();
        for db in 0..self.cands.per_db.len() {
            let n = self.cands.per_db[db].len();
            if n == 0 {
                continue;
            }
            let mut take = self.p.samples.min(n);
            // dictGetSomeKeys: up to `take` rehash steps, then a walk of at
            // most 10 × samples buckets, which in a sparse table finds fewer
            // keys than asked for.
            if let Some(span) = self.sampled(db).map(Table::span) {
                let walk = 10.0 * self.p.samples as f64 * n as f64 / span.max(1) as f64;
                if walk < 40.0 {
                    take = self.rng.poisson(walk, take);
                }
                let (m, e) = if volatile {
                    (0, self.p.samples.min(n) as u64)
                } else {
                    (self.p.samples.min(n) as u64, 0)
                };
                self.steps(db, m, e);
                if take == 0 {
                    continue;
                }
            }
            self.scratch.clear();
            // Partial Fisher-Yates over a copy of positions would allocate;
            // rejection of duplicates is cheap for 5 samples.
            while self.scratch.len() < take {
                let idx = self.cands.per_db[db][self.rng.below(n)];
                if !self.scratch.contains(&idx) {
                    self.scratch.push(idx);
                }
            }
            if volatile && self.p.policy != Policy::VolatileTtl {
                // The value is looked up in the main dict for each sample.
                self.steps(db, self.scratch.len() as u64, 0);
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
                let db = self.next_db;
                let n = self.cands.per_db[db].len();
                if n > 0 {
                    // dictGetRandomKey takes a rehash step first.
                    if self.p.policy.volatile() {
                        self.steps(db, 0, 1);
                    } else {
                        self.steps(db, 1, 0);
                    }
                    return Some(self.cands.per_db[db][self.rng.below(n)]);
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
                // dictFind of the pool entry in the sampled dict.
                let db = self.keys[idx as usize].db as usize;
                if self.p.policy.volatile() {
                    self.steps(db, 0, 1);
                } else {
                    self.steps(db, 1, 0);
                }
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
            self.cron();
            if self.used <= self.p.maxmemory {
                break;
            }
            let Some(idx) = self.pick() else {
                return false;
            };
            let k = self.keys[idx as usize];
            self.cands.remove(idx, k.db as usize);
            self.used = self.used.saturating_sub(k.bytes);
            self.delete_from_tables(&k);
            out.push(idx);
        }
        true
    }

    /// dbSyncDelete: a delete on the expires table (when it holds keys)
    /// and an unlink from the main table, each a rehash step.
    fn delete_from_tables(&mut self, k: &EvictKey) {
        let db = k.db as usize;
        let Some(t) = self.tables.as_mut() else {
            return;
        };
        let e = (t.expires[db].used > 0) as u64;
        t.evictions += 1;
        self.steps(db, 1, e);
        if let Some(t) = self.tables.as_mut() {
            t.main[db].used -= 1;
            t.expires[db].used -= k.expire_ms.is_some() as u64;
        }
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
    sim.track_tables();
    let mut out = SimOutcome::default();
    out.fits = sim.evict(&mut out.evicted);
    out.used_after = sim.used();
    out
}

/// `--mode restore`: keys arrive one by one (`RESTORE` order); before each
/// write the server evicts if over the limit, and refuses the write when it
/// cannot get under it. The db tables start empty and grow with the keys
/// (`p.baseline` holds none of them); the cron is not modelled.
pub fn simulate_restore(keys: &[EvictKey], p: SimParams) -> SimOutcome {
    let mut sim = Simulator::new(
        keys,
        SimParams {
            cron: Cron::Never,
            ..p
        },
    );
    sim.grow_tables();
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
            cron: Cron::Never,
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

    /// 30 000 tied keys (no access data) over 3 dbs, 100 bytes each, no
    /// TTL; the limit leaves room for half of them.
    fn ties(cron: Cron) -> SimOutcome {
        let k: Vec<EvictKey> = (0..30_000)
            .map(|i| EvictKey {
                db: i % 3,
                bytes: 100,
                idle_s: 0,
                lfu: 5,
                expire_ms: None,
            })
            .collect();
        let mut p = params(Policy::AllkeysLfu, 1000 + 1_500_000);
        p.cron = cron;
        simulate_load(&k, p)
    }

    #[test]
    fn ties_drain_db_by_db_and_a_sparse_db_lets_the_next_one_in() {
        let o = ties(Cron::Never);
        assert_eq!(o.evicted.len(), 15_000);
        let db = |i: u32| i % 3;
        // Db 0 goes first; once its table is a few percent full, sampling
        // it often finds nothing and db 1's keys enter the pool.
        // (The first pool holds 5 samples of each db.)
        let early = o.evicted[..6_000].iter().filter(|&&i| db(i) != 0).count();
        assert!(early <= 10, "{early}");
        let last_db0 = o.evicted.iter().rposition(|&i| db(i) == 0).unwrap();
        let before = o.evicted[..last_db0]
            .iter()
            .filter(|&&i| db(i) == 1)
            .count();
        assert!(before > 50, "{before}");
    }

    #[test]
    fn cron_ticks_shrink_drained_tables() {
        let never = ties(Cron::Never).evicted.len();
        let eager = ties(Cron::Eager).evicted.len();
        // Db 0's 16 384 buckets (128 kB) freed: ~1 300 keys of 100 bytes
        // fewer.
        assert!(
            never - eager > 1_200 && never - eager < 1_320,
            "{never} {eager}"
        );
        // 1 µs per key: the 15 ms eviction ends before a tick at 50 ms.
        let fast = ties(Cron::Timed {
            key_us: 1.0,
            phase: 0.5,
        });
        assert_eq!(fast.evicted.len(), never);
        // 10 µs per key: the tick at 120 ms falls after db 0 drained.
        let slow = ties(Cron::Timed {
            key_us: 10.0,
            phase: 0.2,
        });
        assert!(slow.evicted.len() < never - 1_000, "{}", slow.evicted.len());
        assert!(slow.evicted.len() >= eager);
    }

    #[test]
    fn noeviction_refuses_in_restore_mode() {
        let k = keys(100);
        let o = simulate_restore(&k, params(Policy::Noeviction, 1000 + 5_000));
        assert!(o.evicted.is_empty());
        // The server admits a write while used <= maxmemory: 51 keys of
        // 100 bytes get in without tables; the tables the restore grows
        // (16 buckets in each db's main table, 8 in its expires table:
        // 576 B) take the room of 6.
        assert_eq!(o.refused.len(), 55);
        assert_eq!(o.used_after, 1_000 + 45 * 100 + 576);
    }
}
