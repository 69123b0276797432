//! Big keys: the top keys by modelled bytes, the top keys by element count
//! per type, and the largest element per type.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use serde::Serialize;

use super::facts::KeyFacts;
use crate::error::Result;
use crate::rdb::read::Scratch;

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
    /// Ranks up to this cannot enter (see [`BigKeys::chunk`]).
    floor: Option<u64>,
}

impl Top {
    fn new(n: usize) -> Self {
        Top {
            n,
            heap: BinaryHeap::new(),
            floor: None,
        }
    }
    /// An empty list for keys that come after this list's: when it is
    /// full, a later key must rank above its last to enter the merged list
    /// (file order breaks ties), so lower ranks are not kept.
    fn after(&self) -> Top {
        Top {
            floor: self.full_min().or(self.floor),
            ..Top::new(self.n)
        }
    }
    fn full_min(&self) -> Option<u64> {
        let min = self.heap.peek().map(|Reverse(m)| m.rank);
        if self.heap.len() < self.n { None } else { min }
    }
    /// True when a key ranked `rank`, `seq`-th in file order, enters.
    fn admits(&self, rank: u64, seq: u64) -> bool {
        self.n > 0
            && self.floor.is_none_or(|f| rank > f)
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
    /// Offers key `k` (its largest element is walked for only if it enters).
    fn offer(
        &mut self,
        rank: u64,
        seq: u64,
        k: &KeyFacts<'_>,
        scratch: &mut Scratch,
    ) -> Result<()> {
        if !self.admits(rank, seq) {
            return Ok(());
        }
        let largest_element = k.largest_element(scratch)?;
        self.push(BigKey {
            rank,
            seq: u64::MAX - seq,
            db: k.db,
            key: String::from_utf8_lossy(&k.key).into_owned(),
            r#type: k.dtype.name(),
            encoding: k.mem.encoding.name(),
            bytes: k.mem.bytes,
            elements: k.mem.elements,
            largest_element,
        });
        Ok(())
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
    /// Per type, the longest element of the keys before this builder's
    /// (see [`BigKeys::chunk`]).
    floor: BTreeMap<&'static str, u64>,
    /// For walking values the model did not ([`KeyFacts::largest_element`]).
    scratch: Scratch,
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
            floor: BTreeMap::new(),
            scratch: Scratch::default(),
        }
    }

    /// An empty builder for keys that follow those counted so far, to be
    /// [merged](Self::merge) into this one: it keeps only what can still
    /// enter the merged section (ranks above a full list's last, elements
    /// longer than the longest so far), so a chunk walks values for the
    /// largest element less often.
    pub fn chunk(&self) -> BigKeys {
        let mut floor = self.floor.clone();
        for (t, l) in &self.largest {
            let f = floor.entry(t).or_default();
            *f = (*f).max(l.length);
        }
        BigKeys {
            by_bytes: self.by_bytes.after(),
            by_elements: self
                .by_elements
                .iter()
                .map(|(t, top)| (*t, top.after()))
                .collect(),
            floor,
            ..BigKeys::new(self.n)
        }
    }

    /// Counts one key. The exact largest element is needed only for a key
    /// that enters a top list or whose bound (the model's `largest_element`)
    /// beats its type's longest so far: the rest are not walked.
    pub fn add(&mut self, k: &KeyFacts<'_>) -> Result<()> {
        self.seq += 1;
        let scratch = &mut self.scratch;
        self.by_bytes.offer(k.mem.bytes, self.seq, k, scratch)?;
        let t = k.dtype.name();
        let n = self.n;
        self.by_elements
            .entry(t)
            .or_insert_with(|| Top::new(n))
            .offer(k.mem.elements, self.seq, k, scratch)?;
        let floor = self.floor.get(t).copied();
        let beats = |len: u64, l: &BTreeMap<&str, Largest>| {
            floor.is_none_or(|f| len > f) && l.get(t).is_none_or(|l| len > l.length)
        };
        if beats(k.mem.largest_element, &self.largest) {
            let length = k.largest_element(scratch)?;
            if beats(length, &self.largest) {
                let l = Largest {
                    db: k.db,
                    key: String::from_utf8_lossy(&k.key).into_owned(),
                    length,
                };
                self.largest.insert(t, l);
            }
        }
        Ok(())
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
