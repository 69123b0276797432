//! `inspect` and `report` over several files (or directories): each file
//! analysed on the rayon pool, printed per file and combined.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use super::args::{ReadArgs, ReportFormat as InspectFormat};
use super::commands::now_ms;
use super::output::Output;
use super::report::{ReportFormat, pass, read_options, snapshot_ctime, write_rows};
use crate::analyze::facts::{FileFacts, ModelConfig};
use crate::analyze::fleet::{expand_paths, inspect_files};
use crate::analyze::report::{Report, ReportBuilder, Settings, clip};
use crate::error::{Error, Result};
use crate::source::Source;

/// `rdbtool inspect FILE...`: per-file lines and the combined report.
pub fn inspect(
    files: &[PathBuf],
    format: InspectFormat,
    ra: &ReadArgs,
    slots: Option<&[(u16, u16)]>,
) -> Result<()> {
    let paths = expand_paths(files)?;
    let (fleet, err) = inspect_files(&paths, &read_options(ra), ra.target, now_ms(), slots);
    let mut out = Output::create(None, &[])?;
    match format {
        InspectFormat::Table => out.write_all(fleet.to_text().as_bytes())?,
        InspectFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &fleet)?;
            out.write_all(b"\n")?;
        }
    }
    out.commit()?;
    err.map_or(Ok(()), Err)
}

/// Per-file reports and the combined one (`--format json`).
#[derive(Serialize)]
struct FleetReport<'a> {
    files: &'a [Report],
    combined: &'a Report,
}

/// A long-format row with the file it belongs to (`*`: combined).
#[derive(Serialize)]
struct FileRow<'a> {
    file: &'a str,
    section: &'static str,
    group: String,
    name: String,
    keys: u64,
    bytes: u64,
    value: f64,
    note: String,
}

/// `rdbtool report [SECTION] FILE...`: every file's report, built in
/// parallel, and a combined one fed with the keys of all files; its
/// reference time is the latest snapshot `ctime` (or `--now-ms`).
pub fn report(
    files: &[PathBuf],
    settings: Settings,
    read: &ReadArgs,
    cfg: &ModelConfig,
    format: ReportFormat,
    out: &mut Output,
) -> Result<()> {
    let paths = expand_paths(files)?;
    let sources = paths.iter().map(Source::open).collect::<Result<Vec<_>>>()?;
    let ctimes: Vec<Option<i64>> = sources
        .iter()
        .map(|s| snapshot_ctime(s.bytes(), read))
        .collect();
    let combined = Mutex::new(ReportBuilder::new(
        settings.clone(),
        ctimes.iter().flatten().max().copied(),
    ));
    let done = sources
        .par_iter()
        .zip(&paths)
        .zip(&ctimes)
        .map(|((src, path), ctime)| {
            let mut b = ReportBuilder::new(settings.clone(), *ctime);
            let facts = pass(src.bytes(), read, cfg, None, |k| {
                b.add(k)?;
                combined
                    .lock()
                    .map_err(|_| Error::sink("combined report lost"))?
                    .add(k)
            })
            .map_err(|e| e.with_path(path))?;
            Ok((b.finish(&path.display().to_string(), &facts), facts))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut all = FileFacts::default();
    for (_, f) in &done {
        all.target = all.target.or(f.target);
        for (db, hint) in &f.dbs_announced {
            let e = all.dbs_announced.entry(*db).or_insert(Some(0));
            *e = e.zip(*hint).map(|(a, b)| a + b);
        }
    }
    let combined = combined
        .into_inner()
        .map_err(|_| Error::sink("combined report lost"))?
        .finish("*", &all);
    let reports: Vec<Report> = done.into_iter().map(|(r, _)| r).collect();
    let io = |e: std::io::Error| Error::from(e);
    match format {
        ReportFormat::Table => {
            writeln!(
                out,
                "{:<40} {:>10} {:>14} {:>14}",
                "file", "keys", "bytes", "overhead"
            )
            .map_err(io)?;
            for r in reports.iter().chain([&combined]) {
                writeln!(
                    out,
                    "{:<40} {:>10} {:>14} {:>14}",
                    clip(&r.file, 40),
                    r.keys,
                    r.bytes,
                    r.overhead_bytes
                )
                .map_err(io)?;
            }
            writeln!(out, "\nCombined ({} files)", reports.len()).map_err(io)?;
            write_rows(out, &combined, format)
        }
        ReportFormat::Json => {
            let doc = FleetReport {
                files: &reports,
                combined: &combined,
            };
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            out.write_all(b"\n").map_err(io)
        }
        ReportFormat::Jsonl | ReportFormat::Csv => {
            let mut csv = csv::Writer::from_writer(Vec::new());
            for r in reports.iter().chain([&combined]) {
                for row in r.rows() {
                    let fr = FileRow {
                        file: &r.file,
                        section: row.section,
                        group: row.group,
                        name: row.name,
                        keys: row.keys,
                        bytes: row.bytes,
                        value: row.value,
                        note: row.note,
                    };
                    if format == ReportFormat::Jsonl {
                        serde_json::to_writer(&mut *out, &fr)?;
                        out.write_all(b"\n").map_err(io)?;
                    } else {
                        csv.serialize(&fr).map_err(|e| Error::sink(e.to_string()))?;
                    }
                }
            }
            let buf = csv.into_inner().map_err(|e| Error::sink(e.to_string()))?;
            out.write_all(&buf).map_err(io)
        }
    }
}
