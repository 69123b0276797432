//! What eviction counts: the bytes deleting a key frees on the target (the
//! server measures `zmalloc_used_memory` before and after `dbDelete`) and
//! the keyspace memory that stays allocated while keys go (the dicts'
//! bucket arrays, which the server only shrinks from its cron once a table
//! is under 10 % full).
//!
//! Built on the memory model's per-key answer (`MEMORY USAGE`), corrected
//! where that command is not allocation-exact. Measured on redis-server 7.0
//! (system jemalloc) by deleting groups of keys of one type and encoding
//! and reading `used_memory` (see formats/memory-model.md, "Eviction").

use crate::analyze::memory::alloc::Alloc;
use crate::analyze::memory::layout::Layout;
use crate::model::Encoding;

/// Size of a raxNode as `MEMORY USAGE` counts it for streams (`4 + 30
/// words`, the "secret recipe" of object.c).
const RAX_NODE_COUNTED: u64 = 4 + 8 * 30;

/// Allocated bytes per stream rax node, measured: one-listpack streams
/// free 424 bytes less than `MEMORY USAGE` says, i.e. ~40 bytes for each of
/// their two nodes instead of 244 plus 16 per key.
const RAX_NODE_REAL: u64 = 40;

/// What the model says about one key, kept until the target is known.
#[derive(Debug, Clone, Copy)]
pub struct KeyShape {
    /// `MEMORY USAGE` (model).
    pub bytes: u64,
    /// Encoding after loading.
    pub encoding: Encoding,
    /// Elements (hash fields, set/zset members).
    pub elements: u64,
    /// Database.
    pub db: u64,
    /// True when the key has a TTL.
    pub ttl: bool,
    /// Quicklist nodes (lists), 0 otherwise.
    pub quicklist_nodes: u64,
    /// Stream rax: keys (listpack nodes) and rax nodes of the main tree.
    pub rax: Option<(u64, u64)>,
}

/// Key counts of one db, for the bucket arrays.
#[derive(Debug, Clone, Copy, Default)]
pub struct DbCounts {
    /// Keys.
    pub keys: u64,
    /// Keys with a TTL.
    pub expires: u64,
}

/// Buckets of a table the loader sized for `n` keys (`dictExpand` to the
/// next power of two; growth by insertion ends on the same size).
pub(crate) fn buckets(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        n.max(4).checked_next_power_of_two().unwrap_or(1 << 63)
    }
}

/// The bucket arrays of every db's main and expires tables: memory that
/// stays while keys are evicted.
pub fn tables(dbs: impl IntoIterator<Item = DbCounts>) -> u64 {
    dbs.into_iter()
        .map(|d| 8 * (buckets(d.keys) + buckets(d.expires)))
        .sum()
}

/// One of a db's hash tables (main or expires) while keys are evicted: its
/// bucket array, and the shrink the server's cron applies to it (7.x
/// `dict.c`: `htNeedsResize` is under 10 % full, `dictResize` allocates
/// the next power of two of the key count and rehashes into it
/// incrementally; the old array is freed when the rehash ends).
#[derive(Debug, Clone, Copy, Default)]
pub struct Table {
    /// Buckets of the current (new, when rehashing) array.
    pub size: u64,
    /// Keys in the table.
    pub used: u64,
    /// While rehashing: buckets of the old array and the rehash index.
    rehash: Option<(u64, f64)>,
}

/// Above this load (keys per bucket) a table grows even past `maxmemory`
/// (`HASHTABLE_MAX_LOAD_FACTOR`).
const MAX_LOAD: f64 = 1.618;
/// Below this fill (percent) the cron shrinks a table (`HASHTABLE_MIN_FILL`).
const MIN_FILL: u64 = 10;
/// `dictRehash(d, 1)` visits at most 10 empty buckets per step.
const EMPTY_VISITS: f64 = 10.0;

impl Table {
    /// A table as the loader sized it for `keys`.
    pub fn loaded(keys: u64) -> Table {
        Table {
            size: buckets(keys),
            used: keys,
            rehash: None,
        }
    }
    /// A key added to the table as a write adds it (`dictAddRaw`, 7.x
    /// `_dictExpandIfNeeded`): an empty table gets 4 buckets, a full one
    /// (keys ≥ buckets, not rehashing) the next power of two of keys + 1 —
    /// unless that array would take `used_memory` over `maxmemory` while
    /// the load is at most 1.618 (`dictExpandAllowed`): a server at its
    /// limit packs more keys per bucket, and grows when it must, at the
    /// limit. The old array stays until the rehash ends ([`Table::step`]).
    /// Returns the bytes the new array allocates.
    pub fn insert(&mut self, used_memory: u64, maxmemory: u64) -> u64 {
        let mut grown = 0;
        if self.size == 0 {
            self.size = 4;
            grown = 8 * 4;
        } else if self.used >= self.size && self.rehash.is_none() {
            let new = buckets(self.used + 1);
            let allowed = self.used as f64 / self.size as f64 > MAX_LOAD
                || maxmemory == 0
                || used_memory + 8 * new <= maxmemory;
            if allowed {
                self.rehash = Some((self.size, 0.0));
                grown = 8 * new;
                self.size = new;
            }
        }
        self.used += 1;
        grown
    }
    /// Buckets of the larger array (the one `dictGetSomeKeys` walks).
    pub fn span(&self) -> u64 {
        self.rehash.map_or(self.size, |(old, _)| old.max(self.size))
    }
    /// True while an incremental rehash is under way.
    pub fn rehashing(&self) -> bool {
        self.rehash.is_some()
    }
    /// `tryResizeHashTables` for this table: starts the shrink when the
    /// table is under 10 % full; returns the bytes the new array allocates.
    pub fn cron_resize(&mut self) -> u64 {
        if self.rehash.is_some() || self.size <= 4 || self.used * 100 / self.size >= MIN_FILL {
            return 0;
        }
        let new = buckets(self.used.max(4));
        if new == self.size {
            return 0;
        }
        self.rehash = Some((self.size, 0.0));
        self.size = new;
        8 * new
    }
    /// Ends the rehash (the cron's `dictRehashMilliseconds(d, 1)` moves a
    /// shrinking table's few keys well within its millisecond); the bytes
    /// the old array frees.
    pub fn finish(&mut self) -> u64 {
        self.rehash.take().map_or(0, |(old, _)| 8 * old)
    }
    /// `steps` calls of `_dictRehashStep` (a lookup, delete or sample on the
    /// table); the bytes freed when they end the rehash. Each step moves one
    /// bucket after at most 10 empty ones: on a sparse table it advances
    /// the index by about `(1 − (1 − load)^10) / load` buckets.
    pub fn step(&mut self, steps: u64) -> u64 {
        let Some((old, idx)) = self.rehash.as_mut() else {
            return 0;
        };
        if steps == 0 {
            return 0;
        }
        let left = self.used as f64 * (1.0 - *idx / *old as f64).max(0.0);
        if left < 0.5 {
            return self.finish();
        }
        let load = self.used as f64 / *old as f64;
        let per =
            ((1.0 - (1.0 - load).powf(EMPTY_VISITS)) / load.max(1e-9)).clamp(1.0, EMPTY_VISITS);
        *idx += per * steps as f64;
        if *idx >= *old as f64 {
            self.finish()
        } else {
            0
        }
    }
}

/// Bytes deleting the key frees on a target with layout `l` and allocator
/// `a`; `db` holds the counts of the key's db (Redis 8's chain entries
/// depend on the table's load).
pub fn freed(k: &KeyShape, l: &Layout, a: Alloc, db: DbCounts) -> u64 {
    let mut bytes = k.bytes;
    // The main dict's entry: `MEMORY USAGE` counts it at sizeof (24); the
    // allocator serves a larger class. Redis 8 keeps a lone key in its
    // bucket and chains the others through 16-byte entries.
    let chain = |n: u64| {
        let b = buckets(n) as f64;
        let load = n as f64 / b.max(1.0);
        if load > 0.0 {
            (16.0 * (1.0 - (1.0 - (-load).exp()) / load)).round() as u64
        } else {
            0
        }
    };
    if l.embedded_key {
        bytes += chain(db.keys) + if k.ttl { chain(db.expires) } else { 0 };
    } else {
        bytes += a.class(l.key_entry) - l.key_entry + if k.ttl { a.class(l.entry) } else { 0 };
    }
    match k.encoding {
        // A quicklist's header and nodes are counted at their struct sizes
        // (40 bytes); deleting the list frees their size classes (measured
        // +16 bytes for a one-node list on 7.0).
        Encoding::Quicklist => {
            bytes += (a.class(l.quicklist) - l.quicklist) * (1 + k.quicklist_nodes.max(1));
        }
        // Dict-encoded values on 7.x: every element's dictEntry is counted
        // at 24 bytes and the dict struct at 56; both are served from larger
        // classes (measured +8 bytes per member plus 8 on 7.0 for sets and
        // sorted sets).
        Encoding::Hashtable | Encoding::Skiplist if !l.embedded_key => {
            bytes += (a.class(l.entry) - l.entry) * k.elements + (a.class(l.dict) - l.dict);
        }
        // Streams: `MEMORY USAGE` counts 244 bytes per rax node and 16 per
        // key; the nodes are far smaller.
        Encoding::Stream => {
            if let Some((keys, nodes)) = k.rax {
                let counted = keys * 16 + nodes * RAX_NODE_COUNTED;
                bytes = bytes.saturating_sub(counted) + nodes * RAX_NODE_REAL;
            }
        }
        _ => {}
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Target;

    #[test]
    fn measured_on_7_0() {
        let l = Layout::of(Target::Redis70);
        let a = Alloc::SYSTEM;
        let db = DbCounts {
            keys: 10_000,
            expires: 5_000,
        };
        let s = |encoding, ttl, elements| KeyShape {
            bytes: 100,
            encoding,
            elements,
            db: 0,
            ttl,
            quicklist_nodes: 1,
            rax: None,
        };
        // Strings: +8 (entry rounding), +40 with a TTL (expires entry).
        assert_eq!(freed(&s(Encoding::Raw, false, 1), &l, a, db), 108);
        assert_eq!(freed(&s(Encoding::Raw, true, 1), &l, a, db), 140);
        // A one-node list: +24 (entry and quicklist header/node rounding).
        assert_eq!(freed(&s(Encoding::Quicklist, false, 3), &l, a, db), 124);
        // A hashtable set of 30 members: 8 + 30 × 8 + 8.
        assert_eq!(freed(&s(Encoding::Hashtable, false, 30), &l, a, db), 356);
        // Tables: 16384 + 8192 buckets.
        assert_eq!(tables([db]), 8 * (16_384 + 8_192));
    }

    #[test]
    fn a_table_at_the_memory_limit_grows_only_past_1_618_keys_per_bucket() {
        let mut t = Table::default();
        assert_eq!(t.insert(0, 1_000), 32);
        for _ in 0..3 {
            assert_eq!(t.insert(0, 1_000), 0);
        }
        // Full (4 keys, 4 buckets): 8 buckets fit under the limit; the
        // 4-bucket array stays until the rehash ends.
        assert_eq!(t.insert(900, 1_000), 64);
        assert_eq!(t.size, 8);
        assert!(t.rehashing());
        assert_eq!(t.step(8), 32);
        for _ in 0..3 {
            t.insert(0, 1_000);
        }
        // Full again: 16 buckets (128 B) would pass the limit, so the
        // table stays at 8 until more than 1.618 keys per bucket.
        for _ in 0..5 {
            assert_eq!(t.insert(900, 1_000), 0);
        }
        assert_eq!((t.size, t.used), (8, 13));
        assert_eq!(t.insert(900, 1_000), 8 * 16);
        // No limit: a full table always grows.
        let mut u = Table::default();
        for _ in 0..5 {
            u.insert(0, 0);
        }
        assert_eq!(u.size, 8);
    }

    #[test]
    fn tables_shrink_under_ten_percent() {
        let mut t = Table::loaded(10_000);
        assert_eq!(t.size, 16_384);
        t.used = 1_700;
        assert_eq!(t.cron_resize(), 0, "10.4 % full: kept");
        t.used = 1_000;
        // Shrunk to 1024 buckets: the new array allocated, the old one
        // freed when the rehash ends.
        assert_eq!(t.cron_resize(), 8 * 1_024);
        assert!(t.rehashing() && t.span() == 16_384);
        assert_eq!(t.cron_resize(), 0, "one rehash at a time");
        // 6 % full: each step advances ~7.6 buckets.
        assert_eq!(t.step(1_000), 0);
        assert!(t.step(1_200) == 8 * 16_384 && !t.rehashing());
        // An emptied table ends its rehash on the next step.
        let mut t = Table::loaded(10_000);
        t.used = 0;
        assert_eq!(t.cron_resize(), 32);
        assert_eq!(t.step(1), 8 * 16_384);
    }
}
