//! Command implementations: resolve flags, build source, reader and sinks.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::args::{Command, ExportFormat, ReadArgs, ReportFormat};
use super::output::Output;
use crate::analyze::inspect::InspectSink;
use crate::error::{Error, Result};
use crate::export::json::{JsonExporter, JsonMode};
use crate::rdb::read::{ReadOptions, read};
use crate::source::Source;

fn read_options(a: &ReadArgs) -> ReadOptions {
    ReadOptions {
        verify_checksum: !a.no_checksum,
        relaxed_version: a.skip_unknown,
        salvage: a.salvage,
    }
}

/// Salvage reporting: prints each skipped range to stderr as it is met and
/// turns "something was skipped" into the command's (exit code 1) error.
#[derive(Default)]
struct SalvageLog {
    ranges: u64,
    bytes: u64,
}

impl crate::sink::RecordSink for SalvageLog {
    fn record(&mut self, r: &crate::rdb::read::Record<'_>) -> Result<crate::sink::Flow> {
        if let Some(s) = crate::rdb::read::salvage::SkippedRange::from_record(r) {
            eprintln!("rdbtool: salvage: {s}");
            self.ranges += 1;
            self.bytes += s.end - s.start;
        }
        Ok(crate::sink::Flow::Continue)
    }
}

impl SalvageLog {
    fn outcome(&self) -> Result<()> {
        if self.ranges == 0 {
            return Ok(());
        }
        Err(Error::new(crate::error::ErrorKind::Salvaged {
            ranges: self.ranges,
            bytes: self.bytes,
        }))
    }
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
        Command::Inspect {
            file,
            format,
            read: ra,
        } => {
            let src = Source::open(&file)?;
            let mut sink = InspectSink::new(src.bytes().len() as u64, ra.target, now_ms());
            let mut log = SalvageLog::default();
            let t0 = Instant::now();
            let res = read(
                src.bytes(),
                &read_options(&ra),
                &mut crate::sink::Tee(&mut sink, &mut log),
            );
            sink.report.parse_seconds = t0.elapsed().as_secs_f64();
            // A checksum mismatch still prints the report, then fails.
            if let Err(e) = &res
                && sink.report.checksum.is_none()
            {
                return Err(clone_err(e).with_path(&file));
            }
            let mut out = Output::create(None, &[])?;
            use std::io::Write;
            match format {
                ReportFormat::Table => out.write_all(sink.report.to_text().as_bytes())?,
                ReportFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &sink.report)?;
                    out.write_all(b"\n")?;
                }
            }
            out.commit()?;
            res.map_err(|e| e.with_path(&file))?;
            log.outcome().map_err(|e| e.with_path(&file))
        }
        Command::Export {
            file,
            format,
            output,
            read: ra,
        } => {
            let src = Source::open(&file)?;
            let out = Output::create(output.as_deref(), &[&file])?;
            let mode = match format {
                ExportFormat::Jsonl => JsonMode::Lines,
                ExportFormat::Json => JsonMode::Array,
            };
            let mut sink = JsonExporter::new(out, mode, ra.target);
            let mut log = SalvageLog::default();
            let tee = &mut crate::sink::Tee(&mut sink, &mut log);
            match read(src.bytes(), &read_options(&ra), tee) {
                Ok(_) => {
                    sink.into_inner().commit()?;
                    log.outcome().map_err(|e| e.with_path(&file))
                }
                Err(e) => {
                    sink.into_inner().abort();
                    Err(e.with_path(&file))
                }
            }
        }
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

fn clone_err(e: &Error) -> Error {
    let mut n = match e.problem() {
        Some(p) => Error::parse(p, e.location().offset.unwrap_or(0)),
        None => Error::sink(e.to_string()),
    };
    *n.location_mut() = e.location().clone();
    n
}
