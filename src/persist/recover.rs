//! Recovery: replays a multi-part AOF's BASE and INCR files into the
//! server's keyspace through [`Replay`], the way Redis 7 loads them
//! (aof.md §4.6, §6) with `aof-load-truncated yes`: a torn tail of the
//! last file — the file ends inside a record, or inside a `MULTI` whose
//! `EXEC` was never written — is cut off at the end of the last complete
//! command (before the open `MULTI`) and reported; any other damage is an
//! error that names the file and offset.

use std::path::{Path, PathBuf};

use super::error::{PersistError, Result};
use crate::aof::read::{AofSink, Command, DamageClass, ReadOptions, ScanState, scan_file};
use crate::model::owned::{OwnedKey, OwnedValue};
use crate::rdb::read::{Record, Scratch};
use crate::sink::Flow;
use crate::source::Source;

/// The error type replay callbacks return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The server side of recovery: receives the keyspace in load order.
///
/// Commands arrive in the db they run in, with `SELECT` resolved and
/// transactions applied whole: the commands between `MULTI` and `EXEC` are
/// delivered only once the `EXEC` was read (an unterminated transaction at
/// the end of the log is dropped, as Redis does). Functions in an RDB BASE
/// arrive as `FUNCTION LOAD <code>`.
pub trait Replay {
    /// A key of an RDB BASE (expired keys included: the INCR files that
    /// follow assume the exact keyspace, aof.md §4.5).
    fn key(&mut self, key: OwnedKey) -> std::result::Result<(), BoxError>;
    /// A logged command run in `db`.
    fn command(&mut self, db: u64, argv: &[&[u8]]) -> std::result::Result<(), BoxError>;
}

/// How one file was loaded.
#[derive(Debug, Clone)]
pub struct FileLoad {
    /// The file.
    pub path: PathBuf,
    /// Its size before any truncation.
    pub size: u64,
    /// Keys from its RDB part.
    pub keys: u64,
    /// Commands delivered (excluding SELECT/MULTI/EXEC framing).
    pub commands: u64,
}

/// A torn tail that was cut off.
#[derive(Debug, Clone)]
pub struct Truncation {
    /// The file.
    pub path: PathBuf,
    /// Its size before.
    pub from: u64,
    /// Its size after: the end of the last complete command.
    pub to: u64,
    /// What was found at the cut (the reader's description of the damage,
    /// or the unterminated `MULTI`).
    pub reason: String,
}

struct Collector<'r, R: Replay> {
    replay: &'r mut R,
    /// The failure of the replay callback, carried out of the reader.
    failed: Option<(u64, BoxError)>,
    /// Queued commands of an open MULTI: (db, argv).
    tx: Option<Vec<(u64, Vec<Vec<u8>>)>>,
    /// End of the last command that was applied (or of its EXEC): where a
    /// torn tail is cut.
    applied_end: u64,
    keys: u64,
    commands: u64,
    scratch: Scratch,
}

impl<R: Replay> Collector<'_, R> {
    fn fail(&mut self, offset: u64, e: BoxError) -> crate::Error {
        self.failed = Some((offset, e));
        crate::Error::sink("replay callback failed")
    }
}

impl<'a, R: Replay> AofSink<'a> for Collector<'_, R> {
    fn rdb_record(&mut self, _file: usize, r: &Record<'_>) -> crate::Result<Flow> {
        match r {
            Record::Key(k) => {
                let owned = OwnedKey {
                    db: k.db,
                    key: k
                        .key
                        .to_vec()
                        .map_err(|p| crate::Error::parse(p, k.offset))?,
                    expire_ms: k.expire_ms,
                    idle_s: k.idle_s,
                    freq: k.freq,
                    value: OwnedValue::from_value(&k.value, &mut self.scratch)?,
                    source_type: Some(k.value.type_byte),
                };
                self.keys += 1;
                if let Err(e) = self.replay.key(owned) {
                    return Err(self.fail(k.offset, e));
                }
            }
            Record::Function { code } => {
                let code = code.to_vec().map_err(|p| crate::Error::parse(p, 0))?;
                self.commands += 1;
                if let Err(e) = self.replay.command(0, &[b"FUNCTION", b"LOAD", &code]) {
                    return Err(self.fail(0, e));
                }
            }
            Record::ModuleAux { .. } | Record::FunctionPreGa { .. } => {
                return Err(crate::Error::sink(
                    "the RDB BASE holds module or pre-release function data that cannot be replayed",
                ));
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn command(&mut self, c: &Command<'a>) -> crate::Result<Flow> {
        let argv = &c.argv;
        if argv.is("multi") {
            // A nested MULTI is an error the server logs and ignores.
            self.tx.get_or_insert_with(Vec::new);
            return Ok(Flow::Continue);
        }
        if argv.is("exec") {
            if let Some(tx) = self.tx.take() {
                for (db, args) in &tx {
                    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                    self.commands += 1;
                    if let Err(e) = self.replay.command(*db, &refs) {
                        return Err(self.fail(c.offset, e));
                    }
                }
            }
            self.applied_end = c.end;
            return Ok(Flow::Continue);
        }
        if let Some(tx) = self.tx.as_mut() {
            // SELECT inside a transaction is queued like any command; the
            // reader already gives each queued command its db.
            if !argv.is("select") {
                tx.push((c.db, argv.iter().map(<[u8]>::to_vec).collect()));
            }
            return Ok(Flow::Continue);
        }
        self.applied_end = c.end;
        if argv.is("select") {
            return Ok(Flow::Continue);
        }
        let refs: Vec<&[u8]> = argv.iter().collect();
        self.commands += 1;
        if let Err(e) = self.replay.command(c.db, &refs) {
            return Err(self.fail(c.offset, e));
        }
        Ok(Flow::Continue)
    }
}

/// Loads `files` in order into `replay`. A torn tail of the last file is
/// cut off on disk when `truncate` is set (else it is an error).
pub fn load_files<R: Replay>(
    files: &[PathBuf],
    truncate: bool,
    replay: &mut R,
) -> Result<(Vec<FileLoad>, Option<Truncation>)> {
    let opts = ReadOptions::default();
    let mut state = ScanState::default();
    let mut loads = Vec::with_capacity(files.len());
    let mut cut = None;
    for (i, path) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let src = Source::open(path).map_err(|e| damaged(path, None, e.to_string()))?;
        let mut col = Collector {
            replay: &mut *replay,
            failed: None,
            tx: None,
            applied_end: 0,
            keys: 0,
            commands: 0,
            scratch: Scratch::default(),
        };
        let scan = scan_file(src.bytes(), i, &opts, &mut state, &mut col);
        if let Some((offset, source)) = col.failed.take() {
            return Err(PersistError::Replay {
                path: path.clone(),
                offset,
                source,
            });
        }
        let scan = scan.map_err(|e| {
            let off = e.location().offset;
            damaged(path, off, e.to_string())
        })?;
        let mut applied_end = col.applied_end;
        if let Some(rdb) = &scan.rdb {
            applied_end = applied_end.max(rdb.end_offset);
        }
        loads.push(FileLoad {
            path: path.clone(),
            size: scan.size,
            keys: col.keys,
            commands: col.commands,
        });
        let torn = match (&scan.damage, col.tx.is_some()) {
            (Some(d), _) if d.kind == DamageClass::Truncated => Some(d.message.clone()),
            (Some(d), _) => return Err(damaged(path, Some(d.offset), d.message.clone())),
            (None, true) => Some("MULTI without EXEC at the end of the file".to_string()),
            (None, false) => None,
        };
        drop(src);
        if let Some(reason) = torn {
            if !last {
                return Err(damaged(
                    path,
                    Some(applied_end),
                    format!("{reason} (a torn file that is not the last one)"),
                ));
            }
            if !truncate {
                return Err(damaged(path, Some(applied_end), reason));
            }
            truncate_file(path, applied_end)?;
            cut = Some(Truncation {
                path: path.clone(),
                from: scan.size,
                to: applied_end,
                reason,
            });
        }
    }
    Ok((loads, cut))
}

fn damaged(path: &Path, offset: Option<u64>, what: String) -> PersistError {
    PersistError::Damaged {
        path: path.to_path_buf(),
        offset,
        what,
    }
}

fn truncate_file(path: &Path, len: u64) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| PersistError::io("open for truncation", path, e))?;
    f.set_len(len)
        .map_err(|e| PersistError::io("truncate", path, e))?;
    f.sync_all().map_err(|e| PersistError::io("fsync", path, e))
}
