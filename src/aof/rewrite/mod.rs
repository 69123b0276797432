//! Offline AOF rewrite: replay a log into a [`keyspace::Keyspace`] with the
//! semantics of the commands servers propagate ([`mod@replay`]), then write the
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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use super::read::frame::{Item, frame, strtol};
use super::read::{AofSet, AofSink, Argv, Command, FileScan, ReadOptions, open_sources, read_set};
use crate::error::{Error, ErrorKind, Result};
use crate::rdb::read::{self as rdb, Record, Scratch};
use crate::sink::{Flow, RecordSink};
use crate::source::Source;
use partition::{Assign, Class, Part, Ties, classify, subset};
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
const RELEASE_EVERY: u64 = 16 << 20;

/// A command queued in a MULTI: db, arguments, and whether it runs in
/// every part (see [`PartReplay::apply`]).
type Queued = (u64, Vec<Vec<u8>>, bool);

/// Arguments a command passes to the replayer without a heap allocation
/// (most commands have few).
const STACK_ARGS: usize = 16;

/// Calls `f` with the arguments of `argv` at `positions` (all when `None`).
fn with_args<R>(argv: &Argv<'_>, positions: Option<&[usize]>, f: impl FnOnce(&[&[u8]]) -> R) -> R {
    let mut buf: [&[u8]; STACK_ARGS] = [&[]; STACK_ARGS];
    match positions {
        None if argv.argc() <= STACK_ARGS => {
            let mut n = 0;
            for (d, a) in buf.iter_mut().zip(argv.iter()) {
                *d = a;
                n += 1;
            }
            f(&buf[..n])
        }
        None => f(&argv.iter().collect::<Vec<_>>()),
        Some(pos) => f(&pos.iter().filter_map(|&i| argv.get(i)).collect::<Vec<_>>()),
    }
}

/// How a part runs one command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Whole; `keys` false: it has none, and runs in every part.
    All {
        /// Whether it has keys.
        keys: bool,
    },
    /// A DEL/UNLINK/MSET reduced to this part's keys.
    Split,
}

/// Drops the mapped pages of the log behind a reader that goes forward
/// ([`Source::release_before`]): a pass over a large mapping otherwise keeps
/// all of it resident. Records are applied (or copied) before the next one
/// is read, so nothing before the current one is needed again.
struct Releaser<'s> {
    srcs: &'s [Source],
    /// (file, offset) released up to.
    at: (usize, u64),
}

impl<'s> Releaser<'s> {
    fn new(srcs: &'s [Source]) -> Self {
        Releaser { srcs, at: (0, 0) }
    }

    /// The reader is at `offset` of file `file`.
    fn advance(&mut self, file: usize, offset: u64) {
        if file != self.at.0 || offset >= self.at.1 + RELEASE_EVERY {
            if file != self.at.0
                && let Some(prev) = self.srcs.get(self.at.0)
            {
                prev.release_before(usize::MAX);
            }
            if let Some(s) = self.srcs.get(file) {
                s.release_before(offset as usize);
            }
            self.at = (file, offset);
        }
    }
}

/// The replay of one part of the keyspace (or the whole of it): commands in
/// log order into a [`Replayer`].
struct PartReplay<'s> {
    released: Releaser<'s>,
    /// Where keys go.
    assign: &'s Assign,
    /// This part.
    index: usize,
    r: Replayer,
    /// Queued commands of an open MULTI.
    tx: Option<Vec<Queued>>,
    paths: &'s [PathBuf],
    stats: ReplayStats,
    scratch: Scratch,
}

impl<'s> PartReplay<'s> {
    fn new(
        srcs: &'s [Source],
        paths: &'s [PathBuf],
        assign: &'s Assign,
        index: usize,
        now_ms: i64,
    ) -> Self {
        PartReplay {
            released: Releaser::new(srcs),
            assign,
            index,
            r: Replayer::new(now_ms),
            tx: None,
            paths,
            stats: ReplayStats::default(),
            scratch: Scratch::default(),
        }
    }

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
        let recount = everywhere && self.index > 0;
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

    /// Runs one command of the log (queues it inside MULTI).
    fn run(&mut self, file: usize, offset: u64, db: u64, argv: &Argv<'_>, how: Run) -> Result<()> {
        let positions = match how {
            Run::Split => match subset(argv, self.assign, self.index) {
                Some(p) => Some(p),
                None => return Ok(()),
            },
            Run::All { .. } => None,
        };
        let everywhere = how == Run::All { keys: false };
        if self.tx.is_none() {
            if argv.is("multi") {
                self.tx = Some(Vec::new());
                return Ok(());
            }
            return with_args(argv, positions.as_deref(), |a| {
                self.apply(db, a, everywhere, file, offset)
            });
        }
        if argv.is("exec") {
            let q = self.tx.take().unwrap_or_default();
            for (db, a, every) in q {
                let a: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
                self.apply(db, &a, every, file, offset)?;
            }
        } else if argv.is("discard") {
            self.tx = None;
        } else {
            // Validate now, so an unmodelled command is named where it is.
            if let Some(n) = argv.name()
                && matches!(
                    crate::aof::commands::lookup(argv),
                    crate::aof::commands::Lookup::UnknownCommand
                )
            {
                let mut e = Error::new(ErrorKind::Aof(format!(
                    "unknown command '{}' (a server refuses to load it)",
                    String::from_utf8_lossy(n)
                )));
                e.location_mut().offset = Some(offset);
                return Err(e.with_path(&self.paths[file]));
            }
            let args = with_args(argv, positions.as_deref(), |a| {
                a.iter().map(|x| x.to_vec()).collect()
            });
            if let Some(q) = &mut self.tx {
                q.push((db, args, everywhere));
            }
        }
        Ok(())
    }

    /// A record of an RDB part of file `file`: this part's keys go into
    /// the keyspace.
    fn rdb_record(&mut self, file: usize, r: &Record<'_>) -> Result<Flow> {
        if let Record::Key(k) = r {
            self.released.advance(file, k.offset);
        }
        match r {
            Record::Key(k) if self.assign.count > 1 => {
                let key = k.key.to_vec().map_err(|p| Error::parse(p, k.offset))?;
                if self.assign.part_of(&key) != self.index {
                    return Ok(Flow::Continue);
                }
                self.stats.rdb_keys += 1;
            }
            Record::Key(_) => self.stats.rdb_keys += 1,
            Record::Aux { key, value } if self.index == 0 => {
                let off = |p| Error::parse(p, 0);
                let kv = (key.to_vec().map_err(off)?, value.to_vec().map_err(off)?);
                self.stats.aux.push(kv);
            }
            _ => {}
        }
        load::rdb_record(&mut self.r.ks, r, &mut self.scratch)
    }
}

impl<'a> AofSink<'a> for PartReplay<'_> {
    fn rdb_record(&mut self, file: usize, r: &Record<'_>) -> Result<Flow> {
        PartReplay::rdb_record(self, file, r)
    }

    fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
        self.stats.commands += 1;
        self.released.advance(c.file, c.offset);
        self.run(c.file, c.offset, c.db, &c.argv, Run::All { keys: true })?;
        Ok(Flow::Continue)
    }
}

/// The statistics of a scan that do not depend on the part.
fn scan_stats(stats: &mut ReplayStats, srcs: &[Source], scans: &[FileScan]) {
    stats.bytes = srcs.iter().map(|s| s.bytes().len() as u64).sum();
    if let Some(last) = scans.last()
        && (last.damage.is_some() || last.open_multi.is_some())
    {
        stats.torn_tail_bytes = last.size - last.valid_up_to;
    }
}

/// Replays a whole AOF set into a keyspace, as a server loads it (a torn
/// tail of the last file is cut; an unterminated MULTI is discarded).
pub fn replay(set: &AofSet, now_ms: i64, opts: &ReadOptions) -> Result<(Replayer, ReplayStats)> {
    let srcs = open_sources(set)?;
    let paths: Vec<PathBuf> = set.files.iter().map(|f| f.path.clone()).collect();
    let whole = Assign::whole();
    let mut sink = PartReplay::new(&srcs, &paths, &whole, 0, now_ms);
    let scans = read_set(set, &srcs, opts, true, &mut sink)?;
    let mut stats = std::mem::take(&mut sink.stats);
    scan_stats(&mut stats, &srcs, &scans);
    stats.discarded = sink.tx.as_ref().map_or(0, |q| q.len() as u64);
    stats.failed = std::mem::take(&mut sink.r.failed);
    Ok((sink.r, stats))
}

/// One command of the log as the plan places it (16 bytes: a plan holds
/// one per command of the log).
#[derive(Debug, Clone, Copy)]
struct Op {
    /// Offset of the record in its file.
    offset: u64,
    /// Length of the record.
    len: u32,
    /// Its db, as an index into [`Plan::dbs`] (dbs are few).
    db: u16,
    /// The part that runs it, or [`EVERY`] or [`SPLIT`].
    part: u16,
}

/// [`Op::part`]: a command without keys, run by every part.
const EVERY: u16 = u16::MAX;
/// [`Op::part`]: a DEL/UNLINK/MSET each part runs with its own keys.
const SPLIT: u16 = u16::MAX - 1;
/// [`Op::part`] while planning: placed by its key hash.
const KEYED: u16 = u16::MAX - 2;
/// Most parts a plan places commands in.
pub const MAX_PARTS: usize = KEYED as usize;

/// The single pass that frames the log and places every command in a part:
/// what the parts then replay, each framing only its own commands again.
struct Plan {
    /// Commands by file, in log order.
    ops: Vec<Vec<Op>>,
    /// Db numbers of [`Op::db`].
    dbs: Vec<u64>,
    /// Files that start with an RDB part (each part reads its keys).
    rdb: Vec<bool>,
    /// Where keys go.
    assign: Assign,
    /// A command reads keys the plan cannot place ([`Class::Global`]).
    global: bool,
    /// Commands, bytes, discarded, torn tail, AUX.
    stats: ReplayStats,
}

struct Planner<'s> {
    released: Releaser<'s>,
    ops: Vec<Vec<Op>>,
    /// Key hash of every op, for [`KEYED`] ones (in step with `ops`).
    hashes: Vec<Vec<u64>>,
    dbs: Vec<u64>,
    ties: Ties,
    global: bool,
    commands: u64,
    /// Commands queued in the open MULTI.
    queued: Option<u64>,
}

impl<'a> AofSink<'a> for Planner<'_> {
    fn rdb_record(&mut self, file: usize, r: &Record<'_>) -> Result<Flow> {
        if let Record::Key(k) = r {
            self.released.advance(file, k.offset);
        }
        Ok(Flow::Continue)
    }

    fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
        self.commands += 1;
        self.released.advance(c.file, c.offset);
        let db = match self.dbs.iter().rposition(|&d| d == c.db) {
            Some(i) => i,
            None => {
                self.dbs.push(c.db);
                self.dbs.len() - 1
            }
        };
        let too_big = |what: &str| {
            let mut e = Error::new(ErrorKind::Aof(format!(
                "cannot partition a log with {what} (replay it in one part: --partitions 1)"
            )));
            e.location_mut().offset = Some(c.offset);
            e
        };
        let db = u16::try_from(db).map_err(|_| too_big("more than 65536 databases"))?;
        let len = u32::try_from(c.end - c.offset).map_err(|_| too_big("a command of 4 GiB"))?;
        let (part, h) = match classify(&c.argv, &mut self.ties) {
            Class::Key(h) => (KEYED, h),
            Class::Keyless => (EVERY, 0),
            Class::Split => (SPLIT, 0),
            Class::Global => {
                self.global = true;
                return Ok(Flow::Stop);
            }
        };
        if self.ops.len() <= c.file {
            self.ops.resize_with(c.file + 1, Vec::new);
            self.hashes.resize_with(c.file + 1, Vec::new);
        }
        self.ops[c.file].push(Op {
            offset: c.offset,
            len,
            db,
            part,
        });
        self.hashes[c.file].push(h);
        if c.argv.is("multi") {
            self.queued = self.queued.or(Some(0));
        } else if c.argv.is("exec") || c.argv.is("discard") {
            self.queued = None;
        } else if let Some(n) = &mut self.queued {
            *n += 1;
        }
        Ok(Flow::Continue)
    }
}

/// Frames the log once and places its commands into `parts` parts.
fn plan(set: &AofSet, opts: &ReadOptions, parts: usize) -> Result<Plan> {
    let srcs = open_sources(set)?;
    let mut p = Planner {
        released: Releaser::new(&srcs),
        ops: Vec::new(),
        hashes: Vec::new(),
        dbs: Vec::new(),
        ties: Ties::default(),
        global: false,
        commands: 0,
        queued: None,
    };
    // RDB values are skipped, not decoded: the parts read their own keys.
    let scans = read_set(set, &srcs, opts, true, &mut p)?;
    let mut stats = ReplayStats {
        commands: p.commands,
        discarded: p.queued.unwrap_or(0),
        ..ReplayStats::default()
    };
    scan_stats(&mut stats, &srcs, &scans);
    let assign = std::mem::take(&mut p.ties).assign(parts);
    let mut ops = p.ops;
    for (ops, hashes) in ops.iter_mut().zip(p.hashes) {
        for (op, h) in ops.iter_mut().zip(hashes) {
            if op.part == KEYED {
                op.part = assign.part_of_hash(h) as u16;
            }
        }
    }
    Ok(Plan {
        ops,
        dbs: p.dbs,
        rdb: scans.iter().map(|s| s.rdb.is_some()).collect(),
        assign,
        global: p.global,
        stats,
    })
}

/// The command of a record the plan framed: a RESP record is taken apart
/// again without validating it twice (the plan did), an inline one is
/// framed again.
fn reframe<'a>(rec: &'a [u8], opts: &ReadOptions) -> Option<Item<'a>> {
    let resp = || {
        let nl = rec.iter().position(|&b| b == b'\n')?;
        let digits = rec.get(1..nl)?;
        let digits = digits.strip_suffix(b"\r").unwrap_or(digits);
        let (argc, used) = strtol(digits);
        let argc = usize::try_from(argc).ok().filter(|&n| n > 0)?;
        (used == digits.len()).then_some(Item::Command(Argv::Resp {
            body: rec.get(nl + 1..)?,
            argc,
        }))
    };
    if rec.first() == Some(&b'*')
        && let Some(item) = resp()
    {
        return Some(item);
    }
    frame(rec, opts.dialect, opts.inline).ok().map(|f| f.item)
}

/// Forwards the records of an RDB part to a [`PartReplay`].
struct RdbInto<'p, 's>(&'p mut PartReplay<'s>, usize);

impl RecordSink for RdbInto<'_, '_> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        self.0.rdb_record(self.1, r)
    }
}

/// Replays part `index` of a plan: each file's RDB part (this part's keys),
/// then the file's commands of this part, framed again from the log.
fn replay_planned(
    set: &AofSet,
    plan: &Plan,
    opts: &ReadOptions,
    now_ms: i64,
    index: usize,
) -> Result<(Replayer, ReplayStats)> {
    let srcs = open_sources(set)?;
    let paths: Vec<PathBuf> = set.files.iter().map(|f| f.path.clone()).collect();
    let mut pr = PartReplay::new(&srcs, &paths, &plan.assign, index, now_ms);
    let me = index as u16;
    for (file, src) in srcs.iter().enumerate() {
        let data = src.bytes();
        if plan.rdb.get(file).copied().unwrap_or(false) {
            rdb::read(data, &opts.rdb, &mut RdbInto(&mut pr, file))
                .map_err(|e| e.with_path(&paths[file]))?;
        }
        for op in plan.ops.get(file).map_or(&[][..], Vec::as_slice) {
            let how = match op.part {
                EVERY => Run::All { keys: false },
                SPLIT => Run::Split,
                p if p == me => Run::All { keys: true },
                _ => continue,
            };
            pr.released.advance(file, op.offset);
            let at = usize::try_from(op.offset).unwrap_or(usize::MAX);
            let Some(Item::Command(argv)) = data
                .get(at..at.saturating_add(op.len as usize))
                .and_then(|rec| reframe(rec, opts))
            else {
                let mut e = Error::new(ErrorKind::Aof(
                    "the log changed while it was rewritten (a command is gone)".into(),
                ));
                e.location_mut().offset = Some(op.offset);
                return Err(e.with_path(&paths[file]));
            };
            let db = plan.dbs.get(op.db as usize).copied().unwrap_or(0);
            pr.run(file, op.offset, db, &argv, how)?;
        }
    }
    let mut stats = std::mem::take(&mut pr.stats);
    stats.failed = std::mem::take(&mut pr.r.failed);
    Ok((pr.r, stats))
}

/// Replays the set in `parts` parts of the keyspace ([`partition`]), `jobs`
/// at a time: one pass frames the log and places each command, then each
/// part replays its commands on its own thread and hands its keyspace to
/// `each` in part order (a part that finishes early waits for its turn),
/// then frees it. So the output `each` writes is the same whatever the
/// timing, and at most `jobs` keyspaces are held at once. A log with a
/// command whose keys cannot be placed is replayed in one part. Returns the
/// statistics of the whole log and the number of parts used.
pub fn replay_parts(
    set: &AofSet,
    now_ms: i64,
    opts: &ReadOptions,
    parts: usize,
    jobs: usize,
    mut each: impl FnMut(Part, &Replayer) -> Result<()> + Send,
) -> Result<(ReplayStats, usize)> {
    let mut whole = || {
        let (r, stats) = replay(set, now_ms, opts)?;
        each(Part::WHOLE, &r)?;
        // The process ends soon: freeing millions of small allocations
        // one by one would add a sixth to the run time for nothing.
        std::mem::forget(r);
        Ok((stats, 1))
    };
    if parts <= 1 {
        return whole();
    }
    let plan = plan(set, opts, parts)?;
    if plan.global {
        return whole();
    }
    let count = plan.assign.count;
    let jobs = jobs.clamp(1, count);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| Error::sink(format!("cannot start {jobs} replay threads: {e}")))?;
    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    // The part whose turn it is, with `each` and the totals.
    let turn = (
        Mutex::new((0usize, each, plan.stats.clone())),
        Condvar::new(),
    );
    let errors = Mutex::new(Vec::new());
    pool.scope(|s| {
        for _ in 0..jobs {
            let (next, abort, turn, errors, plan) = (&next, &abort, &turn, &errors, &plan);
            s.spawn(move |_| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= count || abort.load(Ordering::SeqCst) {
                        return;
                    }
                    let part = Part { index, count };
                    let res = replay_planned(set, plan, opts, now_ms, index).and_then(|(r, st)| {
                        let mut t = turn.0.lock().unwrap_or_else(|p| p.into_inner());
                        while t.0 != index && !abort.load(Ordering::SeqCst) {
                            t = turn.1.wait(t).unwrap_or_else(|p| p.into_inner());
                        }
                        if abort.load(Ordering::SeqCst) {
                            return Ok(());
                        }
                        let done = (t.1)(part, &r);
                        let total = &mut t.2;
                        total.rdb_keys += st.rdb_keys;
                        total.aux.extend(st.aux);
                        for (n, c) in st.failed {
                            *total.failed.entry(n).or_insert(0) += c;
                        }
                        t.0 += 1;
                        drop(t);
                        turn.1.notify_all();
                        if next.load(Ordering::SeqCst) >= count {
                            // No part is left to reuse its memory, and the
                            // process ends soon: freeing millions of small
                            // allocations would only cost time.
                            std::mem::forget(r);
                        }
                        done
                    });
                    if let Err(e) = res {
                        errors
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((index, e));
                        abort.store(true, Ordering::SeqCst);
                        turn.1.notify_all();
                        return;
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    // The lowest part's error: every part below it ran to the end.
    if let Some((_, e)) = errors.into_iter().min_by_key(|(i, _)| *i) {
        return Err(e);
    }
    let (_, _, total) = turn.0.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((total, count))
}
