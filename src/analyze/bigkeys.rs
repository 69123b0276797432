//! Big keys: the top keys by modelled bytes, the top keys by element count
//! per type, and the largest element per type.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use serde::Serialize;

use super::facts::KeyFacts;

/// One key in a top list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BigKey {
    /// Ranking value first (bytes or elements), so the heap orders by it.
    #[serde(skip)]
    rank: u64,
    /// File order, to break ties deterministically.
    #[serde(skip)]
    seq: u64,
    /// Database.
    pub db: u64,
    /// Key (lossy UTF-8).
    pub key: String,
    /// Type.
    pub r#type: &'static str,
    /// Encoding after loading.
    pub encoding: &'static str,
    /// Modelled bytes.
    pub bytes: u64,
    /// Elements.
    pub elements: u64,
    /// Largest element length.
    pub largest_element: u64,
}

/// A bounded top-N by rank.
#[derive(Debug, Clone)]
struct Top {
    n: usize,
    heap: BinaryHeap<Reverse<BigKey>>,
}

impl Top {
    fn new(n: usize) -> Self {
        Top {
            n,
            heap: BinaryHeap::new(),
        }
    }
    /// True when a key ranked `rank`, `seq`-th in file order, enters.
    fn admits(&self, rank: u64, seq: u64) -> bool {
        self.n > 0
            && (self.heap.len() < self.n
                || self
                    .heap
                    .peek()
                    .is_some_and(|Reverse(m)| (m.rank, m.seq) < (rank, u64::MAX - seq)))
    }
    fn push(&mut self, k: BigKey) {
        self.heap.push(Reverse(k));
        if self.heap.len() > self.n {
            self.heap.pop();
        }
    }
    fn offer(&mut self, rank: u64, seq: u64, k: &KeyFacts<'_>) {
        if !self.admits(rank, seq) {
            return;
        }
        self.push(BigKey {
            rank,
            seq: u64::MAX - seq,
            db: k.db,
            key: String::from_utf8_lossy(&k.key).into_owned(),
            r#type: k.dtype.name(),
            encoding: k.mem.encoding.name(),
            bytes: k.mem.bytes,
            elements: k.mem.elements,
            largest_element: k.mem.largest_element,
        });
    }
    /// Offers the keys of `o`, counted from the start of a later stretch of
    /// the file that begins after `base` keys: the top of both stretches is
    /// the top of their tops (file order breaks ties).
    fn absorb(&mut self, o: Top, base: u64) {
        for Reverse(mut k) in o.heap {
            let seq = base + (u64::MAX - k.seq);
            if self.admits(k.rank, seq) {
                k.seq = u64::MAX - seq;
                self.push(k);
            }
        }
    }
    fn sorted(self) -> Vec<BigKey> {
        let mut v: Vec<BigKey> = self.heap.into_iter().map(|Reverse(k)| k).collect();
        v.sort_by(|a, b| b.rank.cmp(&a.rank).then_with(|| b.seq.cmp(&a.seq)));
        v
    }
}

/// The largest element seen for a type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Largest {
    /// Database.
    pub db: u64,
    /// Key.
    pub key: String,
    /// Element length in bytes.
    pub length: u64,
}

/// The big-keys section.
#[derive(Debug, Clone, Serialize)]
pub struct BigKeysReport {
    /// Top keys by modelled bytes.
    pub by_bytes: Vec<BigKey>,
    /// Top keys by elements, per type.
    pub by_elements: BTreeMap<&'static str, Vec<BigKey>>,
    /// Largest element per type.
    pub largest_element: BTreeMap<&'static str, Largest>,
}

/// Builds the big-keys section.
pub struct BigKeys {
    n: usize,
    seq: u64,
    by_bytes: Top,
    by_elements: BTreeMap<&'static str, Top>,
    /// The first key with the longest element, per type.
    largest: BTreeMap<&'static str, Largest>,
}

impl BigKeys {
    /// Keeps the top `n` of each list.
    pub fn new(n: usize) -> Self {
        BigKeys {
            n,
            seq: 0,
            by_bytes: Top::new(n),
            by_elements: BTreeMap::new(),
            largest: BTreeMap::new(),
        }
    }

    /// Counts one key.
    pub fn add(&mut self, k: &KeyFacts<'_>) {
        self.seq += 1;
        self.by_bytes.offer(k.mem.bytes, self.seq, k);
        let t = k.dtype.name();
        let n = self.n;
        self.by_elements
            .entry(t)
            .or_insert_with(|| Top::new(n))
            .offer(k.mem.elements, self.seq, k);
        if self
            .largest
            .get(t)
            .is_none_or(|l| k.mem.largest_element > l.length)
        {
            let l = Largest {
                db: k.db,
                key: String::from_utf8_lossy(&k.key).into_owned(),
                length: k.mem.largest_element,
            };
            self.largest.insert(t, l);
        }
    }

    /// Adds the keys `o` counted, which came after this builder's.
    pub fn merge(&mut self, o: BigKeys) {
        let base = self.seq;
        self.by_bytes.absorb(o.by_bytes, base);
        for (t, top) in o.by_elements {
            let n = self.n;
            self.by_elements
                .entry(t)
                .or_insert_with(|| Top::new(n))
                .absorb(top, base);
        }
        for (t, l) in o.largest {
            if self.largest.get(t).is_none_or(|m| l.length > m.length) {
                self.largest.insert(t, l);
            }
        }
        self.seq += o.seq;
    }

    /// The finished section.
    pub fn report(self) -> BigKeysReport {
        BigKeysReport {
            by_bytes: self.by_bytes.sorted(),
            by_elements: self
                .by_elements
                .into_iter()
                .map(|(t, top)| (t, top.sorted()))
                .collect(),
            largest_element: self.largest,
        }
    }
}
