//! [`RdbSink`]: the reader → writer bridge. Records of any input RDB become
//! an RDB of the target version: values the target loads as they are copied
//! byte for byte, others decoded, down-converted and re-encoded; keys that
//! need a loss nobody accepted are collected and fail the run at the end.

use std::io::Write;

use super::downgrade::{Verdict, adapt};
use super::version::{Loss, RdbVersion};
use super::writer::{KeyMeta, RdbWriter, copies_verbatim};
use crate::error::{Error, Result};
use crate::model::owned::OwnedKey;
use crate::rdb::read::{Checksum, Header, KeyRecord, Record, Scratch, Trailer};
use crate::sink::{Flow, RecordSink};

/// Conversion settings.
#[derive(Debug, Clone)]
pub struct RdbSinkOptions {
    /// Target version; `None` keeps the input's (when it is writable).
    pub version: Option<RdbVersion>,
    /// LZF compression of long strings.
    pub compress: bool,
    /// Losses accepted when the target cannot hold a feature.
    pub lossy: Vec<Loss>,
    /// Copy the input's AUX records (import) instead of writing fresh ones.
    pub keep_aux: bool,
    /// `ctime` for fresh AUX fields (Unix s).
    pub ctime_s: i64,
    /// Quicklist node budget in bytes.
    pub node_bytes: usize,
    /// Decode and re-encode every value, even those the target could take
    /// byte for byte (normalizes encodings to the target server's choices).
    pub reencode: bool,
    /// Mark the file as the BASE of a multi-part AOF (`aof-base 1`).
    pub aof_base: bool,
}

impl Default for RdbSinkOptions {
    fn default() -> Self {
        RdbSinkOptions {
            version: None,
            compress: true,
            lossy: Vec::new(),
            keep_aux: false,
            ctime_s: 0,
            node_bytes: 8192,
            reencode: false,
            aof_base: false,
        }
    }
}

/// A key the target could not take.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Database.
    pub db: u64,
    /// Key bytes.
    pub key: Vec<u8>,
    /// The loss it would need.
    pub loss: Loss,
}

/// What a conversion did.
#[derive(Debug, Clone, Default)]
pub struct ConvertStats {
    /// Keys copied byte for byte.
    pub copied: u64,
    /// Keys decoded and re-encoded.
    pub reencoded: u64,
    /// Keys dropped under an accepted loss.
    pub dropped: u64,
    /// Keys changed under an accepted loss or a faithful conversion.
    pub adapted: u64,
    /// Functions dropped under an accepted loss.
    pub functions_dropped: u64,
    /// Empty aggregates left out (servers skip them when loading).
    pub empty: u64,
}

/// The converting sink.
pub struct RdbSink<W: Write> {
    opts: RdbSinkOptions,
    out: Option<W>,
    w: Option<RdbWriter<W>>,
    scratch: Scratch,
    kbuf: Vec<u8>,
    /// Keys refused (the run fails when non-empty).
    pub refused: Vec<Refused>,
    /// Counters.
    pub stats: ConvertStats,
}

impl<W: Write> RdbSink<W> {
    /// A sink writing into `out`.
    pub fn new(out: W, opts: RdbSinkOptions) -> Self {
        RdbSink {
            opts,
            out: Some(out),
            w: None,
            scratch: Scratch::default(),
            kbuf: Vec::new(),
            refused: Vec::new(),
            stats: ConvertStats::default(),
        }
    }

    /// Changes the target version (before the header arrives).
    pub fn set_version(&mut self, v: Option<RdbVersion>) {
        self.opts.version = v;
    }

    /// The quicklist node budget in bytes.
    pub fn node_bytes(&self) -> usize {
        self.opts.node_bytes
    }

    /// Changes the quicklist node budget for the keys that follow.
    pub fn set_node_bytes(&mut self, n: usize) {
        self.opts.node_bytes = n;
        if let Some(w) = self.w.as_mut() {
            w.encoder().set_node_bytes(n);
        }
    }

    /// The output: complete after a successful `finish`, partial (to be
    /// discarded) after a failure.
    pub fn into_inner(self) -> Option<W> {
        self.out.or_else(|| self.w.map(RdbWriter::abandon))
    }

    fn writer(&mut self) -> Result<&mut RdbWriter<W>> {
        self.w
            .as_mut()
            .ok_or_else(|| Error::sink("RDB writer used before the header"))
    }

    fn refuse(&mut self, db: u64, key: &[u8], loss: Loss) {
        self.refused.push(Refused {
            db,
            key: key.to_vec(),
            loss,
        });
    }

    fn key(&mut self, k: &KeyRecord<'_>) -> Result<()> {
        let t = self.writer()?.version();
        let meta = KeyMeta {
            db: k.db,
            expire_ms: k.expire_ms,
            idle_s: k.idle_s,
            freq: k.freq,
        };
        let hints_ok = t.has_rdb9() || (k.idle_s.is_none() && k.freq.is_none());
        if hints_ok && !self.opts.reencode && copies_verbatim(k.value.layout, t) {
            let key = k
                .key
                .bytes(&mut self.kbuf)
                .map_err(|p| Error::parse(p, k.offset))?;
            let w = self.w.as_mut().ok_or_else(|| Error::sink("no writer"))?;
            w.raw_key(&meta, key, k.value.type_byte, k.value.raw)?;
            self.stats.copied += 1;
            return Ok(());
        }
        let mut owned = OwnedKey::from_record(k, &mut self.scratch)?;
        if self.opts.reencode {
            owned.source_type = None;
        }
        self.owned_key(&mut owned)
    }

    /// Writes an owned key (import path), adapting it to the target.
    pub fn owned_key(&mut self, k: &mut OwnedKey) -> Result<()> {
        let t = self.writer()?.version();
        let before = (k.expire_ms, k.source_type);
        match adapt(k, t, &self.opts.lossy) {
            Err(loss) => {
                let key = std::mem::take(&mut k.key);
                self.refuse(k.db, &key, loss);
                k.key = key;
                Ok(())
            }
            Ok(Verdict::Drop) => {
                self.stats.dropped += 1;
                Ok(())
            }
            // An empty aggregate is skipped by a loading server: leaving
            // it out is the same result.
            Ok(Verdict::Keep) if k.value.is_empty() => {
                self.stats.empty += 1;
                Ok(())
            }
            Ok(Verdict::Keep) => {
                if before != (k.expire_ms, k.source_type) {
                    self.stats.adapted += 1;
                }
                // Refused keys leave no partial output: nothing is written
                // once any key was refused, so stop encoding.
                if !self.refused.is_empty() {
                    return Ok(());
                }
                self.writer()?.key(k)?;
                self.stats.reencoded += 1;
                Ok(())
            }
        }
    }

    /// Starts the output for a header (also used by importers).
    pub fn start(&mut self, h: &Header) -> Result<()> {
        let v = match self.opts.version {
            Some(v) => v,
            None => RdbVersion::new(h.version).ok_or_else(|| {
                Error::usage(format!(
                    "the input is RDB {}; choose a target with --rdb-version (6-12 or 80)",
                    h.version
                ))
            })?,
        };
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::sink("RDB output already started"))?;
        let mut w = RdbWriter::new(out, v, self.opts.compress)?;
        w.encoder().set_node_bytes(self.opts.node_bytes);
        if !self.opts.keep_aux {
            w.default_aux(self.opts.ctime_s)?;
        }
        if self.opts.aof_base {
            w.aux(b"aof-base", b"1")?;
        }
        self.w = Some(w);
        Ok(())
    }

    /// Writes a function library, or drops it when the target has no
    /// functions and that loss is accepted.
    pub fn function(&mut self, code: &[u8]) -> Result<()> {
        let t = self.writer()?.version();
        if t.has_listpacks() {
            return self.writer()?.function(code);
        }
        if self.opts.lossy.contains(&Loss::Functions) {
            self.stats.functions_dropped += 1;
        } else {
            let name = code.split(|&b| b == b'\n').next().unwrap_or_default();
            self.refuse(0, name, Loss::Functions);
        }
        Ok(())
    }

    /// The summary error when keys were refused.
    pub fn refusal_error(&self) -> Option<Error> {
        if self.refused.is_empty() {
            return None;
        }
        let mut kinds: Vec<Loss> = self.refused.iter().map(|r| r.loss).collect();
        kinds.sort();
        kinds.dedup();
        let names: Vec<&str> = kinds.iter().map(|l| l.name()).collect();
        let first = &self.refused[0];
        Some(Error::sink(format!(
            "{} record(s) need losses the target cannot avoid ({}); first: db {} key \"{}\" ({}). \
             Accept them with --lossy {}",
            self.refused.len(),
            names.join(", "),
            first.db,
            first.key.escape_ascii(),
            first.loss.name(),
            names.join(",")
        )))
    }
}

/// The library source a FUNCTION2 or pre-GA FUNCTION record carries, as a
/// FUNCTION2 record holds it (a pre-GA record gets the shebang line Redis
/// 7.0 GA gives it when loading); `None` for other records.
pub fn library_code(r: &Record<'_>) -> Result<Option<Vec<u8>>> {
    let s = |v: &crate::rdb::read::RdbStr<'_>| v.to_vec().map_err(|p| Error::parse(p, 0));
    Ok(match r {
        Record::Function { code } => Some(s(code)?),
        Record::FunctionPreGa {
            name, engine, code, ..
        } => {
            let mut c = b"#!".to_vec();
            c.extend(s(engine)?);
            c.extend_from_slice(b" name=");
            c.extend(s(name)?);
            c.push(b'\n');
            c.extend(s(code)?);
            Some(c)
        }
        _ => None,
    })
}

impl<W: Write> RecordSink for RdbSink<W> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.start(h)
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        match r {
            Record::Key(k) => self.key(k)?,
            Record::Aux { key, value } if self.opts.keep_aux => {
                let k = key.to_vec().map_err(|p| Error::parse(p, 0))?;
                let v = value.to_vec().map_err(|p| Error::parse(p, 0))?;
                self.writer()?.aux(&k, &v)?;
            }
            Record::Function { .. } | Record::FunctionPreGa { .. } => {
                if let Some(c) = library_code(r)? {
                    self.function(&c)?;
                }
            }
            Record::ModuleAux { raw, .. } => {
                if self.writer()?.version().has_rdb9() {
                    self.writer()?.module_aux(raw)?;
                } else if !self.opts.lossy.contains(&Loss::Keys) {
                    self.refuse(0, b"(module aux data)", Loss::Keys);
                }
            }
            Record::ResizeDb { db, keys, expires } => {
                self.writer()?.select_db(*db, Some((*keys, *expires)))?;
            }
            // SELECTDB is written lazily before a db's first key; slot
            // hints and vendor records have no meaning in the output; a
            // salvaged file's skipped and repaired ranges were reported by
            // the reader.
            Record::SelectDb { .. }
            | Record::Aux { .. }
            | Record::SlotInfo { .. }
            | Record::Vendor { .. }
            | Record::Skipped { .. }
            | Record::Repaired { .. } => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        if let Some(e) = self.refusal_error() {
            self.out = self.w.take().map(RdbWriter::abandon);
            return Err(e);
        }
        let w = self
            .w
            .take()
            .ok_or_else(|| Error::sink("RDB output never started"))?;
        // A source saved without a checksum (`rdbchecksum no`: a zero
        // trailer) is written the same way, so its export reads the same.
        self.out = Some(w.finish_with(t.checksum != Checksum::Disabled)?);
        Ok(())
    }
}
