//! `rdbtool check`: the report `redis-check-rdb` prints (header, `[offset N]`
//! lines for AUX fields and SELECTDB, checksum, verdict, key counts), with
//! every value decoded in full, and on damage more than it says: the offset
//! of the problem and of its record, the db, the key, the structure being
//! read and what was expected there.

use std::fmt::Write;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{DataType, RdbLayout};
use crate::rdb::read::prim::{length, string};
use crate::rdb::read::salvage::{RepairedRange, SkippedRange, repairable};
use crate::rdb::read::{
    Checksum, Header, ReadOptions, Record, Scratch, Trailer, module, read, validate,
};
use crate::sink::{Flow, RecordSink};

/// Collects the report lines while the reader runs.
struct CheckSink<'d> {
    data: &'d [u8],
    out: String,
    header: Option<Header>,
    /// Offset just past the last record seen (redis-check-rdb prints the
    /// reader's position after each record).
    pos: usize,
    keys: u64,
    expires: u64,
    already_expired: u64,
    /// Keys with an empty collection (the server skips them).
    empty: u64,
    now_ms: i64,
    scratch: Scratch,
    trailer: Option<Trailer>,
    skipped: Vec<SkippedRange>,
    repaired: Vec<RepairedRange>,
}

/// Where the non-key record at `p` ends (the sink sees records, not their
/// extents; key records carry theirs).
fn record_end(data: &[u8], p: usize, r: &Record<'_>) -> Option<usize> {
    let body = data.get(p + 1..)?;
    let end = |rest: &[u8]| Some(data.len() - rest.len());
    match r {
        Record::Aux { .. } => end(string(string(body).ok()?.0).ok()?.0),
        Record::SelectDb { .. } => end(length(body).ok()?.0),
        Record::ResizeDb { .. } => end(length(length(body).ok()?.0).ok()?.0),
        Record::SlotInfo { .. } => end(length(length(length(body).ok()?.0).ok()?.0).ok()?.0),
        Record::Function { .. } => end(string(body).ok()?.0),
        Record::FunctionPreGa { description, .. } => {
            let r = string(string(body).ok()?.0).ok()?.0;
            let r = length(r).ok()?.0;
            let r = if description.is_some() {
                string(r).ok()?.0
            } else {
                r
            };
            end(string(r).ok()?.0)
        }
        Record::ModuleAux { .. } => end(module::module_aux(body).ok()?.0),
        Record::Vendor { raw, .. } => Some(p + 1 + raw.len()),
        Record::Key(k) => Some(k.end as usize),
        Record::Skipped { end, .. } => Some(*end as usize),
        Record::Repaired { .. } => None,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl RecordSink for CheckSink<'_> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.header = Some(*h);
        self.pos = h.len;
        Ok(())
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        let mut buf = Vec::new();
        match r {
            Record::Key(k) => {
                let n = validate(&k.value, &mut self.scratch).map_err(|e| {
                    let kb = k.key.to_vec().ok();
                    e.with_key(k.db, kb.as_deref()).with_record_start(k.offset)
                })?;
                self.keys += 1;
                let ty = k.value.data_type();
                if n == 0 && !matches!(ty, DataType::String | DataType::Stream | DataType::Module) {
                    // redis-check-rdb stops here; the server skips the key.
                    self.empty += 1;
                    let kb = k.key.to_vec().unwrap_or_default();
                    let _ = writeln!(
                        self.out,
                        "[offset {}] WARNING empty {} '{}' (type {} {}): Redis skips it on load",
                        k.offset,
                        ty.name(),
                        kb.escape_ascii(),
                        k.value.type_byte,
                        k.value.layout.label()
                    );
                }
                if let Some(e) = k.expire_ms {
                    self.expires += 1;
                    if e < self.now_ms {
                        self.already_expired += 1;
                    }
                }
            }
            Record::Skipped { .. } => self.skipped.extend(SkippedRange::from_record(r)),
            Record::Repaired { .. } => {
                if let Some(fix) = RepairedRange::from_record(r) {
                    let _ = writeln!(self.out, "[offset {}] SALVAGE {fix}", fix.offset);
                    self.repaired.push(fix);
                }
            }
            _ => {}
        }
        if let Some(e) = record_end(self.data, self.pos, r) {
            self.pos = e;
        }
        let at = self.pos;
        match r {
            Record::Aux { key, value } => {
                let k = text(key.bytes(&mut buf).unwrap_or(b"?"));
                let v = text(value.bytes(&mut buf).unwrap_or(b"?"));
                let _ = writeln!(self.out, "[offset {at}] AUX FIELD {k} = '{v}'");
            }
            Record::SelectDb { db } => {
                let _ = writeln!(self.out, "[offset {at}] Selecting DB ID {db}");
            }
            Record::Function { code } => {
                let c = code.bytes(&mut buf).unwrap_or(b"");
                let name = super::inspect::library_name(c);
                let _ = writeln!(self.out, "[offset {at}] FUNCTION library {name}");
            }
            Record::ModuleAux { module_id, .. } => {
                let (name, ver) = crate::model::module_name(*module_id);
                let _ = writeln!(self.out, "[offset {at}] MODULE AUX {name} (v{ver})");
            }
            Record::Skipped { .. } => {
                if let Some(s) = self.skipped.last() {
                    let _ = writeln!(self.out, "[offset {}] SALVAGE {s}", s.start);
                }
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.trailer = Some(*t);
        Ok(())
    }
}

/// What reading looked like where it failed, in redis-check-rdb's words.
fn doing(data: &[u8], e: &Error, h: Option<&Header>) -> (String, Option<String>) {
    let Some(h) = h else {
        return ("start".into(), None);
    };
    let Some(start) = e.location().record_start.map(|s| s as usize) else {
        return ("read-type".into(), None);
    };
    // Skip the prefix opcodes to the type byte.
    let mut p = start;
    loop {
        let n = match data.get(p) {
            Some(0xfc) => 9,
            Some(0xfd) => 5,
            Some(0xf9) => 2,
            Some(0xf8) => match length(&data[p + 1..]) {
                Ok((r, _)) => data.len() - r.len() - p,
                Err(_) => break,
            },
            _ => break,
        };
        p += n;
    }
    let Some(&t) = data.get(p) else {
        return ("read-type".into(), None);
    };
    match RdbLayout::from_type_byte(t, h.flavor, h.version) {
        Some(l) => {
            let what = if e.location().key.is_some() {
                "read-object-value"
            } else {
                "read-object-key"
            };
            (what.into(), Some(format!("{t} ({})", l.label())))
        }
        None if t >= 0xf3 => (format!("read-opcode 0x{t:02x}"), None),
        None => ("read-type".into(), Some(format!("{t} (unknown)"))),
    }
}

/// Checks `data` (read from `path`) and returns the report text and the
/// outcome: the error that ended the check, if any.
pub fn check(data: &[u8], path: &Path, opts: &ReadOptions, now_ms: i64) -> (String, Result<()>) {
    let mut sink = CheckSink {
        data,
        out: format!("[offset 0] Checking RDB file {}\n", path.display()),
        header: None,
        pos: 0,
        keys: 0,
        expires: 0,
        already_expired: 0,
        empty: 0,
        now_ms,
        scratch: Scratch::default(),
        trailer: None,
        skipped: Vec::new(),
        repaired: Vec::new(),
    };
    let res = read(data, opts, &mut sink);
    let mut out = std::mem::take(&mut sink.out);
    let end = sink.trailer.map_or(data.len() as u64, |t| t.end_offset);
    let res = match res {
        Ok(t) => {
            match t.checksum {
                Checksum::Ok { .. } => {
                    let _ = writeln!(out, "[offset {end}] Checksum OK");
                }
                Checksum::Disabled => {
                    let _ = writeln!(
                        out,
                        "[offset {end}] RDB file was saved with checksum disabled: no check performed."
                    );
                }
                Checksum::Mismatch { stored, computed } => {
                    let _ = writeln!(
                        out,
                        "[offset {end}] RDB CRC error: file says 0x{stored:016x}, data gives 0x{computed:016x}"
                    );
                }
                Checksum::Absent | Checksum::Unchecked { .. } => {}
            }
            if sink.skipped.is_empty() && !matches!(t.checksum, Checksum::Mismatch { .. }) {
                let _ = writeln!(out, "[offset {end}] \\o/ RDB looks OK! \\o/");
                Ok(())
            } else if let (true, Checksum::Mismatch { stored, computed }) =
                (sink.skipped.is_empty(), t.checksum)
            {
                match sink.repaired.first() {
                    Some(fix) => {
                        let _ = writeln!(
                            out,
                            "[info] salvage set the damaged bytes back from the checksum: every record read"
                        );
                        Err(Error::new(ErrorKind::Repaired {
                            offset: fix.offset,
                            len: fix.found.len() as u64 / 2,
                        }))
                    }
                    None => Err(Error::new(ErrorKind::Checksum { stored, computed })),
                }
            } else {
                let bytes = sink.skipped.iter().map(|r| r.end - r.start).sum();
                let _ = writeln!(
                    out,
                    "[info] salvage skipped {} damaged range(s), {bytes} bytes",
                    sink.skipped.len()
                );
                Err(Error::new(ErrorKind::Salvaged {
                    ranges: sink.skipped.len() as u64,
                    bytes,
                }))
            }
        }
        Err(e) => {
            let loc = e.location();
            let off = loc.offset.unwrap_or(end);
            let _ = writeln!(out, "--- RDB ERROR DETECTED ---");
            let what = match e.kind() {
                ErrorKind::Parse(p) => p.to_string(),
                k => k.to_string(),
            };
            let _ = writeln!(out, "[offset {off}] {what}");
            let (doing, ty) = doing(data, &e, sink.header.as_ref());
            let _ = writeln!(out, "[additional info] While doing: {doing}");
            if let Some(k) = &loc.key {
                let _ = writeln!(out, "[additional info] Reading key '{}'", k.escape_ascii());
            }
            if let Some(t) = ty {
                let _ = writeln!(out, "[additional info] Reading type {t}");
            }
            if let Some(r) = loc.record_start {
                let _ = writeln!(
                    out,
                    "[more] record starts at offset {r} (0x{r:x}); problem at offset {off} (0x{off:x}){}",
                    loc.db.map(|d| format!(" in db {d}")).unwrap_or_default()
                );
            }
            let _ = writeln!(out, "[more] {}: {e}", path.display());
            Err(e)
        }
    };
    if res.is_err()
        && !opts.salvage
        && let Some(fix) = repairable(data, opts)
    {
        let n = fix.found.len() / 2;
        let _ = writeln!(
            out,
            "[info] the CRC-64 locates the damage: {n} byte(s) at offset {} (0x{:x}) hold {} where the checksum gives {}; --salvage reads the file with them set back",
            fix.offset, fix.offset, fix.found, fix.fixed
        );
    }
    let _ = writeln!(out, "[info] {} keys read", sink.keys);
    let _ = writeln!(out, "[info] {} expires", sink.expires);
    let _ = writeln!(out, "[info] {} already expired", sink.already_expired);
    if sink.empty > 0 {
        let _ = writeln!(out, "[info] {} empty keys (skipped on load)", sink.empty);
    }
    (out, res)
}
