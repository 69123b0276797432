//! Turning records into the commands that restore them: one `RESTORE ...
//! ABSTTL` of a DUMP payload per key (the value copied verbatim when the
//! target reads the source's encoding), or the plain commands of `--mode
//! commands`; function libraries as `FUNCTION LOAD`. Shared by the
//! single-server and the cluster restore, which differ only in where the
//! commands go (and how often they are sent again).

use crate::aof::write::{CommandSink, emit_function, emit_key, put_command};
use crate::error::{Error, Result};
use crate::model::owned::OwnedKey;
use crate::rdb::read::{KeyRecord, Scratch};
use crate::rdb::write::{Loss, RdbVersion, ValueEncoder, Verdict, adapt, copies_verbatim};

use super::{Existing, Mode, RestoreOptions};

/// What a [`Unit`] restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnitKind {
    /// A key.
    #[default]
    Key,
    /// A function library.
    Function,
}

/// One record's commands, RESP-encoded: kept whole so that a cluster
/// redirection can send them again elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    /// Key or function library.
    pub kind: UnitKind,
    /// Database of the key (0 for functions).
    pub db: u64,
    /// The key, or the library's first line (for reports).
    pub key: Vec<u8>,
    /// The commands, RESP-encoded, back to back.
    pub resp: Vec<u8>,
    /// Where each command starts in `resp`; each gets one reply.
    pub starts: Vec<usize>,
}

impl Unit {
    fn reset(&mut self, kind: UnitKind, db: u64) {
        self.kind = kind;
        self.db = db;
        self.key.clear();
        self.resp.clear();
        self.starts.clear();
    }

    /// The `i`-th command, RESP-encoded.
    pub fn command_bytes(&self, i: usize) -> &[u8] {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.resp.len());
        self.starts.get(i).map_or(&[][..], |&s| &self.resp[s..end])
    }
}

impl CommandSink for Unit {
    fn command(&mut self, argv: &[&[u8]]) -> Result<()> {
        self.starts.push(self.resp.len());
        put_command(&mut self.resp, argv);
        Ok(())
    }
}

/// What became of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    /// The unit holds commands to send.
    Send,
    /// Not sent, for this reason (reported as a failure).
    Refused(String),
    /// Nothing to send (an empty value, or a loss accepted with `--lossy`).
    Nothing,
}

/// Builds the commands of each record for a target RDB version, reusing its
/// buffers from key to key.
pub struct CommandBuilder {
    mode: Mode,
    version: RdbVersion,
    replace: bool,
    lossy: Vec<Loss>,
    enc: ValueEncoder,
    scratch: Scratch,
    payload: Vec<u8>,
}

impl CommandBuilder {
    /// A builder for the transport, target version, existing-key policy and
    /// accepted losses of `opts`.
    pub fn new(opts: &RestoreOptions) -> Self {
        CommandBuilder {
            mode: opts.mode,
            version: opts.version,
            replace: opts.existing == Existing::Replace,
            lossy: opts.lossy.clone(),
            enc: ValueEncoder::new(true),
            scratch: Scratch::default(),
            payload: Vec::new(),
        }
    }

    /// Fills `u` with the commands that restore `k`.
    pub fn key_record(&mut self, k: &KeyRecord<'_>, u: &mut Unit) -> Result<Built> {
        u.reset(UnitKind::Key, k.db);
        let t = self.version;
        let fast = self.mode == Mode::Restore
            && copies_verbatim(k.value.layout, t)
            && (t.has_rdb9() || (k.idle_s.is_none() && k.freq.is_none()));
        if fast {
            match k.key.as_raw() {
                Some(b) => u.key.extend_from_slice(b),
                // Integer and LZF keys are decoded into the (cleared) buffer.
                None => {
                    k.key
                        .bytes(&mut u.key)
                        .map_err(|p| Error::parse(p, k.offset))?;
                }
            }
            self.payload.clear();
            crate::dump::write::from_raw(
                &mut self.payload,
                k.value.type_byte,
                k.value.raw,
                t.number() as u16,
            );
            self.restore(u, k.expire_ms, k.idle_s, k.freq);
            return Ok(Built::Send);
        }
        let mut owned = OwnedKey::from_record(k, &mut self.scratch)?;
        self.owned_key(&mut owned, u)
    }

    /// Fills `u` with the commands that restore an owned key (adapted to
    /// the target version first).
    pub fn owned_key(&mut self, k: &mut OwnedKey, u: &mut Unit) -> Result<Built> {
        u.reset(UnitKind::Key, k.db);
        u.key.extend_from_slice(&k.key);
        let t = self.version;
        match adapt(k, t, &self.lossy) {
            Err(loss) => {
                return Ok(Built::Refused(format!(
                    "not sent: the target (RDB {t}) cannot hold it without the loss {:?} (--lossy {})",
                    loss.name(),
                    loss.name()
                )));
            }
            Ok(Verdict::Drop) => return Ok(Built::Nothing),
            Ok(Verdict::Keep) => {}
        }
        if k.value.is_empty() {
            return Ok(Built::Nothing);
        }
        match self.mode {
            Mode::Restore => {
                self.payload.clear();
                match crate::dump::write::encode(
                    &k.value,
                    t,
                    k.source_type,
                    &mut self.enc,
                    &mut self.payload,
                ) {
                    Ok(()) => {
                        self.restore(u, k.expire_ms, k.idle_s, k.freq);
                        Ok(Built::Send)
                    }
                    Err(e) => Ok(Built::Refused(format!("not sent: {e}"))),
                }
            }
            Mode::Commands => {
                // DEL first: the commands add to whatever the key holds.
                u.command(&[b"DEL", &k.key])?;
                emit_key(u, k, t, &mut self.enc)?;
                Ok(Built::Send)
            }
        }
    }

    fn restore(
        &mut self,
        u: &mut Unit,
        expire_ms: Option<i64>,
        idle: Option<u64>,
        freq: Option<u8>,
    ) {
        let ttl = expire_ms.map_or_else(|| "0".to_string(), |e| e.max(1).to_string());
        let key = std::mem::take(&mut u.key);
        let mut argv: Vec<&[u8]> = vec![b"RESTORE", &key, ttl.as_bytes(), &self.payload];
        if expire_ms.is_some() {
            argv.push(b"ABSTTL");
        }
        if self.replace {
            argv.push(b"REPLACE");
        }
        let idle_s = idle.map(|i| i.to_string());
        let freq_s = freq.map(|f| f.to_string());
        if let Some(i) = &idle_s {
            argv.extend_from_slice(&[b"IDLETIME", i.as_bytes()]);
        } else if let Some(f) = &freq_s {
            argv.extend_from_slice(&[b"FREQ", f.as_bytes()]);
        }
        u.starts.push(u.resp.len());
        put_command(&mut u.resp, &argv);
        drop(argv);
        u.key = key;
    }

    /// Fills `u` with the `FUNCTION LOAD` of a library.
    pub fn function(&mut self, code: &[u8], u: &mut Unit) -> Result<Built> {
        u.reset(UnitKind::Function, 0);
        u.key
            .extend_from_slice(code.split(|&b| b == b'\n').next().unwrap_or_default());
        if !self.version.has_listpacks() {
            if self.lossy.contains(&Loss::Functions) {
                return Ok(Built::Nothing);
            }
            return Ok(Built::Refused(
                "not sent: the target has no functions (--lossy functions)".into(),
            ));
        }
        emit_function(u, code, self.replace)?;
        Ok(Built::Send)
    }
}
