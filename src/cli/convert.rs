//! `convert`, `import` and `restore`: flags and the wiring of readers,
//! filters, writers and the restore client.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::ValueEnum;

use super::commands::{now_ms, written_at_s};
use super::output::{Output, refuse_stdout_dir};
use crate::aof::write::{AofSink, BaseFormat, RespWriter, write_aof_dir};
use crate::cluster::slot::SlotSet;
use crate::error::{Error, Result};
use crate::export::csv_keys::CsvKeys;
use crate::export::json::{JsonExporter, JsonMode};
use crate::filter::{Expired, Filter, FilterSink, parse_db_map};
use crate::model::DataType;
use crate::rdb::read::{ReadOptions, parse_header, read};
use crate::rdb::write::{Loss, RdbSink, RdbSinkOptions, RdbVersion, Refused};
use crate::restore::client::{Client, TlsOptions, Url};
use crate::restore::cluster::ClusterSink;
use crate::restore::{
    Checkpoint, Existing, Mode, RestoreOptions, RestoreSink, Restorer, detect_version,
};
use crate::source::Source;

/// Output formats of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConvertTo {
    /// An RDB file (`--rdb-version`).
    Rdb,
    /// A single append-only file of RESP commands.
    Aof,
    /// A Redis 7 multi-part AOF directory (manifest, BASE, empty INCR).
    AofDir,
    /// RESP commands for `redis-cli --pipe` (same commands as `aof`).
    Resp,
    /// JSON Lines export (formats/export-jsonl.md).
    Jsonl,
    /// JSON array export.
    Json,
    /// CSV of string/hash/list/set/zset contents (formats/csv-keys.md).
    Csv,
    /// Parquet, one row per key (formats/parquet.md); several inputs
    /// allowed.
    Parquet,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InFormat {
    /// RDB file.
    Rdb,
    /// JSONL (or JSON array) export.
    Jsonl,
    /// CSV (formats/csv-keys.md).
    Csv,
}

/// Key selection flags shared by convert and restore.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Only these databases (repeatable).
    #[arg(long = "db")]
    pub dbs: Vec<u64>,
    /// Only keys matching this regular expression (on the key bytes).
    #[arg(long)]
    pub key_regex: Option<String>,
    /// Only keys with this prefix (repeatable).
    #[arg(long = "prefix")]
    pub prefixes: Vec<String>,
    /// Only keys of this type (repeatable).
    #[arg(long = "type", value_enum)]
    pub types: Vec<KeyType>,
    /// Keys whose TTL already passed: keep or drop.
    #[arg(long, value_enum, default_value = "keep")]
    pub expired: Expired,
    /// Renumber databases, FROM=TO (repeatable), e.g. --db-map 0=3.
    #[arg(long = "db-map")]
    pub db_map: Vec<String>,
    /// Only keys whose cluster hash slot is in these ranges, e.g.
    /// `0-5460,8000`.
    #[arg(long)]
    pub slots: Option<String>,
}

/// Types selectable with `--type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyType {
    /// Strings.
    String,
    /// Lists.
    List,
    /// Sets.
    Set,
    /// Sorted sets.
    Zset,
    /// Hashes.
    Hash,
    /// Streams.
    Stream,
    /// Module values.
    Module,
}

impl FilterArgs {
    /// The filter the flags describe.
    pub(crate) fn build(&self) -> Result<Filter> {
        Ok(Filter {
            dbs: self.dbs.clone(),
            key_regex: match &self.key_regex {
                Some(r) => Some(
                    regex::bytes::Regex::new(r)
                        .map_err(|e| Error::usage(format!("--key-regex: {e}")))?,
                ),
                None => None,
            },
            prefixes: self
                .prefixes
                .iter()
                .map(|p| p.as_bytes().to_vec())
                .collect(),
            types: self
                .types
                .iter()
                .map(|t| match t {
                    KeyType::String => DataType::String,
                    KeyType::List => DataType::List,
                    KeyType::Set => DataType::Set,
                    KeyType::Zset => DataType::Zset,
                    KeyType::Hash => DataType::Hash,
                    KeyType::Stream => DataType::Stream,
                    KeyType::Module => DataType::Module,
                })
                .collect(),
            expired: self.expired,
            now_ms: now_ms(),
            db_map: self
                .db_map
                .iter()
                .map(|s| parse_db_map(s))
                .collect::<Result<_>>()?,
            slots: self
                .slots
                .as_deref()
                .map(|s| SlotSet::parse(s).map_err(|e| Error::usage(format!("--slots: {e}"))))
                .transpose()?,
        })
    }
}

/// RDB writer flags shared by convert, split and merge.
#[derive(Debug, Clone, clap::Args)]
pub struct WriteArgs {
    /// RDB version to write (6-12, or 80 for Valkey 9); default: the
    /// input's (merge: the highest input version).
    #[arg(long)]
    pub rdb_version: Option<u32>,
    /// Accept these losses when the target cannot hold a feature
    /// (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub lossy: Vec<Loss>,
    /// Do not LZF-compress long strings.
    #[arg(long)]
    pub no_compress: bool,
    /// Do not verify the inputs' CRC-64.
    #[arg(long)]
    pub no_checksum: bool,
}

impl WriteArgs {
    /// Writer settings (fresh AUX fields dated now).
    pub(crate) fn sink_options(&self) -> Result<RdbSinkOptions> {
        Ok(RdbSinkOptions {
            version: version_arg(self.rdb_version)?,
            compress: !self.no_compress,
            lossy: self.lossy.clone(),
            ctime_s: written_at_s(),
            ..RdbSinkOptions::default()
        })
    }

    /// Reader settings.
    pub(crate) fn read_options(&self) -> ReadOptions {
        ReadOptions {
            verify_checksum: !self.no_checksum,
            ..ReadOptions::default()
        }
    }
}

/// Flags of `rdbtool convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input: an RDB file, a JSONL export or a CSV file.
    pub input: PathBuf,
    /// More inputs (`--to parquet` only: one file with a `file` column).
    pub more_inputs: Vec<PathBuf>,
    /// Output path (an RDB/AOF/JSON/CSV file, `-` for standard output, or a
    /// new directory for `aof-dir`). Written atomically; never the input.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    pub to: ConvertTo,
    /// Input format (default: detected from the content).
    #[arg(long, value_enum)]
    pub from: Option<InFormat>,
    /// Writer options (`--rdb-version` is also the version of DUMP payloads
    /// in AOF output).
    #[command(flatten)]
    pub write: WriteArgs,
    /// RDB output: decode and re-encode every value with the target
    /// server's encodings instead of copying values the target accepts.
    #[arg(long)]
    pub reencode: bool,
    /// `aof-dir` output: the BASE file as RESP commands or as an RDB.
    #[arg(long, value_enum, default_value = "resp")]
    pub aof_base: BaseFormat,
    /// Key selection.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Parquet output settings.
    #[command(flatten)]
    pub parquet: super::parquet::ParquetArgs,
}

/// Flags of `rdbtool import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A JSONL export (or JSON array) or a CSV file.
    pub input: PathBuf,
    /// The RDB to write (`-`: standard output).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Input format (default: by content).
    #[arg(long, value_enum)]
    pub from: Option<InFormat>,
    /// RDB version to write (default: the export's, or 12 for CSV).
    #[arg(long)]
    pub rdb_version: Option<u32>,
    /// Accept these losses (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub lossy: Vec<Loss>,
    /// Do not LZF-compress long strings.
    #[arg(long)]
    pub no_compress: bool,
}

/// Flags of `rdbtool restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// Input: an RDB file, a JSONL export or a CSV file.
    pub input: PathBuf,
    /// Target server: `redis://[user:pass@]host:port[/db]`. With a db, every
    /// key goes there; otherwise to its own (mapped) database.
    pub url: String,
    /// Existing keys: replace, skip, or fail.
    #[arg(long, value_enum, default_value = "fail")]
    pub existing: Existing,
    /// RESTORE payloads, or plain commands for targets that cannot load them.
    #[arg(long, value_enum, default_value = "restore")]
    pub mode: Mode,
    /// The target's RDB version (default: asked with INFO server).
    #[arg(long)]
    pub target_version: Option<u32>,
    /// Commands in flight before replies are read.
    #[arg(long, default_value_t = 256)]
    pub pipeline: usize,
    /// Accept these losses when the target cannot hold a feature.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub lossy: Vec<Loss>,
    /// Input format (default: by content).
    #[arg(long, value_enum)]
    pub from: Option<InFormat>,
    /// Write the final report (totals and every failed key) as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Checkpoint file: progress is recorded there (every 10000 records and
    /// at the end), and a rerun with the same input and filters continues
    /// after the records it says are done.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// TLS: trust the CA certificates in this PEM file (rediss:// URLs).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// TLS: do not verify the server certificate.
    #[arg(long)]
    pub insecure: bool,
    /// The URL names one node of a Redis Cluster: read the topology from
    /// it and send each key to the master of its hash slot, following
    /// MOVED/ASK (keys of dbs other than 0 need `--db-map N=0`).
    #[arg(long)]
    pub cluster: bool,
    /// Key selection.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// The writer version `--rdb-version N` names.
pub(crate) fn version_arg(n: Option<u32>) -> Result<Option<RdbVersion>> {
    n.map(|n| {
        RdbVersion::new(n).ok_or_else(|| {
            Error::usage(format!("--rdb-version {n}: this writer writes 6-12 and 80"))
        })
    })
    .transpose()
}

fn detect(path: &Path, bytes: &[u8], given: Option<InFormat>) -> InFormat {
    if let Some(f) = given {
        return f;
    }
    if bytes.starts_with(b"REDIS") || bytes.starts_with(b"VALKEY") {
        InFormat::Rdb
    } else if bytes.first().is_some_and(|&b| b == b'{' || b == b'[') {
        InFormat::Jsonl
    } else if path.extension().is_some_and(|e| e == "csv") || !bytes.is_empty() {
        InFormat::Csv
    } else {
        InFormat::Rdb
    }
}

/// The input as RDB bytes: RDB files are mapped; JSONL and CSV are imported
/// into an in-memory RDB first, so every output reads the same records.
pub(super) enum Input {
    Mapped(Source),
    Built(Vec<u8>),
}

impl Input {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Input::Mapped(s) => s.bytes(),
            Input::Built(v) => v,
        }
    }
}

pub(super) fn open_input(path: &Path, from: Option<InFormat>) -> Result<Input> {
    // An AOF (file, manifest or directory) arrives as its replayed state.
    let src = super::aof_input::open_source(path)?;
    match detect(path, src.bytes(), from) {
        InFormat::Rdb => Ok(Input::Mapped(src)),
        fmt => {
            let mut sink = RdbSink::new(
                Vec::new(),
                RdbSinkOptions {
                    keep_aux: fmt == InFormat::Jsonl,
                    ..RdbSinkOptions::default()
                },
            );
            import_into(fmt, src.bytes(), &mut sink, None).map_err(|e| e.with_path(path))?;
            Ok(Input::Built(sink.into_inner().unwrap_or_default()))
        }
    }
}

/// Runs an importer into `sink`. The intermediate or target version is
/// the export's own when writable, else RDB 12.
fn import_into<W: Write>(
    fmt: InFormat,
    bytes: &[u8],
    sink: &mut RdbSink<W>,
    version: Option<RdbVersion>,
) -> Result<u64> {
    match fmt {
        InFormat::Csv => {
            crate::import::csv::import(bytes, sink, version.map_or(12, |v| v.number()))
        }
        _ => {
            if version.is_none() && !header_version_writable(bytes) {
                sink.set_version(RdbVersion::new(12));
            }
            crate::import::jsonl::import(BufReader::new(bytes), sink, 12).map(|s| s.keys)
        }
    }
}

fn header_version_writable(bytes: &[u8]) -> bool {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(first)
        .ok()
        .and_then(|v| v.get("rdb_version").and_then(|n| n.as_u64()))
        .is_none_or(|n| RdbVersion::new(n as u32).is_some())
}

/// Lists keys the target could not take (at most 100) on stderr.
pub(crate) fn print_refused(refused: &[Refused]) {
    for f in refused.iter().take(100) {
        eprintln!(
            "rdbtool: refused: db {} key \"{}\" needs --lossy {}",
            f.db,
            f.key.escape_ascii(),
            f.loss.name()
        );
    }
    if refused.len() > 100 {
        eprintln!("rdbtool: ... and {} more", refused.len() - 100);
    }
}

pub(super) fn report(what: &str, bytes_in: usize, t0: Instant, extra: &str) {
    let s = t0.elapsed().as_secs_f64();
    eprintln!(
        "rdbtool: {what}: {:.1} MB in {:.2} s ({:.0} MB/s){extra}",
        bytes_in as f64 / 1e6,
        s,
        bytes_in as f64 / 1e6 / s.max(1e-9)
    );
}

fn read_opts(no_checksum: bool) -> ReadOptions {
    ReadOptions {
        verify_checksum: !no_checksum,
        relaxed_version: false,
        salvage: false,
    }
}

/// `rdbtool convert`.
pub fn convert(a: ConvertArgs) -> Result<()> {
    if !a.more_inputs.is_empty() && a.to != ConvertTo::Parquet {
        return Err(Error::usage("several inputs: only with --to parquet"));
    }
    let input = open_input(&a.input, a.from)?;
    let data = input.bytes();
    let filter = a.filter.build()?;
    let version = version_arg(a.write.rdb_version)?;
    let ropts = read_opts(a.write.no_checksum);
    let t0 = Instant::now();
    let in_version = parse_header(data, &ropts)
        .ok()
        .and_then(|h| RdbVersion::new(h.version));
    let dump_version = version.or(in_version).unwrap_or(RdbVersion::VALKEY_80);
    let dump_version = if dump_version.has_valkey_hfe() {
        dump_version
    } else {
        RdbVersion::new(dump_version.number().max(8)).unwrap_or(dump_version)
    };
    let fail = |e: Error| e.with_path(&a.input);
    if matches!(a.to, ConvertTo::AofDir) {
        refuse_stdout_dir(&a.output)?;
    }
    match a.to {
        ConvertTo::Rdb => {
            let out = Output::create(Some(&a.output), &[&a.input])?;
            let opts = RdbSinkOptions {
                version,
                compress: !a.write.no_compress,
                lossy: a.write.lossy.clone(),
                ctime_s: written_at_s(),
                reencode: a.reencode,
                ..RdbSinkOptions::default()
            };
            let mut sink = FilterSink::new(filter, RdbSink::new(out, opts));
            let r = read(data, &ropts, &mut sink);
            let rs = &sink.inner;
            print_refused(&rs.refused);
            let st = rs.stats.clone();
            let skipped = sink.skipped;
            let out = sink.inner.into_inner();
            match (r, out) {
                (Ok(_), Some(out)) => {
                    out.commit()?;
                    report(
                        "convert",
                        data.len(),
                        t0,
                        &format!(
                            "; {} keys copied, {} re-encoded, {} adapted, {} dropped, {} empty left out, {} filtered out",
                            st.copied, st.reencoded, st.adapted, st.dropped, st.empty, skipped
                        ),
                    );
                    Ok(())
                }
                (r, out) => {
                    if let Some(o) = out {
                        o.abort();
                    }
                    Err(fail(r.err().unwrap_or_else(|| Error::sink("no output"))))
                }
            }
        }
        ConvertTo::Aof | ConvertTo::Resp => {
            let out = Output::create(Some(&a.output), &[&a.input])?;
            let mut sink =
                FilterSink::new(filter, AofSink::new(RespWriter::new(out), dump_version));
            let r = read(data, &ropts, &mut sink);
            let (keys, skipped) = (sink.inner.keys, sink.skipped);
            let w = sink.inner.out;
            let (cmds, bytes) = (w.commands, w.bytes);
            match r {
                Ok(_) => {
                    w.finish()?.commit()?;
                    report(
                        "convert",
                        data.len(),
                        t0,
                        &format!(
                            "; {keys} keys as {cmds} commands ({bytes} bytes), {skipped} filtered out"
                        ),
                    );
                    Ok(())
                }
                Err(e) => {
                    if let Ok(o) = w.finish() {
                        o.abort();
                    }
                    Err(fail(e))
                }
            }
        }
        ConvertTo::AofDir if a.aof_base == BaseFormat::Rdb => {
            let opts = RdbSinkOptions {
                version,
                compress: !a.write.no_compress,
                lossy: a.write.lossy.clone(),
                ctime_s: written_at_s(),
                reencode: a.reencode,
                aof_base: true,
                ..RdbSinkOptions::default()
            };
            let st = write_aof_dir(&a.output, "appendonly.aof", BaseFormat::Rdb, |f| {
                let mut sink = FilterSink::new(filter, RdbSink::new(BufWriter::new(f), opts));
                let r = read(data, &ropts, &mut sink);
                print_refused(&sink.inner.refused);
                r.map_err(fail)?;
                let st = sink.inner.stats.clone();
                if let Some(mut w) = sink.inner.into_inner() {
                    w.flush()?;
                }
                Ok(st)
            })?;
            report(
                "convert",
                data.len(),
                t0,
                &format!(
                    "; RDB base: {} keys copied, {} re-encoded",
                    st.copied, st.reencoded
                ),
            );
            Ok(())
        }
        ConvertTo::AofDir => {
            let (keys, cmds) = write_aof_dir(&a.output, "appendonly.aof", BaseFormat::Resp, |f| {
                let mut sink = FilterSink::new(
                    filter,
                    AofSink::new(RespWriter::new(BufWriter::new(f)), dump_version),
                );
                read(data, &ropts, &mut sink).map_err(fail)?;
                let keys = sink.inner.keys;
                let w = sink.inner.out;
                let cmds = w.commands;
                w.finish()?.flush()?;
                Ok((keys, cmds))
            })?;
            report(
                "convert",
                data.len(),
                t0,
                &format!("; {keys} keys as {cmds} commands"),
            );
            Ok(())
        }
        ConvertTo::Jsonl | ConvertTo::Json => {
            let out = Output::create(Some(&a.output), &[&a.input])?;
            let mode = if a.to == ConvertTo::Jsonl {
                JsonMode::Lines
            } else {
                JsonMode::Array
            };
            let mut sink = FilterSink::new(filter, JsonExporter::new(out, mode, None));
            let r = read(data, &ropts, &mut sink);
            let out = sink.inner.into_inner();
            match r {
                Ok(_) => out.commit(),
                Err(e) => {
                    out.abort();
                    Err(fail(e))
                }
            }
        }
        ConvertTo::Parquet => super::parquet::convert(&a, data, filter, ropts),
        ConvertTo::Csv => {
            let out = Output::create(Some(&a.output), &[&a.input])?;
            let mut sink = FilterSink::new(filter, CsvKeys::new(out)?);
            let r = read(data, &ropts, &mut sink);
            let (keys, no_form) = (sink.inner.keys, sink.inner.skipped);
            let out = sink.inner.into_inner()?;
            match r {
                Ok(_) => {
                    out.commit()?;
                    if no_form > 0 {
                        eprintln!(
                            "rdbtool: {no_form} stream/module keys have no CSV form and were left out"
                        );
                    }
                    report("convert", data.len(), t0, &format!("; {keys} keys"));
                    Ok(())
                }
                Err(e) => {
                    out.abort();
                    Err(fail(e))
                }
            }
        }
    }
}

/// `rdbtool import`.
pub fn import(a: ImportArgs) -> Result<()> {
    let src = Source::open(&a.input)?;
    let fmt = detect(&a.input, src.bytes(), a.from);
    if fmt == InFormat::Rdb {
        return Err(Error::usage(
            "the input is an RDB file; use `rdbtool convert --to rdb`",
        ));
    }
    let version = version_arg(a.rdb_version)?;
    let out = Output::create(Some(&a.output), &[&a.input])?;
    let mut sink = RdbSink::new(
        out,
        RdbSinkOptions {
            version,
            compress: !a.no_compress,
            lossy: a.lossy,
            keep_aux: fmt == InFormat::Jsonl,
            ctime_s: written_at_s(),
            ..RdbSinkOptions::default()
        },
    );
    let t0 = Instant::now();
    let r = import_into(fmt, src.bytes(), &mut sink, version).map_err(|e| e.with_path(&a.input));
    print_refused(&sink.refused);
    match (r, sink.into_inner()) {
        (Ok(keys), Some(out)) => {
            out.commit()?;
            report("import", src.bytes().len(), t0, &format!("; {keys} keys"));
            Ok(())
        }
        (r, out) => {
            if let Some(o) = out {
                o.abort();
            }
            Err(r
                .err()
                .unwrap_or_else(|| Error::sink("no output"))
                .with_path(&a.input))
        }
    }
}

/// `rdbtool restore`.
pub fn restore(a: RestoreArgs) -> Result<()> {
    let url = Url::parse(&a.url)?;
    let input = open_input(&a.input, a.from)?;
    let data = input.bytes();
    let filter = a.filter.build()?;
    let tls = TlsOptions {
        ca_file: a.cacert.clone(),
        insecure: a.insecure,
    };
    let mut client = Client::connect_with(&url, &tls)?;
    let version = match a.target_version {
        Some(n) => version_arg(Some(n))?.ok_or_else(|| Error::usage("bad --target-version"))?,
        None => detect_version(&mut client)?,
    };
    if a.mode == Mode::Commands && a.existing != Existing::Replace {
        return Err(Error::usage(
            "--mode commands replaces existing keys; pass --existing replace",
        ));
    }
    let checkpoint = match &a.resume {
        Some(p) => Some(Checkpoint::load(p, data.len() as u64, 10_000)?),
        None => None,
    };
    let opts = RestoreOptions {
        existing: a.existing,
        mode: a.mode,
        version,
        depth: a.pipeline.max(1),
        select: url.db.is_none() && !a.cluster,
        lossy: a.lossy.clone(),
        skip: checkpoint.as_ref().map_or(0, |c| c.records_done),
        checkpoint,
    };
    if a.cluster {
        let sink = ClusterSink::new(client, &url, &tls, opts)?;
        return run_restore(sink, data, filter, &a);
    }
    run_restore(RestoreSink::new(client, opts), data, filter, &a)
}

/// Reads the input into a restoring sink with a progress bar (drawn when
/// stderr is a terminal), then prints and stores the report.
fn run_restore<S: Restorer>(
    mut sink: S,
    data: &[u8],
    filter: crate::filter::Filter,
    a: &RestoreArgs,
) -> Result<()> {
    let bar = indicatif::ProgressBar::new(data.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {msg} [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    {
        let bar = bar.clone();
        sink.set_progress(Box::new(move |keys, bytes, off| {
            if keys % 1024 == 0 {
                let s = t0.elapsed().as_secs_f64().max(1e-9);
                if off > 0 {
                    bar.set_position(off);
                }
                bar.set_message(format!(
                    "{keys} keys, {:.0} keys/s, {:.1} MB/s",
                    keys as f64 / s,
                    bytes as f64 / 1e6 / s
                ));
            }
        }));
    }
    let mut fs = FilterSink::new(filter, sink);
    let r = read(data, &read_opts(false), &mut fs);
    bar.finish_and_clear();
    let sink = fs.inner;
    r.map_err(|e| e.with_path(&a.input))?;
    let rep = sink.report();
    let s = t0.elapsed().as_secs_f64().max(1e-9);
    if rep.resumed_past > 0 {
        eprintln!(
            "rdbtool: restore: resumed after {} records done earlier",
            rep.resumed_past
        );
    }
    eprintln!(
        "rdbtool: restore: {} keys restored, {} skipped (existing), {} failed, {} functions; {:.0} keys/s, {:.1} MB/s",
        rep.restored,
        rep.skipped,
        rep.failed.len(),
        rep.functions,
        rep.restored as f64 / s,
        rep.bytes as f64 / 1e6 / s
    );
    if let Some(c) = &rep.cluster {
        let per_node: Vec<String> = c
            .keys_per_node
            .iter()
            .map(|(n, k)| format!("{n} {k}"))
            .collect();
        eprintln!(
            "rdbtool: restore: cluster ({}): {} masters; {} MOVED, {} ASK, {} TRYAGAIN, {} CLUSTERDOWN; {} keys not placed; keys per master: {}",
            c.topology,
            c.masters,
            c.moved,
            c.ask,
            c.tryagain,
            c.clusterdown,
            c.not_placed,
            per_node.join(", ")
        );
    }
    for f in rep.failed.iter().take(100) {
        eprintln!(
            "rdbtool: failed: db {} key \"{}\": {}",
            f.db,
            f.key_bytes.escape_ascii(),
            f.error
        );
    }
    if rep.failed.len() > 100 {
        eprintln!(
            "rdbtool: ... and {} more (--report FILE lists them all)",
            rep.failed.len() - 100
        );
    }
    if let Some(p) = &a.report {
        let mut out = Output::create(Some(p), &[&a.input])?;
        serde_json::to_writer_pretty(&mut out, rep)?;
        out.write_all(b"\n")?;
        out.commit()?;
    }
    if rep.failed.is_empty() {
        Ok(())
    } else {
        Err(Error::sink(format!(
            "{} key(s) did not arrive (listed above)",
            rep.failed.len()
        )))
    }
}
