//! Many snapshots at once (the shards of one cluster, a directory of
//! backups): every file inspected on the rayon pool, then one combined
//! view whose totals are the sums of the files'.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::inspect::{DbStats, Inspect, InspectSink};
use super::inspect_par;
use crate::error::{Error, Result};
use crate::rdb::read::{ReadOptions, read};
use crate::server::Target;
use crate::source::Source;

/// The files named by `paths`: files as given, directories replaced by the
/// regular files in them that start with an RDB magic (sorted by name).
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let rd = std::fs::read_dir(p).map_err(|e| Error::from(e).with_path(p))?;
        let mut found = Vec::new();
        for e in rd {
            let path = e.map_err(|e| Error::from(e).with_path(p))?.path();
            if path.is_file() && has_rdb_magic(&path) {
                found.push(path);
            }
        }
        if found.is_empty() {
            return Err(Error::usage(format!("{}: no RDB files in it", p.display())));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

fn has_rdb_magic(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 6];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| head.starts_with(b"REDIS") || &head == b"VALKEY")
}

/// One file's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct FileInspect {
    /// The path as given.
    pub path: String,
    /// The report (as far as reading got).
    pub report: Inspect,
    /// Why reading failed, if it did.
    pub error: Option<String>,
}

/// Per-file reports and their sum.
#[derive(Debug, Clone, Serialize)]
pub struct FleetInspect {
    /// Each file, in the order given.
    pub files: Vec<FileInspect>,
    /// All files together: counts summed, functions and aux-free.
    pub combined: Inspect,
}

fn add_db(a: &mut DbStats, b: &DbStats) {
    a.keys += b.keys;
    a.expiring += b.expiring;
    a.expired_at_snapshot += b.expired_at_snapshot;
    a.expired_now += b.expired_now;
    a.key_bytes += b.key_bytes;
    a.value_bytes += b.value_bytes;
    a.resize_hint = match (a.resize_hint, b.resize_hint) {
        (Some((k, e)), Some((k2, e2))) => Some((k + k2, e + e2)),
        (x, None) | (None, x) => x,
    };
    for (t, s) in &b.by_type {
        let x = a.by_type.entry(t.clone()).or_default();
        x.keys += s.keys;
        x.value_bytes += s.value_bytes;
    }
}

/// Adds `b` into the combined report `a`: counts summed; the format is the
/// common one (or `mixed`), the version the highest; function libraries
/// listed once; AUX fields and checksum stay per file.
pub fn combine(a: &mut Inspect, b: &Inspect) {
    a.file_bytes += b.file_bytes;
    if a.magic.is_empty() {
        a.magic = b.magic.clone();
        a.encoding_target = b.encoding_target;
    } else if a.magic != b.magic {
        a.magic = "mixed".into();
    }
    a.rdb_version = a.rdb_version.max(b.rdb_version);
    for (db, s) in &b.dbs {
        add_db(a.dbs.entry(*db).or_default(), s);
    }
    add_db(&mut a.total, &b.total);
    for f in &b.functions {
        if !a.functions.contains(f) {
            a.functions.push(f.clone());
        }
    }
    for (m, n) in &b.module_keys {
        *a.module_keys.entry(m.clone()).or_default() += n;
    }
    for (m, n) in &b.module_aux {
        *a.module_aux.entry(m.clone()).or_default() += n;
    }
    a.slot_info_records += b.slot_info_records;
    for (op, n) in &b.vendor_opcodes {
        *a.vendor_opcodes.entry(*op).or_default() += n;
    }
    a.ctime = a.ctime.max(b.ctime);
    a.skipped.extend(b.skipped.iter().cloned());
    match (&mut a.slot_counts, &b.slot_counts) {
        (Some(x), Some(y)) => x.absorb(y),
        (x @ None, Some(y)) => *x = Some(y.clone()),
        _ => {}
    }
    a.slots = a.slot_counts.as_ref().map(|c| c.report());
}

/// Inspects every file on the rayon pool (salvage mode: each file read
/// sequentially, as for one file) and combines them. Files that fail keep
/// their error text and count as far as they were read; the first failure
/// (in path order) is returned too.
pub fn inspect_files(
    paths: &[PathBuf],
    opts: &ReadOptions,
    target: Option<Target>,
    now_ms: i64,
    slots: Option<&[(u16, u16)]>,
) -> (FleetInspect, Option<Error>) {
    let done: Vec<(FileInspect, Option<Error>)> = paths
        .par_iter()
        .map(|p| {
            let t0 = std::time::Instant::now();
            let (mut report, res) = match Source::open(p) {
                Err(e) => (Inspect::default(), Err(e)),
                Ok(src) => {
                    let data = src.bytes();
                    let make = || {
                        let s = InspectSink::new(data.len() as u64, target, now_ms);
                        match slots {
                            Some(r) => s.with_slots(r.to_vec()),
                            None => s,
                        }
                    };
                    if opts.salvage {
                        let mut sink = make();
                        let res = read(data, opts, &mut sink);
                        (sink.report, res)
                    } else {
                        inspect_par::inspect_with(data, opts, &make)
                    }
                }
            };
            report.parse_seconds = t0.elapsed().as_secs_f64();
            let err = res.err().map(|e| e.with_path(p));
            let f = FileInspect {
                path: p.display().to_string(),
                report,
                error: err.as_ref().map(|e| e.to_string()),
            };
            (f, err)
        })
        .collect();
    let mut first_err = None;
    let mut files = Vec::with_capacity(done.len());
    for (f, e) in done {
        if first_err.is_none() {
            first_err = e;
        }
        files.push(f);
    }
    let mut combined = Inspect {
        now_ms,
        ..Inspect::default()
    };
    for f in &files {
        combine(&mut combined, &f.report);
    }
    combined.parse_seconds = files.iter().map(|f| f.report.parse_seconds).sum();
    (FleetInspect { files, combined }, first_err)
}

impl FleetInspect {
    /// The human rendering: one line per file, then the combined report.
    pub fn to_text(&self) -> String {
        use super::inspect::human_bytes;
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{:<40} {:>7} {:>10} {:>10} {:>10} {:>10}  checksum",
            "file", "version", "keys", "expiring", "key bytes", "val bytes"
        );
        for f in &self.files {
            let r = &f.report;
            let cs = match (&f.error, r.checksum) {
                (Some(e), _) => format!("ERROR: {e}"),
                (None, Some(crate::rdb::read::Checksum::Ok { .. })) => "ok".into(),
                (None, Some(c)) => c.to_string(),
                (None, None) => "-".into(),
            };
            let _ = writeln!(
                o,
                "{:<40} {:>7} {:>10} {:>10} {:>10} {:>10}  {cs}",
                super::report::clip(&f.path, 40),
                format!("{} {}", r.magic, r.rdb_version),
                r.total.keys,
                r.total.expiring,
                human_bytes(r.total.key_bytes),
                human_bytes(r.total.value_bytes)
            );
        }
        let _ = writeln!(o, "\nCombined ({} files)", self.files.len());
        o.push_str(&self.combined.to_text());
        o
    }
}
