//! Offline AOF rewrite: replay a log into a [`keyspace::Keyspace`] with the
//! semantics of the commands servers propagate ([`replay`]), then write the
//! minimal command set ([`emit`]).

pub mod emit;
pub mod keyspace;
pub mod load;
pub mod replay;

use std::path::PathBuf;

use super::read::{AofSet, AofSink, Command, FileScan, ReadOptions, open_sources, read_set};
use crate::error::{Error, ErrorKind, Result};
use crate::rdb::read::{Record, Scratch};
use crate::sink::Flow;
use crate::source::Source;
use replay::Replayer;

/// What a replay saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ReplayStats {
    /// Commands read (including MULTI/EXEC/SELECT).
    pub commands: u64,
    /// Bytes of the input files.
    pub bytes: u64,
    /// Keys loaded from RDB parts.
    pub rdb_keys: u64,
    /// Commands that failed as they would on the server's loading client,
    /// by name.
    pub failed: std::collections::BTreeMap<String, u64>,
    /// Commands of an unterminated MULTI at the end, discarded.
    pub discarded: u64,
    /// Bytes of a torn tail the server would cut.
    pub torn_tail_bytes: u64,
    /// AUX fields of the RDB parts (preamble or BASE), in file order: they
    /// say which server wrote the log (`redis-ver`).
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Bytes replayed between releases of the mapping's consumed pages.
const RELEASE_EVERY: u64 = 64 << 20;

struct ReplaySink<'s> {
    /// The files, to release what was replayed (see [`Source::release_before`]).
    srcs: &'s [Source],
    /// (file, offset) released up to.
    released: (usize, u64),
    r: Replayer,
    tx: Option<Vec<(u64, Vec<Vec<u8>>)>>,
    paths: Vec<PathBuf>,
    stats: ReplayStats,
    scratch: Scratch,
}

impl ReplaySink<'_> {
    fn apply(&mut self, db: u64, args: &[&[u8]], file: usize, offset: u64) -> Result<()> {
        self.r.apply(db, args).map_err(|msg| {
            let mut e = Error::new(ErrorKind::Aof(msg));
            e.location_mut().offset = Some(offset);
            e.location_mut().db = Some(db);
            e.with_path(&self.paths[file])
        })
    }
}

impl<'a> AofSink<'a> for ReplaySink<'_> {
    fn rdb_record(&mut self, _file: usize, r: &Record<'_>) -> Result<Flow> {
        match r {
            Record::Key(_) => self.stats.rdb_keys += 1,
            Record::Aux { key, value } => {
                let off = |p| Error::parse(p, 0);
                let kv = (key.to_vec().map_err(off)?, value.to_vec().map_err(off)?);
                self.stats.aux.push(kv);
            }
            _ => {}
        }
        load::rdb_record(&mut self.r.ks, r, &mut self.scratch)
    }

    fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
        self.stats.commands += 1;
        if c.file != self.released.0 || c.offset >= self.released.1 + RELEASE_EVERY {
            // Commands are applied (or copied, inside MULTI) before the next
            // one is read: nothing before this one is needed again.
            if c.file != self.released.0
                && let Some(prev) = self.srcs.get(self.released.0)
            {
                prev.release_before(usize::MAX);
            }
            if let Some(s) = self.srcs.get(c.file) {
                s.release_before(c.offset as usize);
            }
            self.released = (c.file, c.offset);
        }
        let args: Vec<&[u8]> = c.argv.iter().collect();
        let multi = c.argv.is("multi");
        match &mut self.tx {
            None if multi => self.tx = Some(Vec::new()),
            None => self.apply(c.db, &args, c.file, c.offset)?,
            Some(q) => {
                if c.argv.is("exec") {
                    let q = self.tx.take().unwrap_or_default();
                    for (db, a) in q {
                        let a: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
                        self.apply(db, &a, c.file, c.offset)?;
                    }
                } else if c.argv.is("discard") {
                    self.tx = None;
                } else {
                    // Validate now, so an unmodelled command is named where it is.
                    if let Some(n) = c.argv.name()
                        && matches!(
                            crate::aof::commands::lookup(&c.argv),
                            crate::aof::commands::Lookup::UnknownCommand
                        )
                    {
                        let mut e = Error::new(ErrorKind::Aof(format!(
                            "unknown command '{}' (a server refuses to load it)",
                            String::from_utf8_lossy(n)
                        )));
                        e.location_mut().offset = Some(c.offset);
                        return Err(e.with_path(&self.paths[c.file]));
                    }
                    q.push((c.db, args.iter().map(|a| a.to_vec()).collect()));
                }
            }
        }
        Ok(Flow::Continue)
    }
}

/// Replays a whole AOF set into a keyspace, as a server loads it (a torn
/// tail of the last file is cut; an unterminated MULTI is discarded).
pub fn replay(set: &AofSet, now_ms: i64, opts: &ReadOptions) -> Result<(Replayer, ReplayStats)> {
    let srcs = open_sources(set)?;
    let mut sink = ReplaySink {
        srcs: &srcs,
        released: (0, 0),
        r: Replayer::new(now_ms),
        tx: None,
        paths: set.files.iter().map(|f| f.path.clone()).collect(),
        stats: ReplayStats::default(),
        scratch: Scratch::default(),
    };
    let scans: Vec<FileScan> = read_set(set, &srcs, opts, true, &mut sink)?;
    let mut stats = sink.stats;
    stats.bytes = srcs.iter().map(|s| s.bytes().len() as u64).sum();
    stats.discarded = sink.tx.map_or(0, |q| q.len() as u64);
    if let Some(last) = scans.last()
        && (last.damage.is_some() || last.open_multi.is_some())
    {
        stats.torn_tail_bytes = last.size - last.valid_up_to;
    }
    stats.failed = sink.r.failed.clone();
    Ok((sink.r, stats))
}
