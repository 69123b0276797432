//! Command implementations: resolve flags, build source, reader and sinks.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::args::{Command, ExportFormat, ReadArgs, ReportFormat};
use super::output::Output;
use crate::analyze::inspect_par;
use crate::error::Result;
use crate::export::json::{JsonExporter, JsonMode};
use crate::export::lines_par;
use crate::rdb::read::{ReadOptions, read};
use crate::source::Source;

fn read_options(a: &ReadArgs) -> ReadOptions {
    ReadOptions {
        verify_checksum: !a.no_checksum,
        relaxed_version: a.skip_unknown,
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
        Command::Aof { cmd } => super::aof::run(cmd),
        Command::Inspect {
            file,
            format,
            read: ra,
        } => {
            let src = Source::open(&file)?;
            let t0 = Instant::now();
            let (mut report, res) =
                inspect_par::inspect(src.bytes(), &read_options(&ra), ra.target, now_ms());
            report.parse_seconds = t0.elapsed().as_secs_f64();
            // A checksum mismatch still prints the report, then fails.
            // (The error itself is returned, so its kind decides the exit code.)
            if res.is_err() && report.checksum.is_none() {
                return res.map(|_| ()).map_err(|e| e.with_path(&file));
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
            res.map(|_| ()).map_err(|e| e.with_path(&file))
        }
        Command::Memory(a) => super::report::memory(a),
        Command::Report(a) => super::report::report(a),
        Command::Diff(a) => super::report::diff(a),
        Command::Export {
            file,
            format,
            output,
            read: ra,
        } => {
            let src = Source::open(&file)?;
            let mut out = Output::create(output.as_deref(), &[&file])?;
            let res = match format {
                // Lines render independently: on the rayon pool.
                ExportFormat::Jsonl => {
                    lines_par::export_lines(src.bytes(), &read_options(&ra), ra.target, &mut out)
                }
                ExportFormat::Json => {
                    let mut sink = JsonExporter::new(&mut out, JsonMode::Array, ra.target);
                    read(src.bytes(), &read_options(&ra), &mut sink)
                }
            };
            match res {
                Ok(_) => out.commit(),
                Err(e) => {
                    out.abort();
                    Err(e.with_path(&file))
                }
            }
        }
        Command::Convert(a) => super::convert::convert(a),
        Command::Import(a) => super::convert::import(a),
        Command::Restore(a) => super::convert::restore(a),
    }
}
