//! `restore`: pushing keys into a live server — pipelined `RESTORE` with
//! absolute TTLs (payloads written for the target's RDB version), or plain
//! commands (`--mode commands`) for servers that cannot take the payloads.
//! Replies are matched to keys in order; every key that did not arrive is
//! reported with the server's error.

pub mod client;

use std::collections::VecDeque;

use client::Client;

use crate::aof::write::{CommandSink, emit_function, emit_key};
use crate::error::{Error, Result};
use crate::model::owned::{OwnedKey, OwnedValue};
use crate::rdb::read::{KeyRecord, Record, Scratch, Trailer};
use crate::rdb::write::{Loss, RdbVersion, ValueEncoder, Verdict, adapt, copies_verbatim};
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
}

enum Pending {
    /// A command of key `id`; `last` is its final command.
    Key {
        id: u64,
        last: bool,
    },
    Function {
        name: Vec<u8>,
    },
    Control,
    /// A record that was not sent (refused, dropped, empty): final at once.
    Done,
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
        .ok_or_else(|| Error::sink(format!("INFO server failed: {r:?}")))?;
    rdb_version_of_info(&text).ok_or_else(|| {
        Error::usage("cannot tell the server's RDB version from INFO; pass --target-version")
    })
}

/// A progress callback: (keys sent, bytes sent, input offset or 0).
pub type Progress = Box<dyn FnMut(u64, u64, u64)>;

/// The restoring sink.
pub struct RestoreSink {
    c: Client,
    opts: RestoreOptions,
    inflight: VecDeque<Pending>,
    keys: VecDeque<(u64, u64, Vec<u8>)>,
    next_id: u64,
    failed_id: Option<u64>,
    db: Option<u64>,
    enc: ValueEncoder,
    scratch: Scratch,
    payload: Vec<u8>,
    kbuf: Vec<u8>,
    /// Running totals.
    pub report: RestoreReport,
    /// Called after each key with (keys sent, bytes sent, input offset).
    pub progress: Option<Progress>,
}

struct Queue<'a> {
    s: &'a mut RestoreSink,
    id: u64,
}

impl CommandSink for Queue<'_> {
    fn command(&mut self, argv: &[&[u8]]) -> Result<()> {
        self.s.send(
            argv,
            Pending::Key {
                id: self.id,
                last: false,
            },
        )
    }
}

impl RestoreSink {
    /// A sink sending to `c`.
    pub fn new(c: Client, opts: RestoreOptions) -> Self {
        RestoreSink {
            c,
            opts,
            inflight: VecDeque::new(),
            keys: VecDeque::new(),
            next_id: 0,
            failed_id: None,
            db: None,
            enc: ValueEncoder::new(true),
            scratch: Scratch::default(),
            payload: Vec::new(),
            kbuf: Vec::new(),
            report: RestoreReport::default(),
            progress: None,
        }
    }

    fn send(&mut self, argv: &[&[u8]], p: Pending) -> Result<()> {
        self.report.bytes += argv.iter().map(|a| a.len() as u64).sum::<u64>();
        self.c.send(argv)?;
        self.inflight.push_back(p);
        if self.inflight.len() >= self.opts.depth {
            self.c.flush()?;
            while self.inflight.len() > self.opts.depth / 2 {
                self.read_one()?;
            }
        }
        Ok(())
    }

    fn fail(&mut self, db: u64, key: &[u8], error: String) {
        self.report.failed.push(Failure {
            db,
            key: String::from_utf8_lossy(key).into_owned(),
            key_bytes: key.to_vec(),
            error,
        });
    }

    fn read_one(&mut self) -> Result<()> {
        let Some(p) = self.inflight.pop_front() else {
            return Ok(());
        };
        let last = matches!(
            p,
            Pending::Key { last: true, .. } | Pending::Function { .. } | Pending::Done
        );
        if matches!(p, Pending::Done) {
            return self.record_done(last);
        }
        let r = self.c.read_reply()?;
        match p {
            Pending::Done => {}
            Pending::Control => {
                if let Some(e) = r.error() {
                    return Err(Error::sink(format!(
                        "server refused a control command: {e}"
                    )));
                }
            }
            Pending::Function { name } => match r.error() {
                Some(e) if e.contains("already exists") && self.opts.existing == Existing::Skip => {
                }
                Some(e) => self.fail(0, &name, e.to_string()),
                None => self.report.functions += 1,
            },
            Pending::Key { id, last } => {
                if let Some(e) = r.error() {
                    if self.failed_id != Some(id) {
                        self.failed_id = Some(id);
                        let (db, key) = self
                            .keys
                            .iter()
                            .find(|k| k.0 == id)
                            .map(|k| (k.1, k.2.clone()))
                            .unwrap_or_default();
                        if e.starts_with("BUSYKEY") && self.opts.existing == Existing::Skip {
                            self.report.skipped += 1;
                        } else {
                            self.fail(db, &key, e.to_string());
                        }
                    }
                } else if last && self.failed_id != Some(id) {
                    self.report.restored += 1;
                }
                if last {
                    while self.keys.front().is_some_and(|k| k.0 <= id) {
                        self.keys.pop_front();
                    }
                }
            }
        }
        self.record_done(last)
    }

    fn record_done(&mut self, last: bool) -> Result<()> {
        if !last {
            return Ok(());
        }
        self.report.records_done += 1;
        if let Some(c) = self.opts.checkpoint.as_mut() {
            c.records_done = self.report.records_done;
            if c.records_done % c.every == 0 {
                c.save()?;
            }
        }
        Ok(())
    }

    fn select(&mut self, db: u64) -> Result<()> {
        if self.opts.select && self.db != Some(db) {
            self.send(&[b"SELECT", db.to_string().as_bytes()], Pending::Control)?;
            self.db = Some(db);
        }
        Ok(())
    }

    /// True when this record is passed over (a checkpoint covers it).
    fn resumed(&mut self) -> bool {
        if self.report.resumed_past < self.opts.skip {
            self.report.resumed_past += 1;
            self.report.records_done += 1;
            return true;
        }
        false
    }

    fn key_record(&mut self, k: &KeyRecord<'_>) -> Result<()> {
        if self.resumed() {
            return Ok(());
        }
        let t = self.opts.version;
        let fast = self.opts.mode == Mode::Restore
            && copies_verbatim(k.value.layout, t)
            && (t.has_rdb9() || (k.idle_s.is_none() && k.freq.is_none()));
        if fast {
            let key = k
                .key
                .bytes(&mut self.kbuf)
                .map_err(|p| Error::parse(p, k.offset))?
                .to_vec();
            self.payload.clear();
            crate::dump::write::from_raw(
                &mut self.payload,
                k.value.type_byte,
                k.value.raw,
                t.number() as u16,
            );
            let payload = std::mem::take(&mut self.payload);
            let r = self.restore(k.db, &key, k.expire_ms, k.idle_s, k.freq, &payload);
            self.payload = payload;
            return r;
        }
        let key = k.key.to_vec().map_err(|p| Error::parse(p, k.offset))?;
        let value = OwnedValue::from_value(&k.value, &mut self.scratch)
            .map_err(|e| e.with_key(k.db, Some(&key)))?;
        let mut owned = OwnedKey {
            db: k.db,
            key,
            expire_ms: k.expire_ms,
            idle_s: k.idle_s,
            freq: k.freq,
            value,
            source_type: Some(k.value.type_byte),
        };
        self.owned_key(&mut owned)
    }

    /// Sends an owned key.
    pub fn owned_key(&mut self, k: &mut OwnedKey) -> Result<()> {
        let t = self.opts.version;
        match adapt(k, t, &self.opts.lossy) {
            Err(loss) => {
                let msg = format!(
                    "not sent: the target (RDB {t}) cannot hold it without the loss {:?} (--lossy {})",
                    loss.name(),
                    loss.name()
                );
                self.fail(k.db, &k.key.clone(), msg);
                return self.queue_done();
            }
            Ok(Verdict::Drop) => return self.queue_done(),
            Ok(Verdict::Keep) => {}
        }
        if k.value.is_empty() {
            return self.queue_done();
        }
        match self.opts.mode {
            Mode::Restore => {
                self.payload.clear();
                let mut payload = std::mem::take(&mut self.payload);
                let r = crate::dump::write::encode(
                    &k.value,
                    t,
                    k.source_type,
                    &mut self.enc,
                    &mut payload,
                );
                let r = match r {
                    Ok(()) => self.restore(k.db, &k.key, k.expire_ms, k.idle_s, k.freq, &payload),
                    Err(e) => {
                        self.fail(k.db, &k.key, format!("not sent: {e}"));
                        self.queue_done()
                    }
                };
                self.payload = payload;
                r
            }
            Mode::Commands => {
                self.select(k.db)?;
                let id = self.new_key(k.db, &k.key);
                self.send(&[b"DEL", &k.key], Pending::Key { id, last: false })?;
                let mut enc = std::mem::replace(&mut self.enc, ValueEncoder::new(true));
                let r = emit_key(&mut Queue { s: self, id }, k, t, &mut enc);
                self.enc = enc;
                r?;
                // A no-op that carries the key's final reply.
                self.send(&[b"PING"], Pending::Key { id, last: true })?;
                self.tick();
                Ok(())
            }
        }
    }

    /// Marks a record that sends nothing as done, in order.
    fn queue_done(&mut self) -> Result<()> {
        self.inflight.push_back(Pending::Done);
        Ok(())
    }

    fn new_key(&mut self, db: u64, key: &[u8]) -> u64 {
        self.next_id += 1;
        self.keys.push_back((self.next_id, db, key.to_vec()));
        self.next_id
    }

    fn tick(&mut self) {
        let (n, b) = (self.next_id, self.report.bytes);
        if let Some(p) = self.progress.as_mut() {
            p(n, b, 0);
        }
    }

    fn restore(
        &mut self,
        db: u64,
        key: &[u8],
        expire_ms: Option<i64>,
        idle: Option<u64>,
        freq: Option<u8>,
        payload: &[u8],
    ) -> Result<()> {
        self.select(db)?;
        let id = self.new_key(db, key);
        let ttl = expire_ms.map_or_else(|| "0".to_string(), |e| e.max(1).to_string());
        let mut argv: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), payload];
        if expire_ms.is_some() {
            argv.push(b"ABSTTL");
        }
        if self.opts.existing == Existing::Replace {
            argv.push(b"REPLACE");
        }
        let idle_s = idle.map(|i| i.to_string());
        let freq_s = freq.map(|f| f.to_string());
        if let Some(i) = &idle_s {
            argv.extend_from_slice(&[b"IDLETIME", i.as_bytes()]);
        } else if let Some(f) = &freq_s {
            argv.extend_from_slice(&[b"FREQ", f.as_bytes()]);
        }
        self.send(&argv, Pending::Key { id, last: true })?;
        self.tick();
        Ok(())
    }

    fn function(&mut self, code: &[u8]) -> Result<()> {
        if self.resumed() {
            return Ok(());
        }
        if !self.opts.version.has_listpacks() {
            if !self.opts.lossy.contains(&Loss::Functions) {
                let name = code
                    .split(|&b| b == b'\n')
                    .next()
                    .unwrap_or_default()
                    .to_vec();
                self.fail(
                    0,
                    &name,
                    "not sent: the target has no functions (--lossy functions)".into(),
                );
            }
            return self.queue_done();
        }
        let name = code
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or_default()
            .to_vec();
        self.inflight_function(code, name)
    }

    fn inflight_function(&mut self, code: &[u8], name: Vec<u8>) -> Result<()> {
        struct F<'a>(&'a mut RestoreSink, Option<Vec<u8>>);
        impl CommandSink for F<'_> {
            fn command(&mut self, argv: &[&[u8]]) -> Result<()> {
                let name = self.1.take().unwrap_or_default();
                self.0.send(argv, Pending::Function { name })
            }
        }
        let replace = self.opts.existing == Existing::Replace;
        emit_function(&mut F(self, Some(name)), code, replace)
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
        match r {
            Record::Key(k) => {
                self.key_record(k)?;
                if let Some(p) = self.progress.as_mut() {
                    p(self.next_id, self.report.bytes, k.end);
                }
            }
            Record::Function { code } => {
                let c = code.to_vec().map_err(|p| Error::parse(p, 0))?;
                self.function(&c)?;
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
