//! [`AofDir`]: the Redis 7 multi-part AOF directory — manifest, one BASE,
//! INCR files — opened, recovered, appended to and rewritten with the same
//! file names, manifest grammar and crash-safety steps as the server
//! (aof.md §4, §8), so redis-server 7.0+ loads what it writes.
//!
//! Every change to the set of files is made durable in an order that keeps
//! the manifest true at each instant: a new file is created and fsynced
//! (with its directory) before the manifest names it; the manifest is
//! replaced atomically (temp manifest, fsync, rename, directory fsync); a
//! file is deleted only after the manifest stopped naming it as loadable.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::appender::{AofAppender, AppenderOptions};
use super::error::{PersistError, Result};
use super::fsx::{TEMP_PREFIX, create_for_append, replace_file, sync_dir};
use super::recover::{FileLoad, Replay, Truncation, load_files};
use super::snapshot::{Snapshot, SnapshotOptions};
use crate::aof::read::manifest::{self, Entry, FileType, Manifest, format_entry};
use crate::model::owned::OwnedKey;

/// How to open an AOF directory.
#[derive(Debug, Clone)]
pub struct AofDirOptions {
    /// `appendfilename`: the stem of every file name (`appendonly.aof`).
    pub file_name: String,
    /// Fsync policy and timestamps for the appender.
    pub appender: AppenderOptions,
    /// RDB version and AUX fields of BASE files (`aof_base` is set).
    pub base: SnapshotOptions,
    /// `aof-load-truncated`: cut a torn tail of the last file at open
    /// (`true`, the server's default) instead of failing.
    pub truncate_torn_tail: bool,
}

impl AofDirOptions {
    /// Server defaults (`appendonly.aof`, `everysec`, truncation on) with
    /// BASE files of `base_version`.
    pub fn new(base_version: crate::rdb::write::RdbVersion) -> Self {
        AofDirOptions {
            file_name: "appendonly.aof".into(),
            appender: AppenderOptions::default(),
            base: SnapshotOptions::new(base_version),
            truncate_torn_tail: true,
        }
    }
}

/// What opening the directory did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// The directory had no manifest: a fresh empty BASE and INCR were made.
    pub created: bool,
    /// Files loaded, in order.
    pub files: Vec<FileLoad>,
    /// Keys delivered from the BASE.
    pub keys: u64,
    /// Commands delivered.
    pub commands: u64,
    /// A torn tail that was cut off (`aof-load-truncated yes`).
    pub truncated: Option<Truncation>,
    /// Leftovers removed: temp files of interrupted writes, HISTORY files.
    pub removed: Vec<PathBuf>,
}

/// The point where a rewrite started: the first INCR file whose commands
/// are not in the snapshot being written.
#[derive(Debug, Clone, Copy)]
#[must_use = "finish the rewrite with AofDir::finish_rewrite"]
pub struct RewriteStart {
    incr_seq: i64,
}

/// What a rewrite did.
#[derive(Debug, Clone)]
pub struct RewriteReport {
    /// The new BASE.
    pub base: PathBuf,
    /// Keys in it.
    pub keys: u64,
    /// Its size.
    pub bytes: u64,
    /// Former BASE/INCR files deleted.
    pub deleted: Vec<PathBuf>,
    /// Why deleting them failed, if it did: the rewrite itself succeeded
    /// (they stay listed as HISTORY and are deleted at the next open).
    pub cleanup_error: Option<String>,
}

/// An open multi-part AOF directory.
///
/// ```
/// use rdbtool::model::owned::OwnedKey;
/// use rdbtool::persist::{AofDir, AofDirOptions, BoxError, Fsync, Replay};
/// use rdbtool::rdb::write::RdbVersion;
///
/// /// The server's keyspace, reduced to counting what recovery delivers.
/// #[derive(Default)]
/// struct Count(u64);
/// impl Replay for Count {
///     fn key(&mut self, _k: OwnedKey) -> Result<(), BoxError> { self.0 += 1; Ok(()) }
///     fn command(&mut self, _db: u64, _argv: &[&[u8]]) -> Result<(), BoxError> { self.0 += 1; Ok(()) }
/// }
///
/// # let dir = std::env::temp_dir().join(format!("rdbtool-doc-dir-{}", std::process::id()));
/// let mut opts = AofDirOptions::new(RdbVersion::new(10).unwrap());
/// opts.appender.fsync = Fsync::Always;
/// // First start: creates appendonly.aof.1.base.rdb, .1.incr.aof, the manifest.
/// let (mut aof, app, report) = AofDir::open(&dir, &opts, &mut Count::default())?;
/// assert!(report.created);
/// app.append(0, &[b"SET", b"a", b"1"])?;
/// // Rewrite: the appender moves to a new INCR, the snapshot becomes the BASE.
/// aof.rewrite(&app, || std::iter::empty::<OwnedKey>())?;
/// app.append(0, &[b"SET", b"b", b"2"])?;
/// drop(app);
/// // Restart: the BASE (empty here) and the INCR are replayed.
/// let mut seen = Count::default();
/// let (_aof, _app, report) = AofDir::open(&dir, &opts, &mut seen)?;
/// assert_eq!(seen.0, 1);
/// assert!(report.truncated.is_none());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rdbtool::persist::PersistError>(())
/// ```
pub struct AofDir {
    dir: PathBuf,
    opts: AofDirOptions,
    manifest: Manifest,
}

impl AofDir {
    /// Opens (or creates) the directory, removes crash leftovers, replays
    /// its files into `replay` (cutting a torn tail of the last INCR), and
    /// returns it with an appender on its last INCR file.
    pub fn open<R: Replay>(
        dir: &Path,
        opts: &AofDirOptions,
        replay: &mut R,
    ) -> Result<(AofDir, AofAppender, RecoveryReport)> {
        if opts.file_name.is_empty() || opts.file_name.contains('/') {
            return Err(PersistError::Damaged {
                path: dir.to_path_buf(),
                offset: None,
                what: format!(
                    "appendfilename {:?} must be a bare file name",
                    opts.file_name
                ),
            });
        }
        let mut report = RecoveryReport::default();
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(|e| PersistError::io("create directory", dir, e))?;
            if let Some(p) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(p)?;
            }
        }
        report.removed = remove_temp_files(dir)?;
        let mut me = AofDir {
            dir: dir.to_path_buf(),
            opts: opts.clone(),
            manifest: Manifest::default(),
        };
        let mpath = me.manifest_path();
        match fs::read(&mpath) {
            Ok(data) => {
                me.manifest = manifest::parse(&data).map_err(|e| PersistError::Damaged {
                    path: mpath.clone(),
                    offset: None,
                    what: e.to_string(),
                })?;
                // HISTORY files are garbage the server deletes at every
                // start; doing it first keeps them from being counted twice.
                report.removed.extend(me.gc_history()?);
                report.removed.extend(me.remove_unborn_files()?);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // First start, as redis-server does with appendonly yes: an
                // empty BASE and a first INCR.
                let base = me.file_name(1, FileType::Base);
                let mut o = opts.base.clone();
                o.aof_base = true;
                Snapshot::write(&dir.join(OsStr::from_bytes(&base)), &o, std::iter::empty())?;
                me.manifest.base = Some(entry(base, 1, FileType::Base));
                report.created = true;
            }
            Err(e) => return Err(PersistError::io("read", &mpath, e)),
        }
        let files: Vec<PathBuf> = me
            .manifest
            .load_order()
            .map(|e| dir.join(OsStr::from_bytes(&e.name)))
            .collect();
        let (loads, cut) = load_files(&files, opts.truncate_torn_tail, replay)?;
        report.keys = loads.iter().map(|l| l.keys).sum();
        report.commands = loads.iter().map(|l| l.commands).sum();
        report.files = loads;
        report.truncated = cut;
        // Append to the last INCR; a set without one (fresh, or only a BASE)
        // gets a new one.
        let mut dirty = report.created;
        let (file, path) = match me.manifest.incrs.last() {
            Some(last) => {
                let path = dir.join(OsStr::from_bytes(&last.name));
                let f = fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| PersistError::io("open", &path, e))?;
                (f, path)
            }
            None => {
                let (f, path, m) = me.add_incr()?;
                me.manifest = m;
                dirty = true;
                (f, path)
            }
        };
        if dirty {
            // The manifest is written last: before it names them, a crash
            // leaves only files the next open ignores and recreates.
            me.write_manifest(&me.manifest)?;
        }
        let app = AofAppender::with_file(file, &path, opts.appender)?;
        Ok((me, app, report))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest as last written.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest's path (`<dir>/<appendfilename>.manifest`).
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.opts.file_name))
    }

    /// Starts a rewrite, as `BGREWRITEAOF` does before it forks: opens the
    /// next INCR file, lists it in the manifest and moves `app` to it. The
    /// caller must take its snapshot of the keyspace at this same point —
    /// with no command executed between this call and the capture — and
    /// pass it to [`AofDir::finish_rewrite`] (possibly from another thread
    /// while commands keep flowing into the new INCR).
    pub fn begin_rewrite(&mut self, app: &AofAppender) -> Result<RewriteStart> {
        let (file, path, next) = self.add_incr()?;
        let seq = next.incrs.last().map_or(1, |e| e.seq);
        if let Err(e) = self.write_manifest(&next) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        self.manifest = next;
        app.switch_file(file, &path)?;
        Ok(RewriteStart { incr_seq: seq })
    }

    /// Ends a rewrite: writes `keys` (the snapshot taken at
    /// [`AofDir::begin_rewrite`]) as the next BASE, then swaps the manifest
    /// so that BASE and the INCR files opened since are what loads; the
    /// former BASE and INCR files become HISTORY and are deleted. If this
    /// fails, the directory still loads as before (with one more INCR file,
    /// as after a failed `BGREWRITEAOF`).
    pub fn finish_rewrite<I>(&mut self, start: RewriteStart, keys: I) -> Result<RewriteReport>
    where
        I: IntoIterator<Item = OwnedKey>,
    {
        let seq = self.manifest.base.as_ref().map_or(0, |b| b.seq) + 1;
        let name = self.file_name(seq, FileType::Base);
        let mut o = self.opts.base.clone();
        o.aof_base = true;
        let stats = Snapshot::write(&self.dir.join(OsStr::from_bytes(&name)), &o, keys)?;
        let mut next = self.manifest.clone();
        let old_base = next.base.replace(entry(name, seq, FileType::Base));
        let (kept, old): (Vec<Entry>, Vec<Entry>) = next
            .incrs
            .into_iter()
            .partition(|e| e.seq >= start.incr_seq);
        next.incrs = kept;
        for mut e in old_base.into_iter().chain(old) {
            e.file_type = FileType::History;
            next.history.push(e);
        }
        self.write_manifest(&next)?;
        self.manifest = next;
        let (deleted, cleanup_error) = match self.gc_history() {
            Ok(d) => (d, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Ok(RewriteReport {
            base: stats.path,
            keys: stats.keys,
            bytes: stats.bytes,
            deleted,
            cleanup_error,
        })
    }

    /// A whole rewrite for a server that can produce its snapshot at once:
    /// [`AofDir::begin_rewrite`], then `snapshot()` — called right after
    /// the switch, so it sees exactly the keyspace at that point — then
    /// [`AofDir::finish_rewrite`].
    pub fn rewrite<I, F>(&mut self, app: &AofAppender, snapshot: F) -> Result<RewriteReport>
    where
        F: FnOnce() -> I,
        I: IntoIterator<Item = OwnedKey>,
    {
        let start = self.begin_rewrite(app)?;
        self.finish_rewrite(start, snapshot())
    }

    /// Deletes the files the manifest lists as HISTORY, then drops them
    /// from the manifest. Returns the files removed.
    pub fn gc_history(&mut self) -> Result<Vec<PathBuf>> {
        if self.manifest.history.is_empty() {
            return Ok(Vec::new());
        }
        let mut removed = Vec::new();
        for h in &self.manifest.history {
            let p = self.dir.join(OsStr::from_bytes(&h.name));
            match fs::remove_file(&p) {
                Ok(()) => removed.push(p),
                // Already gone: a crash after the delete, before the
                // manifest update.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(PersistError::io("delete HISTORY file", &p, e)),
            }
        }
        sync_dir(&self.dir)?;
        let mut next = self.manifest.clone();
        next.history.clear();
        self.write_manifest(&next)?;
        self.manifest = next;
        Ok(removed)
    }

    /// Removes the files a crash left between their creation and the
    /// manifest update that would have listed them: a BASE or INCR named
    /// with a sequence number above the manifest's (nothing acknowledged is
    /// in them: a new INCR receives commands only after the manifest lists
    /// it). Files with other names are never touched.
    fn remove_unborn_files(&self) -> Result<Vec<PathBuf>> {
        let base_seq = self.manifest.base.as_ref().map_or(0, |b| b.seq);
        let incr_seq = self.manifest.incrs.last().map_or(0, |e| e.seq);
        let prefix = format!("{}.", self.opts.file_name);
        let mut removed = Vec::new();
        let rd = fs::read_dir(&self.dir).map_err(|e| PersistError::io("list", &self.dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| PersistError::io("list", &self.dir, e))?;
            let name = ent.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            let Some((seq, kind)) = rest.split_once('.') else {
                continue;
            };
            let Ok(seq) = seq.parse::<i64>() else {
                continue;
            };
            let unborn = match kind {
                "base.rdb" | "base.aof" => seq > base_seq,
                "incr.aof" => seq > incr_seq,
                _ => false,
            };
            if unborn {
                let p = ent.path();
                fs::remove_file(&p).map_err(|e| PersistError::io("delete unlisted file", &p, e))?;
                removed.push(p);
            }
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// `<appendfilename>.<seq>.base.rdb` / `.incr.aof`, as Redis names them.
    fn file_name(&self, seq: i64, t: FileType) -> Vec<u8> {
        let suffix = match t {
            FileType::Base => "base.rdb",
            _ => "incr.aof",
        };
        format!("{}.{seq}.{suffix}", self.opts.file_name).into_bytes()
    }

    /// Creates the next INCR file (durably) and returns the manifest that
    /// lists it, not yet written.
    fn add_incr(&self) -> Result<(fs::File, PathBuf, Manifest)> {
        let seq = self.manifest.incrs.last().map_or(0, |e| e.seq) + 1;
        let name = self.file_name(seq, FileType::Incr);
        let name_s = String::from_utf8_lossy(&name).into_owned();
        let f = create_for_append(&self.dir, &name_s)?;
        let mut next = self.manifest.clone();
        next.incrs.push(entry(name, seq, FileType::Incr));
        Ok((f, self.dir.join(name_s), next))
    }

    /// Replaces the manifest atomically: BASE, HISTORY, INCR lines, as the
    /// server orders them.
    fn write_manifest(&self, m: &Manifest) -> Result<()> {
        let mut out = Vec::new();
        for e in m.base.iter().chain(&m.history).chain(&m.incrs) {
            format_entry(&e.name, e.seq, e.file_type, &mut out);
        }
        replace_file(
            &self.dir,
            &format!("{}.manifest", self.opts.file_name),
            &out,
        )
    }
}

fn entry(name: Vec<u8>, seq: i64, file_type: FileType) -> Entry {
    Entry {
        name,
        seq,
        file_type,
        line: 0,
        unknown_keys: Vec::new(),
    }
}

/// Removes `temp-*` files: manifests, snapshots and INCR files whose write
/// was interrupted. None of them is named by the manifest.
fn remove_temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| PersistError::io("list", dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| PersistError::io("list", dir, e))?;
        if ent
            .file_name()
            .as_bytes()
            .starts_with(TEMP_PREFIX.as_bytes())
        {
            let p = ent.path();
            fs::remove_file(&p).map_err(|e| PersistError::io("delete temp file", &p, e))?;
            removed.push(p);
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}
