//! [`AofSink`]: records of an RDB (or an import) become commands.

use super::commands::{CommandSink, emit_function, emit_key};
use crate::error::{Error, Result};
use crate::model::owned::OwnedKey;
use crate::rdb::read::{Record, Scratch, Trailer};
use crate::rdb::write::{RdbVersion, ValueEncoder};
use crate::sink::{Flow, RecordSink};

/// Turns key records into commands for a [`CommandSink`].
pub struct AofSink<S: CommandSink> {
    /// Where commands go.
    pub out: S,
    db: Option<u64>,
    dump_version: RdbVersion,
    enc: ValueEncoder,
    scratch: Scratch,
    /// Keys written.
    pub keys: u64,
}

impl<S: CommandSink> AofSink<S> {
    /// A sink; module values are written as `RESTORE` payloads of RDB
    /// `dump_version`.
    pub fn new(out: S, dump_version: RdbVersion) -> Self {
        AofSink {
            out,
            db: None,
            dump_version,
            enc: ValueEncoder::new(true),
            scratch: Scratch::default(),
            keys: 0,
        }
    }

    /// Writes an owned key (with `SELECT` when its db changes).
    pub fn key(&mut self, k: &OwnedKey) -> Result<()> {
        if k.value.is_empty() {
            return Ok(());
        }
        if self.db != Some(k.db) {
            self.out
                .command(&[b"SELECT", itoa::Buffer::new().format(k.db).as_bytes()])?;
            self.db = Some(k.db);
        }
        emit_key(&mut self.out, k, self.dump_version, &mut self.enc)
            .map_err(|e| e.with_key(k.db, Some(&k.key)))?;
        self.keys += 1;
        Ok(())
    }
}

impl<S: CommandSink> RecordSink for AofSink<S> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        match r {
            Record::Key(k) => {
                let owned = OwnedKey::from_record(k, &mut self.scratch)?;
                self.key(&owned)?;
            }
            Record::Function { code } => {
                let c = code.to_vec().map_err(|p| Error::parse(p, 0))?;
                emit_function(&mut self.out, &c, false)?;
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, _t: &Trailer) -> Result<()> {
        Ok(())
    }
}
