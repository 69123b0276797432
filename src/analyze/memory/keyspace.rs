//! The keyspace overhead `MEMORY USAGE` leaves out: the main table's
//! bucket array, the rounding of the main `dictEntry` allocation (7.x) or
//! the chain entries of Redis 8's no-value tables, and for keys with a TTL
//! the expires table. Measured against `used_memory` on redis-server 7.0
//! and 8.2 (see formats/memory-model.md).

use super::alloc::Alloc;
use super::layout::Layout;

/// Load factor assumed when the file carries no RESIZEDB hint.
const DEFAULT_LOAD: f64 = 0.75;

/// Bucket pointers per key of a table holding `n` keys, sized on load to
/// the next power of two (`dictExpand(db->dict, RESIZEDB keys)`).
fn buckets_per_key(n: Option<u64>) -> (f64, f64) {
    match n {
        Some(n) if n > 0 => {
            let b = n.max(4).checked_next_power_of_two().unwrap_or(1 << 63) as f64;
            (b / n as f64, n as f64 / b)
        }
        _ => (1.0 / DEFAULT_LOAD, DEFAULT_LOAD),
    }
}

/// Per-key bytes of one table: 8-byte buckets plus the entry the table
/// allocates for the key.
fn table_share(l: &Layout, a: Alloc, n: Option<u64>, counted_entry: u64) -> f64 {
    let (per_key, load) = buckets_per_key(n);
    let entry = if l.embedded_key {
        // No-value tables keep a lone key in its bucket; keys chained
        // behind it get a 16-byte entry: 1 − (1 − e^−α)/α of them.
        16.0 * (1.0 - (1.0 - (-load).exp()) / load)
    } else {
        (a.class(24) - counted_entry) as f64
    };
    8.0 * per_key + entry
}

/// Keyspace overhead of one key: its share of the db's main table beyond
/// what `MEMORY USAGE` counts, and with a TTL its expires-table share.
/// `keys`/`expires` are the db's sizes (RESIZEDB hints) when known.
pub fn overhead(
    l: &Layout,
    a: Alloc,
    keys: Option<u64>,
    expires: Option<u64>,
    has_ttl: bool,
) -> u64 {
    let main = table_share(l, a, keys, l.key_entry);
    let exp = if has_ttl {
        table_share(l, a, expires, 0)
    } else {
        0.0
    };
    (main + exp).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Target;

    #[test]
    fn measured_shares() {
        // redis-server 7.0 (system jemalloc), 100 000 keys: 18.8 B per key
        // over MEMORY USAGE, 61.9 B with a TTL (used_memory deltas).
        let l = Layout::of(Target::Redis70);
        let n = Some(100_000);
        assert_eq!(overhead(&l, Alloc::SYSTEM, n, None, false), 18);
        assert_eq!(overhead(&l, Alloc::SYSTEM, n, n, true), 61);
        // redis-server 8.2: 15.8 B, 31.4 B with a TTL.
        let l = Layout::of(Target::Redis8);
        assert_eq!(overhead(&l, Alloc::BUNDLED, n, None, false), 15);
        assert_eq!(overhead(&l, Alloc::BUNDLED, n, n, true), 31);
    }
}
