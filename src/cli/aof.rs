//! `rdbtool aof …`: flags and printing for the AOF tools; the work is in
//! `crate::aof`.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use super::args::ReportFormat;
use super::output::Output;
use crate::aof::check::{CheckReport, check};
use crate::aof::read::AofSet;
use crate::error::{Error, ErrorKind, Result};
use crate::rdb::read::ReadOptions as RdbReadOptions;

/// AOF subcommands.
#[derive(Debug, Subcommand)]
pub enum AofCommand {
    /// Check an AOF (file, multi-part directory or manifest) like
    /// redis-check-aof, and say what a loading redis-server 7.0 would do.
    Check {
        /// AOF file, manifest, appendonlydir/ or the server's dir.
        path: PathBuf,
        /// Output format (JSON schema: formats/aof-check.md).
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
        /// Exit 1 also when the checker accepts the AOF but a server would
        /// refuse it (unknown command, empty record, manifest named file).
        #[arg(long)]
        server: bool,
        /// Do not verify the CRC-64 of an RDB preamble / BASE.
        #[arg(long)]
        no_checksum: bool,
    },
}

fn rdb_opts(no_checksum: bool) -> RdbReadOptions {
    RdbReadOptions {
        verify_checksum: !no_checksum,
        relaxed_version: false,
    }
}

/// Runs an AOF subcommand.
pub fn run(cmd: AofCommand) -> Result<()> {
    match cmd {
        AofCommand::Check {
            path,
            format,
            server,
            no_checksum,
        } => {
            let set = AofSet::open(&path)?;
            let report = check(&set, &rdb_opts(no_checksum))?;
            let mut out = Output::create(None, &[])?;
            match format {
                ReportFormat::Table => out.write_all(check_text(&report).as_bytes())?,
                ReportFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    out.write_all(b"\n")?;
                }
            }
            out.commit()?;
            let bad = !report.checker.valid || (server && !report.server.loads);
            if bad {
                let why = report
                    .checker
                    .reason
                    .clone()
                    .or(report.server.error.clone())
                    .unwrap_or_default();
                return Err(Error::new(ErrorKind::Aof(format!(
                    "AOF is not valid: {why}"
                ))));
            }
            Ok(())
        }
    }
}

fn ts_text(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), |t| t.to_string())
}

/// The human report.
pub fn check_text(r: &CheckReport) -> String {
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(s, "AOF {} ({})", r.input, r.layout);
    if let Some(m) = &r.manifest {
        match &m.error {
            Some(e) => {
                let _ = writeln!(s, "manifest {}: INVALID: {e}", m.path);
            }
            None => {
                let _ = writeln!(
                    s,
                    "manifest {}: ok ({} base, {} incr, {} history)",
                    m.path,
                    m.base,
                    m.incr,
                    m.history.len()
                );
            }
        }
    }
    if !r.files.is_empty() {
        let w = r
            .files
            .iter()
            .map(|f| f.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            s,
            "{:<w$}  {:<6}  {:>12}  {:<8}  {:>10}  {:>12}  status",
            "file", "role", "bytes", "format", "commands", "ok_up_to"
        );
        for f in &r.files {
            let status = if f.format == "missing" {
                "MISSING".to_string()
            } else if f.valid {
                "valid".to_string()
            } else if let Some(d) = &f.damage {
                format!("{:?} at {}", d.kind, d.offset).to_lowercase()
            } else {
                "unterminated MULTI".to_string()
            };
            let _ = writeln!(
                s,
                "{:<w$}  {:<6}  {:>12}  {:<8}  {:>10}  {:>12}  {status}",
                f.name,
                format!("{:?}", f.role).to_lowercase(),
                f.size.map_or("-".into(), |n| n.to_string()),
                f.format,
                f.commands,
                f.ok_up_to
            );
        }
    }
    for f in &r.files {
        if let Some(d) = &f.damage {
            let _ = writeln!(
                s,
                "\nfirst bad offset: {} offset {} (0x{:x}), record at {}",
                f.name, d.offset, d.offset, d.record
            );
            let _ = writeln!(s, "  {}", d.message);
            let _ = writeln!(s, "  before: \"{}\"", d.context_before);
            let _ = writeln!(s, "  here:   \"{}\"", d.context_after);
        }
        if let Some(m) = f.unterminated_multi {
            let _ = writeln!(
                s,
                "\nunterminated MULTI: {} offset {m} has no EXEC before the end of the file",
                f.name
            );
        }
    }
    let c = &r.checker;
    let _ = writeln!(
        s,
        "\nredis-check-aof: {} (filename={}, size={}, ok_up_to={}, ok_up_to_line={}, diff={})",
        if c.valid { "valid" } else { "NOT valid" },
        c.filename.as_deref().unwrap_or("-"),
        c.size,
        c.ok_up_to,
        c.ok_up_to_line,
        c.diff
    );
    let v = &r.server;
    let server = match (&v.error, &v.truncates) {
        (Some(e), _) => format!("refuses to start: {e}"),
        (None, Some((f, o))) => {
            format!("loads after truncating {f} to {o} bytes (aof-load-truncated yes)")
        }
        (None, None) => "loads".to_string(),
    };
    let _ = writeln!(s, "redis-server 7.0: {server}");
    let t = &r.timestamps;
    let _ = writeln!(
        s,
        "commands: {}; #TS annotations: {} (first {}, last {})",
        r.commands,
        t.annotations,
        ts_text(t.first),
        ts_text(t.last)
    );
    if !r.histogram.is_empty() {
        let w = r
            .histogram
            .iter()
            .map(|h| h.command.len())
            .max()
            .unwrap_or(7)
            .max(7);
        let _ = writeln!(s, "\n{:>4}  {:<w$}  {:>10}", "db", "command", "count");
        for h in &r.histogram {
            let _ = writeln!(s, "{:>4}  {:<w$}  {:>10}", h.db, h.command, h.count);
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}
