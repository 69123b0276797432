//! [`AofAppender`]: appends commands to the open INCR file with Redis'
//! `appendfsync` semantics and group commit.
//!
//! Commands are encoded into a shared buffer under a short lock
//! ([`AofAppender::enqueue`]); whoever then waits first becomes the
//! *leader*: it takes the whole buffer — its own commands and those every
//! other thread queued meanwhile — and performs one `write` (and, under
//! `always`, one `fdatasync`) for all of them, while the others wait on a
//! condition variable. When it finishes, the next waiter whose commands are
//! not yet covered leads the next batch. So under load the number of
//! `fdatasync` calls per command drops towards 1/threads, as in a database's
//! group commit, and a single-threaded event-loop server gets the same
//! effect by queueing a whole loop iteration and waiting once.
//!
//! Failures are never hidden. A failed `write` is cut off (the file is
//! truncated back to its last complete record) and a failed `fdatasync`
//! leaves the on-disk content unknown (the kernel may have dropped the dirty
//! pages: "fsyncgate"); in both cases every waiting caller gets the error
//! and the appender refuses all further commands with
//! [`PersistError::Stopped`] until the AOF is reopened and recovered.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::error::{PersistError, Result};
use super::resp::{put_command, put_select, put_timestamp};

/// When appended commands are fsynced: Redis' `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// `always`: a command is acknowledged only after an `fdatasync` that
    /// covers it returned. Nothing acknowledged is lost, even on power loss.
    Always,
    /// `everysec`: a command is acknowledged once written to the kernel; a
    /// background thread fsyncs once a second (at most ~1 s of
    /// acknowledged commands can be lost on power loss, none on a crash of
    /// the process).
    EverySec,
    /// `no`: written to the kernel, fsynced when the OS decides (and when a
    /// file is rotated or closed).
    No,
}

impl Fsync {
    /// The `appendfsync` value naming this policy.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }
}

impl std::str::FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::EverySec),
            "no" => Ok(Fsync::No),
            _ => Err(format!(
                "appendfsync must be always, everysec or no, not {s:?}"
            )),
        }
    }
}

/// How an appender writes.
#[derive(Debug, Clone, Copy)]
pub struct AppenderOptions {
    /// The fsync policy.
    pub fsync: Fsync,
    /// Write `#TS:<unix-seconds>` annotations (Redis 7's
    /// `aof-timestamp-enabled`): at most one per second, before the first
    /// command of that second. Servers older than 7.0 cannot load them.
    pub timestamps: bool,
}

impl Default for AppenderOptions {
    fn default() -> Self {
        AppenderOptions {
            fsync: Fsync::EverySec,
            timestamps: false,
        }
    }
}

/// A queued command's place in the log: pass it to [`AofAppender::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Counters for monitoring and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppenderStats {
    /// Commands queued (SELECT and MULTI/EXEC framing not counted).
    pub commands: u64,
    /// Bytes written to files.
    pub bytes: u64,
    /// `write` batches.
    pub writes: u64,
    /// `fdatasync` calls.
    pub fsyncs: u64,
}

/// The failure that stopped the appender (kept, since `io::Error` is not
/// `Clone`, as its kind and message).
#[derive(Debug, Clone)]
struct Failure {
    op: &'static str,
    path: PathBuf,
    kind: std::io::ErrorKind,
    message: String,
}

impl Failure {
    fn error(&self) -> PersistError {
        PersistError::Stopped {
            op: self.op,
            path: self.path.clone(),
            kind: self.kind,
            message: self.message.clone(),
        }
    }
}

struct State {
    file: Arc<File>,
    path: Arc<Path>,
    /// Length of the file's complete content (what a failed write is cut
    /// back to).
    len: u64,
    /// Encoded commands not yet handed to a leader.
    buf: Vec<u8>,
    /// A cleared buffer kept for reuse.
    spare: Vec<u8>,
    /// Tickets issued; every command up to `written` was written, up to
    /// `synced` fsynced.
    queued: u64,
    written: u64,
    synced: u64,
    /// A thread is writing a batch.
    leader: bool,
    /// The background thread is fsyncing.
    syncing: bool,
    stopped: Option<Failure>,
    /// Db of the last command in the current file (`None`: a SELECT is due).
    db: Option<u64>,
    last_ts: i64,
    closing: bool,
    stats: AppenderStats,
}

struct Shared {
    st: Mutex<State>,
    /// Signalled when a batch completes or the appender stops.
    done: Condvar,
    /// Wakes the background fsync thread early (on close).
    tick: Condvar,
    opts: AppenderOptions,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters half
        // updated (they are assigned after the I/O), so a poisoned lock is
        // still usable.
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Appends commands to an AOF file. Cheap to share between threads
/// (`&AofAppender` is `Sync`); every method takes `&self`.
///
/// Usually obtained from [`super::AofDir::open`], which also handles
/// rotation at rewrites; [`AofAppender::open`] appends to a single file.
///
/// ```
/// use rdbtool::persist::{AofAppender, AppenderOptions, Fsync};
/// # let dir = std::env::temp_dir().join(format!("rdbtool-doc-app-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("appendonly.aof");
/// let opts = AppenderOptions { fsync: Fsync::Always, timestamps: false };
/// let app = AofAppender::open(&path, opts)?;
/// // Returns once an fdatasync covering the command returned.
/// app.append(0, &[b"SET", b"greeting", b"hello"])?;
/// // An event-loop server queues a whole iteration, then waits once.
/// let _ = app.enqueue(0, &[b"INCR", b"n"])?;
/// let last = app.enqueue(0, &[b"INCR", b"n"])?;
/// app.wait(last)?;
/// app.close()?;
/// assert!(std::fs::read(&path)?.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AofAppender {
    shared: Arc<Shared>,
    syncer: Option<JoinHandle<()>>,
}

impl AofAppender {
    /// Opens (creating if needed) `path` for appending.
    pub fn open(path: &Path, opts: AppenderOptions) -> Result<AofAppender> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| PersistError::io("open", path, e))?;
        Self::with_file(file, path, opts)
    }

    /// Appends to an already open file (opened with `append(true)`).
    pub fn with_file(file: File, path: &Path, opts: AppenderOptions) -> Result<AofAppender> {
        let len = file
            .metadata()
            .map_err(|e| PersistError::io("stat", path, e))?
            .len();
        let shared = Arc::new(Shared {
            st: Mutex::new(State {
                file: Arc::new(file),
                path: Arc::from(path),
                len,
                buf: Vec::with_capacity(1 << 16),
                spare: Vec::with_capacity(1 << 16),
                queued: 0,
                written: 0,
                synced: 0,
                leader: false,
                syncing: false,
                stopped: None,
                db: None,
                last_ts: 0,
                closing: false,
                stats: AppenderStats::default(),
            }),
            done: Condvar::new(),
            tick: Condvar::new(),
            opts,
        });
        let syncer = if opts.fsync == Fsync::EverySec {
            let s = Arc::clone(&shared);
            Some(
                std::thread::Builder::new()
                    .name("aof-fsync".into())
                    .spawn(move || background_fsync(&s))
                    .map_err(|e| PersistError::io("spawn fsync thread for", path, e))?,
            )
        } else {
            None
        };
        Ok(AofAppender { shared, syncer })
    }

    /// The options it was opened with.
    pub fn options(&self) -> AppenderOptions {
        self.shared.opts
    }

    /// The file currently appended to.
    pub fn path(&self) -> PathBuf {
        self.shared.lock().path.to_path_buf()
    }

    /// Counters so far.
    pub fn stats(&self) -> AppenderStats {
        self.shared.lock().stats
    }

    /// `Ok` while the appender accepts commands, else the failure that
    /// stopped it (e.g. a background fsync under `everysec`).
    pub fn health(&self) -> Result<()> {
        match &self.shared.lock().stopped {
            Some(f) => Err(f.error()),
            None => Ok(()),
        }
    }

    /// Appends one command run in `db` and returns when it is as durable as
    /// the policy promises (written; under `always` also fdatasynced).
    pub fn append(&self, db: u64, argv: &[&[u8]]) -> Result<()> {
        let t = self.enqueue(db, argv)?;
        self.wait(t)
    }

    /// Queues one command without waiting. Commands reach the file in queue
    /// order; wait for the last ticket of a batch before acknowledging it.
    pub fn enqueue(&self, db: u64, argv: &[&[u8]]) -> Result<Ticket> {
        self.enqueue_multi(db, std::slice::from_ref(&argv))
    }

    /// Queues commands that must be applied together: two or more are
    /// wrapped in `MULTI`/`EXEC` (the server's transaction framing, so a
    /// torn tail never replays half of them), one is written bare.
    pub fn enqueue_multi(&self, db: u64, cmds: &[&[&[u8]]]) -> Result<Ticket> {
        let mut st = self.shared.lock();
        if let Some(f) = &st.stopped {
            return Err(f.error());
        }
        if cmds.is_empty() {
            return Ok(Ticket(st.queued));
        }
        let mut buf = std::mem::take(&mut st.buf);
        if self.shared.opts.timestamps {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            if now > st.last_ts {
                put_timestamp(&mut buf, now);
                st.last_ts = now;
            }
        }
        if st.db != Some(db) {
            put_select(&mut buf, db);
            st.db = Some(db);
        }
        let wrap = cmds.len() > 1;
        if wrap {
            put_command(&mut buf, &[b"MULTI"]);
        }
        for c in cmds {
            put_command(&mut buf, c);
        }
        if wrap {
            put_command(&mut buf, &[b"EXEC"]);
        }
        st.buf = buf;
        st.queued += 1;
        st.stats.commands += cmds.len() as u64;
        Ok(Ticket(st.queued))
    }

    /// Waits until the commands up to `t` are as durable as the policy
    /// promises. An error means they may not be in the file.
    pub fn wait(&self, t: Ticket) -> Result<()> {
        self.wait_inner(t, self.shared.opts.fsync == Fsync::Always)
    }

    /// Writes and fdatasyncs everything queued so far, whatever the policy.
    pub fn sync(&self) -> Result<()> {
        let t = Ticket(self.shared.lock().queued);
        self.wait_inner(t, true)
    }

    fn wait_inner(&self, t: Ticket, durable: bool) -> Result<()> {
        let sh = &*self.shared;
        let mut st = sh.lock();
        loop {
            if (if durable { st.synced } else { st.written }) >= t.0 {
                return Ok(());
            }
            if let Some(f) = &st.stopped {
                return Err(f.error());
            }
            if st.leader {
                st = sh.done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Lead one batch: everything queued so far.
            st.leader = true;
            let target = st.queued;
            let spare = std::mem::take(&mut st.spare);
            let mut batch = std::mem::replace(&mut st.buf, spare);
            let file = Arc::clone(&st.file);
            drop(st);
            let r = (&*file)
                .write_all(&batch)
                .map_err(|e| ("write", e))
                .and_then(|()| {
                    if durable {
                        file.sync_data().map_err(|e| ("fdatasync", e))
                    } else {
                        Ok(())
                    }
                });
            st = sh.lock();
            st.leader = false;
            let mut failed = None;
            match r {
                Ok(()) => {
                    st.len += batch.len() as u64;
                    st.written = target;
                    if durable {
                        st.synced = target;
                        st.stats.fsyncs += 1;
                    }
                    if !batch.is_empty() {
                        st.stats.writes += 1;
                        st.stats.bytes += batch.len() as u64;
                    }
                }
                Err((op, e)) => {
                    if op == "write" {
                        // Remove the partial record; if even that fails the
                        // torn tail is cut by recovery at the next open.
                        let _ = file.set_len(st.len);
                    }
                    let err = PersistError::io(op, &st.path, e);
                    stop(&mut st, op, &err);
                    failed = Some(err);
                }
            }
            batch.clear();
            if st.spare.capacity() < batch.capacity() {
                st.spare = batch;
            }
            sh.done.notify_all();
            // The leader reports the OS error itself; the other waiters see
            // the appender stopped by it.
            if let Some(e) = failed {
                return Err(e);
            }
        }
    }

    /// Moves appending to `file` (already created, empty, and durable in
    /// its directory) at an exact point of the log: everything queued
    /// before this call is written and fdatasynced to the old file, what is
    /// queued after goes to the new one, which starts with a fresh `SELECT`
    /// like every Redis INCR file. Used by [`super::AofDir`] at rewrites.
    pub fn switch_file(&self, file: File, path: &Path) -> Result<()> {
        let sh = &*self.shared;
        let mut st = sh.lock();
        while st.leader || st.syncing {
            st = sh.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(f) = &st.stopped {
            return Err(f.error());
        }
        let old = Arc::clone(&st.file);
        let pending = std::mem::take(&mut st.buf);
        let r = (&*old)
            .write_all(&pending)
            .map_err(|e| ("write", e))
            .and_then(|()| old.sync_data().map_err(|e| ("fdatasync", e)));
        if let Err((op, e)) = r {
            if op == "write" {
                let _ = old.set_len(st.len);
            }
            let err = PersistError::io(op, &st.path, e);
            stop(&mut st, op, &err);
            sh.done.notify_all();
            return Err(err);
        }
        st.stats.bytes += pending.len() as u64;
        st.stats.fsyncs += 1;
        st.buf = pending;
        st.buf.clear();
        st.written = st.queued;
        st.synced = st.queued;
        st.file = Arc::new(file);
        st.path = Arc::from(path);
        st.len = 0;
        st.db = None;
        sh.done.notify_all();
        Ok(())
    }

    /// Writes and fdatasyncs what is queued, stops the background thread and
    /// reports any failure (also one that stopped the appender earlier).
    pub fn close(mut self) -> Result<()> {
        let r = self.sync();
        self.stop_syncer();
        r
    }

    fn stop_syncer(&mut self) {
        if let Some(h) = self.syncer.take() {
            self.shared.lock().closing = true;
            self.shared.tick.notify_all();
            let _ = h.join();
        }
    }
}

impl Drop for AofAppender {
    fn drop(&mut self) {
        // Best effort, as closing a file descriptor is; `close` reports.
        let _ = self.sync();
        self.stop_syncer();
    }
}

fn stop(st: &mut State, op: &'static str, e: &PersistError) {
    if st.stopped.is_none() {
        st.stopped = Some(Failure {
            op,
            path: st.path.to_path_buf(),
            kind: e.io_kind().unwrap_or(std::io::ErrorKind::Other),
            message: match e {
                PersistError::Io { source, .. } => source.to_string(),
                other => other.to_string(),
            },
        });
    }
}

/// The `everysec` thread: once a second, fdatasync what was written.
fn background_fsync(sh: &Shared) {
    let mut next = Instant::now() + Duration::from_secs(1);
    let mut st = sh.lock();
    loop {
        let now = Instant::now();
        if st.closing {
            return;
        }
        if now < next {
            st = sh
                .tick
                .wait_timeout(st, next - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            continue;
        }
        next = now + Duration::from_secs(1);
        if st.stopped.is_some() || st.synced >= st.written {
            continue;
        }
        let target = st.written;
        let file = Arc::clone(&st.file);
        st.syncing = true;
        drop(st);
        let r = file.sync_data();
        st = sh.lock();
        st.syncing = false;
        match r {
            Ok(()) => {
                st.synced = st.synced.max(target);
                st.stats.fsyncs += 1;
            }
            Err(e) => {
                let err = PersistError::io("fdatasync", &st.path, e);
                stop(&mut st, "fdatasync", &err);
            }
        }
        sh.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdbtool-app-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn concurrent_appenders_group_commit() {
        let d = tmp("group");
        let p = d.join("a.aof");
        let app = AofAppender::open(
            &p,
            AppenderOptions {
                fsync: Fsync::Always,
                timestamps: true,
            },
        )
        .unwrap();
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let app = &app;
                s.spawn(move || {
                    for i in 0..50u32 {
                        app.append(
                            u64::from(t % 2),
                            &[b"RPUSH", &[b'a' + t], i.to_string().as_bytes()],
                        )
                        .unwrap();
                    }
                });
            }
        });
        let st = app.stats();
        assert_eq!(st.commands, 400);
        assert_eq!(
            st.fsyncs, st.writes,
            "always: one fdatasync per write batch"
        );
        assert!(st.writes <= 400, "{st:?}");
        app.close().unwrap();
        let data = std::fs::read(&p).unwrap();
        // Every command is in the file once, each thread's in order.
        let text = String::from_utf8_lossy(&data);
        assert_eq!(text.matches("RPUSH").count(), 400);
        assert!(text.starts_with("#TS:"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn everysec_fsyncs_in_the_background() {
        let d = tmp("everysec");
        let app = AofAppender::open(&d.join("a.aof"), AppenderOptions::default()).unwrap();
        app.append(0, &[b"SET", b"k", b"v"]).unwrap();
        assert_eq!(app.stats().fsyncs, 0, "everysec does not fsync in append");
        std::thread::sleep(Duration::from_millis(1300));
        assert_eq!(app.stats().fsyncs, 1, "the background thread fsynced once");
        app.close().unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn write_failure_stops_the_appender() {
        // Writing to /dev/full fails with ENOSPC: the caller sees it, and
        // later commands are refused with that cause.
        let app = AofAppender::with_file(
            std::fs::OpenOptions::new()
                .append(true)
                .open("/dev/full")
                .unwrap(),
            Path::new("/dev/full"),
            AppenderOptions {
                fsync: Fsync::No,
                timestamps: false,
            },
        )
        .unwrap();
        let e = app.append(0, &[b"SET", b"k", b"v"]).unwrap_err();
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::StorageFull), "{e}");
        assert!(e.to_string().starts_with("write /dev/full: "), "{e}");
        let again = app.append(0, &[b"SET", b"k", b"v"]).unwrap_err();
        assert!(
            matches!(
                again,
                PersistError::Stopped {
                    kind: std::io::ErrorKind::StorageFull,
                    ..
                }
            ),
            "{again}"
        );
        assert!(app.health().is_err());
    }
}
