//! The analyzer commands: `memory` (per-key memory listing), `report`
//! (all sections or one) and `diff`.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::args::ReadArgs;
use super::output::Output;
use crate::analyze::diff::{Change, Differ};
use crate::analyze::facts::{
    Analysis, FileFacts, KeyFacts, ModelConfig, Thresholds, scan, scan_chunked,
};
use crate::analyze::html;
use crate::analyze::listing::{Listing, ListingFormat};
use crate::analyze::memory::alloc::Alloc;
use crate::analyze::prefix::Splitter;
use crate::analyze::report::{Report, ReportBuilder, Section, Settings, clip};
use crate::error::{Error, Result};
use crate::rdb::read::ReadOptions;
use crate::source::Source;

/// The allocator of the server build the model targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AllocArg {
    /// Redis' bundled jemalloc (official builds, Docker images): 8-byte
    /// size classes up to 64 bytes.
    Bundled,
    /// A system jemalloc (Debian/Ubuntu packages): 16-byte classes.
    System,
}

/// Memory-model options shared by the analyzer commands.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Allocator of the server build (`--target` picks the version).
    #[arg(long, value_enum, default_value = "bundled")]
    pub allocator: AllocArg,
    /// The loading server's hash-max-listpack-entries (default: the target's).
    #[arg(long)]
    pub hash_max_listpack_entries: Option<u64>,
    /// hash-max-listpack-value.
    #[arg(long)]
    pub hash_max_listpack_value: Option<u64>,
    /// zset-max-listpack-entries.
    #[arg(long)]
    pub zset_max_listpack_entries: Option<u64>,
    /// zset-max-listpack-value.
    #[arg(long)]
    pub zset_max_listpack_value: Option<u64>,
    /// set-max-intset-entries.
    #[arg(long)]
    pub set_max_intset_entries: Option<u64>,
    /// set-max-listpack-entries.
    #[arg(long)]
    pub set_max_listpack_entries: Option<u64>,
    /// set-max-listpack-value.
    #[arg(long)]
    pub set_max_listpack_value: Option<u64>,
    /// list-max-listpack-size.
    #[arg(long, allow_hyphen_values = true)]
    pub list_max_listpack_size: Option<i64>,
}

/// The memory model configuration the flags describe.
pub(crate) fn model_config(m: &ModelArgs, read: &ReadArgs) -> ModelConfig {
    m.config(read)
}

impl ModelArgs {
    fn config(&self, read: &ReadArgs) -> ModelConfig {
        ModelConfig {
            target: read.target,
            alloc: match self.allocator {
                AllocArg::Bundled => Alloc::BUNDLED,
                AllocArg::System => Alloc::SYSTEM,
            },
            thresholds: Thresholds {
                hash_max_listpack_entries: self.hash_max_listpack_entries,
                hash_max_listpack_value: self.hash_max_listpack_value,
                zset_max_listpack_entries: self.zset_max_listpack_entries,
                zset_max_listpack_value: self.zset_max_listpack_value,
                set_max_intset_entries: self.set_max_intset_entries,
                set_max_listpack_entries: self.set_max_listpack_entries,
                set_max_listpack_value: self.set_max_listpack_value,
                list_max_listpack_size: self.list_max_listpack_size,
            },
        }
    }
}

/// `memory` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MemoryFormat {
    /// Aligned columns.
    Table,
    /// One JSON object per key.
    Jsonl,
    /// redis-rdb-tools' memory CSV columns.
    Csv,
}

/// `rdbtool memory`.
#[derive(Debug, Clone, clap::Args)]
pub struct MemoryArgs {
    /// The RDB file.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: MemoryFormat,
    /// Output file (default or `-`: standard output). Written atomically.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Reader options.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Machine formats of `report` and `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned text.
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per row (report) or per change (diff).
    Jsonl,
    /// Long-format rows: section,group,name,keys,bytes,value,note.
    Csv,
}

/// `rdbtool report [SECTION] FILE`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// `[SECTION] FILE...`: a section (prefixes, ttl, waves, bigkeys,
    /// hotcold, dataloss) and the RDB file; without a section, all of them.
    /// Several files or directories: a report per file and a combined one,
    /// read in parallel.
    #[arg(num_args = 1.., required = true, value_name = "[SECTION] FILE")]
    pub items: Vec<OsString>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Output file (default or `-`: standard output). Written atomically.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML page.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Add an eviction projection to the HTML page: the target's
    /// `maxmemory` (as `rdbtool project --maxmemory`).
    #[arg(long, requires_all = ["html", "project_policy"], value_parser = super::project::parse_size)]
    pub project_maxmemory: Option<u64>,
    /// The projection's `maxmemory-policy`.
    #[arg(long, value_enum, requires = "project_maxmemory")]
    pub project_policy: Option<crate::analyze::evict::Policy>,
    /// Prefix separators.
    #[arg(long, default_value = ":/.|#")]
    pub separators: String,
    /// Deepest prefix level.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Named prefix nodes at most (the rest goes to "other" buckets).
    #[arg(long, default_value_t = 10_000)]
    pub max_nodes: usize,
    /// Length of top-N lists.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Reference time in Unix ms (default: the snapshot's ctime, else now).
    #[arg(long)]
    pub now_ms: Option<i64>,
    /// A burst needs at least this many keys in the window ...
    #[arg(long, default_value_t = 100)]
    pub burst_min: u64,
    /// ... and this many times the mean non-empty window.
    #[arg(long, default_value_t = 10.0)]
    pub burst_factor: f64,
    /// lfu-log-factor of the server that wrote the file.
    #[arg(long, default_value_t = 10)]
    pub lfu_log_factor: u64,
    /// Keys idle at least this many seconds are cold.
    #[arg(long, default_value_t = 86_400)]
    pub cold_idle: u64,
    /// Keys with an LFU counter at most this are cold.
    #[arg(long, default_value_t = 5)]
    pub cold_freq: u8,
    /// Databases keys are expected in (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub expected_dbs: Vec<u64>,
    /// Reader options.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `rdbtool diff A B`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// The older snapshot.
    pub a: PathBuf,
    /// The newer snapshot.
    pub b: PathBuf,
    /// Output format (`jsonl`: one line per change).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Output file (default or `-`: standard output). Written atomically.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Prefix separators.
    #[arg(long, default_value = ":/.|#")]
    pub separators: String,
    /// Deepest prefix level.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Prefixes listed at most.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Reader options.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Reader options of the analyzer commands.
pub(crate) fn read_options(a: &ReadArgs) -> ReadOptions {
    ReadOptions {
        verify_checksum: !a.no_checksum,
        relaxed_version: a.skip_unknown,
        salvage: a.salvage,
    }
}

/// Files at least this large get a progress bar (on a terminal).
const PROGRESS_MIN: u64 = 256 << 20;

pub(crate) fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if len < PROGRESS_MIN || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}",
    ) {
        pb.set_style(style);
    }
    Some(pb)
}

/// Runs `analysis` over every key of `src` on the chunked parallel pass
/// ([`scan_chunked`]; not in salvage mode), giving back the pages it has
/// read as it goes, with a progress bar on big files.
pub(crate) fn chunked<'a, A: Analysis<'a> + Send>(
    src: &'a Source,
    read: &ReadArgs,
    cfg: &ModelConfig,
    pb: Option<&indicatif::ProgressBar>,
    analysis: &mut A,
) -> Result<FileFacts> {
    let tick = pb.map(|p| move |off: u64| p.set_position(off));
    let cb: Option<&(dyn Fn(u64) + Sync)> = tick.as_ref().map(|t| t as &(dyn Fn(u64) + Sync));
    let release = |r| src.release(r);
    let r = scan_chunked(
        src.bytes(),
        &read_options(read),
        cfg,
        cb,
        analysis,
        Some(&release),
    );
    if let Some(p) = pb {
        p.finish_and_clear();
    }
    r
}

/// Runs `f` over every key of `file`, with a progress bar on big files.
pub(crate) fn pass<'a, F>(
    data: &'a [u8],
    read: &ReadArgs,
    cfg: &ModelConfig,
    pb: Option<&'a indicatif::ProgressBar>,
    f: F,
) -> Result<FileFacts>
where
    F: FnMut(&KeyFacts<'a>) -> Result<()>,
{
    let tick = pb.map(|p| move |off: u64| p.set_position(off));
    let cb: Option<&(dyn Fn(u64) + Sync)> = tick.as_ref().map(|t| t as &(dyn Fn(u64) + Sync));
    let r = scan(data, &read_options(read), cfg, cb, f);
    if let Some(p) = pb {
        p.finish_and_clear();
    }
    r
}

/// `rdbtool memory`.
pub fn memory(a: MemoryArgs) -> Result<()> {
    let src = super::aof_input::open_source(&a.file)?;
    let data = src.bytes();
    let mut out = Output::create(a.output.as_deref(), &[&a.file])?;
    let cfg = a.model.config(&a.read);
    let pb = progress_bar(data.len() as u64);
    let format = match a.format {
        MemoryFormat::Table => ListingFormat::Table,
        MemoryFormat::Jsonl => ListingFormat::Jsonl,
        MemoryFormat::Csv => ListingFormat::Csv,
    };
    let res = Listing::new(&mut out, format).and_then(|mut w| {
        let file = if a.read.salvage {
            pass(data, &a.read, &cfg, pb.as_ref(), |k| w.key(k))
        } else {
            chunked(&src, &a.read, &cfg, pb.as_ref(), &mut w)
        }?;
        w.finish(&file)
    });
    match res {
        Ok(()) => out.commit(),
        Err(e) => {
            out.abort();
            Err(e.with_path(&a.file))
        }
    }
}

fn csv_err(e: csv::Error) -> Error {
    Error::sink(e.to_string())
}

fn splitter(separators: &str, depth: usize) -> Splitter {
    Splitter {
        separators: separators.as_bytes().to_vec(),
        depth,
    }
}

/// Builds a report of `file` (one pass).
pub fn build_report(
    file: &Path,
    settings: Settings,
    read: &ReadArgs,
    cfg: &ModelConfig,
) -> Result<Report> {
    let src = super::aof_input::open_source(file)?;
    let data = src.bytes();
    let pb = progress_bar(data.len() as u64);
    // The builder needs the snapshot time, which the aux fields carry before
    // any key: a cheap first look finds it.
    let ctime = snapshot_ctime(data, read);
    let mut b = ReportBuilder::new(settings, ctime);
    let facts = if read.salvage {
        pass(data, read, cfg, pb.as_ref(), |k| b.add(k))
    } else {
        chunked(&src, read, cfg, pb.as_ref(), &mut b)
    }
    .map_err(|e| e.with_path(file))?;
    Ok(b.finish(&file.display().to_string(), &facts))
}

/// The `ctime` aux field, read by stopping at the first key.
pub(crate) fn snapshot_ctime(data: &[u8], read: &ReadArgs) -> Option<i64> {
    use crate::rdb::read::{Record, read as rdb_read};
    use crate::sink::{Flow, FnSink};
    let mut ctime = None;
    let mut buf = Vec::new();
    let mut sink = FnSink(|r: &Record<'_>| {
        Ok(match r {
            Record::Key(_) => Flow::Stop,
            Record::Aux { key, value } => {
                if key.as_raw() == Some(b"ctime") {
                    ctime = value
                        .bytes(&mut buf)
                        .ok()
                        .and_then(|b| std::str::from_utf8(b).ok()?.parse::<i64>().ok());
                }
                Flow::Continue
            }
            _ => Flow::Continue,
        })
    });
    let _ = rdb_read(data, &read_options(read), &mut sink);
    ctime.map(|s| s * 1000)
}

/// Writes one report in `format`.
pub(crate) fn write_rows(out: &mut Output, r: &Report, format: ReportFormat) -> Result<()> {
    let io = |e: std::io::Error| Error::from(e);
    match format {
        ReportFormat::Table => out.write_all(r.to_text().as_bytes()).map_err(io),
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, r)?;
            out.write_all(b"\n").map_err(io)
        }
        ReportFormat::Jsonl => {
            for row in r.rows() {
                serde_json::to_writer(&mut *out, &row)?;
                out.write_all(b"\n").map_err(io)?;
            }
            Ok(())
        }
        ReportFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            for row in r.rows() {
                w.serialize(&row).map_err(|e| Error::sink(e.to_string()))?;
            }
            let buf = w.into_inner().map_err(|e| Error::sink(e.to_string()))?;
            out.write_all(&buf).map_err(io)
        }
    }
}

/// `rdbtool report`.
pub fn report(a: ReportArgs) -> Result<()> {
    let first = a.items[0].to_string_lossy();
    let section = (a.items.len() > 1 && !Path::new(&a.items[0]).exists())
        .then(|| {
            Section::from_str(&first, true).map_err(|_| {
                Error::usage(format!(
                    "unknown section {first:?} (prefixes, ttl, waves, bigkeys, hotcold, dataloss)"
                ))
            })
        })
        .transpose()?;
    let sections = section.map_or_else(|| Section::ALL.to_vec(), |s| vec![s]);
    let files: Vec<PathBuf> = a.items[usize::from(section.is_some())..]
        .iter()
        .map(PathBuf::from)
        .collect();
    if a.separators.is_empty() {
        return Err(Error::usage("--separators needs at least one byte"));
    }
    let settings = Settings {
        sections,
        splitter: splitter(&a.separators, a.depth),
        max_nodes: a.max_nodes,
        top: a.top,
        now_ms: a.now_ms,
        wall_ms: super::commands::now_ms(),
        burst_min: a.burst_min,
        burst_factor: a.burst_factor,
        lfu_log_factor: a.lfu_log_factor,
        cold_idle_s: a.cold_idle,
        cold_freq: a.cold_freq,
        expected_dbs: a.expected_dbs.clone(),
    };
    let cfg = a.model.config(&a.read);
    if files.len() > 1 || files[0].is_dir() {
        if a.html.is_some() {
            return Err(Error::usage("--html takes one file"));
        }
        let ins: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let mut out = Output::create(a.output.as_deref(), &ins)?;
        super::fleet::report(&files, settings, &a.read, &cfg, a.format, &mut out)?;
        return out.commit();
    }
    let file = &files[0];
    let r = build_report(file, settings, &a.read, &cfg)?;
    if let Some(h) = &a.html {
        let extra = match (a.project_maxmemory, a.project_policy) {
            (Some(maxmemory), Some(policy)) => super::project::html_section(
                &super::project::for_report(file, maxmemory, policy, &a)?,
            ),
            _ => String::new(),
        };
        let mut o = Output::create(Some(h), &[file])?;
        o.write_all(html::render_with(&r, &extra).as_bytes())?;
        o.commit()?;
    }
    let mut out = Output::create(a.output.as_deref(), &[file])?;
    write_rows(&mut out, &r, a.format)?;
    out.commit()
}

fn write_change(out: &mut Output, c: &Change) -> Result<()> {
    serde_json::to_writer(&mut *out, c)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `rdbtool diff`.
pub fn diff(a: DiffArgs) -> Result<()> {
    let cfg = a.model.config(&a.read);
    let mut d = Differ::new(splitter(&a.separators, a.depth), a.top, 10_000);
    let src_a = super::aof_input::open_source(&a.a)?;
    let pb = progress_bar(src_a.bytes().len() as u64);
    pass(src_a.bytes(), &a.read, &cfg, pb.as_ref(), |k| d.add_a(k))
        .map_err(|e| e.with_path(&a.a))?;
    let src_b = super::aof_input::open_source(&a.b)?;
    let mut out = Output::create(a.output.as_deref(), &[&a.a, &a.b])?;
    let lines = a.format == ReportFormat::Jsonl;
    let mut shown = Vec::new();
    let pb = progress_bar(src_b.bytes().len() as u64);
    let res = pass(src_b.bytes(), &a.read, &cfg, pb.as_ref(), |k| {
        if let Some(c) = d.add_b(k)? {
            if lines {
                write_change(&mut out, &c)?;
            } else if shown.len() < a.top {
                shown.push(c);
            }
        }
        Ok(())
    });
    if let Err(e) = res {
        out.abort();
        return Err(e.with_path(&a.b));
    }
    let (removed, rep) = d.finish(&a.a.display().to_string(), &a.b.display().to_string());
    let io = |e: std::io::Error| Error::from(e);
    match a.format {
        ReportFormat::Jsonl => {
            for c in &removed {
                write_change(&mut out, c)?;
            }
        }
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &rep)?;
            out.write_all(b"\n").map_err(io)?;
        }
        ReportFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([
                "group",
                "added",
                "removed",
                "changed",
                "unchanged",
                "value",
                "type",
                "ttl",
                "bytes_delta",
            ])
            .map_err(csv_err)?;
            let mut all = vec![("total".to_string(), &rep.total)];
            all.extend(rep.per_db.iter().map(|(db, c)| (format!("db:{db}"), c)));
            all.extend(
                rep.per_prefix
                    .iter()
                    .map(|(p, c)| (format!("prefix:{p}"), c)),
            );
            for (g, c) in all {
                w.write_record([
                    g,
                    c.added.to_string(),
                    c.removed.to_string(),
                    c.changed.to_string(),
                    c.unchanged.to_string(),
                    c.value.to_string(),
                    c.r#type.to_string(),
                    c.ttl.to_string(),
                    c.bytes_delta.to_string(),
                ])
                .map_err(csv_err)?;
            }
            let buf = w.into_inner().map_err(|e| Error::sink(e.to_string()))?;
            out.write_all(&buf).map_err(io)?;
        }
        ReportFormat::Table => {
            let t = &rep.total;
            writeln!(
                out,
                "{} ({} keys) -> {} ({} keys): {} added, {} removed, {} changed ({} value, {} type, {} ttl), {} unchanged, {:+} bytes",
                rep.a, rep.a_keys, rep.b, rep.b_keys, t.added, t.removed, t.changed, t.value, t.r#type, t.ttl, t.unchanged, t.bytes_delta
            )
            .map_err(io)?;
            writeln!(
                out,
                "{:<34} {:>8} {:>8} {:>8} {:>10} {:>12}",
                "group", "added", "removed", "changed", "unchanged", "bytes delta"
            )
            .map_err(io)?;
            let mut line = |g: String, c: &crate::analyze::diff::Counts| {
                writeln!(
                    out,
                    "{:<34} {:>8} {:>8} {:>8} {:>10} {:>+12}",
                    clip(&g, 34),
                    c.added,
                    c.removed,
                    c.changed,
                    c.unchanged,
                    c.bytes_delta
                )
            };
            for (db, c) in &rep.per_db {
                line(format!("db {db}"), c).map_err(io)?;
            }
            for (p, c) in &rep.per_prefix {
                line(p.clone(), c).map_err(io)?;
            }
            writeln!(out, "first changes:").map_err(io)?;
            for c in shown.iter().chain(removed.iter()).take(a.top) {
                writeln!(
                    out,
                    "  {:<8} db{} {} {}",
                    c.change,
                    c.db,
                    clip(&c.key, 60),
                    c.what.join(",")
                )
                .map_err(io)?;
            }
        }
    }
    out.commit()
}
