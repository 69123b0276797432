//! `split` and `merge`: flags and the wiring of inputs, the library's split
//! and merge sinks (src/cluster) and atomic outputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::convert::{FilterArgs, WriteArgs, print_refused};
use super::output::{Output, refuse_stdout_dir};
use crate::cluster::input::RecordInput;
use crate::cluster::merge::{self, MergeOptions, OnConflict};
use crate::cluster::nodes::parse_nodes;
use crate::cluster::split::{Router, Split};
use crate::error::{Error, Result};
use crate::filter::FilterSink;

/// Non-slot ways to split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitBy {
    /// One file per database, `db-N.rdb`.
    Db,
    /// One file per first key segment, `prefix-<segment>.rdb`.
    Prefix,
    /// Runs of `--keys-per-file` keys, `part-0000.rdb`, ...
    Count,
}

/// Flags of `rdbtool split`.
#[derive(Debug, clap::Args)]
pub struct SplitArgs {
    /// The RDB to split.
    pub input: PathBuf,
    /// Slot ranges and their files, `0-5460:a.rdb,5461-10922:b.rdb,...`
    /// (several ranges for one file joined with `+`). Files are relative to
    /// `--output-dir`. Cluster targets: keys must be in db 0 (see --db-map).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["slots_from", "by"])]
    pub ranges: Vec<String>,
    /// A cluster's nodes.conf (or `CLUSTER NODES` output): one file per
    /// master, `<ip>-<port>.rdb`, with the keys of its slots.
    #[arg(long, conflicts_with = "by")]
    pub slots_from: Option<PathBuf>,
    /// Split by database, key prefix or key count instead of slots.
    #[arg(long, value_enum)]
    pub by: Option<SplitBy>,
    /// `--by prefix`: bytes that end the first key segment.
    #[arg(long, default_value = ":")]
    pub separators: String,
    /// `--by prefix`: most files written (more prefixes fail the run).
    #[arg(long, default_value_t = 256)]
    pub max_files: usize,
    /// `--by count`: keys per file.
    #[arg(long)]
    pub keys_per_file: Option<u64>,
    /// Slot splits: leave out keys of slots no file is given, instead of
    /// failing.
    #[arg(long)]
    pub partial: bool,
    /// Directory the files are written to (created if missing).
    #[arg(short = 'o', long, default_value = ".")]
    pub output_dir: PathBuf,
    /// Writer options.
    #[command(flatten)]
    pub write: WriteArgs,
    /// Key selection (applied before routing; --db-map renumbers).
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Flags of `rdbtool merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The RDB files to merge (numbered from 0 in this order).
    #[arg(required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// The RDB to write (atomically; never one of the inputs; `-`: standard
    /// output).
    #[arg(short, long)]
    pub output: PathBuf,
    /// A key in several inputs: fail (error), or keep the copy of the first
    /// input, the last, or the one that expires last (newest-ttl).
    #[arg(long, value_enum, default_value = "error")]
    pub on_conflict: OnConflict,
    /// Copy the AUX fields of input N (0-based). Default: fresh AUX fields
    /// (redis-ver of the target version, redis-bits, ctime now, used-mem 0).
    #[arg(long)]
    pub aux_from: Option<usize>,
    /// Also write every conflict as JSON lines here.
    #[arg(long)]
    pub conflicts: Option<PathBuf>,
    /// Writer options.
    #[command(flatten)]
    pub write: WriteArgs,
}

fn router(a: &SplitArgs) -> Result<Router> {
    if !a.ranges.is_empty() {
        return Router::from_ranges(&a.ranges, a.partial);
    }
    if let Some(p) = &a.slots_from {
        let text = std::fs::read_to_string(p).map_err(|e| Error::from(e).with_path(p))?;
        let masters = parse_nodes(&text).map_err(|e| e.with_path(p))?;
        return Router::from_masters(&masters, a.partial);
    }
    match a.by {
        Some(SplitBy::Db) => Ok(Router::Db),
        Some(SplitBy::Prefix) if a.separators.is_empty() => {
            Err(Error::usage("--separators needs at least one byte"))
        }
        Some(SplitBy::Prefix) => Ok(Router::Prefix {
            separators: a.separators.as_bytes().to_vec(),
            max_files: a.max_files.max(1),
        }),
        Some(SplitBy::Count) => match a.keys_per_file {
            Some(n) if n > 0 => Ok(Router::Count { keys_per_file: n }),
            _ => Err(Error::usage("--by count needs --keys-per-file N (N > 0)")),
        },
        None => Err(Error::usage(
            "say how to split: --ranges, --slots-from or --by db|prefix|count",
        )),
    }
}

/// `rdbtool split`.
pub fn split(a: SplitArgs) -> Result<()> {
    let router = router(&a)?;
    let filter = a.filter.build()?;
    let input = RecordInput::open(&a.input)?;
    refuse_stdout_dir(&a.output_dir)?;
    std::fs::create_dir_all(&a.output_dir).map_err(|e| Error::from(e).with_path(&a.output_dir))?;
    let t0 = Instant::now();
    let (dir, inp) = (a.output_dir.clone(), a.input.clone());
    let open = move |name: &str| Output::create(Some(&dir.join(name)), &[inp.as_path()]);
    let mut split = Split::new(router, a.write.sink_options()?, open);
    if !filter.db_map.is_empty() {
        split = split.check_duplicates();
    }
    let mut sink = FilterSink::new(filter, split);
    let res = input.feed(&a.write.read_options(), &mut sink);
    let (skipped, uncovered) = (sink.skipped, sink.inner.uncovered);
    let mut outs = Vec::new();
    let mut failed = res.err();
    for p in sink.inner.into_parts() {
        print_refused(&p.sink.refused);
        let name = p.name.clone();
        let keys = p.keys;
        let stats = p.sink.stats.clone();
        match p.sink.into_inner() {
            Some(o) => outs.push((name, keys, stats, o)),
            None => {
                failed.get_or_insert_with(|| Error::sink(format!("output {name} lost")));
            }
        }
    }
    if let Some(e) = failed {
        for (_, _, _, o) in outs {
            o.abort();
        }
        return Err(e);
    }
    for (name, keys, st, o) in outs {
        o.commit()?;
        eprintln!(
            "rdbtool: split: {}: {keys} keys ({} copied, {} re-encoded, {} empty left out)",
            a.output_dir.join(name).display(),
            st.copied,
            st.reencoded,
            st.empty
        );
    }
    eprintln!(
        "rdbtool: split: {:.1} MB in {:.2} s; {skipped} keys filtered out, {uncovered} in slots without a file",
        input.len() as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn conflict_line(c: &merge::Conflict, inputs: &[RecordInput]) -> String {
    let held: Vec<String> = c
        .inputs
        .iter()
        .map(|&i| format!("{i} ({})", inputs[i].path().display()))
        .collect();
    let kept = c
        .chosen
        .map_or_else(|| "none".to_string(), |i| format!("input {i}"));
    format!(
        "conflict: db {} key \"{}\" in inputs {}; kept: {kept}",
        c.db,
        c.key.escape_ascii(),
        held.join(", ")
    )
}

/// `rdbtool merge`.
pub fn merge(a: MergeArgs) -> Result<()> {
    let inputs = a
        .inputs
        .iter()
        .map(|p| RecordInput::open(p))
        .collect::<Result<Vec<_>>>()?;
    let opts = MergeOptions {
        on_conflict: a.on_conflict,
        aux_from: a.aux_from,
        rdb: a.write.sink_options()?,
        read: a.write.read_options(),
    };
    let t0 = Instant::now();
    let plan = merge::plan(&inputs, &opts)?;
    for c in &plan.conflicts {
        eprintln!("rdbtool: merge: {}", conflict_line(c, &inputs));
    }
    let in_paths: Vec<&Path> = a.inputs.iter().map(PathBuf::as_path).collect();
    if let Some(p) = &a.conflicts {
        let mut o = Output::create(Some(p), &in_paths)?;
        for c in &plan.conflicts {
            serde_json::to_writer(&mut o, c)?;
            o.write_all(b"\n")?;
        }
        o.commit()?;
    }
    let n_conflicts = plan.conflicts.len();
    if a.on_conflict == OnConflict::Error && n_conflicts > 0 {
        return Err(Error::sink(format!(
            "{n_conflicts} key(s) are in more than one input (listed above); nothing written. \
             Choose a copy with --on-conflict first|last|newest-ttl"
        )));
    }
    let (keys_in, distinct, libs) = (
        plan.input_keys.iter().sum::<u64>(),
        plan.distinct,
        plan.functions.len(),
    );
    let out = Output::create(Some(&a.output), &in_paths)?;
    let mut sink = merge::writer(out, &opts);
    let res = merge::write(plan, &inputs, &mut sink, &opts);
    print_refused(&sink.refused);
    match (res, sink.into_inner()) {
        (Ok(written), Some(o)) => {
            o.commit()?;
            eprintln!(
                "rdbtool: merge: {} inputs, {keys_in} keys read, {distinct} distinct, {written} written, {n_conflicts} conflicts, {libs} function libraries; {:.2} s",
                inputs.len(),
                t0.elapsed().as_secs_f64()
            );
            Ok(())
        }
        (r, o) => {
            if let Some(o) = o {
                o.abort();
            }
            Err(r.err().unwrap_or_else(|| Error::sink("merge output lost")))
        }
    }
}
