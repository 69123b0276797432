//! `restore`: pushing keys into a live server — pipelined `RESTORE` with
//! absolute TTLs (payloads written for the target's RDB version), or plain
//! commands (`--mode commands`) for servers that cannot take the payloads.
//! Replies are matched to keys in order; every key that did not arrive is
//! reported with the server's error.

pub mod client;
pub mod cluster;
pub mod encode;

use std::collections::VecDeque;

use client::{Client, Reply};
use encode::{Built, CommandBuilder, Unit, UnitKind};

use crate::error::{Error, Result};
use crate::rdb::read::{Record, Trailer};
use crate::rdb::write::{Loss, RdbVersion};
use crate::sink::{Flow, RecordSink};

/// What to do when a key already exists on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Existing {
    /// Overwrite it (`RESTORE ... REPLACE`).
    Replace,
    /// Leave it and count it as skipped.
    Skip,
    /// Leave it and report it as a failure.
    Fail,
}

/// How keys are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// `RESTORE key ttl payload ABSTTL`.
    Restore,
    /// Plain commands (`SET`, `RPUSH`, `HSET`, `XADD`, ... + `PEXPIREAT`);
    /// existing keys are replaced (`DEL` first).
    Commands,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Existing-key policy.
    pub existing: Existing,
    /// Transport.
    pub mode: Mode,
    /// RDB version the payloads are written for.
    pub version: RdbVersion,
    /// Commands in flight before replies are read.
    pub depth: usize,
    /// Send `SELECT` per source database (false when the URL names a db).
    pub select: bool,
    /// Losses accepted when the target version cannot hold a feature.
    pub lossy: Vec<Loss>,
    /// Records (keys and functions reaching the sink) to pass over: those
    /// a checkpoint says are done.
    pub skip: u64,
    /// Where to record progress, every `checkpoint_every` records.
    pub checkpoint: Option<Checkpoint>,
}

/// A resume point: how many records of an input are done. Written
/// atomically (temp file + rename) as JSON.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Where it is stored.
    #[serde(skip)]
    pub path: std::path::PathBuf,
    /// Size of the input it belongs to (a different input is refused).
    pub input_bytes: u64,
    /// Records whose outcome is final, counted from the start.
    pub records_done: u64,
    /// Write every this many records.
    #[serde(skip)]
    pub every: u64,
}

impl Checkpoint {
    /// Loads `path` if it exists; it must belong to an input of `input_bytes`.
    pub fn load(path: &std::path::Path, input_bytes: u64, every: u64) -> Result<Checkpoint> {
        let mut c = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice::<Checkpoint>(&b)
                .map_err(|e| Error::usage(format!("--resume {}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Checkpoint {
                path: path.to_path_buf(),
                input_bytes,
                records_done: 0,
                every,
            },
            Err(e) => return Err(Error::from(e).with_path(path)),
        };
        if c.input_bytes != input_bytes {
            return Err(Error::usage(format!(
                "--resume {}: written for an input of {} bytes, this one has {input_bytes}",
                path.display(),
                c.input_bytes
            )));
        }
        c.path = path.to_path_buf();
        c.every = every.max(1);
        Ok(c)
    }

    /// Stores the checkpoint.
    pub fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .map_err(|e| Error::from(e).with_path(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::from(e).with_path(&self.path))?;
        Ok(())
    }
}

/// A key (or function) that did not arrive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    /// Database.
    pub db: u64,
    /// Key (or `(function ...)`), lossily as text.
    pub key: String,
    /// The key's bytes.
    #[serde(skip)]
    pub key_bytes: Vec<u8>,
    /// The server's error (or why it was not sent).
    pub error: String,
}

/// Totals.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreReport {
    /// Keys accepted by the server.
    pub restored: u64,
    /// Keys left alone because they existed (`--existing skip`).
    pub skipped: u64,
    /// Function libraries loaded.
    pub functions: u64,
    /// Payload/command bytes sent.
    pub bytes: u64,
    /// Everything that did not arrive.
    pub failed: Vec<Failure>,
    /// Records passed over because a checkpoint said they were done.
    pub resumed_past: u64,
    /// Records whose outcome is final (including those passed over).
    pub records_done: u64,
    /// Cluster restores: topology, redirections and keys per master.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<cluster::ClusterStats>,
}

impl RestoreReport {
    /// Records a key (or library) that did not arrive, and why.
    pub fn fail(&mut self, db: u64, key: &[u8], error: String) {
        self.failed.push(Failure {
            db,
            key: String::from_utf8_lossy(key).into_owned(),
            key_bytes: key.to_vec(),
            error,
        });
    }

    /// Settles a record the server answered with error `e`: under
    /// `--existing skip` an existing key is counted as skipped (and an
    /// existing library left alone); anything else is a failure.
    pub fn refusal(&mut self, kind: UnitKind, existing: Existing, db: u64, key: &[u8], e: String) {
        let skip = existing == Existing::Skip;
        match kind {
            UnitKind::Key if skip && e.starts_with("BUSYKEY") => self.skipped += 1,
            UnitKind::Function if skip && e.contains("already exists") => {}
            _ => self.fail(db, key, e),
        }
    }

    /// True when the next record is passed over because a checkpoint says
    /// the first `skip` records are done.
    fn resumed(&mut self, skip: u64) -> bool {
        if self.resumed_past < skip {
            self.resumed_past += 1;
            self.records_done += 1;
            return true;
        }
        false
    }

    /// Counts one more record final (in input order) and stores the
    /// checkpoint every `every` records.
    fn record_done(&mut self, c: Option<&mut Checkpoint>) -> Result<()> {
        self.records_done += 1;
        if let Some(c) = c {
            c.records_done = self.records_done;
            if c.records_done % c.every == 0 {
                c.save()?;
            }
        }
        Ok(())
    }
}

/// A restoring sink, for the command that drives it: its totals and a
/// progress callback.
pub trait Restorer: RecordSink {
    /// The totals so far (final after `finish`).
    fn report(&self) -> &RestoreReport;
    /// Sets the callback called as keys are sent.
    fn set_progress(&mut self, p: Progress);
}

impl Restorer for RestoreSink {
    fn report(&self) -> &RestoreReport {
        &self.report
    }
    fn set_progress(&mut self, p: Progress) {
        self.progress = Some(p);
    }
}

/// Maps an `INFO server` reply to the RDB version the server reads.
pub fn rdb_version_of_info(info: &str) -> Option<RdbVersion> {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let parse = |v: &str| -> Option<(u32, u32)> {
        let mut it = v.split('.');
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    if let Some(v) = field("valkey_version:") {
        let (maj, _) = parse(&v)?;
        return RdbVersion::new(if maj >= 9 { 80 } else { 11 });
    }
    let (maj, min) = parse(&field("redis_version:")?)?;
    let n = match (maj, min) {
        (0..=2, _) => 6,
        (3, 0..=1) => 6,
        (3, _) => 7,
        (4, _) => 8,
        (5 | 6, _) => 9,
        (7, 0..=1) => 10,
        (7, 2..=3) => 11,
        _ => 12,
    };
    RdbVersion::new(n)
}

/// Asks the server which RDB version it reads.
pub fn detect_version(c: &mut Client) -> Result<RdbVersion> {
    let r = c.call(&[b"INFO", b"server"])?;
    let text = r
        .bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| {
            let why = match &r {
                Reply::Error(e) => e.clone(),
                _ => "the reply is not a bulk string".to_string(),
            };
            Error::sink(format!("INFO server failed: {why}"))
        })?;
    rdb_version_of_info(&text).ok_or_else(|| {
        Error::usage("cannot tell the server's RDB version from INFO; pass --target-version")
    })
}

/// A progress callback: (keys sent, bytes sent, input offset or 0).
pub type Progress = Box<dyn FnMut(u64, u64, u64)>;

/// What a reply in flight belongs to.
enum Pending {
    /// The commands of one record: `replies` replies, the first error wins.
    Unit {
        kind: UnitKind,
        db: u64,
        key: Vec<u8>,
        replies: usize,
    },
    /// `SELECT`.
    Control,
    /// A record that was not sent (refused, dropped, empty): final at once.
    Done,
}

/// The restoring sink for one server.
pub struct RestoreSink {
    c: Client,
    opts: RestoreOptions,
    builder: CommandBuilder,
    unit: Unit,
    inflight: VecDeque<Pending>,
    db: Option<u64>,
    sent: u64,
    /// Running totals.
    pub report: RestoreReport,
    /// Called after each key with (keys sent, bytes sent, input offset).
    pub progress: Option<Progress>,
}

impl RestoreSink {
    /// A sink sending to `c`.
    pub fn new(c: Client, opts: RestoreOptions) -> Self {
        RestoreSink {
            c,
            builder: CommandBuilder::new(&opts),
            opts,
            unit: Unit::default(),
            inflight: VecDeque::new(),
            db: None,
            sent: 0,
            report: RestoreReport::default(),
            progress: None,
        }
    }

    fn push(&mut self, p: Pending) -> Result<()> {
        self.inflight.push_back(p);
        if self.inflight.len() >= self.opts.depth {
            self.c.flush()?;
            while self.inflight.len() > self.opts.depth / 2 {
                self.read_one()?;
            }
        }
        Ok(())
    }

    fn read_one(&mut self) -> Result<()> {
        let Some(p) = self.inflight.pop_front() else {
            return Ok(());
        };
        match p {
            Pending::Done => {}
            Pending::Control => {
                let r = self.c.read_reply()?;
                if let Some(e) = r.error() {
                    return Err(Error::sink(format!(
                        "server refused a control command: {e}"
                    )));
                }
                return Ok(());
            }
            Pending::Unit {
                kind,
                db,
                key,
                replies,
            } => {
                let mut first_error = None;
                for _ in 0..replies {
                    if let Reply::Error(e) = self.c.read_reply()? {
                        first_error.get_or_insert(e);
                    }
                }
                match first_error {
                    None if kind == UnitKind::Function => self.report.functions += 1,
                    None => self.report.restored += 1,
                    Some(e) => self.report.refusal(kind, self.opts.existing, db, &key, e),
                }
            }
        }
        self.report.record_done(self.opts.checkpoint.as_mut())
    }

    fn select(&mut self, db: u64) -> Result<()> {
        if self.opts.select && self.db != Some(db) {
            self.c.send(&[b"SELECT", db.to_string().as_bytes()])?;
            self.push(Pending::Control)?;
            self.db = Some(db);
        }
        Ok(())
    }

    /// Sends what the builder made of a record (or settles it at once).
    fn place(&mut self, built: Built) -> Result<()> {
        let u = &self.unit;
        match built {
            Built::Send => {}
            Built::Refused(msg) => {
                self.report.fail(u.db, &u.key, msg);
                return self.push(Pending::Done);
            }
            Built::Nothing => return self.push(Pending::Done),
        }
        if u.kind == UnitKind::Key {
            self.select(u.db)?;
        }
        let u = &self.unit;
        self.c.send_raw(&u.resp)?;
        self.report.bytes += u.resp.len() as u64;
        self.sent += 1;
        let p = Pending::Unit {
            kind: u.kind,
            db: u.db,
            key: u.key.clone(),
            replies: u.starts.len(),
        };
        self.push(p)
    }

    /// Sends what is queued, reads every outstanding reply, and stores the
    /// final checkpoint.
    pub fn drain(&mut self) -> Result<()> {
        self.c.flush()?;
        while !self.inflight.is_empty() {
            self.read_one()?;
        }
        if let Some(c) = &self.opts.checkpoint {
            c.save()?;
        }
        Ok(())
    }
}

impl RecordSink for RestoreSink {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if matches!(r, Record::Key(_) | Record::Function { .. })
            && self.report.resumed(self.opts.skip)
        {
            return Ok(Flow::Continue);
        }
        match r {
            Record::Key(k) => {
                let built = self.builder.key_record(k, &mut self.unit)?;
                self.place(built)?;
                if let Some(p) = self.progress.as_mut() {
                    p(self.sent, self.report.bytes, k.end);
                }
            }
            Record::Function { code } => {
                let c = code.to_vec().map_err(|p| Error::parse(p, 0))?;
                let built = self.builder.function(&c, &mut self.unit)?;
                self.place(built)?;
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, _t: &Trailer) -> Result<()> {
        self.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_info() {
        let v = |s: &str| rdb_version_of_info(s).map(|v| v.number());
        assert_eq!(v("# Server\r\nredis_version:7.0.15\r\n"), Some(10));
        assert_eq!(v("redis_version:7.2.4\r\n"), Some(11));
        assert_eq!(v("redis_version:8.2.3\r\n"), Some(12));
        assert_eq!(v("redis_version:6.2.1\r\n"), Some(9));
        assert_eq!(
            v("redis_version:7.2.4\r\nvalkey_version:9.0.0\r\n"),
            Some(80)
        );
        assert_eq!(
            v("redis_version:7.2.4\r\nvalkey_version:8.1.0\r\n"),
            Some(11)
        );
        assert_eq!(v("nothing"), None);
    }
}
