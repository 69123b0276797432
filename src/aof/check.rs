//! `aof check`: the verdict `redis-check-aof` 7.0 would give (same framing
//! rules, `ok_up_to`, `ok_up_to_line`), the verdict a loading
//! `redis-server` 7.0 would reach (unknown commands, torn tails it cuts,
//! manifest errors, with the server's messages), and what the log holds
//! (command histogram per name and db, timestamp range).

use std::collections::BTreeMap;

use serde::Serialize;

use super::commands::{Lookup, lookup};
use super::read::Dialect;
use super::read::layout::{AofSet, Layout, Role};
use super::read::reader::{
    Annotation, AofSink, Command, DamageClass, FileScan, ReadOptions, ScanState, scan_file,
};
use crate::error::Result;
use crate::sink::Flow;
use crate::source::Source;

/// Schema id of the JSON report (formats/aof-check.md).
pub const SCHEMA: &str = "rdbtool.aof-check/1";

/// The whole report.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Schema id.
    pub schema: &'static str,
    /// The path checked.
    pub input: String,
    /// `single` or `multi-part`.
    pub layout: &'static str,
    /// The manifest, for multi-part sets.
    pub manifest: Option<ManifestReport>,
    /// Files in load order, as far as checking got.
    pub files: Vec<FileReport>,
    /// What `redis-check-aof` 7.0 would say.
    pub checker: CheckerVerdict,
    /// What `redis-server` 7.0 would do when loading it.
    pub server: ServerVerdict,
    /// Commands per (db, lower-case name), over every framed command.
    pub histogram: Vec<HistogramRow>,
    /// Total commands framed.
    pub commands: u64,
    /// `#TS:` range.
    pub timestamps: TsRange,
    /// Things worth knowing that are not errors.
    pub warnings: Vec<String>,
}

/// The manifest part of the report.
#[derive(Debug, Serialize)]
pub struct ManifestReport {
    /// Its path.
    pub path: String,
    /// The server's error, if it would refuse it.
    pub error: Option<String>,
    /// BASE entries (0 or 1).
    pub base: usize,
    /// INCR entries.
    pub incr: usize,
    /// HISTORY entries (never loaded).
    pub history: Vec<String>,
}

/// Per-file findings.
#[derive(Debug, Serialize)]
pub struct FileReport {
    /// Name as listed.
    pub name: String,
    /// Role in the set.
    pub role: Role,
    /// Manifest sequence.
    pub seq: Option<i64>,
    /// Bytes (null when missing).
    pub size: Option<u64>,
    /// `rdb+resp`, `resp`, `empty` or `missing`.
    pub format: &'static str,
    /// Keys in the RDB part.
    pub rdb_keys: Option<u64>,
    /// Commands framed.
    pub commands: u64,
    /// Annotation lines.
    pub annotations: u64,
    /// Checker's `ok_up_to`.
    pub ok_up_to: u64,
    /// Checker's verdict for this file.
    pub valid: bool,
    /// First damage, with context.
    pub damage: Option<DamageReport>,
    /// A MULTI with no EXEC before the end of the file.
    pub unterminated_multi: Option<u64>,
}

/// Where and what.
#[derive(Debug, Serialize)]
pub struct DamageReport {
    /// Class.
    pub kind: DamageClass,
    /// Offset of the failing read.
    pub offset: u64,
    /// Offset of its record.
    pub record: u64,
    /// What was expected and found.
    pub message: String,
    /// Up to 48 bytes before and after `offset`, escaped.
    pub context_before: String,
    /// The bytes from `offset`, escaped.
    pub context_after: String,
}

/// `redis-check-aof`'s view.
#[derive(Debug, Serialize)]
pub struct CheckerVerdict {
    /// Exit status 0 (valid, or empty).
    pub valid: bool,
    /// The file its summary line names (the failing one, or the last one).
    pub filename: Option<String>,
    /// Its size.
    pub size: u64,
    /// Its `ok_up_to`.
    pub ok_up_to: u64,
    /// Its `ok_up_to_line` (accumulated over the files of a set).
    pub ok_up_to_line: u64,
    /// `size - ok_up_to`.
    pub diff: u64,
    /// Why it is invalid.
    pub reason: Option<String>,
}

/// A loading server's view.
#[derive(Debug, Serialize)]
pub struct ServerVerdict {
    /// The server starts with this AOF (`aof-load-truncated yes`, the default).
    pub loads: bool,
    /// It loads only after cutting the last file here (file, offset).
    pub truncates: Option<(String, u64)>,
    /// Why it refuses, in the server's words.
    pub error: Option<String>,
    /// Why it would refuse with `aof-load-truncated no` (a torn tail).
    pub error_if_load_truncated_no: Option<String>,
}

/// One histogram row.
#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct HistogramRow {
    /// Database.
    pub db: u64,
    /// Lower-case command name (lossy UTF-8).
    pub command: String,
    /// Occurrences.
    pub count: u64,
}

/// Timestamp annotations.
#[derive(Debug, Default, Serialize)]
pub struct TsRange {
    /// `#TS:` lines.
    pub annotations: u64,
    /// First timestamp (Unix seconds).
    pub first: Option<i64>,
    /// Last timestamp.
    pub last: Option<i64>,
    /// `#`-lines that are not well-formed `#TS:<digits>`.
    pub other_annotations: u64,
    /// Times a timestamp was lower than the one before.
    pub backwards: u64,
}

#[derive(Default)]
struct Stats {
    hist: BTreeMap<(u64, Vec<u8>), u64>,
    ts: TsRange,
}

impl<'a> AofSink<'a> for Stats {
    fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
        let name = c.argv.name().unwrap_or(b"").to_ascii_lowercase();
        *self.hist.entry((c.db, name)).or_insert(0) += 1;
        Ok(Flow::Continue)
    }
    fn annotation(&mut self, a: &Annotation<'a>) -> Result<Flow> {
        match a.ts {
            Some(t) => {
                self.ts.annotations += 1;
                if self.ts.last.is_some_and(|l| t < l) {
                    self.ts.backwards += 1;
                }
                self.ts.first.get_or_insert(t);
                self.ts.last = Some(t);
            }
            None => self.ts.other_annotations += 1,
        }
        Ok(Flow::Continue)
    }
}

/// Stops at the first command a 7.0 server does not know.
struct ServerSink {
    unknown: Option<String>,
}

impl<'a> AofSink<'a> for ServerSink {
    fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
        let known = match lookup(&c.argv) {
            Lookup::Known(i) => i.in_70,
            _ => false,
        };
        if known {
            return Ok(Flow::Continue);
        }
        self.unknown = Some(String::from_utf8_lossy(c.argv.name().unwrap_or(b"")).into_owned());
        Ok(Flow::Stop)
    }
}

fn context(data: &[u8], at: u64) -> (String, String) {
    let at = (at as usize).min(data.len());
    let before = &data[at.saturating_sub(48)..at];
    let after = &data[at..(at + 48).min(data.len())];
    (
        before.escape_ascii().to_string(),
        after.escape_ascii().to_string(),
    )
}

/// Checks the AOF at `set`.
pub fn check(set: &AofSet, rdb: &crate::rdb::read::ReadOptions) -> Result<CheckReport> {
    let mut warnings = Vec::new();
    let (layout, manifest) = match &set.layout {
        Layout::Single => ("single", None),
        Layout::MultiPart {
            manifest_path,
            manifest,
        } => {
            let r = match manifest {
                Ok(m) => {
                    for e in m.load_order().chain(&m.history) {
                        if !e.unknown_keys.is_empty() {
                            warnings.push(format!(
                                "manifest line {}: unknown keys ignored: {}",
                                e.line,
                                e.unknown_keys
                                    .iter()
                                    .map(|k| String::from_utf8_lossy(k))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                    }
                    ManifestReport {
                        path: manifest_path.display().to_string(),
                        error: None,
                        base: m.base.iter().count(),
                        incr: m.incrs.len(),
                        history: m
                            .history
                            .iter()
                            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
                            .collect(),
                    }
                }
                Err(e) => ManifestReport {
                    path: manifest_path.display().to_string(),
                    error: Some(e.to_string()),
                    base: 0,
                    incr: 0,
                    history: Vec::new(),
                },
            };
            ("multi-part", Some(r))
        }
    };
    if matches!(set.layout, Layout::Single)
        && set.input.extension().is_some_and(|e| e == "manifest")
    {
        warnings.push(
            "the file is named like a manifest but has no `file` line: checked as an AOF (as redis-check-aof does); a server would refuse it as a manifest (\"Found an empty AOF manifest\" when empty)".into(),
        );
    }
    let mut report = CheckReport {
        schema: SCHEMA,
        input: set.input.display().to_string(),
        layout,
        manifest,
        files: Vec::new(),
        checker: CheckerVerdict {
            valid: true,
            filename: None,
            size: 0,
            ok_up_to: 0,
            ok_up_to_line: 1,
            diff: 0,
            reason: None,
        },
        server: ServerVerdict {
            loads: true,
            truncates: None,
            error: None,
            error_if_load_truncated_no: None,
        },
        histogram: Vec::new(),
        commands: 0,
        timestamps: TsRange::default(),
        warnings,
    };
    if let Some(err) = report.manifest.as_ref().and_then(|m| m.error.clone()) {
        report.checker.valid = false;
        report.checker.reason = Some(err.clone());
        report.server.loads = false;
        report.server.error = Some(err);
        return Ok(report);
    }
    let checker_opts = ReadOptions {
        dialect: Dialect::Checker,
        inline: false,
        rdb: rdb.clone(),
    };
    let server_opts = ReadOptions {
        dialect: Dialect::Server,
        ..checker_opts.clone()
    };
    let mut stats = Stats::default();
    let mut cstate = ScanState::default();
    let mut sstate = ScanState::default();
    let n = set.files.len();
    let mut checker_done = false;
    for (i, f) in set.files.iter().enumerate() {
        let last = i + 1 == n;
        let name = f.display_name();
        let src = match Source::open(&f.path) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("Cannot open file {name}: {e}");
                report.files.push(FileReport {
                    name: name.clone(),
                    role: f.role,
                    seq: f.seq,
                    size: None,
                    format: "missing",
                    rdb_keys: None,
                    commands: 0,
                    annotations: 0,
                    ok_up_to: 0,
                    valid: false,
                    damage: None,
                    unterminated_multi: None,
                });
                if !checker_done {
                    report.checker.valid = false;
                    report.checker.reason = Some(msg);
                }
                if report.server.error.is_none() {
                    report.server.loads = false;
                    report.server.error = Some(format!(
                        "The append log file {name} doesn't exist: No such file or directory"
                    ));
                }
                break;
            }
        };
        let data = src.bytes();
        // The server's pass, while it has not refused an earlier file.
        if report.server.error.is_none() {
            server_file(
                data,
                &name,
                f.role,
                last,
                &server_opts,
                &mut sstate,
                &mut report.server,
            )?;
        }
        if checker_done {
            continue;
        }
        let scan = scan_file(data, i, &checker_opts, &mut cstate, &mut stats)?;
        report.checker.ok_up_to_line += scan.lines;
        let fr = file_report(&name, f, data, &scan);
        let valid = fr.valid;
        report.checker.filename = Some(name.clone());
        report.checker.size = scan.size;
        report.checker.ok_up_to = if data.is_empty() { 0 } else { scan.ok_up_to };
        report.checker.diff = scan.size - report.checker.ok_up_to;
        if !valid {
            report.checker.valid = false;
            report.checker.reason = Some(match (&fr.damage, fr.unterminated_multi) {
                (Some(d), _) => format!("{name} offset {}: {}", d.offset, d.message),
                (None, Some(m)) => {
                    format!("{name}: MULTI at offset {m} has no EXEC before the end of the file")
                }
                _ => format!("{name} is not valid"),
            });
            checker_done = true;
        }
        if f.role == Role::Base
            && let Some(ext) = f.path.extension()
        {
            let rdb = scan.rdb.is_some();
            if (ext == "rdb") != rdb && !data.is_empty() {
                report.warnings.push(format!(
                    "{name}: the name says {} but the content is {} (servers go by content)",
                    if ext == "rdb" { "RDB" } else { "RESP" },
                    if rdb { "RDB" } else { "RESP" }
                ));
            }
        }
        report.files.push(fr);
    }
    if let Some(m) = set.manifest().ok().flatten() {
        for h in &m.history {
            if !set
                .dir
                .join(std::ffi::OsStr::new(&*String::from_utf8_lossy(&h.name)))
                .exists()
            {
                report.warnings.push(format!(
                    "HISTORY file {} is listed but absent (harmless: never loaded)",
                    String::from_utf8_lossy(&h.name)
                ));
            }
        }
        if m.base.is_none() && m.incrs.is_empty() {
            report
                .warnings
                .push("the manifest lists no BASE and no INCR file: a server starts empty".into());
        }
    }
    report.commands = stats.hist.values().sum();
    report.histogram = stats
        .hist
        .into_iter()
        .map(|((db, name), count)| HistogramRow {
            db,
            command: String::from_utf8_lossy(&name).into_owned(),
            count,
        })
        .collect();
    report.timestamps = stats.ts;
    if report.timestamps.backwards > 0 {
        report.warnings.push(format!(
            "{} timestamp annotations go backwards",
            report.timestamps.backwards
        ));
    }
    Ok(report)
}

fn file_report(name: &str, f: &super::read::AofFile, data: &[u8], scan: &FileScan) -> FileReport {
    let damage = scan.damage.as_ref().map(|d| {
        let (b, a) = context(data, d.offset);
        DamageReport {
            kind: d.kind,
            offset: d.offset,
            record: d.record,
            message: d.message.clone(),
            context_before: b,
            context_after: a,
        }
    });
    let valid = data.is_empty() || (scan.damage.is_none() && scan.open_multi.is_none());
    FileReport {
        name: name.to_string(),
        role: f.role,
        seq: f.seq,
        size: Some(scan.size),
        format: if data.is_empty() {
            "empty"
        } else if scan.rdb.is_some() || data.starts_with(b"REDIS") {
            "rdb+resp"
        } else {
            "resp"
        },
        rdb_keys: scan.rdb.map(|r| r.keys),
        commands: scan.commands,
        annotations: scan.annotations,
        ok_up_to: scan.ok_up_to,
        valid,
        damage,
        unterminated_multi: scan.open_multi,
    }
}

/// Applies the server's loading rules to one file.
fn server_file(
    data: &[u8],
    name: &str,
    role: Role,
    last: bool,
    opts: &ReadOptions,
    state: &mut ScanState,
    v: &mut ServerVerdict,
) -> Result<()> {
    let mut sink = ServerSink { unknown: None };
    let scan = scan_file(data, 0, opts, state, &mut sink)?;
    let mut refuse = |msg: String| {
        v.loads = false;
        v.error = Some(msg);
    };
    if let Some(u) = sink.unknown {
        refuse(format!(
            "Unknown command '{u}' reading the append only file {name}"
        ));
        return Ok(());
    }
    let torn = match &scan.damage {
        Some(d) => match d.kind {
            DamageClass::Truncated => true,
            DamageClass::Rdb => {
                refuse(if role == Role::Base {
                    format!("Error reading the RDB base file {name}, AOF loading aborted")
                } else {
                    format!(
                        "Error reading the RDB preamble of the AOF file {name}, AOF loading aborted"
                    )
                });
                return Ok(());
            }
            _ => {
                refuse(format!(
                    "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
                ));
                return Ok(());
            }
        },
        None => scan.open_multi.is_some(),
    };
    if torn {
        v.error_if_load_truncated_no = Some(format!(
            "Unexpected end of file reading the append only file {name}"
        ));
        if last {
            v.truncates = Some((name.to_string(), scan.valid_up_to));
        } else {
            refuse(format!(
                "Fatal error: the truncated file is not the last file ({name} would be cut to {} bytes first)",
                scan.valid_up_to
            ));
        }
    }
    Ok(())
}
