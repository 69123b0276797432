//! Reading AOF logs: zero-copy framing over the mapping ([`frame`]), the
//! multi-part manifest ([`manifest`]), which files make a set ([`layout`])
//! and the per-file scanner with db/timestamp/transaction tracking
//! ([`reader`]). [`read_set`] replays a whole set the way a server loads it.

pub mod frame;
pub mod layout;
pub mod manifest;
pub mod reader;

pub use frame::{Argv, DamageKind, Dialect};
pub use layout::{AofFile, AofSet, Layout, Role};
pub use reader::{
    Annotation, AofSink, Command, Damage, DamageClass, FileScan, ReadOptions, ScanState, scan_file,
};

use crate::error::{Error, ErrorKind, Result};
use crate::source::Source;

/// Opens every file of a set (a missing file is an error, as for the server).
pub fn open_sources(set: &AofSet) -> Result<Vec<Source>> {
    set.manifest()?;
    set.files.iter().map(|f| Source::open(&f.path)).collect()
}

/// Turns the first damage of a scan into an error naming file, offset and
/// what was expected.
pub fn damage_error(file: &AofFile, d: &Damage) -> Error {
    let kind = match d.kind {
        DamageClass::Truncated => "truncated record",
        DamageClass::Format => "bad record format",
        DamageClass::UnexpectedMulti => "MULTI inside MULTI",
        DamageClass::UnexpectedExec => "EXEC without MULTI",
        DamageClass::Rdb => "unreadable RDB part",
    };
    let mut e = Error::new(ErrorKind::Aof(format!("{kind}: {}", d.message)));
    e.location_mut().offset = Some(d.offset);
    e.location_mut().record_start = Some(d.record);
    e.with_path(&file.path)
}

/// Replays a whole set into `sink` in load order, as a server would load it:
/// any damage is an error, except a torn tail (or an unterminated MULTI) in
/// the last file when `allow_torn_tail` is set, which ends the replay there
/// (the queued commands of an open MULTI were delivered with `multi` set;
/// sinks that apply transactions at EXEC simply never see its EXEC).
/// Returns the per-file scans.
pub fn read_set<'a, S: AofSink<'a>>(
    set: &AofSet,
    sources: &'a [Source],
    opts: &ReadOptions,
    allow_torn_tail: bool,
    sink: &mut S,
) -> Result<Vec<FileScan>> {
    let mut state = ScanState::default();
    let mut scans = Vec::with_capacity(sources.len());
    for (i, (src, file)) in sources.iter().zip(&set.files).enumerate() {
        let scan = scan_file(src.bytes(), i, opts, &mut state, sink)?;
        let last = i + 1 == sources.len();
        if let Some(d) = &scan.damage {
            let torn = d.kind == DamageClass::Truncated;
            if !(torn && last && allow_torn_tail) {
                return Err(damage_error(file, d));
            }
        }
        if let (Some(m), false) = (scan.open_multi, last && allow_torn_tail) {
            let mut e = Error::new(ErrorKind::Aof(
                "MULTI without EXEC before the end of the file".into(),
            ));
            e.location_mut().offset = Some(m);
            return Err(e.with_path(&file.path));
        }
        let stopped = scan.stopped;
        scans.push(scan);
        if stopped {
            break;
        }
    }
    Ok(scans)
}
