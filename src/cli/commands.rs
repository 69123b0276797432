//! Command implementations: resolve flags, build source, reader and sinks.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::args::{Command, ExportFormat, ReadArgs, ReportFormat};
use super::output::Output;
use crate::analyze::inspect::InspectSink;
use crate::analyze::inspect_par;
use crate::analyze::slots::{default_ranges, parse_ranges};
use crate::error::{Error, Result};
use crate::export::json::{JsonExporter, JsonMode};
use crate::export::lines_par;
use crate::rdb::read::{ReadOptions, read};
use crate::source::Source;

fn read_options(a: &ReadArgs) -> ReadOptions {
    ReadOptions {
        verify_checksum: !a.no_checksum,
        relaxed_version: a.skip_unknown,
        salvage: a.salvage,
    }
}

/// Salvage reporting: prints each repair and skipped range to stderr as it
/// is met, and turns "something was skipped" or "the file's checksum does
/// not match" (all of it read, damaged bytes set back or not) into the
/// command's (exit code 1) error: a script must learn the file is damaged.
#[derive(Default)]
struct SalvageLog {
    ranges: u64,
    bytes: u64,
    repaired: Option<(u64, u64)>,
    mismatch: Option<(u64, u64)>,
}

impl crate::sink::RecordSink for SalvageLog {
    fn record(&mut self, r: &crate::rdb::read::Record<'_>) -> Result<crate::sink::Flow> {
        if let Some(fix) = crate::rdb::read::salvage::RepairedRange::from_record(r) {
            eprintln!("rdbtool: salvage: {fix}");
            self.repaired = Some((fix.offset, fix.found.len() as u64 / 2));
        }
        if let Some(s) = crate::rdb::read::salvage::SkippedRange::from_record(r) {
            eprintln!("rdbtool: salvage: {s}");
            self.ranges += 1;
            self.bytes += s.end - s.start;
        }
        Ok(crate::sink::Flow::Continue)
    }

    fn finish(&mut self, t: &crate::rdb::read::Trailer) -> Result<()> {
        if let crate::rdb::read::Checksum::Mismatch { stored, computed } = t.checksum {
            self.mismatch = Some((stored, computed));
        }
        Ok(())
    }
}

impl SalvageLog {
    fn outcome(&self) -> Result<()> {
        if self.ranges > 0 {
            return Err(Error::new(crate::error::ErrorKind::Salvaged {
                ranges: self.ranges,
                bytes: self.bytes,
            }));
        }
        match (self.repaired, self.mismatch) {
            (Some((offset, len)), _) => Err(Error::new(crate::error::ErrorKind::Repaired {
                offset,
                len,
            })),
            (None, Some((stored, computed))) => {
                Err(Error::new(crate::error::ErrorKind::Checksum {
                    stored,
                    computed,
                }))
            }
            (None, None) => Ok(()),
        }
    }
}

/// The `ctime` (Unix seconds) written into the RDB files the commands
/// make: `SOURCE_DATE_EPOCH` when set (the reproducible-builds convention:
/// the same input then gives the same bytes), the current time otherwise.
pub fn written_at_s() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| now_ms() / 1000)
}

/// Current Unix time in ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs a command.
pub fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Aof { cmd } => super::aof::run(cmd),
        Command::Inspect {
            files,
            format,
            by_slot,
            slot_ranges,
            read: ra,
        } => {
            let slots = match slot_ranges {
                Some(s) => Some(
                    parse_ranges(&s).map_err(|e| Error::usage(format!("--slot-ranges: {e}")))?,
                ),
                None => by_slot.then(default_ranges),
            };
            if files.len() > 1 || files[0].is_dir() {
                return super::fleet::inspect(&files, format, &ra, slots.as_deref());
            }
            let file = &files[0];
            let src = super::aof_input::open_source(file)?;
            let t0 = Instant::now();
            let opts = read_options(&ra);
            let mut log = SalvageLog::default();
            let data = src.bytes();
            let make = || {
                let s = InspectSink::new(data.len() as u64, ra.target, now_ms());
                match &slots {
                    Some(r) => s.with_slots(r.clone()),
                    None => s,
                }
            };
            // Salvage resynchronises record by record: sequential. Otherwise
            // the parallel pass.
            let (mut report, res) = if opts.salvage {
                let mut sink = make();
                let res = read(data, &opts, &mut crate::sink::Tee(&mut sink, &mut log));
                (sink.report, res)
            } else {
                inspect_par::inspect_releasing(data, &opts, &make, &|r| src.release(r))
            };
            report.parse_seconds = t0.elapsed().as_secs_f64();
            // A checksum mismatch still prints the report, then fails.
            // (The error itself is returned, so its kind decides the exit code.)
            if res.is_err() && report.checksum.is_none() {
                return res.map(|_| ()).map_err(|e| e.with_path(file));
            }
            let mut out = Output::create(None, &[])?;
            use std::io::Write;
            match format {
                ReportFormat::Table => out.write_all(report.to_text().as_bytes())?,
                ReportFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    out.write_all(b"\n")?;
                }
            }
            out.commit()?;
            res.map_err(|e| e.with_path(file))?;
            log.outcome().map_err(|e| e.with_path(file))
        }
        Command::Memory(a) => super::report::memory(a),
        Command::Report(a) => super::report::report(a),
        Command::Diff(a) => super::report::diff(a),
        Command::Project(a) => super::project::project(a),
        Command::Export {
            file,
            format,
            output,
            read: ra,
        } => {
            if super::aof_input::export(&file, format, output.as_deref(), ra.target)? {
                return Ok(());
            }
            let src = Source::open(&file)?;
            let mut out = Output::create(output.as_deref(), &[&file])?;
            let opts = read_options(&ra);
            let mut log = SalvageLog::default();
            let res = match format {
                // Lines render independently: on the rayon pool (salvage
                // resynchronises record by record, so it stays sequential).
                ExportFormat::Jsonl if !opts.salvage => lines_par::export_lines(
                    src.bytes(),
                    &opts,
                    ra.target,
                    &mut out,
                    Some(&|r| src.release(r)),
                ),
                ExportFormat::Jsonl | ExportFormat::Json => {
                    let mode = if format == ExportFormat::Json {
                        JsonMode::Array
                    } else {
                        JsonMode::Lines
                    };
                    let mut sink = JsonExporter::new(&mut out, mode, ra.target);
                    read(
                        src.bytes(),
                        &opts,
                        &mut crate::sink::Tee(&mut sink, &mut log),
                    )
                }
            };
            match res {
                Ok(_) => {
                    out.commit()?;
                    log.outcome().map_err(|e| e.with_path(&file))
                }
                Err(e) => {
                    out.abort();
                    Err(e.with_path(&file))
                }
            }
        }
        Command::Convert(a) => super::convert::convert(a),
        Command::Import(a) => super::convert::import(a),
        Command::Restore(a) => super::convert::restore(a),
        Command::Split(a) => super::cluster::split(a),
        Command::Merge(a) => super::cluster::merge(a),
        Command::Check { file, read: ra } => check_file(&file, &ra),
    }
}

fn check_file(file: &std::path::Path, ra: &ReadArgs) -> Result<()> {
    let src = Source::open(file)?;
    let (report, res) =
        crate::analyze::check::check(src.bytes(), file, &read_options(ra), now_ms());
    print!("{report}");
    res.map_err(|e| e.with_path(file))
}
