//! Offline AOF rewrite: replay a log into a [`keyspace::Keyspace`] with the
//! semantics of the commands servers propagate ([`replay`]), then write the
//! minimal command set ([`emit`]).

pub mod bitfield;
pub mod emit;
pub mod hll;
pub mod keyspace;
pub mod load;
pub mod partition;
pub mod replay;
pub mod sort;
pub mod stream_refs;

use std::path::PathBuf;

use super::read::{AofSet, AofSink, Command, FileScan, ReadOptions, open_sources, read_set};
use crate::error::{Error, ErrorKind, Result};
use crate::rdb::read::{Record, Scratch};
use crate::sink::Flow;
use crate::source::Source;
use partition::{Part, Route, route};
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

/// A command queued in a MULTI: db, arguments, and whether it runs in
/// every part (see [`ReplaySink::apply`]).
type Queued = (u64, Vec<Vec<u8>>, bool);

struct ReplaySink<'s> {
    /// The files, to release what was replayed (see [`Source::release_before`]).
    srcs: &'s [Source],
    /// (file, offset) released up to.
    released: (usize, u64),
    /// The part of the keyspace this pass replays.
    part: Part,
    /// Where a command tied keys of different parts together (the pass
    /// stopped there).
    spans: Option<(usize, u64)>,
    r: Replayer,
    /// Queued commands of an open MULTI.
    tx: Option<Vec<Queued>>,
    paths: Vec<PathBuf>,
    stats: ReplayStats,
    scratch: Scratch,
}

impl ReplaySink<'_> {
    /// Applies a command. One that runs in every part (no keys) fails the
    /// same way in each: only the first part counts its failure.
    fn apply(
        &mut self,
        db: u64,
        args: &[&[u8]],
        everywhere: bool,
        file: usize,
        offset: u64,
    ) -> Result<()> {
        let recount = everywhere && self.part.index > 0;
        let name = || {
            String::from_utf8_lossy(args.first().copied().unwrap_or_default()).to_ascii_lowercase()
        };
        let before = if recount {
            self.r.failed.get(&name()).copied()
        } else {
            None
        };
        let res = self.r.apply(db, args);
        if recount {
            match before {
                Some(n) => {
                    self.r.failed.insert(name(), n);
                }
                None => {
                    self.r.failed.remove(&name());
                }
            }
        }
        res.map_err(|msg| {
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
            Record::Key(k) if self.part.count > 1 => {
                let key = k.key.to_vec().map_err(|p| Error::parse(p, k.offset))?;
                if !self.part.owns(&key) {
                    return Ok(Flow::Continue);
                }
                self.stats.rdb_keys += 1;
            }
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
        let (args, everywhere): (Vec<&[u8]>, bool) = match route(&c.argv, self.part) {
            Route::Apply { keys } => (c.argv.iter().collect(), !keys),
            Route::Skip => return Ok(Flow::Continue),
            Route::Subset(pos) => (pos.iter().filter_map(|&i| c.argv.get(i)).collect(), false),
            Route::Spans => {
                self.spans = Some((c.file, c.offset));
                return Ok(Flow::Stop);
            }
        };
        let multi = c.argv.is("multi");
        match &mut self.tx {
            None if multi => self.tx = Some(Vec::new()),
            None => self.apply(c.db, &args, everywhere, c.file, c.offset)?,
            Some(q) => {
                if c.argv.is("exec") {
                    let q = self.tx.take().unwrap_or_default();
                    for (db, a, every) in q {
                        let a: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
                        self.apply(db, &a, every, c.file, c.offset)?;
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
                    q.push((c.db, args.iter().map(|a| a.to_vec()).collect(), everywhere));
                }
            }
        }
        Ok(Flow::Continue)
    }
}

/// Replays a whole AOF set into a keyspace, as a server loads it (a torn
/// tail of the last file is cut; an unterminated MULTI is discarded).
pub fn replay(set: &AofSet, now_ms: i64, opts: &ReadOptions) -> Result<(Replayer, ReplayStats)> {
    replay_part(set, now_ms, opts, Part::WHOLE)?
        .ok_or_else(|| Error::sink("a whole-keyspace replay cannot span parts"))
}

/// Replays the set in `parts` passes of a part of the keyspace each
/// ([`partition`]), handing each part's keyspace to `each` and freeing it
/// before the next pass: memory for a fraction of the keyspace, for the
/// time of reading the log `parts` times. When a command ties keys of
/// different parts together (found in the first pass, before `each` ran),
/// it replays the whole keyspace in one pass instead. Returns the
/// statistics of the whole log and the number of parts used.
pub fn replay_parts(
    set: &AofSet,
    now_ms: i64,
    opts: &ReadOptions,
    parts: usize,
    mut each: impl FnMut(Part, &Replayer) -> Result<()>,
) -> Result<(ReplayStats, usize)> {
    let mut total: Option<ReplayStats> = None;
    for index in 0..parts.max(1) {
        let part = Part {
            index,
            count: parts.max(1),
        };
        let Some((r, stats)) = replay_part(set, now_ms, opts, part)? else {
            // Only the first pass can meet it: every pass routes every command.
            let (r, stats) = replay(set, now_ms, opts)?;
            each(Part::WHOLE, &r)?;
            // The process ends soon: freeing millions of small allocations
            // one by one would add a sixth to the run time for nothing.
            std::mem::forget(r);
            return Ok((stats, 1));
        };
        each(part, &r)?;
        if part.count == 1 {
            std::mem::forget(r);
        } else {
            drop(r);
        }
        total = Some(match total {
            None => stats,
            Some(mut t) => {
                t.rdb_keys += stats.rdb_keys;
                for (n, c) in stats.failed {
                    *t.failed.entry(n).or_insert(0) += c;
                }
                t.discarded += stats.discarded;
                t
            }
        });
    }
    Ok((total.unwrap_or_default(), parts.max(1)))
}

/// One pass: the keys of `part`; `None` when a command spans parts.
fn replay_part(
    set: &AofSet,
    now_ms: i64,
    opts: &ReadOptions,
    part: Part,
) -> Result<Option<(Replayer, ReplayStats)>> {
    let srcs = open_sources(set)?;
    let mut sink = ReplaySink {
        part,
        spans: None,
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
    if sink.spans.is_some() {
        return Ok(None);
    }
    stats.failed = std::mem::take(&mut sink.r.failed);
    Ok(Some((sink.r, stats)))
}
