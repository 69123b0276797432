//! The report's per-chunk accumulators for the chunked pass
//! ([`super::facts::scan_chunked`]): a worker counts a chunk's keys into a
//! [`ReportChunk`], and [`super::report::ReportBuilder`] merges the chunks
//! in file order into what counting every key in order gives.
//!
//! Sums merge by adding. The capped maps (prefix tree, per-prefix counts)
//! depend on the order in which prefixes first appear: which node a key
//! lands in is settled by the first key of its prefix (a node, once made,
//! stays; once the cap is reached only "other" buckets are made), so a
//! chunk keeps its prefixes in order of first appearance with their summed
//! counts, and the merge adds them in that order. The expiry waves keep a
//! bounded summary per window whose content depends on the order of every
//! key: a chunk keeps its expiring keys in order (a few bytes each) and the
//! merge replays them. Big keys merge their top lists (file order breaks
//! ties, as in one pass).

use std::collections::BTreeMap;

use super::bigkeys::BigKeys;
use super::dataloss::DataLoss;
use super::facts::KeyFacts;
use super::hotcold::HotCold;
use super::prefix::{FxMap, NodeStats, Splitter};
use super::ttl::{Histogram, PrefixCount, TtlStats, in_waves};
use crate::error::Result;

/// One prefix path of a chunk and the keys that have it.
#[derive(Debug)]
pub struct PathGroup {
    /// The path (see [`Splitter::path`]).
    pub path: Box<[u8]>,
    /// Its level ends.
    pub cuts: Box<[usize]>,
    /// The number of its leaf prefix (the deepest level) in the chunk.
    pub leaf: u32,
    /// The keys' counts.
    pub keys: NodeStats,
}

/// A chunk's prefix paths and leaf prefixes, numbered in order of first
/// appearance: one hash lookup per key names both.
#[derive(Debug, Default)]
pub struct Paths {
    /// Path bytes and level ends (as the lookup key) → group number.
    index: FxMap<Box<[u8]>, u32>,
    /// The groups, in order of first appearance.
    pub groups: Vec<PathGroup>,
    leaf_index: FxMap<Box<[u8]>, u32>,
    /// Leaf prefixes by number.
    pub leaves: Vec<Box<[u8]>>,
    path: Vec<u8>,
    cuts: Vec<usize>,
    lookup: Vec<u8>,
}

impl Paths {
    /// The group of `key`'s path (made on first sight).
    pub fn group(&mut self, split: &Splitter, key: &[u8]) -> &mut PathGroup {
        split.path(key, &mut self.path, &mut self.cuts);
        // The level ends are part of the identity: a `*` that stands for an
        // ID and a separator `*` write the same bytes.
        self.lookup.clear();
        self.lookup.extend_from_slice(&self.path);
        for &c in &self.cuts {
            self.lookup.extend_from_slice(&(c as u64).to_le_bytes());
        }
        self.lookup
            .extend_from_slice(&(self.cuts.len() as u64).to_le_bytes());
        let i = match self.index.get(self.lookup.as_slice()) {
            Some(&i) => i as usize,
            None => self.insert(),
        };
        &mut self.groups[i]
    }

    fn insert(&mut self) -> usize {
        let leaf_bytes = &self.path[..self.cuts.last().copied().unwrap_or(0)];
        let leaf = match self.leaf_index.get(leaf_bytes) {
            Some(&l) => l,
            None => {
                let l = self.leaves.len() as u32;
                self.leaves.push(leaf_bytes.into());
                self.leaf_index.insert(leaf_bytes.into(), l);
                l
            }
        };
        let i = self.groups.len();
        self.groups.push(PathGroup {
            path: self.path.as_slice().into(),
            cuts: self.cuts.as_slice().into(),
            leaf,
            keys: NodeStats::default(),
        });
        self.index.insert(self.lookup.as_slice().into(), i as u32);
        i
    }
}

/// Counters per leaf prefix of a chunk, in order of first use.
#[derive(Debug)]
pub struct LeafCounts<T> {
    /// Leaf number → position in `items` + 1 (0: none yet).
    slot: Vec<u32>,
    /// (leaf number, counters), in order of first use.
    pub items: Vec<(u32, T)>,
}

impl<T> Default for LeafCounts<T> {
    fn default() -> Self {
        LeafCounts {
            slot: Vec::new(),
            items: Vec::new(),
        }
    }
}

impl<T: Default> LeafCounts<T> {
    /// The counters of leaf `leaf`.
    pub fn get(&mut self, leaf: u32) -> &mut T {
        let l = leaf as usize;
        if self.slot.len() <= l {
            self.slot.resize(l + 1, 0);
        }
        if self.slot[l] == 0 {
            self.items.push((leaf, T::default()));
            self.slot[l] = self.items.len() as u32;
        }
        let i = self.slot[l] as usize - 1;
        &mut self.items[i].1
    }
}

/// A key expiring in the waves' horizon: (expiry ms, leaf number, bytes).
pub type Expiry = (i64, u32, u64);

/// What a chunk's keys add to the report (sections not asked for: `None`).
pub struct ReportChunk {
    /// Prefix splitting.
    pub splitter: Splitter,
    /// Keys.
    pub keys: u64,
    /// Modelled bytes.
    pub bytes: u64,
    /// Keyspace overhead.
    pub overhead: u64,
    /// Keys per db.
    pub dbs: BTreeMap<u64, u64>,
    /// Prefix paths (always: they name the leaf prefixes).
    pub paths: Paths,
    /// TTL sums and per-prefix histograms.
    pub ttl: Option<(TtlStats, LeafCounts<Histogram>)>,
    /// Reference time and the keys expiring after it, in order.
    pub waves: Option<(i64, Vec<Expiry>)>,
    /// Big keys, counted from the chunk's start.
    pub big: Option<BigKeys>,
    /// Hot/cold sums and cold keys per prefix.
    pub hot: Option<(HotCold, LeafCounts<PrefixCount>)>,
    /// Data-loss sums and expired keys per prefix.
    pub loss: Option<(DataLoss, LeafCounts<PrefixCount>)>,
}

impl ReportChunk {
    /// Counts one key.
    pub fn add(&mut self, k: &KeyFacts<'_>) -> Result<()> {
        let bytes = k.mem.bytes;
        self.keys += 1;
        self.bytes += bytes;
        self.overhead += k.mem.overhead;
        *self.dbs.entry(k.db).or_default() += 1;
        let g = self.paths.group(&self.splitter, &k.key);
        g.keys.add(k.dtype, bytes, k.expire_ms.is_some());
        let leaf = g.leaf;
        if let Some((t, per)) = &mut self.ttl {
            let b = t.count(k);
            per.get(leaf).add(b, bytes);
        }
        if let Some((now, list)) = &mut self.waves
            && let Some(e) = k.expire_ms
            && in_waves(*now, e)
        {
            list.push((e, leaf, bytes));
        }
        if let Some(b) = &mut self.big {
            b.add(k)?;
        }
        if let Some((h, cold)) = &mut self.hot
            && h.count(k)
        {
            cold.get(leaf).add(bytes);
        }
        if let Some((l, expired)) = &mut self.loss
            && l.count(k)
        {
            expired.get(leaf).add(bytes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::super::facts::{ModelConfig, scan, scan_in_chunks};
    use super::super::memory::KeyMemory;
    use super::super::report::{ReportBuilder, Settings};
    use super::*;
    use crate::analyze::facts::ANALYSIS_CHUNK as CHUNK;
    use crate::model::{DataType, Encoding, RdbLayout};
    use crate::rdb::read::{ReadOptions, Value};

    /// Settings with every cap small, so "other" buckets, top-N cuts and
    /// bursts occur on small files too.
    fn tight() -> Settings {
        Settings {
            splitter: Splitter {
                separators: b":".to_vec(),
                depth: 2,
            },
            max_nodes: 3,
            top: 2,
            burst_min: 1,
            burst_factor: 1.0,
            cold_freq: 100,
            cold_idle_s: 10,
            ..Settings::default()
        }
    }

    fn json(r: &crate::analyze::report::Report) -> String {
        serde_json::to_string_pretty(r).unwrap()
    }

    /// A report built key by key in one sequential pass, and merged from
    /// chunks of every size on the parallel pass: the same document (or
    /// the same error), on every RDB of the corpus and the shared corpus,
    /// with default and tight settings, at the snapshot's time and 3 days
    /// later (keys expired, other waves).
    #[test]
    fn chunked_report_is_the_sequential_one() {
        let files = crate::testutil::corpus_rdb_files();
        assert!(files.len() >= 10, "corpus files not found");
        let (opts, cfg) = (ReadOptions::default(), ModelConfig::default());
        for f in &files {
            let data = std::fs::read(f).unwrap();
            let ctime = scan(&data, &opts, &cfg, None, |_| Ok(()))
                .ok()
                .and_then(|ff| ff.ctime_ms);
            for (name, s) in [("default", Settings::default()), ("tight", tight())] {
                for shift in [0, 3 * 86_400_000] {
                    let s = Settings {
                        now_ms: ctime.map(|c| c + shift),
                        wall_ms: 1_800_000_000_000 + shift,
                        ..s.clone()
                    };
                    let mut b = ReportBuilder::new(s.clone(), ctime);
                    let want = scan(&data, &opts, &cfg, None, |k| b.add(k))
                        .map(|ff| json(&b.finish("f", &ff)))
                        .map_err(|e| e.to_string());
                    for chunk in [61, 1000, CHUNK] {
                        let mut b = ReportBuilder::new(s.clone(), ctime);
                        let got = scan_in_chunks(&data, &opts, &cfg, None, &mut b, chunk, None)
                            .map(|ff| json(&b.finish("f", &ff)))
                            .map_err(|e| e.to_string());
                        assert_eq!(got, want, "{f:?} {name} +{shift} ms, chunk {chunk}");
                    }
                }
            }
        }
    }

    /// The same on copies with bits flipped: the same report or error.
    #[test]
    fn chunked_report_fails_as_the_sequential_one() {
        let cfg = ModelConfig::default();
        let files = crate::testutil::for_each_flipped_corpus_file(
            0x243f_6a88_85a3_08d3,
            25,
            |path, round, d, opts| {
                let mut b = ReportBuilder::new(tight(), Some(0));
                let want = scan(d, opts, &cfg, None, |k| b.add(k))
                    .map(|ff| json(&b.finish("f", &ff)))
                    .map_err(|e| e.to_string());
                let mut b = ReportBuilder::new(tight(), Some(0));
                let got = scan_in_chunks(d, opts, &cfg, None, &mut b, 97, None)
                    .map(|ff| json(&b.finish("f", &ff)))
                    .map_err(|e| e.to_string());
                assert_eq!(got, want, "{path:?} round {round}");
            },
        );
        assert!(files >= 3, "corpus files not found");
    }

    /// Caps the corpus does not reach (50 000 wave windows, thousands of
    /// prefixes): synthetic keys counted one by one and in chunks cut at
    /// arbitrary places give the same report.
    #[test]
    fn merges_past_every_cap() {
        let now = 1_900_000_000_000i64;
        let mut s = tight();
        s.max_nodes = 500;
        s.top = 5;
        s.now_ms = Some(now);
        let value = Value {
            layout: RdbLayout::String,
            type_byte: 0,
            raw: b"",
            offset: 0,
        };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let keys: Vec<KeyFacts<'static>> = (0..120_000u64)
            .map(|i| {
                let key = format!("p{}:q{}:{}:k{i}", rnd(40), rnd(30), rnd(1000));
                let expire_ms = match rnd(8) {
                    0 => None,
                    // Clustered: few windows, many keys each.
                    1 => Some(now + 3_600_000 + rnd(20) as i64 * 1000),
                    // Spread over a day: more seconds than tracked (~56 000).
                    _ => Some(now - 5_000 + rnd(86_400_000) as i64),
                };
                KeyFacts {
                    db: rnd(3),
                    key: Cow::Owned(key.into_bytes()),
                    dtype: DataType::ALL[rnd(5) as usize],
                    mem: KeyMemory {
                        bytes: 50 + rnd(5000),
                        overhead: rnd(40),
                        encoding: Encoding::Raw,
                        elements: rnd(100),
                        largest_element: rnd(100),
                        largest_exact: true,
                    },
                    rdb_bytes: 10,
                    expire_ms,
                    idle_s: (rnd(2) == 0).then(|| rnd(100)),
                    freq: (rnd(2) == 0).then(|| rnd(256) as u8),
                    value,
                    largest_walked: Default::default(),
                }
            })
            .collect();
        let file = super::super::facts::FileFacts::default();
        let mut one = ReportBuilder::new(s.clone(), None);
        for k in &keys {
            one.add(k).unwrap();
        }
        let want = json(&one.finish("f", &file));
        let mut merged = ReportBuilder::new(s, None);
        let mut i = 0;
        while i < keys.len() {
            let n = (1 + rnd(9000) as usize).min(keys.len() - i);
            let mut c = merged.chunk();
            for k in &keys[i..i + n] {
                c.add(k).unwrap();
            }
            merged.merge(c);
            i += n;
        }
        assert_eq!(json(&merged.finish("f", &file)), want);
    }
}
