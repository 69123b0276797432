//! `rdbtool project`: what a restore into a smaller `maxmemory` keeps and
//! loses, from the memory model and the eviction simulator.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;
use serde::Serialize;

use super::output::Output;
use super::report::{ModelArgs, model_config, read_options};
use super::survivors::{self, Kept};
use crate::analyze::evict::{Cron, EvictKey, Policy, SimParams, simulate_load, simulate_restore};
use crate::analyze::evict_mem::{DbCounts, KeyShape, freed, tables};
use crate::analyze::facts::scan;
use crate::analyze::memory::layout::Layout;
use crate::analyze::memory::rax;
use crate::error::{Error, Result};
use crate::export::json::write_bytes;
use crate::model::{DataType, RdbLayout};
use crate::rdb::read::prim::RdbStr;
use crate::rdb::read::stream::{self, StreamVisitor};
use crate::rdb::read::{Scratch, Value};
use crate::server::Target;

/// µs per evicted key when not given: redis-server 7.0 on a lightly loaded
/// 2-core VM evicted 29k keys in 22–100 ms.
const DEFAULT_EVICT_US: f64 = 2.0;

/// How keys reach the smaller server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The file is loaded whole (loading never evicts); the next write
    /// evicts down to `maxmemory`.
    Load,
    /// Keys arrive one by one (RESTORE order); each write may evict.
    Restore,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Load => "load",
            Mode::Restore => "restore",
        })
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProjectFormat {
    /// Aligned text.
    Table,
    /// One JSON document.
    Json,
}

/// `rdbtool project FILE --maxmemory SIZE --policy POLICY`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectArgs {
    /// The RDB file.
    pub file: PathBuf,
    /// The target's `maxmemory` (bytes, or with a kb/mb/gb suffix as in
    /// redis.conf).
    #[arg(long, value_parser = parse_size)]
    pub maxmemory: u64,
    /// The target's `maxmemory-policy`.
    #[arg(long, value_enum)]
    pub policy: Policy,
    /// `maxmemory-samples`.
    #[arg(long, default_value_t = 5)]
    pub samples: usize,
    /// Monte-Carlo runs (each with its own sampling seed).
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Wall time the target spends per evicted key, in µs, which places the
    /// server's cron ticks (every 100 ms) within the eviction (load mode):
    /// a tick can shrink the tables of a drained db and so end the eviction
    /// sooner. Measured on redis-server 7.0 on a 2-core VM: 0.8–2.5 µs.
    /// 0: no tick inside the eviction.
    #[arg(long, default_value_t = DEFAULT_EVICT_US)]
    pub evict_us: f64,
    /// Whole-file load or key-by-key restore.
    #[arg(long, value_enum, default_value = "load")]
    pub mode: Mode,
    /// `used_memory` of the empty target server (default: measured for the
    /// target line: redis-server 7.0 ~ 900 kB, 8.x ~ 690 kB). A fresh 7.0
    /// server that takes a restore also allocates the latency histograms of
    /// SELECT and RESTORE (~49 kB): add them with `--mode restore`.
    #[arg(long)]
    pub baseline: Option<u64>,
    /// Keys listed in the "most likely evicted" table.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ProjectFormat,
    /// Write the keys evicted in the first run as JSON lines
    /// (`db`, `key`, `bytes`, `probability` over the runs).
    #[arg(long)]
    pub write_evicted: Option<PathBuf>,
    /// Write the keys the first run keeps as an RDB file (same version as
    /// the input, with TTLs and IDLE/FREQ), written atomically.
    #[arg(long)]
    pub write_survivors: Option<PathBuf>,
    /// Reader options.
    #[command(flatten)]
    pub read: super::args::ReadArgs,
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `maxmemory` text as redis.conf reads it: bytes, or k/kb/m/mb/g/gb.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| t.strip_suffix(suf).map(|n| (n.to_string(), *m)))
    .unwrap_or((t.clone(), 1));
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("invalid size {s:?} (expected bytes or a kb/mb/gb suffix)"))
}

/// Keys and bytes of one group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Keys.
    pub keys: u64,
    /// Bytes (model).
    pub bytes: u64,
    /// Keys evicted (first run).
    pub evicted_keys: u64,
    /// Bytes evicted (first run).
    pub evicted_bytes: u64,
}

/// A key with its eviction probability over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct AtRisk {
    /// Database.
    pub db: u64,
    /// Key (lossy UTF-8 for display).
    pub key: String,
    /// Model bytes.
    pub bytes: u64,
    /// Share of runs that evicted it.
    pub probability: f64,
    /// True when the key has no TTL.
    pub no_ttl: bool,
}

/// The projection.
#[derive(Debug, Clone, Serialize)]
pub struct Projection {
    /// Server line the memory model targets.
    pub target: Option<Target>,
    /// Policy.
    pub policy: &'static str,
    /// Mode.
    pub mode: Mode,
    /// `maxmemory`.
    pub maxmemory: u64,
    /// Baseline used (empty instance) plus hash table arrays.
    pub baseline: u64,
    /// Memory the whole keyspace needs on the target: the smallest
    /// `maxmemory` that keeps every key.
    pub needed: u64,
    /// True when the file has IDLE opcodes (LRU order known).
    pub has_idle: bool,
    /// True when the file has FREQ opcodes (LFU counters known).
    pub has_freq: bool,
    /// Overall tally (first run).
    pub total: Tally,
    /// Per db.
    pub per_db: BTreeMap<u64, Tally>,
    /// Per type.
    pub per_type: BTreeMap<&'static str, Tally>,
    /// Per first-level prefix (up to the first `:`).
    pub per_prefix: BTreeMap<String, Tally>,
    /// Evicted keys per run (Monte-Carlo spread).
    pub evicted_per_run: Vec<u64>,
    /// Evicted keys (first run's seed) when the cron shrinks tables as soon
    /// as the server can, and when no cron tick falls inside the
    /// eviction: the range the cron's timing spans.
    pub evicted_range: [u64; 2],
    /// Writes refused (restore mode: `noeviction`, or nothing evictable).
    pub refused_keys: u64,
    /// Keys without a TTL evicted in the first run.
    pub evicted_without_ttl: u64,
    /// Keys most likely to be evicted.
    pub most_likely: Vec<AtRisk>,
    /// True when memory ends at or under `maxmemory`.
    pub fits: bool,
}

struct KeyInfo {
    db: u64,
    key: Vec<u8>,
    dtype: DataType,
}

fn prefix_of(k: &[u8]) -> String {
    let end = k.iter().position(|&b| b == b':').map_or(k.len(), |p| p + 1);
    String::from_utf8_lossy(&k[..end.min(64)]).into_owned()
}

/// Quicklist nodes of a stored list (older list layouts are rebuilt into
/// one node by the loader: counted as one).
fn quicklist_nodes(v: &Value<'_>, scratch: &mut Scratch) -> u64 {
    if !matches!(
        v.layout,
        RdbLayout::ListQuicklist | RdbLayout::ListQuicklist2
    ) {
        return 1;
    }
    let mut nodes = 0u64;
    match v.for_each_quicklist_node(scratch, |_| {
        nodes += 1;
        Ok(())
    }) {
        Ok(_) if nodes > 0 => nodes,
        _ => 1,
    }
}

/// Collects a stream's rax keys (its listpack nodes' master IDs).
struct RaxKeys<'v>(&'v mut Vec<[u8; 16]>);

impl<'a> StreamVisitor<'a> for RaxKeys<'_> {
    fn node(&mut self, key: RdbStr<'a>, _lp: RdbStr<'a>) {
        if let Some(k) = key.as_raw().and_then(|k| <[u8; 16]>::try_from(k).ok()) {
            self.0.push(k);
        }
    }
}

/// A stream's main rax: (keys, nodes), or `None` for other values.
fn stream_rax(v: &Value<'_>, buf: &mut Vec<[u8; 16]>) -> Option<(u64, u64)> {
    let RdbLayout::Stream(ver) = v.layout else {
        return None;
    };
    buf.clear();
    stream::walk(v.raw, ver, &mut RaxKeys(buf)).ok()?;
    buf.sort_unstable();
    buf.dedup();
    Some((buf.len() as u64, rax::node_count(buf)))
}

/// Runs `rdbtool project`.
pub fn project(a: ProjectArgs) -> Result<()> {
    let proj = projection(&a)?;
    let mut out = Output::create(None, &[])?;
    match a.format {
        ProjectFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &proj)?;
            writeln!(out)?;
        }
        ProjectFormat::Table => out.write_all(to_text(&proj).as_bytes())?,
    }
    out.commit()
}

/// The projection of `a.file` (and the `--write-evicted` /
/// `--write-survivors` files when asked for).
pub fn projection(a: &ProjectArgs) -> Result<Projection> {
    let src = crate::source::Source::open(&a.file)?;
    let cfg = model_config(&a.model, &a.read);
    let mut shapes = Vec::new();
    let mut access = Vec::new();
    let mut info = Vec::new();
    let (mut has_idle, mut has_freq) = (false, false);
    let mut counts: BTreeMap<u64, DbCounts> = BTreeMap::new();
    let mut scratch = crate::rdb::read::Scratch::default();
    let mut rax_keys = Vec::new();
    let file = scan(src.bytes(), &read_options(&a.read), &cfg, None, |k| {
        has_idle |= k.idle_s.is_some();
        has_freq |= k.freq.is_some();
        let c = counts.entry(k.db).or_default();
        c.keys += 1;
        c.expires += k.expire_ms.is_some() as u64;
        shapes.push(KeyShape {
            bytes: k.mem.bytes,
            encoding: k.mem.encoding,
            elements: k.mem.elements,
            db: k.db,
            ttl: k.expire_ms.is_some(),
            quicklist_nodes: quicklist_nodes(&k.value, &mut scratch),
            rax: stream_rax(&k.value, &mut rax_keys),
        });
        access.push((k.idle_s.unwrap_or(0), k.freq.unwrap_or(5), k.expire_ms));
        info.push(KeyInfo {
            db: k.db,
            key: k.key.to_vec(),
            dtype: k.dtype,
        });
        Ok(())
    })
    .map_err(|e| e.with_path(&a.file))?;
    let target = file.target;
    let layout = Layout::of(target.unwrap_or(Target::Redis70));
    let keys: Vec<EvictKey> = shapes
        .iter()
        .zip(&access)
        .map(|(s, &(idle_s, lfu, expire_ms))| EvictKey {
            db: s.db as u32,
            bytes: freed(s, &layout, cfg.alloc, counts[&s.db]),
            idle_s,
            lfu,
            expire_ms,
        })
        .collect();
    let empty = a.baseline.unwrap_or(match target {
        Some(Target::Redis8) => 690_000,
        _ => 900_000,
    });
    // The bucket arrays stay allocated while keys are evicted (a restore
    // grows them as keys arrive: the simulation adds them).
    let file_tables = tables(counts.values().copied());
    let baseline = match a.mode {
        Mode::Load => empty + file_tables,
        Mode::Restore => empty,
    };
    let needed = empty + file_tables + keys.iter().map(|k| k.bytes).sum::<u64>();
    if a.runs == 0 {
        return Err(Error::usage("--runs must be at least 1"));
    }
    let mut counts = vec![0u32; keys.len()];
    let mut first = None;
    let mut per_run = Vec::new();
    // Each run puts the first cron tick at its own point of the period
    // (stratified: the runs' mean is the mean over the cron's timing).
    let cron = |run: u32| {
        if a.evict_us > 0.0 {
            Cron::Timed {
                key_us: a.evict_us,
                phase: (run as f64 + 0.5) / a.runs as f64,
            }
        } else {
            Cron::Never
        }
    };
    let params = |run: u32, cron| SimParams {
        policy: a.policy,
        maxmemory: a.maxmemory,
        samples: a.samples.max(1),
        baseline,
        seed: 0x5eed_u64.wrapping_add(run as u64),
        cron,
    };
    let evicted_range = match a.mode {
        Mode::Load => [Cron::Eager, Cron::Never]
            .map(|c| simulate_load(&keys, params(0, c)).evicted.len() as u64),
        Mode::Restore => [0, 0],
    };
    for run in 0..a.runs {
        let p = params(run, cron(run));
        let out = match a.mode {
            Mode::Load => simulate_load(&keys, p),
            Mode::Restore => simulate_restore(&keys, p),
        };
        for &i in &out.evicted {
            counts[i as usize] += 1;
        }
        per_run.push(out.evicted.len() as u64);
        if first.is_none() {
            first = Some(out);
        }
    }
    let first = first.unwrap_or_default();
    let mut evicted = vec![false; keys.len()];
    for &i in &first.evicted {
        evicted[i as usize] = true;
    }
    let mut total = Tally::default();
    let mut per_db: BTreeMap<u64, Tally> = BTreeMap::new();
    let mut per_type: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut per_prefix: BTreeMap<String, Tally> = BTreeMap::new();
    let mut evicted_without_ttl = 0;
    for (i, (k, ki)) in keys.iter().zip(&info).enumerate() {
        let ev = evicted[i];
        evicted_without_ttl += (ev && k.expire_ms.is_none()) as u64;
        // Bound the prefix table: beyond 10 000 distinct prefixes the rest
        // is counted under "(other)".
        let pfx = prefix_of(&ki.key);
        let pfx = if per_prefix.len() < 10_000 || per_prefix.contains_key(&pfx) {
            pfx
        } else {
            "(other)".to_string()
        };
        for t in [
            &mut total,
            per_db.entry(ki.db).or_default(),
            per_type.entry(ki.dtype.name()).or_default(),
            per_prefix.entry(pfx).or_default(),
        ] {
            t.keys += 1;
            t.bytes += k.bytes;
            t.evicted_keys += ev as u64;
            t.evicted_bytes += if ev { k.bytes } else { 0 };
        }
    }
    let mut order: Vec<usize> = (0..keys.len()).filter(|&i| counts[i] > 0).collect();
    order.sort_by(|&x, &y| {
        counts[y]
            .cmp(&counts[x])
            .then(keys[y].bytes.cmp(&keys[x].bytes))
    });
    let most_likely = order
        .iter()
        .take(a.top)
        .map(|&i| AtRisk {
            db: info[i].db,
            key: String::from_utf8_lossy(&info[i].key).into_owned(),
            bytes: keys[i].bytes,
            probability: counts[i] as f64 / a.runs as f64,
            no_ttl: keys[i].expire_ms.is_none(),
        })
        .collect();
    let proj = Projection {
        target,
        policy: a.policy.name(),
        mode: a.mode,
        maxmemory: a.maxmemory,
        baseline: empty + file_tables,
        needed,
        has_idle,
        has_freq,
        total,
        per_db,
        per_type,
        per_prefix,
        evicted_per_run: per_run,
        evicted_range,
        refused_keys: first.refused.len() as u64,
        evicted_without_ttl,
        most_likely,
        fits: first.fits,
    };
    if let Some(path) = &a.write_evicted {
        let mut out = Output::create(Some(path), &[&a.file])?;
        for &i in &first.evicted {
            let i = i as usize;
            write!(out, "{{\"db\":{},\"key\":", info[i].db)?;
            write_bytes(&mut out, &info[i].key)?;
            writeln!(
                out,
                ",\"bytes\":{},\"probability\":{}}}",
                keys[i].bytes,
                counts[i] as f64 / a.runs as f64
            )?;
        }
        out.commit()?;
    }
    if let Some(path) = &a.write_survivors {
        let mut gone = evicted.clone();
        for &i in &first.refused {
            gone[i as usize] = true;
        }
        let kept: Vec<Kept> = shapes
            .iter()
            .zip(&gone)
            .map(|(s, &g)| Kept {
                db: s.db,
                ttl: s.ttl,
                keep: !g,
            })
            .collect();
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        survivors::write(
            src.bytes(),
            &a.file,
            path,
            &read_options(&a.read),
            &kept,
            now_s,
        )
        .map_err(|e| e.with_path(&a.file))?;
    }
    Ok(proj)
}

/// The projection `rdbtool report --html --project-maxmemory SIZE
/// --project-policy P` adds to the page (defaults of `rdbtool project`).
pub fn for_report(
    file: &std::path::Path,
    maxmemory: u64,
    policy: Policy,
    r: &super::report::ReportArgs,
) -> Result<Projection> {
    projection(&ProjectArgs {
        file: file.to_path_buf(),
        maxmemory,
        policy,
        samples: 5,
        runs: 5,
        evict_us: DEFAULT_EVICT_US,
        mode: Mode::Load,
        baseline: None,
        top: 10,
        format: ProjectFormat::Table,
        write_evicted: None,
        write_survivors: None,
        read: r.read.clone(),
        model: r.model.clone(),
    })
}

/// The projection as a section of the HTML report: summary line, per-type
/// table and the keys most likely evicted.
pub fn html_section(p: &Projection) -> String {
    use std::fmt::Write as _;
    let esc = crate::analyze::html::esc;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<h2>Eviction projection</h2><p id="projection">{} into <code>maxmemory</code> {} ({} mode): {} of {} keys evicted ({} of {} bytes), {} of them without a TTL; needed to keep everything: {} bytes.{}</p>"#,
        esc(p.policy),
        p.maxmemory,
        p.mode,
        p.total.evicted_keys,
        p.total.keys,
        p.total.evicted_bytes,
        p.total.bytes,
        p.evicted_without_ttl,
        p.needed,
        if (p.policy.contains("lru") && !p.has_idle) || (p.policy.contains("lfu") && !p.has_freq) {
            " The file has no access data for this policy: access treated as uniform."
        } else {
            ""
        }
    );
    o.push_str(r#"<table id="projection-types" class="sortable"><tr><th>type</th><th>keys</th><th>evicted</th><th>bytes evicted</th></tr>"#);
    for (t, v) in &p.per_type {
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(t),
            v.keys,
            v.evicted_keys,
            v.evicted_bytes
        );
    }
    o.push_str("</table>");
    if !p.most_likely.is_empty() {
        o.push_str(r#"<table id="projection-keys" class="sortable"><tr><th>key</th><th>db</th><th>bytes</th><th>probability</th><th>TTL</th></tr>"#);
        for k in &p.most_likely {
            let _ = write!(
                o,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.2}</td><td>{}</td></tr>"#,
                esc(&k.key),
                k.db,
                k.bytes,
                k.probability,
                if k.no_ttl { "none" } else { "yes" }
            );
        }
        o.push_str("</table>");
    }
    o
}

fn to_text(p: &Projection) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Projection  {} ({} mode) into maxmemory {} on {}",
        p.policy,
        p.mode,
        p.maxmemory,
        p.target
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "Needed      {} bytes to keep every key (baseline {} + keys {})",
        p.needed,
        p.baseline,
        p.needed - p.baseline
    );
    if !p.has_idle && p.policy.contains("lru") {
        let _ = writeln!(
            o,
            "Note        the file has no IDLE data: access times unknown, treated as uniform"
        );
    }
    if !p.has_freq && p.policy.contains("lfu") {
        let _ = writeln!(
            o,
            "Note        the file has no FREQ data: every key counted at the initial LFU value"
        );
    }
    let _ = writeln!(
        o,
        "Evicted     {} of {} keys, {} of {} bytes (runs: {}); {} without TTL; refused writes {}; fits: {}",
        p.total.evicted_keys,
        p.total.keys,
        p.total.evicted_bytes,
        p.total.bytes,
        p.evicted_per_run
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        p.evicted_without_ttl,
        p.refused_keys,
        p.fits
    );
    if p.mode == Mode::Load {
        let _ = writeln!(
            o,
            "Cron range  {}..{} keys: the server's cron shrinking drained dbs' tables as soon as it can .. no cron tick during the eviction",
            p.evicted_range[0], p.evicted_range[1]
        );
    }
    let table = |o: &mut String, title: &str, rows: Vec<(String, &Tally)>| {
        let _ = writeln!(
            o,
            "\n{title:<24} {:>10} {:>10} {:>14}",
            "keys", "evicted", "bytes evicted"
        );
        for (name, t) in rows {
            let _ = writeln!(
                o,
                "{name:<24} {:>10} {:>10} {:>14}",
                t.keys, t.evicted_keys, t.evicted_bytes
            );
        }
    };
    table(
        &mut o,
        "db",
        p.per_db.iter().map(|(d, t)| (d.to_string(), t)).collect(),
    );
    table(
        &mut o,
        "type",
        p.per_type.iter().map(|(d, t)| (d.to_string(), t)).collect(),
    );
    let mut pf: Vec<_> = p.per_prefix.iter().collect();
    pf.sort_by_key(|b| std::cmp::Reverse(b.1.evicted_bytes));
    table(
        &mut o,
        "prefix",
        pf.into_iter()
            .take(20)
            .map(|(d, t)| (d.clone(), t))
            .collect(),
    );
    if !p.most_likely.is_empty() {
        let _ = writeln!(o, "\nMost likely evicted (share of runs)");
        for k in &p.most_likely {
            let _ = writeln!(
                o,
                "  {:>5.2}  db{:<3} {:>10} B  {}{}",
                k.probability,
                k.db,
                k.bytes,
                k.key,
                if k.no_ttl { "  (no TTL)" } else { "" }
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_redis_conf_reads_them() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("1kb"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1000));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert!(parse_size("x").is_err());
    }
}
