//! Key prefixes: splitting keys on separators, and a bounded prefix tree
//! (memory by prefix) that folds what does not fit into "other" buckets, as
//! ncdu/du do, so huge keyspaces take constant memory.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast, non-cryptographic hasher (the rustc "Fx" scheme) for the
/// analyzers' maps: their keys come from the analysed file, and a slow
/// keyed hash is not needed to bound memory (the maps are capped).
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

const FX_K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn mix(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    #[inline]
    fn write_i64(&mut self, v: i64) {
        self.mix(v as u64);
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`FxHasher`].
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

use serde::Serialize;

use crate::model::DataType;

/// How keys are cut into prefixes.
#[derive(Debug, Clone)]
pub struct Splitter {
    /// Separator bytes (default `:` `/` `.` `|` `-` `_` is too eager; the
    /// default is `:` `/` `.` `|` `#`).
    pub separators: Vec<u8>,
    /// Deepest prefix level.
    pub depth: usize,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter {
            separators: b":/.|#".to_vec(),
            depth: 3,
        }
    }
}

/// True for segments that name an instance rather than a kind (numbers,
/// long hex strings, UUIDs): they are collapsed to `*` so `user:17:` and
/// `user:18:` group as `user:*:`.
fn id_like(seg: &[u8]) -> bool {
    if seg.is_empty() {
        return false;
    }
    if seg.iter().all(u8::is_ascii_digit) {
        return true;
    }
    seg.len() >= 8
        && seg.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-')
        && seg.iter().any(u8::is_ascii_digit)
}

impl Splitter {
    /// Writes the key's prefix path into `out` (ID-like segments as `*`)
    /// and the end offset of each level into `cuts` (at most `depth`). A
    /// separator that ends the key names the key, not a prefix.
    pub fn path(&self, key: &[u8], out: &mut Vec<u8>, cuts: &mut Vec<usize>) {
        out.clear();
        cuts.clear();
        if self.depth == 0 {
            return;
        }
        // The separators as a 256-bit set: one test per key byte, whatever
        // their number (the per-byte `contains` was a profile line of its own).
        let mut set = [0u64; 4];
        for &s in &self.separators {
            set[usize::from(s >> 6)] |= 1 << (s & 63);
        }
        let is_sep = |b: u8| set[usize::from(b >> 6)] & (1 << (b & 63)) != 0;
        let mut start = 0;
        // The last byte never cuts (it would name the key, not a prefix).
        let end = key.len().saturating_sub(1);
        for (i, &b) in key[..end].iter().enumerate() {
            if !is_sep(b) {
                continue;
            }
            let seg = &key[start..i];
            if id_like(seg) {
                out.push(b'*');
            } else {
                out.extend_from_slice(seg);
            }
            out.push(b);
            cuts.push(out.len());
            if cuts.len() >= self.depth {
                break;
            }
            start = i + 1;
        }
    }
}

/// The deepest prefix of a path built by [`Splitter::path`] (`""` when
/// the key has none): the group name the other sections use.
pub fn leaf<'p>(path: &'p [u8], cuts: &[usize]) -> &'p [u8] {
    &path[..cuts.last().copied().unwrap_or(0)]
}

/// The label of the bucket that holds keys whose prefix did not fit.
pub const OTHER: &[u8] = b"\xE2\x80\xA6(other)";
/// The label of keys without any separator.
pub const NO_PREFIX: &str = "(no prefix)";

/// Per-node counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeStats {
    /// Keys under the node.
    pub keys: u64,
    /// Modelled memory (`MEMORY USAGE`) of those keys.
    pub bytes: u64,
    /// Keys with a TTL.
    pub ttl_keys: u64,
    /// Keys per type (indexed by [`DataType::ALL`] order).
    #[serde(skip)]
    pub types: [u64; 9],
    /// Level of the node (0: keys without prefix).
    #[serde(skip)]
    pub depth: usize,
}

impl NodeStats {
    /// Counts one key.
    pub fn add(&mut self, dtype: DataType, bytes: u64, ttl: bool) {
        self.keys += 1;
        self.bytes += bytes;
        self.ttl_keys += ttl as u64;
        let i = DataType::ALL.iter().position(|t| *t == dtype).unwrap_or(0);
        self.types[i] += 1;
    }

    /// Adds the counts of `o` (its depth aside).
    pub fn merge(&mut self, o: &NodeStats) {
        self.keys += o.keys;
        self.bytes += o.bytes;
        self.ttl_keys += o.ttl_keys;
        for (a, b) in self.types.iter_mut().zip(o.types) {
            *a += b;
        }
    }
}

/// A bounded prefix tree: at most `max_nodes` named nodes; a key whose
/// prefix would need a new node beyond the cap is counted in its parent's
/// "other" child.
#[derive(Debug)]
pub struct PrefixTree {
    split: Splitter,
    max_nodes: usize,
    nodes: FxMap<Vec<u8>, NodeStats>,
    scratch: Vec<u8>,
    /// Totals over all keys.
    pub total: NodeStats,
}

/// One node in the report.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixNode {
    /// The prefix (lossy UTF-8; `…(other)` for folded buckets).
    pub prefix: String,
    /// Level (1 = first segment).
    pub depth: usize,
    /// Keys.
    pub keys: u64,
    /// Modelled bytes.
    pub bytes: u64,
    /// Share of all modelled bytes.
    pub share: f64,
    /// Share of the node's keys that have a TTL.
    pub ttl_share: f64,
    /// Keys per type (only types present).
    pub types: std::collections::BTreeMap<&'static str, u64>,
}

impl PrefixTree {
    /// An empty tree.
    pub fn new(split: Splitter, max_nodes: usize) -> Self {
        PrefixTree {
            split,
            max_nodes: max_nodes.max(1),
            nodes: FxMap::default(),
            scratch: Vec::new(),
            total: NodeStats::default(),
        }
    }

    /// The splitter in use.
    pub fn splitter(&self) -> &Splitter {
        &self.split
    }

    /// Counts one key, given its prefix path (see [`Splitter::path`]).
    pub fn add(&mut self, path: &[u8], cuts: &[usize], dtype: DataType, bytes: u64, ttl: bool) {
        let mut one = NodeStats::default();
        one.add(dtype, bytes, ttl);
        self.add_group(path, cuts, &one);
    }

    /// Counts keys that share one prefix path, as many calls of
    /// [`add`](Self::add) in a row would: which nodes a path reaches is
    /// settled by its first key (a node that exists stays, and once the
    /// cap is reached no node is created but "other" buckets), so keys of
    /// one path can be counted together at the place of the first one.
    pub fn add_group(&mut self, path: &[u8], cuts: &[usize], keys: &NodeStats) {
        self.total.merge(keys);
        if cuts.is_empty() {
            self.bump(b"", 0, keys);
        }
        for (level, &c) in cuts.iter().enumerate() {
            let p = &path[..c];
            if self.nodes.contains_key(p) || self.nodes.len() < self.max_nodes {
                self.bump(p, level + 1, keys);
            } else {
                // Fold into "<parent>…(other)" and stop descending.
                let parent = if level == 0 { 0 } else { cuts[level - 1] };
                let mut name = std::mem::take(&mut self.scratch);
                name.clear();
                name.extend_from_slice(&path[..parent]);
                name.extend_from_slice(OTHER);
                self.bump(&name, level + 1, keys);
                self.scratch = name;
                break;
            }
        }
    }

    fn bump(&mut self, p: &[u8], depth: usize, keys: &NodeStats) {
        if let Some(n) = self.nodes.get_mut(p) {
            n.merge(keys);
        } else {
            let mut n = NodeStats {
                depth,
                ..NodeStats::default()
            };
            n.merge(keys);
            self.nodes.insert(p.to_vec(), n);
        }
    }

    /// Number of nodes held (bounded by `max_nodes` plus the "other"
    /// buckets, at most one per held node).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no key was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Nodes sorted by bytes (largest first), optionally only `depth`.
    pub fn nodes(&self, depth: Option<usize>) -> Vec<PrefixNode> {
        let total = self.total.bytes.max(1) as f64;
        let mut v: Vec<PrefixNode> = self
            .nodes
            .iter()
            .map(|(p, s)| (p, s, s.depth))
            .filter(|(_, _, d)| depth.is_none_or(|x| x == *d))
            .map(|(p, s, d)| PrefixNode {
                prefix: label(p),
                depth: d,
                keys: s.keys,
                bytes: s.bytes,
                share: s.bytes as f64 / total,
                ttl_share: s.ttl_keys as f64 / s.keys.max(1) as f64,
                types: DataType::ALL
                    .iter()
                    .zip(s.types.iter())
                    .filter(|(_, n)| **n > 0)
                    .map(|(t, n)| (t.name(), *n))
                    .collect(),
            })
            .collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.prefix.cmp(&b.prefix)));
        v
    }
}

/// Lossy text of a prefix for reports.
pub fn label(p: &[u8]) -> String {
    if p.is_empty() {
        NO_PREFIX.to_string()
    } else {
        String::from_utf8_lossy(p).into_owned()
    }
}

/// A bounded map from a key's leaf prefix to counters: at most `cap`
/// prefixes, the rest counted under "…(other)".
#[derive(Debug, Clone)]
pub struct PrefixMap<T> {
    cap: usize,
    map: FxMap<Vec<u8>, T>,
}

impl<T: Default> PrefixMap<T> {
    /// An empty map holding at most `cap` prefixes.
    pub fn new(cap: usize) -> Self {
        PrefixMap {
            cap: cap.max(1),
            map: FxMap::default(),
        }
    }

    /// The counters of `prefix` (or of the "other" bucket when full).
    pub fn get(&mut self, prefix: &[u8]) -> &mut T {
        let k: &[u8] = if self.map.contains_key(prefix) || self.map.len() < self.cap {
            prefix
        } else {
            OTHER
        };
        if !self.map.contains_key(k) {
            // Allocate the owned key only on a miss.
            return self.map.entry(k.to_vec()).or_default();
        }
        // Not input-derived: the key was found just above.
        self.map.get_mut(k).expect("present")
    }

    /// Entries, unordered.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &T)> {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_leaf() {
        let s = Splitter::default();
        let (mut p, mut c) = (Vec::new(), Vec::new());
        s.path(b"user:17:profile", &mut p, &mut c);
        assert_eq!(p, b"user:*:");
        assert_eq!(c, vec![5, 7]);
        assert_eq!(leaf(&p, &c), b"user:*:");
        s.path(b"plain", &mut p, &mut c);
        assert_eq!(leaf(&p, &c), b"");
        s.path(b"trailing:", &mut p, &mut c);
        assert_eq!(leaf(&p, &c), b"");
        s.path(b"s:deadbeef42:x", &mut p, &mut c);
        assert_eq!(p, b"s:*:");
    }

    #[test]
    fn tree_is_bounded() {
        let s = Splitter::default();
        let mut t = PrefixTree::new(s.clone(), 3);
        let (mut p, mut c) = (Vec::new(), Vec::new());
        for i in 0..100 {
            s.path(format!("p{i}:x:y").as_bytes(), &mut p, &mut c);
            t.add(&p, &c, DataType::String, 10, false);
        }
        // Named nodes plus at most one "other" bucket per node and the root.
        assert!(t.len() <= 2 * 3 + 1, "{} nodes", t.len());
        assert_eq!(t.total.keys, 100);
        let sum: u64 = t.nodes(Some(1)).iter().map(|n| n.keys).sum();
        assert_eq!(sum, 100);
    }
}
