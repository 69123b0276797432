//! The report: every section built from one pass (see [`super::facts`]),
//! and its renderings — aligned text, JSON, and long-format rows for JSONL
//! and CSV. Schema in `formats/report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::bigkeys::{BigKeys, BigKeysReport};
use super::dataloss::{DataLoss, DataLossReport};
use super::facts::{Analysis, FileFacts, KeyFacts};
use super::hotcold::{HotCold, HotColdReport};
use super::inspect::human_bytes;
use super::prefix::{PrefixNode, PrefixTree, Splitter};
use super::report_par::{LeafCounts, Paths, ReportChunk};
use super::ttl::{BUCKETS, TtlReport, TtlStats, Waves, WavesReport};
use crate::error::Result;
use crate::server::Target;

/// The report sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// Memory by key prefix.
    Prefixes,
    /// TTL distribution.
    Ttl,
    /// Expiry waves.
    Waves,
    /// Big keys.
    Bigkeys,
    /// Hot and cold keys.
    Hotcold,
    /// Data-loss view.
    Dataloss,
}

impl Section {
    /// Every section, in report order.
    pub const ALL: [Section; 6] = [
        Section::Prefixes,
        Section::Ttl,
        Section::Waves,
        Section::Bigkeys,
        Section::Hotcold,
        Section::Dataloss,
    ];
}

/// Settings of the sections.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Sections to build.
    pub sections: Vec<Section>,
    /// Prefix splitting.
    pub splitter: Splitter,
    /// Named prefix-tree nodes at most.
    pub max_nodes: usize,
    /// Length of top-N lists.
    pub top: usize,
    /// Reference time (Unix ms); `None`: the snapshot's `ctime`, else now.
    pub now_ms: Option<i64>,
    /// The current time (Unix ms), used when the file has no `ctime`.
    pub wall_ms: i64,
    /// Burst: at least this many keys in a window ...
    pub burst_min: u64,
    /// ... and this many times the mean of non-empty windows.
    pub burst_factor: f64,
    /// `lfu-log-factor` of the server that wrote the file.
    pub lfu_log_factor: u64,
    /// Cold: idle at least this long (s) ...
    pub cold_idle_s: u64,
    /// ... or LFU counter at most this.
    pub cold_freq: u8,
    /// Databases keys are expected in.
    pub expected_dbs: Vec<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sections: Section::ALL.to_vec(),
            splitter: Splitter::default(),
            max_nodes: 10_000,
            top: 20,
            now_ms: None,
            wall_ms: 0,
            burst_min: 100,
            burst_factor: 10.0,
            lfu_log_factor: 10,
            cold_idle_s: 86_400,
            cold_freq: 5,
            expected_dbs: vec![0],
        }
    }
}

/// The finished report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Schema version of this document.
    pub schema: u32,
    /// The analysed file.
    pub file: String,
    /// Memory model target.
    pub target: Option<Target>,
    /// Keys.
    pub keys: u64,
    /// Sum of modelled `MEMORY USAGE` bytes.
    pub bytes: u64,
    /// Sum of keyspace overhead outside `MEMORY USAGE`.
    pub overhead_bytes: u64,
    /// Keys per db.
    pub dbs: BTreeMap<u64, u64>,
    /// Reference time (Unix ms) and where it comes from.
    pub reference_ms: i64,
    /// `snapshot` (the file's ctime), `now` or `given`.
    pub reference: &'static str,
    /// Memory by prefix.
    pub prefixes: Option<PrefixReport>,
    /// TTL distribution.
    pub ttl: Option<TtlReport>,
    /// Expiry waves.
    pub waves: Option<WavesReport>,
    /// Big keys.
    pub bigkeys: Option<BigKeysReport>,
    /// Hot and cold keys.
    pub hotcold: Option<HotColdReport>,
    /// Data-loss view.
    pub dataloss: Option<DataLossReport>,
}

/// The prefix section.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixReport {
    /// Separators used.
    pub separators: String,
    /// Deepest level.
    pub depth: usize,
    /// Cap on named nodes.
    pub max_nodes: usize,
    /// Nodes held.
    pub nodes_held: usize,
    /// Largest nodes of every level (at most `top` per level).
    pub nodes: Vec<PrefixNode>,
    /// Largest first-level prefixes.
    pub top: Vec<PrefixNode>,
}

/// Builds every requested section from key facts.
pub struct ReportBuilder {
    s: Settings,
    reference_ms: i64,
    reference: &'static str,
    keys: u64,
    bytes: u64,
    overhead: u64,
    dbs: BTreeMap<u64, u64>,
    tree: Option<PrefixTree>,
    ttl: Option<TtlStats>,
    waves: Option<Waves>,
    big: Option<BigKeys>,
    hot: Option<HotCold>,
    loss: Option<DataLoss>,
    /// Keys counted one by one ([`add`](Self::add)), not merged yet.
    pending: Option<ReportChunk>,
}

/// Keys a sequential pass counts into one chunk before merging it: the
/// chunk's per-prefix lists are not capped, so they stay as short as those
/// of the chunked pass's ranges.
const SEQ_CHUNK: u64 = 8192;
/// Keys ahead whose expiry windows are prefetched while merging (about a
/// memory latency's worth of the work per key).
const WAVES_AHEAD: usize = 8;

impl ReportBuilder {
    /// A builder; `ctime_ms` is the snapshot time when known before the
    /// pass (it is: the `ctime` aux field precedes the keys).
    pub fn new(s: Settings, ctime_ms: Option<i64>) -> Self {
        let (reference_ms, reference) = match (s.now_ms, ctime_ms) {
            (Some(t), _) => (t, "given"),
            (None, Some(c)) => (c, "snapshot"),
            (None, None) => (s.wall_ms, "now"),
        };
        let on = |x: Section| s.sections.contains(&x);
        let cap = s.max_nodes;
        ReportBuilder {
            tree: on(Section::Prefixes).then(|| PrefixTree::new(s.splitter.clone(), cap)),
            ttl: on(Section::Ttl).then(|| TtlStats::new(reference_ms, s.top, cap)),
            waves: on(Section::Waves)
                .then(|| Waves::new(reference_ms, s.top, s.burst_min, s.burst_factor)),
            big: on(Section::Bigkeys).then(|| BigKeys::new(s.top)),
            hot: on(Section::Hotcold)
                .then(|| HotCold::new(s.lfu_log_factor, s.cold_idle_s, s.cold_freq, s.top, cap)),
            loss: on(Section::Dataloss)
                .then(|| DataLoss::new(reference_ms, s.expected_dbs.clone(), s.top, cap)),
            reference_ms,
            reference,
            pending: None,
            keys: 0,
            bytes: 0,
            overhead: 0,
            dbs: BTreeMap::new(),
            s,
        }
    }

    /// Counts one key in every section (a sequential pass): the keys go
    /// into a chunk, merged every `SEQ_CHUNK` keys and at the end, so
    /// both passes count by the same code.
    pub fn add(&mut self, k: &KeyFacts<'_>) -> Result<()> {
        let mut c = match self.pending.take() {
            Some(c) => c,
            None => self.chunk(),
        };
        let r = c.add(k);
        if c.keys >= SEQ_CHUNK {
            self.merge(c);
        } else {
            self.pending = Some(c);
        }
        r
    }

    /// An empty accumulator for a chunk of keys, with this builder's
    /// sections and settings (see [`super::report_par`]).
    pub fn chunk(&self) -> ReportChunk {
        let s = &self.s;
        let (now, cap) = (self.reference_ms, s.max_nodes);
        ReportChunk {
            splitter: s.splitter.clone(),
            keys: 0,
            bytes: 0,
            overhead: 0,
            dbs: BTreeMap::new(),
            paths: Paths::default(),
            ttl: self
                .ttl
                .as_ref()
                .map(|_| (TtlStats::new(now, s.top, cap), LeafCounts::default())),
            waves: self.waves.as_ref().map(|_| (now, Vec::new())),
            big: self.big.as_ref().map(BigKeys::chunk),
            hot: self.hot.as_ref().map(|_| {
                let h = HotCold::new(s.lfu_log_factor, s.cold_idle_s, s.cold_freq, s.top, cap);
                (h, LeafCounts::default())
            }),
            loss: self.loss.as_ref().map(|_| {
                let l = DataLoss::new(now, s.expected_dbs.clone(), s.top, cap);
                (l, LeafCounts::default())
            }),
        }
    }

    /// Counts the keys of a chunk that follows those counted so far: the
    /// same as [`add`](Self::add) of each of them in order.
    pub fn merge(&mut self, c: ReportChunk) {
        self.keys += c.keys;
        self.bytes += c.bytes;
        self.overhead += c.overhead;
        for (db, n) in c.dbs {
            *self.dbs.entry(db).or_default() += n;
        }
        let leaves = &c.paths.leaves;
        let leaf = |l: u32| -> &[u8] { &leaves[l as usize] };
        if let Some(t) = &mut self.tree {
            for g in &c.paths.groups {
                t.add_group(&g.path, &g.cuts, &g.keys);
            }
        }
        if let (Some(t), Some((sums, per))) = (&mut self.ttl, &c.ttl) {
            t.merge_counts(sums);
            for (l, h) in &per.items {
                t.prefix(leaf(*l)).merge(h);
            }
        }
        if let (Some(w), Some((_, expiring))) = (&mut self.waves, &c.waves) {
            // Chunk leaf numbers → the section's prefix numbers.
            let mut ids = vec![None; leaves.len()];
            for (i, &(e, l, bytes)) in expiring.iter().enumerate() {
                if let Some(&(ahead, _, _)) = expiring.get(i + WAVES_AHEAD) {
                    w.prefetch(ahead);
                }
                let id = *ids[l as usize].get_or_insert_with(|| w.id(leaf(l)));
                w.add_at(e, id, bytes);
            }
        }
        if let (Some(b), Some(cb)) = (&mut self.big, c.big) {
            b.merge(cb);
        }
        if let (Some(h), Some((sums, cold))) = (&mut self.hot, &c.hot) {
            h.merge_counts(sums);
            for (l, p) in &cold.items {
                h.cold(leaf(*l)).merge(p);
            }
        }
        if let (Some(d), Some((sums, expired))) = (&mut self.loss, &c.loss) {
            d.merge_counts(sums);
            for (l, p) in &expired.items {
                d.expired(leaf(*l)).merge(p);
            }
        }
    }

    /// The finished report.
    pub fn finish(mut self, file_name: &str, file: &FileFacts) -> Report {
        if let Some(c) = self.pending.take() {
            self.merge(c);
        }
        let top = self.s.top;
        let prefixes = self.tree.map(|t| {
            let mut nodes = Vec::new();
            for d in 0..=t.splitter().depth + 1 {
                nodes.extend(t.nodes(Some(d)).into_iter().take(top));
            }
            PrefixReport {
                separators: String::from_utf8_lossy(&t.splitter().separators).into_owned(),
                depth: t.splitter().depth,
                max_nodes: self.s.max_nodes,
                nodes_held: t.len(),
                top: t
                    .nodes(None)
                    .into_iter()
                    .filter(|n| n.depth <= 1)
                    .take(top)
                    .collect(),
                nodes,
            }
        });
        Report {
            schema: 1,
            file: file_name.to_string(),
            target: file.target,
            keys: self.keys,
            bytes: self.bytes,
            overhead_bytes: self.overhead,
            dbs: self.dbs,
            reference_ms: self.reference_ms,
            reference: self.reference,
            prefixes,
            ttl: self.ttl.map(TtlStats::report),
            waves: self.waves.map(Waves::report),
            bigkeys: self.big.map(BigKeys::report),
            hotcold: self.hot.map(HotCold::report),
            dataloss: self.loss.map(|l| l.report(file)),
        }
    }
}

impl<'a> Analysis<'a> for ReportBuilder {
    type Chunk = ReportChunk;
    fn chunk(&mut self) -> ReportChunk {
        ReportBuilder::chunk(self)
    }
    fn add(c: &mut ReportChunk, k: &KeyFacts<'a>) -> Result<()> {
        c.add(k)
    }
    fn merge(&mut self, c: ReportChunk) -> Result<()> {
        ReportBuilder::merge(self, c);
        Ok(())
    }
    fn lazy_largest(&self) -> bool {
        true
    }
}

/// One row of the long format (JSONL/CSV): `section,group,name,keys,bytes,
/// value,note`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Section name.
    pub section: &'static str,
    /// Group within the section (e.g. `depth:1`, `db:0`, `second`).
    pub group: String,
    /// Row name (prefix, bucket, key, window start).
    pub name: String,
    /// Keys.
    pub keys: u64,
    /// Modelled bytes.
    pub bytes: u64,
    /// A section-specific number (share, elements, burst flag...).
    pub value: f64,
    /// A section-specific note (types, prefixes, encoding...).
    pub note: String,
}

/// ISO-8601 UTC text of a Unix ms time.
pub fn iso_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn row(section: &'static str, group: String, name: String, keys: u64, bytes: u64) -> Row {
    Row {
        section,
        group,
        name,
        keys,
        bytes,
        value: 0.0,
        note: String::new(),
    }
}

impl Report {
    /// The long-format rows of every section present.
    pub fn rows(&self) -> Vec<Row> {
        let mut out = Vec::new();
        if let Some(p) = &self.prefixes {
            for n in &p.nodes {
                let mut r = row(
                    "prefixes",
                    format!("depth:{}", n.depth),
                    n.prefix.clone(),
                    n.keys,
                    n.bytes,
                );
                r.value = n.share;
                r.note = n
                    .types
                    .iter()
                    .map(|(t, c)| format!("{t}={c}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                out.push(r);
            }
        }
        if let Some(t) = &self.ttl {
            let mut hist = |group: String, h: &super::ttl::Histogram| {
                for (i, b) in BUCKETS.iter().enumerate() {
                    out.push(row(
                        "ttl",
                        group.clone(),
                        b.to_string(),
                        h.keys[i],
                        h.bytes[i],
                    ));
                }
            };
            hist("overall".into(), &t.overall);
            for (db, h) in &t.per_db {
                hist(format!("db:{db}"), h);
            }
            for (ty, h) in &t.per_type {
                hist(format!("type:{ty}"), h);
            }
            for (p, h) in &t.per_prefix {
                hist(format!("prefix:{p}"), h);
            }
            for p in &t.no_ttl_by_prefix {
                out.push(row(
                    "ttl",
                    "no-ttl".into(),
                    p.prefix.clone(),
                    p.keys,
                    p.bytes,
                ));
            }
        }
        if let Some(w) = &self.waves {
            for (g, list) in [("second", &w.seconds), ("minute", &w.minutes)] {
                for x in list {
                    let mut r = row("waves", g.into(), iso_ms(x.start_ms), x.keys, x.bytes);
                    r.value = x.burst as u8 as f64;
                    r.note = x
                        .prefixes
                        .iter()
                        .map(|p| format!("{}={}", p.prefix, p.keys))
                        .collect::<Vec<_>>()
                        .join(" ");
                    out.push(r);
                }
            }
        }
        if let Some(b) = &self.bigkeys {
            let mut key = |group: String, k: &super::bigkeys::BigKey| {
                let mut r = row("bigkeys", group, k.key.clone(), 1, k.bytes);
                r.value = k.elements as f64;
                r.note = format!(
                    "db={} type={} encoding={} largest={}",
                    k.db, k.r#type, k.encoding, k.largest_element
                );
                out.push(r);
            };
            for k in &b.by_bytes {
                key("by-bytes".into(), k);
            }
            for (t, l) in &b.by_elements {
                for k in l {
                    key(format!("by-elements:{t}"), k);
                }
            }
        }
        if let Some(h) = &self.hotcold {
            for b in &h.lfu {
                let mut r = row(
                    "hotcold",
                    "lfu".into(),
                    format!("{}-{}", b.min, b.max),
                    b.keys,
                    b.bytes,
                );
                r.note = format!("accesses {}-{}", b.accesses.0, b.accesses.1);
                out.push(r);
            }
            for b in &h.idle {
                out.push(row(
                    "hotcold",
                    "idle".into(),
                    b.name.into(),
                    b.keys,
                    b.bytes,
                ));
            }
            for p in &h.cold_by_prefix {
                out.push(row(
                    "hotcold",
                    "cold".into(),
                    p.prefix.clone(),
                    p.keys,
                    p.bytes,
                ));
            }
        }
        if let Some(l) = &self.dataloss {
            out.push(row(
                "dataloss",
                "expired".into(),
                "total".into(),
                l.expired_keys,
                l.expired_bytes,
            ));
            for p in &l.expired_by_prefix {
                out.push(row(
                    "dataloss",
                    "expired".into(),
                    p.prefix.clone(),
                    p.keys,
                    p.bytes,
                ));
            }
            let mut r = row(
                "dataloss",
                "no-ttl".into(),
                "total".into(),
                l.persistent_keys,
                l.persistent_bytes,
            );
            r.value = l.persistent_share;
            out.push(r);
            out.push(row(
                "dataloss",
                "ttl".into(),
                "total".into(),
                l.volatile_keys,
                0,
            ));
            for db in &l.empty_dbs {
                out.push(row("dataloss", "empty-db".into(), db.to_string(), 0, 0));
            }
            for (db, n) in &l.unexpected_dbs {
                out.push(row(
                    "dataloss",
                    "unexpected-db".into(),
                    db.to_string(),
                    *n,
                    0,
                ));
            }
        }
        out
    }

    /// The human report.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{}: {} keys, {} modelled ({} keyspace overhead), target {}",
            self.file,
            self.keys,
            human_bytes(self.bytes),
            human_bytes(self.overhead_bytes),
            target_name(self.target)
        );
        let _ = writeln!(
            o,
            "reference time {} ({})",
            iso_ms(self.reference_ms),
            self.reference
        );
        let pct = |a: u64, b: u64| a as f64 * 100.0 / b.max(1) as f64;
        if let Some(p) = &self.prefixes {
            let _ = writeln!(
                o,
                "\n== memory by prefix (separators {:?}, depth {}, {} nodes held, cap {})",
                p.separators, p.depth, p.nodes_held, p.max_nodes
            );
            let _ = writeln!(
                o,
                "{:<40} {:>5} {:>10} {:>12} {:>7} {:>6}  types",
                "prefix", "depth", "keys", "bytes", "share", "ttl%"
            );
            for n in &p.nodes {
                let _ = writeln!(
                    o,
                    "{:<40} {:>5} {:>10} {:>12} {:>6.1}% {:>5.1}%  {}",
                    clip(&n.prefix, 40),
                    n.depth,
                    n.keys,
                    human_bytes(n.bytes),
                    n.share * 100.0,
                    n.ttl_share * 100.0,
                    n.types
                        .iter()
                        .map(|(t, c)| format!("{t}:{c}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        if let Some(t) = &self.ttl {
            let _ = writeln!(o, "\n== TTL distribution (time left at the reference time)");
            let mut head = format!("{:<28}", "");
            for b in BUCKETS {
                let _ = write!(head, " {b:>9}");
            }
            let _ = writeln!(o, "{head}");
            let line = |o: &mut String, name: &str, h: &super::ttl::Histogram| {
                let _ = write!(o, "{:<28}", clip(name, 28));
                for k in h.keys {
                    let _ = write!(o, " {k:>9}");
                }
                let _ = writeln!(o);
            };
            line(&mut o, "all keys", &t.overall);
            for (db, h) in &t.per_db {
                line(&mut o, &format!("db {db}"), h);
            }
            for (ty, h) in &t.per_type {
                line(&mut o, &format!("type {ty}"), h);
            }
            for (p, h) in &t.per_prefix {
                line(&mut o, p, h);
            }
            let _ = writeln!(o, "keys without TTL by prefix:");
            for p in &t.no_ttl_by_prefix {
                let _ = writeln!(
                    o,
                    "  {:<40} {:>10} keys {:>12}",
                    clip(&p.prefix, 40),
                    p.keys,
                    human_bytes(p.bytes)
                );
            }
        }
        if let Some(w) = &self.waves {
            let _ = writeln!(
                o,
                "\n== expiry waves ({} burst seconds, {} burst minutes; burst = ≥ {} keys and ≥ {}× the mean window)",
                w.burst_seconds, w.burst_minutes, w.burst_min, w.burst_factor
            );
            for (g, list) in [("second", &w.seconds), ("minute", &w.minutes)] {
                for x in list.iter().take(10) {
                    let _ = writeln!(
                        o,
                        "  {g:<6} {} {:>9} keys {:>12} {}  {}",
                        iso_ms(x.start_ms),
                        x.keys,
                        human_bytes(x.bytes),
                        if x.burst { "BURST" } else { "     " },
                        x.prefixes
                            .iter()
                            .map(|p| format!("{}({})", p.prefix, p.keys))
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
            }
        }
        if let Some(b) = &self.bigkeys {
            let _ = writeln!(o, "\n== big keys by modelled bytes");
            for k in &b.by_bytes {
                let _ = writeln!(
                    o,
                    "  {:>12} db{:<3} {:<6} {:<10} {:>9} elements  {}",
                    human_bytes(k.bytes),
                    k.db,
                    k.r#type,
                    k.encoding,
                    k.elements,
                    clip(&k.key, 60)
                );
            }
            let _ = writeln!(o, "big keys by elements:");
            for (t, l) in &b.by_elements {
                if let Some(k) = l.first() {
                    let _ = writeln!(
                        o,
                        "  {t:<7} {:>10} elements  {}",
                        k.elements,
                        clip(&k.key, 60)
                    );
                }
            }
            let _ = writeln!(o, "largest element per type:");
            for (t, l) in &b.largest_element {
                let _ = writeln!(o, "  {t:<7} {:>10} B  {}", l.length, clip(&l.key, 60));
            }
        }
        if let Some(h) = &self.hotcold {
            let _ = writeln!(
                o,
                "\n== hot/cold (source: {}, {} LFU keys, {} LRU keys)",
                h.source, h.lfu_keys, h.lru_keys
            );
            if h.lfu_keys > 0 {
                for b in &h.lfu {
                    let _ = writeln!(
                        o,
                        "  freq {:>3}-{:<3} ~{}-{} accesses {:>9} keys {:>12}",
                        b.min,
                        b.max,
                        b.accesses.0,
                        b.accesses.1,
                        b.keys,
                        human_bytes(b.bytes)
                    );
                }
            }
            if h.lru_keys > 0 {
                for b in &h.idle {
                    let _ = writeln!(
                        o,
                        "  idle {:<7} {:>9} keys {:>12}",
                        b.name,
                        b.keys,
                        human_bytes(b.bytes)
                    );
                }
            }
            let _ = writeln!(
                o,
                "cold keys by prefix (idle ≥ {} s or freq ≤ {}):",
                h.cold_idle_s, h.cold_freq
            );
            for p in &h.cold_by_prefix {
                let _ = writeln!(
                    o,
                    "  {:<40} {:>10} keys {:>12}",
                    clip(&p.prefix, 40),
                    p.keys,
                    human_bytes(p.bytes)
                );
            }
        }
        if let Some(l) = &self.dataloss {
            let _ = writeln!(o, "\n== data-loss view");
            let _ = writeln!(
                o,
                "  expired at reference: {} keys ({})",
                l.expired_keys,
                human_bytes(l.expired_bytes)
            );
            let _ = writeln!(
                o,
                "  keys with TTL (volatile-* candidates): {}; without TTL: {} ({:.1} % of keys, {:.1} % of memory)",
                l.volatile_keys,
                l.persistent_keys,
                pct(l.persistent_keys, l.volatile_keys + l.persistent_keys),
                l.persistent_share * 100.0
            );
            for f in &l.findings {
                let _ = writeln!(o, "  ! {f}");
            }
        }
        o
    }
}

/// The command-line name of a target (`redis-7.0`, ...).
pub fn target_name(t: Option<Target>) -> String {
    t.and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Cuts `s` to at most `n` characters (with an ellipsis).
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_ms(2_524_608_000_000), "2050-01-01T00:00:00Z");
        assert_eq!(iso_ms(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
