//! The per-file scanner: RDB preamble (handed to the RDB reader), then RESP
//! records, with `#TS:` timestamps, SELECT (db per command) and MULTI/EXEC
//! tracking. Records go to an [`AofSink`]; framing damage ends the scan and
//! is described in the returned [`FileScan`] (callers decide whether it is
//! fatal: a checker reports it, a replayer refuses it).

use super::frame::{Argv, DamageKind, Dialect, FrameError, Item, frame, strtol};
use crate::error::{Error, Result};
use crate::rdb::read::{self as rdb, Checksum, Record, Trailer};
use crate::sink::{Flow, RecordSink};

/// Reader settings.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Whose framing rules to follow.
    pub dialect: Dialect,
    /// Accept inline (non-RESP) command lines, as pre-RESP logs hold
    /// (server dialect only; 7.x servers reject them).
    pub inline: bool,
    /// Settings for an RDB preamble / RDB BASE.
    pub rdb: rdb::ReadOptions,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            dialect: Dialect::Server,
            inline: false,
            rdb: rdb::ReadOptions::default(),
        }
    }
}

/// One logged command.
#[derive(Debug, Clone)]
pub struct Command<'a> {
    /// Index of the file in the set (load order).
    pub file: usize,
    /// Offset of the record's first byte in that file.
    pub offset: u64,
    /// Offset just past the record.
    pub end: u64,
    /// Database the command runs in.
    pub db: u64,
    /// The last `#TS:` annotation before it (Unix seconds), if any.
    pub ts: Option<i64>,
    /// Offset of the MULTI whose transaction this record belongs to (set on
    /// the MULTI, the queued commands and the EXEC).
    pub multi: Option<u64>,
    /// The arguments, borrowed from the file.
    pub argv: Argv<'a>,
}

/// One `#` annotation line.
#[derive(Debug, Clone, Copy)]
pub struct Annotation<'a> {
    /// File index.
    pub file: usize,
    /// Offset of the `#`.
    pub offset: u64,
    /// Offset just past the line.
    pub end: u64,
    /// The line without its line ending.
    pub text: &'a [u8],
    /// The timestamp of a well-formed `#TS:<digits>` line.
    pub ts: Option<i64>,
}

/// Consumer of an AOF's records. Only `command` is required.
pub trait AofSink<'a> {
    /// A record of an RDB preamble or RDB BASE file.
    fn rdb_record(&mut self, _file: usize, _r: &Record<'_>) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    /// A command.
    fn command(&mut self, c: &Command<'a>) -> Result<Flow>;
    /// An annotation line.
    fn annotation(&mut self, _a: &Annotation<'a>) -> Result<Flow> {
        Ok(Flow::Continue)
    }
}

/// What went wrong in a file, where.
#[derive(Debug, Clone)]
pub struct Damage {
    /// Truncation, corruption or a transaction error.
    pub kind: DamageClass,
    /// Absolute offset of the read that failed.
    pub offset: u64,
    /// Offset of the record it belongs to.
    pub record: u64,
    /// What was expected and found.
    pub message: String,
}

/// Damage classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageClass {
    /// The file ends inside a record (a torn tail).
    Truncated,
    /// Wrong bytes at a record boundary or inside a record.
    Format,
    /// MULTI inside MULTI (checker dialect).
    UnexpectedMulti,
    /// EXEC without MULTI (checker dialect).
    UnexpectedExec,
    /// The RDB preamble / RDB BASE is unreadable.
    Rdb,
}

impl std::fmt::Display for DamageClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DamageClass::Truncated => "truncated",
            DamageClass::Format => "format error",
            DamageClass::UnexpectedMulti => "MULTI inside MULTI",
            DamageClass::UnexpectedExec => "EXEC without MULTI",
            DamageClass::Rdb => "unreadable RDB part",
        })
    }
}

/// The RDB part of a file.
#[derive(Debug, Clone, Copy)]
pub struct RdbPart {
    /// Where the RESP text begins.
    pub end_offset: u64,
    /// Keys it holds.
    pub keys: u64,
    /// Checksum status.
    pub checksum: Checksum,
}

/// The result of scanning one file.
#[derive(Debug, Clone, Default)]
pub struct FileScan {
    /// File size.
    pub size: u64,
    /// The RDB part, when the file starts with `REDIS`.
    pub rdb: Option<RdbPart>,
    /// Commands delivered (including MULTI/EXEC and SELECT).
    pub commands: u64,
    /// Annotation lines.
    pub annotations: u64,
    /// `redis-check-aof`'s `ok_up_to`: start of the first record not known
    /// good (an open MULTI is not good).
    pub ok_up_to: u64,
    /// The server's valid end: just past the last command it executed or
    /// queued (before an unterminated MULTI at a clean end of file).
    pub valid_up_to: u64,
    /// CRLF-terminated RESP lines read (the checker's line counter).
    pub lines: u64,
    /// The first damage, if any.
    pub damage: Option<Damage>,
    /// Offset of a MULTI still open at the end of the scan.
    pub open_multi: Option<u64>,
    /// A sink asked to stop.
    pub stopped: bool,
}

/// State carried from one file of a set to the next.
#[derive(Debug, Clone, Default)]
pub struct ScanState {
    /// Last `#TS:` seen.
    pub ts: Option<i64>,
}

/// Parses `#TS:<digits>` (then end of line) into seconds.
pub fn parse_ts(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"#TS:")?;
    let (v, n) = strtol(digits);
    (n > 0 && n == digits.len()).then_some(v)
}

/// Parses a SELECT argument as the server does (a whole decimal integer).
fn select_db(a: &[u8]) -> Option<u64> {
    let (v, n) = strtol(a);
    (n == a.len() && !a.is_empty() && a[0] != b' ' && a[0] != b'+' && v >= 0).then_some(v as u64)
}

struct RdbFwd<'s, S> {
    sink: &'s mut S,
    file: usize,
    keys: u64,
    err: Option<Error>,
    stopped: bool,
}

impl<'a, S: AofSink<'a>> RecordSink for RdbFwd<'_, S> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if matches!(r, Record::Key(_)) {
            self.keys += 1;
        }
        match self.sink.rdb_record(self.file, r) {
            Ok(f) => {
                self.stopped |= f == Flow::Stop;
                Ok(f)
            }
            Err(e) => {
                self.err = Some(e);
                Err(Error::sink("AOF sink failed"))
            }
        }
    }
}

/// Scans one file's bytes.
pub fn scan_file<'a, S: AofSink<'a>>(
    data: &'a [u8],
    file: usize,
    opts: &ReadOptions,
    state: &mut ScanState,
    sink: &mut S,
) -> Result<FileScan> {
    let mut out = FileScan {
        size: data.len() as u64,
        ..FileScan::default()
    };
    let mut pos = 0usize;
    if data.starts_with(b"REDIS") {
        let mut fwd = RdbFwd {
            sink,
            file,
            keys: 0,
            err: None,
            stopped: false,
        };
        match rdb::read(data, &opts.rdb, &mut fwd) {
            Ok(Trailer {
                end_offset,
                checksum,
                ..
            }) => {
                let keys = fwd.keys;
                if fwd.stopped {
                    out.stopped = true;
                    return Ok(out);
                }
                out.rdb = Some(RdbPart {
                    end_offset,
                    keys,
                    checksum,
                });
                pos = usize::try_from(end_offset)
                    .unwrap_or(data.len())
                    .min(data.len());
            }
            Err(e) => {
                if let Some(e) = fwd.err {
                    return Err(e);
                }
                let at = e.location().offset.unwrap_or(0);
                out.damage = Some(Damage {
                    kind: DamageClass::Rdb,
                    offset: at,
                    record: e.location().record_start.unwrap_or(0),
                    message: e.to_string(),
                });
                return Ok(out);
            }
        }
    }
    out.ok_up_to = pos as u64;
    out.valid_up_to = pos as u64;
    let mut db = 0u64;
    // Checker: transaction depth; server: the open MULTI's offset.
    let mut multi: Option<u64> = None;
    let mut valid_before_multi = out.valid_up_to;
    while pos < data.len() {
        let off = pos as u64;
        if multi.is_none() {
            out.ok_up_to = off;
        }
        let f = match frame(&data[pos..], opts.dialect, opts.inline) {
            Ok(f) => f,
            Err(e) => {
                out.lines += e.lines as u64;
                out.damage = Some(frame_damage(&e, off));
                return Ok(out);
            }
        };
        let end = off + f.len as u64;
        match f.item {
            Item::Annotation(text) => {
                out.annotations += 1;
                let ts = parse_ts(text);
                if ts.is_some() {
                    state.ts = ts;
                }
                let a = Annotation {
                    file,
                    offset: off,
                    end,
                    text,
                    ts,
                };
                if sink.annotation(&a)? == Flow::Stop {
                    out.stopped = true;
                    return Ok(out);
                }
            }
            Item::Blank => {}
            Item::Command(argv) => {
                out.lines += f.lines as u64;
                let is_multi = argv.is("multi");
                let is_exec = argv.is("exec");
                match opts.dialect {
                    Dialect::Checker => {
                        if is_multi && multi.is_some() {
                            out.damage = Some(tx_damage(
                                DamageClass::UnexpectedMulti,
                                off,
                                "EXEC before another MULTI",
                            ));
                            return Ok(out);
                        }
                        if is_exec && multi.is_none() {
                            out.damage = Some(tx_damage(
                                DamageClass::UnexpectedExec,
                                off,
                                "MULTI before EXEC",
                            ));
                            return Ok(out);
                        }
                    }
                    Dialect::Server => {}
                }
                if is_multi && multi.is_none() {
                    multi = Some(off);
                    valid_before_multi = out.valid_up_to;
                }
                let c = Command {
                    file,
                    offset: off,
                    end,
                    db,
                    ts: state.ts,
                    multi,
                    argv,
                };
                if c.argv.is("select")
                    && let Some(n) = c.argv.get(1).and_then(select_db)
                {
                    db = n;
                }
                if is_exec {
                    multi = None;
                }
                out.commands += 1;
                out.valid_up_to = end;
                if sink.command(&c)? == Flow::Stop {
                    out.stopped = true;
                    return Ok(out);
                }
            }
        }
        pos = end as usize;
    }
    if let Some(m) = multi {
        out.open_multi = Some(m);
        out.valid_up_to = valid_before_multi;
    } else {
        out.ok_up_to = data.len() as u64;
    }
    Ok(out)
}

fn frame_damage(e: &FrameError, record: u64) -> Damage {
    Damage {
        kind: match e.kind {
            DamageKind::Truncated => DamageClass::Truncated,
            DamageKind::Format => DamageClass::Format,
        },
        offset: record + e.at as u64,
        record,
        message: e.to_string(),
    }
}

fn tx_damage(kind: DamageClass, record: u64, expected: &str) -> Damage {
    Damage {
        kind,
        offset: record,
        record,
        message: format!("transaction: expected {expected}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (offset, db, ts, multi, name) per command.
    type Seen = (u64, u64, Option<i64>, Option<u64>, Vec<u8>);
    struct Collect(Vec<Seen>);
    impl<'a> AofSink<'a> for Collect {
        fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
            self.0.push((
                c.offset,
                c.db,
                c.ts,
                c.multi,
                c.argv.name().unwrap_or_default().to_vec(),
            ));
            Ok(Flow::Continue)
        }
    }

    fn resp(args: &[&str]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        v
    }

    #[test]
    fn tracks_db_ts_and_transactions() {
        let mut d = b"#TS:100\r\n".to_vec();
        d.extend(resp(&["SELECT", "3"]));
        d.extend(resp(&["set", "a", "1"]));
        let multi_at = d.len() as u64;
        d.extend(resp(&["MULTI"]));
        d.extend(resp(&["incr", "a"]));
        d.extend(resp(&["EXEC"]));
        d.extend(b"#TS:101\r\n");
        let before = d.len() as u64;
        d.extend(resp(&["multi"]));
        d.extend(resp(&["del", "a"]));
        let mut sink = Collect(Vec::new());
        let s = scan_file(
            &d,
            0,
            &ReadOptions::default(),
            &mut ScanState::default(),
            &mut sink,
        )
        .unwrap();
        assert!(s.damage.is_none());
        assert_eq!(s.open_multi, Some(before));
        assert_eq!(s.ok_up_to, before);
        assert_eq!(s.valid_up_to, before - 9);
        let c = &sink.0;
        assert_eq!(c[1].1, 3);
        assert_eq!(c[1].2, Some(100));
        assert_eq!(c[3].3, Some(multi_at));
        assert_eq!(c[5].2, Some(101));
        let checker = ReadOptions {
            dialect: Dialect::Checker,
            ..ReadOptions::default()
        };
        let mut bad = resp(&["EXEC"]);
        bad.extend(resp(&["set", "a", "1"]));
        let s = scan_file(
            &bad,
            0,
            &checker,
            &mut ScanState::default(),
            &mut Collect(Vec::new()),
        )
        .unwrap();
        assert_eq!(s.damage.unwrap().kind, DamageClass::UnexpectedExec);
        assert_eq!(s.ok_up_to, 0);
    }
}
