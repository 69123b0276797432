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
    fn offer(&mut self, rank: u64, seq: u64, k: &KeyFacts<'_>) {
        if self.n == 0 {
            return;
        }
        if self.heap.len() >= self.n
            && self
                .heap
                .peek()
                .is_some_and(|Reverse(m)| (m.rank, m.seq) >= (rank, u64::MAX - seq))
        {
            return;
        }
        self.heap.push(Reverse(BigKey {
            rank,
            seq: u64::MAX - seq,
            db: k.db,
            key: String::from_utf8_lossy(&k.key).into_owned(),
            r#type: k.dtype.name(),
            encoding: k.mem.encoding.name(),
            bytes: k.mem.bytes,
            elements: k.mem.elements,
            largest_element: k.mem.largest_element,
        }));
        if self.heap.len() > self.n {
            self.heap.pop();
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
        let l = self.largest.entry(t).or_default();
        if k.mem.largest_element > l.length || l.key.is_empty() {
            *l = Largest {
                db: k.db,
                key: String::from_utf8_lossy(&k.key).into_owned(),
                length: k.mem.largest_element,
            };
        }
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
