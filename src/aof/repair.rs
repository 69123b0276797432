//! Plans for `aof repair` and `aof truncate`: which byte ranges of each file
//! to keep. Pure functions of the bytes; the CLI writes the ranges out.
//!
//! * fix (like `redis-check-aof --fix`): keep the last file up to the
//!   checker's `ok_up_to` (a torn tail, trailing garbage or an unterminated
//!   MULTI is cut); damage in an earlier file is refused, as the checker does.
//! * salvage: in every file, drop each damaged region and resync on the next
//!   record that frames as a whole, known command (`*N\r\n$…`), reporting
//!   every dropped byte range.
//! * truncate: cut at the first `#TS:` later than a time, or at an offset,
//!   never inside a MULTI/EXEC block.

use std::ops::Range;

use serde::Serialize;

use super::commands::{Lookup, lookup};
use super::read::frame::{Dialect, Item, frame};
use super::read::reader::{
    Annotation, AofSink, Command, DamageClass, ReadOptions, ScanState, scan_file,
};
use crate::error::{Error, ErrorKind, Result};
use crate::sink::Flow;

/// A byte range left out of the output, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    /// First byte dropped.
    pub start: u64,
    /// One past the last byte dropped.
    pub end: u64,
    /// Why.
    pub reason: String,
}

/// What to keep of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FilePlan {
    /// Original size.
    pub size: u64,
    /// Ranges kept, in order.
    pub keep: Vec<Range<u64>>,
    /// Ranges dropped, in order.
    pub dropped: Vec<Dropped>,
}

impl FilePlan {
    /// Keeps the whole file.
    pub fn whole(size: u64) -> Self {
        FilePlan {
            size,
            keep: std::iter::once(0..size).filter(|r| !r.is_empty()).collect(),
            dropped: Vec::new(),
        }
    }
    /// Whether the output differs from the input.
    pub fn changed(&self) -> bool {
        !self.dropped.is_empty()
    }
    /// Bytes kept.
    pub fn kept(&self) -> u64 {
        self.keep.iter().map(|r| r.end - r.start).sum()
    }
    /// Keeps `[0, at)`, dropping the rest for `reason`.
    pub fn cut(size: u64, at: u64, reason: String) -> Self {
        let mut p = FilePlan {
            size,
            keep: Vec::new(),
            dropped: Vec::new(),
        };
        if at > 0 {
            p.keep.push(0..at);
        }
        if at < size {
            p.dropped.push(Dropped {
                start: at,
                end: size,
                reason,
            });
        }
        p
    }
}

fn checker() -> ReadOptions {
    ReadOptions {
        dialect: Dialect::Checker,
        ..ReadOptions::default()
    }
}

struct Nothing;
impl<'a> AofSink<'a> for Nothing {
    fn command(&mut self, _c: &Command<'a>) -> Result<Flow> {
        Ok(Flow::Continue)
    }
}

/// The `--fix` plan of one file: cut at the checker's `ok_up_to`.
/// Returns the plan and the damage description, if there was any.
pub fn plan_fix(data: &[u8], rdb: &crate::rdb::read::ReadOptions) -> Result<FilePlan> {
    let opts = ReadOptions {
        rdb: rdb.clone(),
        ..checker()
    };
    let s = scan_file(data, 0, &opts, &mut ScanState::default(), &mut Nothing)?;
    if let Some(d) = &s.damage {
        if d.kind == DamageClass::Rdb {
            return Err(rdb_damage(d.offset, &d.message));
        }
        return Ok(FilePlan::cut(
            s.size,
            s.ok_up_to,
            format!(
                "{} at offset {}: {}",
                kind_name(d.kind),
                d.offset,
                d.message
            ),
        ));
    }
    if let Some(m) = s.open_multi {
        return Ok(FilePlan::cut(
            s.size,
            m,
            format!("unterminated MULTI at offset {m}"),
        ));
    }
    Ok(FilePlan::whole(s.size))
}

fn kind_name(k: DamageClass) -> &'static str {
    match k {
        DamageClass::Truncated => "torn tail",
        DamageClass::Format => "format error",
        DamageClass::UnexpectedMulti => "MULTI inside MULTI",
        DamageClass::UnexpectedExec => "EXEC without MULTI",
        DamageClass::Rdb => "damaged RDB part",
    }
}

fn rdb_damage(offset: u64, msg: &str) -> Error {
    let mut e = Error::new(ErrorKind::Aof(format!(
        "the RDB part is damaged ({msg}); it cannot be repaired by cutting RESP records"
    )));
    e.location_mut().offset = Some(offset);
    e
}

/// Whether a whole, known command (not EXEC) frames at `i`.
fn resync_point(i: &[u8]) -> bool {
    if !i.starts_with(b"*") {
        return false;
    }
    match frame(i, Dialect::Checker, false) {
        Ok(f) => match f.item {
            Item::Command(a) => {
                a.argc() > 0 && !a.is("exec") && matches!(lookup(&a), Lookup::Known(_))
            }
            _ => false,
        },
        Err(_) => false,
    }
}

/// The `--salvage` plan of one file.
pub fn plan_salvage(data: &[u8], rdb: &crate::rdb::read::ReadOptions) -> Result<FilePlan> {
    let size = data.len() as u64;
    let opts = ReadOptions {
        rdb: rdb.clone(),
        ..checker()
    };
    let mut plan = FilePlan {
        size,
        keep: Vec::new(),
        dropped: Vec::new(),
    };
    let mut pos = 0usize;
    let mut state = ScanState::default();
    loop {
        let part = &data[pos..];
        let base = pos as u64;
        // Only the start of the file can hold an RDB part.
        let s = if pos > 0 && part.starts_with(b"REDIS") {
            None
        } else {
            Some(scan_file(part, 0, &opts, &mut state, &mut Nothing)?)
        };
        let (good, from, reason) = match &s {
            None => (
                base,
                base,
                "an RDB magic in the middle of the RESP text".to_string(),
            ),
            Some(s) => match (&s.damage, s.open_multi) {
                (None, None) => {
                    if s.size > 0 {
                        plan.keep.push(base..size);
                    }
                    return Ok(plan);
                }
                (Some(d), _) if d.kind == DamageClass::Rdb => {
                    return Err(rdb_damage(d.offset, &d.message));
                }
                (Some(d), _) => (
                    base + s.ok_up_to,
                    base + d.record,
                    format!(
                        "{} at offset {}: {}",
                        kind_name(d.kind),
                        base + d.offset,
                        d.message
                    ),
                ),
                (None, Some(m)) => (
                    base + m,
                    size,
                    format!("unterminated MULTI at offset {}", base + m),
                ),
            },
        };
        if good > base {
            plan.keep.push(base..good);
        }
        // Resync on the next record after the damaged one's first byte.
        let mut r = (from as usize + 1).min(data.len());
        while r < data.len() {
            match data[r..].iter().position(|&b| b == b'*') {
                Some(p) => {
                    r += p;
                    if resync_point(&data[r..]) {
                        break;
                    }
                    r += 1;
                }
                None => r = data.len(),
            }
        }
        plan.dropped.push(Dropped {
            start: good,
            end: r as u64,
            reason,
        });
        if r >= data.len() {
            return Ok(plan);
        }
        pos = r;
    }
}

/// Finds where to cut a file for point-in-time recovery.
struct CutFinder {
    to_ts: Option<i64>,
    to_offset: Option<u64>,
    cut: Option<(u64, String)>,
}

impl<'a> AofSink<'a> for CutFinder {
    fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
        if let Some(n) = self.to_offset
            && c.end > n
        {
            let at = c.multi.unwrap_or(c.offset);
            let why = if c.multi.is_some() && at < c.offset {
                format!("offset {n} is inside the MULTI/EXEC block at {at}: cut before its MULTI")
            } else {
                format!("cut at the record boundary {at} (at or before offset {n})")
            };
            self.cut = Some((at, why));
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }
    fn annotation(&mut self, a: &Annotation<'a>) -> Result<Flow> {
        if let (Some(t), Some(ts)) = (self.to_ts, a.ts)
            && ts > t
        {
            self.cut = Some((a.offset, format!("#TS:{ts} is after {t}")));
            return Ok(Flow::Stop);
        }
        if let Some(n) = self.to_offset
            && a.end > n
        {
            self.cut = Some((a.offset, format!("cut at the annotation at {}", a.offset)));
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }
}

/// Where to cut one file: at the first `#TS:` later than `to_ts`, or at the
/// record containing `to_offset`; never inside a MULTI/EXEC block (an open
/// transaction at the cut moves it back to the MULTI). `None`: nothing to cut.
/// The file must be undamaged.
pub fn find_cut(
    data: &[u8],
    to_ts: Option<i64>,
    to_offset: Option<u64>,
    rdb: &crate::rdb::read::ReadOptions,
) -> Result<Option<(u64, String)>> {
    let opts = ReadOptions {
        rdb: rdb.clone(),
        ..checker()
    };
    let mut f = CutFinder {
        to_ts,
        to_offset,
        cut: None,
    };
    // Track the open MULTI so an annotation inside a block cuts before it.
    struct Track<'f> {
        f: &'f mut CutFinder,
        multi: Option<u64>,
    }
    impl<'a> AofSink<'a> for Track<'_> {
        fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
            self.multi = if c.argv.is("exec") { None } else { c.multi };
            self.f.command(c)
        }
        fn annotation(&mut self, a: &Annotation<'a>) -> Result<Flow> {
            let flow = self.f.annotation(a)?;
            if let (Flow::Stop, Some(m)) = (flow, self.multi)
                && let Some((_, why)) = &mut self.f.cut
            {
                *why = format!("{why}, inside the MULTI/EXEC block at {m}: cut before its MULTI");
                self.f.cut = self.f.cut.take().map(|(_, w)| (m, w));
            }
            Ok(flow)
        }
    }
    let mut t = Track {
        f: &mut f,
        multi: None,
    };
    let s = scan_file(data, 0, &opts, &mut ScanState::default(), &mut t)?;
    if let Some(d) = &s.damage
        && f.cut.as_ref().is_none_or(|(c, _)| *c > d.record)
    {
        let mut e = Error::new(ErrorKind::Aof(format!(
            "damaged before the cut point ({}: {}); run `aof repair` first",
            d.kind, d.message
        )));
        e.location_mut().offset = Some(d.offset);
        return Err(e);
    }
    if let Some(rdb) = s.rdb
        && let Some((c, _)) = &f.cut
        && *c < rdb.end_offset
    {
        return Err(Error::usage("the cut point is inside the RDB part"));
    }
    Ok(f.cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(args: &[&str]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        v
    }

    #[test]
    fn salvage_drops_only_the_corrupt_region() {
        let mut d = resp(&["set", "a", "1"]);
        let bad = d.len() as u64;
        d.extend(b"!!garbage*9\r\n");
        let resume = d.len() as u64;
        d.extend(resp(&["set", "b", "2"]));
        d.extend(resp(&["MULTI"]));
        let multi = d.len() as u64 - 15;
        d.extend(resp(&["set", "c", "3"]));
        let o = crate::rdb::read::ReadOptions::default();
        let p = plan_salvage(&d, &o).unwrap();
        assert_eq!(p.keep, vec![0..bad, resume..multi]);
        assert_eq!(p.dropped.len(), 2);
        assert_eq!((p.dropped[0].start, p.dropped[0].end), (bad, resume));
        let f = plan_fix(&d, &o).unwrap();
        assert_eq!(f.keep, vec![0..bad]);
    }

    #[test]
    fn cuts_never_split_a_transaction() {
        let mut d = b"#TS:100\r\n".to_vec();
        d.extend(resp(&["set", "a", "1"]));
        let m = d.len() as u64;
        d.extend(resp(&["MULTI"]));
        d.extend(b"#TS:200\r\n");
        d.extend(resp(&["set", "b", "1"]));
        d.extend(resp(&["EXEC"]));
        let o = crate::rdb::read::ReadOptions::default();
        assert_eq!(find_cut(&d, Some(150), None, &o).unwrap().unwrap().0, m);
        assert_eq!(find_cut(&d, Some(300), None, &o).unwrap(), None);
        assert_eq!(find_cut(&d, None, Some(m + 20), &o).unwrap().unwrap().0, m);
        assert_eq!(find_cut(&d, None, Some(m), &o).unwrap().unwrap().0, m);
    }
}
