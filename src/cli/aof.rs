//! `rdbtool aof …`: flags and printing for the AOF tools; the work is in
//! `crate::aof`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::args::ReportFormat;
use super::output::{Output, refuse_stdout_dir};
use crate::aof::check::{CheckReport, check};
use crate::aof::history::{Event, History};
use crate::aof::read::{AofSet, Layout, ReadOptions, manifest, open_sources, read_set};
use crate::aof::repair::{FilePlan, find_cut, plan_fix, plan_salvage};
use crate::aof::rewrite;
use crate::aof::rewrite::emit::write_keyspace;
use crate::aof::write::RespWriter;
use crate::error::{Error, ErrorKind, Result};
use crate::export::json::{write_bytes, write_str};
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
    /// Repair an AOF: cut a torn tail (like redis-check-aof --fix) or, with
    /// --salvage, also skip corrupt regions in the middle.
    Repair {
        /// AOF file, manifest or directory.
        path: PathBuf,
        /// Output file (single AOF) or new directory (multi-part).
        #[arg(short, long, required_unless_present = "in_place")]
        output: Option<PathBuf>,
        /// Skip each corrupt region and resync on the next whole command,
        /// in every file (not only a torn tail of the last one).
        #[arg(long)]
        salvage: bool,
        /// Rewrite the damaged files in place, keeping `<file>.bak-<time>`.
        #[arg(long, conflicts_with = "output")]
        in_place: bool,
        /// Output format of the report.
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
    },
    /// Point-in-time recovery: keep the log up to a time (on #TS:
    /// annotations) or an offset, never splitting a MULTI/EXEC block.
    Truncate {
        /// AOF file, manifest or directory.
        path: PathBuf,
        /// Keep commands logged up to this second: Unix seconds or
        /// YYYY-MM-DDTHH:MM:SS, with or without a trailing Z (UTC).
        #[arg(
            long,
            required_unless_present = "to_offset",
            conflicts_with = "to_offset"
        )]
        to: Option<String>,
        /// Keep the bytes before this offset (rounded down to a record).
        #[arg(long)]
        to_offset: Option<u64>,
        /// With --to-offset in a multi-part AOF: the file the offset is in
        /// (default: the last one).
        #[arg(long)]
        file: Option<String>,
        /// Output file (single AOF) or new directory (multi-part).
        #[arg(short, long, required_unless_present = "in_place")]
        output: Option<PathBuf>,
        /// Truncate in place, keeping `<file>.bak-<time>`.
        #[arg(long, conflicts_with = "output")]
        in_place: bool,
    },
    /// Every command that touched a key (with db, time, file, offset),
    /// following RENAME/MOVE/COPY/SWAPDB and reporting FLUSHDB/FLUSHALL.
    History {
        /// AOF file, manifest or directory.
        path: PathBuf,
        /// The key (bytes as given).
        key: String,
        /// Only this database (default: the key in every database).
        #[arg(long)]
        db: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: HistoryFormat,
    },
    /// Offline rewrite: replay the log into a keyspace and write the
    /// minimal command set (RESP, like `aof-use-rdb-preamble no`).
    Rewrite {
        /// AOF file, manifest or directory.
        path: PathBuf,
        /// Output: a new multi-part directory (manifest, BASE, empty INCR),
        /// or a file with --single.
        #[arg(short, long)]
        output: PathBuf,
        /// Write one old-style AOF file instead of a directory.
        #[arg(long)]
        single: bool,
        /// Base name of the files in a directory (`appendfilename`).
        #[arg(long, default_value = "appendonly.aof")]
        appendfilename: String,
        /// Keep keys and hash fields whose TTL has passed (Redis' own
        /// rewrite keeps them; by default they are dropped at --now).
        #[arg(long)]
        keep_expired: bool,
        /// "Now" in Unix ms: the cut-off for expired keys and the base of
        /// relative times in pre-2.6 logs (default: the current time).
        #[arg(long)]
        now: Option<i64>,
        /// Accept inline (non-RESP) command lines.
        #[arg(long)]
        inline: bool,
        /// Replay the keyspace in this many parts by key hash (keys that
        /// commands tie together share a part), --jobs at a time: memory
        /// for --jobs parts. 0: one part per 128 MiB of log per job.
        #[arg(long, default_value_t = 0)]
        partitions: usize,
        /// Parts replayed at once (0: one per core).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
    },
}

/// Output formats of `aof history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    /// Aligned lines for people.
    Table,
    /// One JSON object per event (formats/aof-check.md).
    Jsonl,
}

fn rdb_opts(no_checksum: bool) -> RdbReadOptions {
    RdbReadOptions {
        verify_checksum: !no_checksum,
        relaxed_version: false,
        salvage: false,
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
        AofCommand::Repair {
            path,
            output,
            salvage,
            in_place,
            format,
        } => {
            let set = AofSet::open(&path)?;
            let plans = repair_plans(&set, salvage)?;
            let mut out = Output::create(None, &[])?;
            match format {
                ReportFormat::Table => out.write_all(repair_text(&set, &plans).as_bytes())?,
                ReportFormat::Json => {
                    let files: Vec<_> = set
                        .files
                        .iter()
                        .zip(&plans)
                        .map(|(f, p)| serde_json::json!({"name": f.display_name(), "plan": p}))
                        .collect();
                    serde_json::to_writer_pretty(&mut out, &serde_json::json!({"files": files}))?;
                    out.write_all(b"\n")?;
                }
            }
            out.commit()?;
            emit(&set, &plans, set.files.len(), output.as_deref(), in_place)
        }
        AofCommand::History {
            path,
            key,
            db,
            format,
        } => history(&path, &key, db, format),
        AofCommand::Rewrite {
            path,
            output,
            single,
            appendfilename,
            keep_expired,
            now,
            inline,
            partitions,
            jobs,
        } => rewrite(
            &path,
            &output,
            single,
            &appendfilename,
            keep_expired,
            now,
            inline,
            partitions,
            jobs,
        ),
        AofCommand::Truncate {
            path,
            to,
            to_offset,
            file,
            output,
            in_place,
        } => {
            let set = AofSet::open(&path)?;
            let to_ts = to.as_deref().map(parse_time).transpose()?;
            let (plans, upto) = truncate_plans(&set, to_ts, to_offset, file.as_deref())?;
            eprint!("{}", repair_text(&set, &plans[..upto]));
            emit(&set, &plans, upto, output.as_deref(), in_place)
        }
    }
}

fn history(path: &Path, key: &str, db: Option<u64>, format: HistoryFormat) -> Result<()> {
    let set = AofSet::open(path)?;
    let srcs = open_sources(&set)?;
    let mut out = Output::create(None, &[])?;
    let names: Vec<String> = set.files.iter().map(|f| f.display_name()).collect();
    if format == HistoryFormat::Table {
        writeln!(
            out,
            "{:<28} {:>10} {:>3} {:<20} command  [followed: note]",
            "file", "offset", "db", "time (UTC)"
        )?;
    }
    let mut n = 0u64;
    let mut h = History::new(key.as_bytes(), db, |e: Event| -> Result<()> {
        n += 1;
        match format {
            HistoryFormat::Table => {
                let mut cmd = String::new();
                for a in &e.argv {
                    if !cmd.is_empty() {
                        cmd.push(' ');
                    }
                    let shown = &a[..a.len().min(48)];
                    cmd.push_str(&shown.escape_ascii().to_string());
                    if a.len() > 48 {
                        cmd.push_str("...");
                    }
                }
                let tx = e
                    .multi
                    .map_or(String::new(), |m| format!(" (in MULTI at {m})"));
                writeln!(
                    out,
                    "{:<28} {:>10} {:>3} {:<20} {cmd}  [{}{tx}]",
                    names[e.file],
                    e.offset,
                    e.db,
                    e.ts.map_or("-".into(), utc),
                    e.note
                )?;
            }
            HistoryFormat::Jsonl => {
                let mut l = Vec::new();
                l.extend_from_slice(b"{\"file\":");
                write_str(&mut l, &names[e.file])?;
                write!(l, ",\"offset\":{},\"db\":{},\"ts\":", e.offset, e.db)?;
                match e.ts {
                    Some(t) => write!(l, "{t}")?,
                    None => l.extend_from_slice(b"null"),
                }
                l.extend_from_slice(b",\"argv\":[");
                for (i, a) in e.argv.iter().enumerate() {
                    if i > 0 {
                        l.push(b',');
                    }
                    write_bytes(&mut l, a)?;
                }
                l.extend_from_slice(b"],\"note\":");
                write_str(&mut l, &e.note)?;
                l.extend_from_slice(b",\"multi\":");
                match e.multi {
                    Some(m) => write!(l, "{m}")?,
                    None => l.extend_from_slice(b"null"),
                }
                l.extend_from_slice(b"}\n");
                out.write_all(&l)?;
            }
        }
        Ok(())
    });
    let opts = ReadOptions::default();
    let scans = read_set(&set, &srcs, &opts, true, &mut h)?;
    if let Some(m) = scans.last().and_then(|s| s.open_multi) {
        eprintln!(
            "note: the MULTI at offset {m} of the last file has no EXEC; a server discards its commands"
        );
    }
    out.commit()?;
    if n == 0 {
        eprintln!("no command touched {key:?}");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn rewrite(
    path: &Path,
    output: &Path,
    single: bool,
    appendfilename: &str,
    keep_expired: bool,
    now: Option<i64>,
    inline: bool,
    partitions: usize,
    jobs: usize,
) -> Result<()> {
    let set = AofSet::open(path)?;
    let now = now.unwrap_or_else(super::commands::now_ms);
    let opts = ReadOptions {
        inline,
        ..ReadOptions::default()
    };
    let jobs = if jobs > 0 {
        jobs
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let parts = if partitions > 0 {
        partitions.min(rewrite::MAX_PARTS)
    } else {
        let bytes: u64 = set
            .files
            .iter()
            .filter_map(|f| std::fs::metadata(&f.path).ok())
            .map(|m| m.len())
            .sum();
        // Memory for `jobs` parts at once: as much as one part of 128 MiB.
        bytes.div_ceil((128 << 20) / jobs as u64).clamp(1, 256) as usize
    };
    let t0 = std::time::Instant::now();
    let cut = (!keep_expired).then_some(now);
    let inputs: Vec<&Path> = set.files.iter().map(|f| f.path.as_path()).collect();
    // What the parts held and wrote, for the summary.
    let (mut keys, mut dbs, mut functions) = (0usize, std::collections::BTreeSet::new(), 0usize);
    let (mut commands, mut bytes) = (0u64, 0u64);
    let mut write_parts = |o: &mut Output| {
        let mut w = RespWriter::new(o);
        let res = rewrite::replay_parts(&set, now, &opts, parts, jobs, |part, r| {
            keys += r.ks.keys();
            dbs.extend(
                r.ks.dbs
                    .iter()
                    .filter(|(_, d)| !d.is_empty())
                    .map(|(n, _)| *n),
            );
            if part.index == 0 {
                functions = r.ks.functions.len();
            }
            // Every part replays the functions; the first writes them.
            write_keyspace(&r.ks, &mut w, cut, part.index == 0)
        })?;
        (commands, bytes) = (w.commands, w.bytes);
        w.finish()?;
        Ok::<_, Error>(res)
    };
    let (stats, used) = if single {
        let mut o = Output::create(Some(output), &inputs)?;
        let (stats, used) = match write_parts(&mut o) {
            Ok(s) => s,
            Err(e) => {
                o.abort();
                return Err(e);
            }
        };
        o.commit()?;
        (stats, used)
    } else {
        refuse_stdout_dir(output)?;
        if output.exists() {
            return Err(Error::usage(format!(
                "{} exists; give a new directory",
                output.display()
            )));
        }
        let tmp = PathBuf::from(format!("{}.tmp-{}", output.display(), std::process::id()));
        let res = (|| -> Result<_> {
            std::fs::create_dir_all(&tmp).map_err(|e| Error::from(e).with_path(&tmp))?;
            let base = format!("{appendfilename}.1.base.aof");
            let incr = format!("{appendfilename}.1.incr.aof");
            let mut o = Output::create(Some(&tmp.join(&base)), &[])?;
            let (stats, used) = write_parts(&mut o)?;
            o.commit()?;
            Output::create(Some(&tmp.join(&incr)), &[])?.commit()?;
            let mut m = Vec::new();
            manifest::format_entry(base.as_bytes(), 1, manifest::FileType::Base, &mut m);
            manifest::format_entry(incr.as_bytes(), 1, manifest::FileType::Incr, &mut m);
            let mut o = Output::create(Some(&tmp.join(format!("{appendfilename}.manifest"))), &[])?;
            o.write_all(&m)?;
            o.commit()?;
            std::fs::rename(&tmp, output).map_err(|e| Error::from(e).with_path(output))?;
            Ok((stats, used))
        })();
        if res.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        res?
    };
    eprintln!(
        "rewrote {} commands ({} bytes{}) into {commands} commands ({bytes} bytes): {keys} keys in {} dbs, {functions} functions; \
         {} commands failed as on the server, {} discarded (unterminated MULTI), torn tail {} bytes; {} part{}; {:.2}s",
        stats.commands,
        stats.bytes,
        if stats.rdb_keys > 0 {
            format!(", {} keys from RDB parts", stats.rdb_keys)
        } else {
            String::new()
        },
        dbs.len(),
        if stats.failed.is_empty() {
            "0".to_string()
        } else {
            stats
                .failed
                .iter()
                .map(|(n, c)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        stats.discarded,
        stats.torn_tail_bytes,
        used,
        if used == 1 { "" } else { "s" },
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86400), t.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Repair plans for every file of a set.
fn repair_plans(set: &AofSet, salvage: bool) -> Result<Vec<FilePlan>> {
    let srcs = open_sources(set)?;
    let ro = rdb_opts(false);
    let n = srcs.len();
    let mut plans = Vec::with_capacity(n);
    for (i, (s, f)) in srcs.iter().zip(&set.files).enumerate() {
        let p = if salvage {
            plan_salvage(s.bytes(), &ro)
        } else {
            plan_fix(s.bytes(), &ro)
        }
        .map_err(|e| e.with_path(&f.path))?;
        if p.changed() && !salvage && i + 1 < n {
            return Err(Error::new(ErrorKind::Aof(format!(
                "Failed to truncate AOF {} because it is not the last file (damage at offset {}); use --salvage",
                f.display_name(),
                p.dropped[0].start
            ))));
        }
        plans.push(p);
    }
    Ok(plans)
}

/// Truncation plans: the files up to the one cut (later ones are dropped).
fn truncate_plans(
    set: &AofSet,
    to_ts: Option<i64>,
    to_offset: Option<u64>,
    file: Option<&str>,
) -> Result<(Vec<FilePlan>, usize)> {
    let srcs = open_sources(set)?;
    let ro = rdb_opts(false);
    let target = match (to_offset, file) {
        (Some(_), Some(name)) => set
            .files
            .iter()
            .position(|f| f.display_name() == name)
            .ok_or_else(|| Error::usage(format!("no file {name} in the load order")))?,
        _ => set.files.len().saturating_sub(1),
    };
    let mut plans = Vec::new();
    for (i, (s, f)) in srcs.iter().zip(&set.files).enumerate() {
        let size = s.bytes().len() as u64;
        let offset = if i == target { to_offset } else { None };
        if to_ts.is_none() && offset.is_none() {
            plans.push(FilePlan::whole(size));
            continue;
        }
        match find_cut(s.bytes(), to_ts, offset, &ro).map_err(|e| e.with_path(&f.path))? {
            Some((at, why)) => {
                if at == 0 && i == 0 {
                    return Err(Error::new(ErrorKind::Aof(format!(
                        "AOF {} has nothing before the cut point, aborting",
                        f.display_name()
                    ))));
                }
                plans.push(FilePlan::cut(size, at, why));
                return Ok((plans, i + 1));
            }
            None => plans.push(FilePlan::whole(size)),
        }
    }
    let n = plans.len();
    Ok((plans, n))
}

/// Parses Unix seconds or `YYYY-MM-DD[T ]HH:MM:SS[Z]` (UTC).
fn parse_time(s: &str) -> Result<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let bad = || {
        Error::usage(format!(
            "--to {s:?}: expected Unix seconds or YYYY-MM-DDTHH:MM:SS (UTC)"
        ))
    };
    let t = s.trim_end_matches('Z');
    let (date, time) = t.split_once(['T', ' ']).ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let h: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let ([y, m, dd], [hh, mm, ss]) = (&d[..], &h[..]) else {
        return Err(bad());
    };
    let (y, m, dd, hh, mm, ss) = (*y, *m, *dd, *hh, *mm, *ss);
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&dd)
        || !(0..=23).contains(&hh)
        || !(0..=59).contains(&mm)
        || !(0..=60).contains(&ss)
    {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Ok(days * 86400 + hh * 3600 + mm * 60 + ss)
}

fn repair_text(set: &AofSet, plans: &[FilePlan]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (f, p) in set.files.iter().zip(plans) {
        let _ = writeln!(
            s,
            "{}: {} of {} bytes kept{}",
            f.display_name(),
            p.kept(),
            p.size,
            if p.changed() { "" } else { " (unchanged)" }
        );
        for d in &p.dropped {
            let _ = writeln!(
                s,
                "  dropped [{}, {}) ({} bytes): {}",
                d.start,
                d.end,
                d.end - d.start,
                d.reason
            );
        }
    }
    if plans.len() < set.files.len() {
        for f in &set.files[plans.len()..] {
            let _ = writeln!(
                s,
                "{}: dropped (after the cut; removed from the manifest)",
                f.display_name()
            );
        }
    }
    s
}

fn write_kept(w: &mut impl Write, data: &[u8], p: &FilePlan) -> Result<()> {
    for r in &p.keep {
        w.write_all(&data[r.start as usize..r.end as usize])?;
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The manifest listing the first `upto` files of the load order.
fn manifest_for(set: &AofSet, upto: usize) -> Result<Option<Vec<u8>>> {
    let Some(m) = set.manifest()? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for e in m.load_order().take(upto) {
        manifest::format_entry(&e.name, e.seq, e.file_type, &mut out);
    }
    Ok(Some(out))
}

/// Writes the planned files: to `output` (a file for a single AOF, a new
/// directory for a multi-part one) or in place with backups. Only the first
/// `upto` files of the load order are kept.
fn emit(
    set: &AofSet,
    plans: &[FilePlan],
    upto: usize,
    output: Option<&Path>,
    in_place: bool,
) -> Result<()> {
    let srcs = open_sources(set)?;
    let multi = matches!(set.layout, Layout::MultiPart { .. });
    let manifest_changed = upto < set.files.len();
    if in_place {
        let stamp = unix_now();
        let mut targets: Vec<(&Path, Vec<u8>)> = Vec::new();
        for ((s, f), p) in srcs.iter().zip(&set.files).zip(plans).take(upto) {
            if p.changed() {
                let mut buf = Vec::with_capacity(p.kept() as usize);
                write_kept(&mut buf, s.bytes(), p)?;
                targets.push((&f.path, buf));
            }
        }
        let mpath;
        if manifest_changed && let Layout::MultiPart { manifest_path, .. } = &set.layout {
            mpath = manifest_path.clone();
            targets.push((&mpath, manifest_for(set, upto)?.unwrap_or_default()));
        }
        drop(srcs);
        for (path, bytes) in targets {
            let mut bak = path.as_os_str().to_owned();
            bak.push(format!(".bak-{stamp}"));
            std::fs::copy(path, &bak).map_err(|e| Error::from(e).with_path(path))?;
            let mut o = Output::create(Some(path), &[])?;
            o.write_all(&bytes)?;
            o.commit()?;
            eprintln!(
                "rewrote {} (backup: {})",
                path.display(),
                PathBuf::from(bak).display()
            );
        }
        return Ok(());
    }
    let Some(out) = output else {
        return Err(Error::usage("give -o OUT or --in-place"));
    };
    if !multi {
        let mut o = Output::create(Some(out), &[&set.files[0].path])?;
        match write_kept(&mut o, srcs[0].bytes(), &plans[0]) {
            Ok(()) => return o.commit(),
            Err(e) => {
                o.abort();
                return Err(e);
            }
        }
    }
    refuse_stdout_dir(out)?;
    if out.exists() {
        return Err(Error::usage(format!(
            "{} exists; give a new directory",
            out.display()
        )));
    }
    let tmp = PathBuf::from(format!("{}.tmp-{}", out.display(), std::process::id()));
    let result = (|| -> Result<()> {
        std::fs::create_dir_all(&tmp).map_err(|e| Error::from(e).with_path(&tmp))?;
        for ((s, f), p) in srcs.iter().zip(&set.files).zip(plans).take(upto) {
            let dest = tmp.join(f.path.file_name().unwrap_or_default());
            let mut o = Output::create(Some(&dest), &[])?;
            write_kept(&mut o, s.bytes(), p)?;
            o.commit()?;
        }
        if let Layout::MultiPart { manifest_path, .. } = &set.layout {
            let dest = tmp.join(manifest_path.file_name().unwrap_or_default());
            let bytes = if manifest_changed {
                manifest_for(set, upto)?.unwrap_or_default()
            } else {
                std::fs::read(manifest_path).map_err(|e| Error::from(e).with_path(manifest_path))?
            };
            let mut o = Output::create(Some(&dest), &[])?;
            o.write_all(&bytes)?;
            o.commit()?;
        }
        std::fs::rename(&tmp, out).map_err(|e| Error::from(e).with_path(out))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
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
                format!("{} at {}", d.kind, d.offset)
            } else {
                "unterminated MULTI".to_string()
            };
            let _ = writeln!(
                s,
                "{:<w$}  {:<6}  {:>12}  {:<8}  {:>10}  {:>12}  {status}",
                f.name,
                f.role.to_string(),
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
