//! Flags, as clap parses them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::server::Target;

/// rdbtool: read, analyze and convert Redis/Valkey RDB snapshots and AOF logs.
#[derive(Debug, Parser)]
#[command(name = "rdbtool", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Machine and human output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned table for people.
    Table,
    /// One JSON document.
    Json,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array.
    Json,
}

/// Options shared by the commands that read an RDB.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Accept RDB versions newer than this build knows (unknown types still fail).
    #[arg(long)]
    pub skip_unknown: bool,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// Skip damaged data and resume at the next plausible key; every
    /// skipped byte range is reported (stderr and the output). Exit code 1
    /// when anything was skipped.
    #[arg(long)]
    pub salvage: bool,
    /// Server whose `OBJECT ENCODING` names are reported (default: the one
    /// that writes the file's RDB version).
    #[arg(long, value_enum)]
    pub target: Option<Target>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarize an RDB file: header, aux fields, keys per db/type/encoding,
    /// expiries, functions, modules, checksum.
    Inspect {
        /// The RDB file; several files or directories (of RDB files) give
        /// a per-file view and a combined one, read in parallel.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
        /// Keys and bytes per cluster slot range, the busiest slots, and
        /// the SLOT_INFO records checked against the keys.
        #[arg(long)]
        by_slot: bool,
        /// Slot ranges of `--by-slot` (implies it), e.g.
        /// `0-5460,5461-10922,10923-16383`; default: 16 ranges of 1024.
        #[arg(long)]
        slot_ranges: Option<String>,
        /// Reader options.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Export every key and record losslessly (schema: formats/export-jsonl.md).
    Export {
        /// The RDB file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Output file (default or `-`: standard output). Written atomically.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Reader options.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Per-key memory as `MEMORY USAGE` reports it on the loading server
    /// (model: formats/memory-model.md).
    Memory(super::report::MemoryArgs),
    /// Analyzer report: memory by prefix, TTLs, expiry waves, big keys,
    /// hot/cold, data loss (schema: formats/report.md).
    Report(super::report::ReportArgs),
    /// Keys added, removed and changed between two snapshots.
    Diff(super::report::DiffArgs),
    /// Which keys a restore into a smaller maxmemory would evict, per policy.
    Project(super::project::ProjectArgs),
    /// Convert an RDB (or a JSONL/CSV export) to another RDB version, an
    /// AOF, RESP, JSON or CSV, with key filters.
    Convert(super::convert::ConvertArgs),
    /// Build an RDB from a JSONL export or a CSV file.
    Import(super::convert::ImportArgs),
    /// Push keys into a live server with pipelined RESTORE (or commands).
    Restore(super::convert::RestoreArgs),
    /// Split one RDB into several: by cluster slot ranges (or a
    /// nodes.conf), database, key prefix or key count (formats/cluster.md).
    Split(super::cluster::SplitArgs),
    /// Merge several RDBs into one, with a conflict policy for keys in more
    /// than one input (formats/cluster.md).
    Merge(super::cluster::MergeArgs),
    /// AOF tools: check, repair, truncate, key history, offline rewrite.
    Aof {
        /// The AOF subcommand.
        #[command(subcommand)]
        cmd: super::aof::AofCommand,
    },
    /// Check an RDB file like redis-check-rdb (same report lines), decoding
    /// every value, and say precisely where and why it is damaged.
    Check {
        /// The RDB file.
        file: PathBuf,
        /// Reader options.
        #[command(flatten)]
        read: ReadArgs,
    },
}
