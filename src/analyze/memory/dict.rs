//! The bucket count of a server hash table after a load: `dictExpand`
//! pre-sizing, growth on insert and incremental rehashing (both tables
//! count while a rehash is in progress after the last insert).

/// Smallest table the server allocates (`DICT_HT_INITIAL_SIZE`).
const INITIAL: u64 = 4;

fn next_power(n: u64) -> u64 {
    n.max(INITIAL)
        .checked_next_power_of_two()
        .unwrap_or(1 << 63)
}

/// A hash table's shape as inserts and expansions arrive. Bucket placement
/// depends on a per-process random hash seed, so the rehash progress is the
/// expected value: each insert moves one non-empty bucket of the old table.
#[derive(Debug, Clone, Default)]
pub struct DictSim {
    size0: u64,
    size1: u64,
    used: u64,
    /// Expected non-empty old buckets still to move while rehashing.
    pending: f64,
}

impl DictSim {
    /// An empty, unallocated table (`dictCreate`).
    pub fn new() -> Self {
        Self::default()
    }

    fn rehashing(&self) -> bool {
        self.size1 != 0
    }

    /// `dictExpand(d, n)`: allocates or starts growing to the power of two
    /// that holds `n`, unless rehashing or already that size.
    pub fn expand(&mut self, n: u64) {
        if self.rehashing() || self.used > n {
            return;
        }
        let size = next_power(n);
        if self.size0 == 0 {
            self.size0 = size;
        } else if size != self.size0 {
            self.size1 = size;
            let s = self.size0 as f64;
            self.pending = s * (1.0 - (1.0 - 1.0 / s).powf(self.used as f64));
        }
    }

    /// `dictAdd`: one rehash step, growth when full, then the insert.
    pub fn add(&mut self) {
        if self.rehashing() {
            if self.pending <= 1.0 {
                self.size0 = self.size1;
                self.size1 = 0;
                self.pending = 0.0;
            } else {
                self.pending -= 1.0;
            }
        }
        if !self.rehashing() {
            if self.size0 == 0 {
                self.expand(INITIAL);
            } else if self.used >= self.size0 {
                self.expand(self.used + 1);
            }
        }
        self.used += 1;
    }

    /// Adds `n` elements.
    pub fn add_n(&mut self, mut n: u64) {
        while n > 0 {
            // Inserts into a table with room and no rehash in progress only
            // change the count.
            if !self.rehashing() && self.used < self.size0 {
                let k = (self.size0 - self.used).min(n);
                self.used += k;
                n -= k;
            } else {
                self.add();
                n -= 1;
            }
        }
    }

    /// Buckets of both tables (`dictSlots`/`dictBuckets`).
    pub fn slots(&self) -> u64 {
        self.size0 + self.size1
    }
}
