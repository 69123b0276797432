//! `rdbtool project --write-survivors OUT.rdb`: the keys a projected run
//! keeps, written through the RDB writer with their TTL and IDLE/FREQ, so
//! the smaller server can be seeded with exactly what it would hold.

use std::collections::BTreeMap;
use std::path::Path;

use super::output::Output;
use crate::error::{Error, Result};
use crate::rdb::read::{Header, ReadOptions, Record, Trailer, read};
use crate::rdb::write::{RdbSink, RdbSinkOptions};
use crate::sink::{Flow, RecordSink};

/// Passes the file's records to the RDB writer, keys only when they
/// survive (`keep`, in file order), with RESIZEDB hints recounted for what
/// is kept so the loader sizes its tables for the survivors.
struct SurvivorSink<'k, S> {
    inner: S,
    keep: &'k [bool],
    /// Per db: (keys, keys with a TTL) kept.
    hints: BTreeMap<u64, (u64, u64)>,
    next: usize,
    kept: u64,
}

impl<S: RecordSink> RecordSink for SurvivorSink<'_, S> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.inner.header(h)
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        match r {
            Record::Key(_) => {
                let i = self.next;
                self.next += 1;
                // A key the projection never saw (the two passes disagree)
                // is an error, not a silent keep.
                let keep = *self.keep.get(i).ok_or_else(|| {
                    Error::sink("--write-survivors: the file changed between passes")
                })?;
                if !keep {
                    return Ok(Flow::Continue);
                }
                self.kept += 1;
                self.inner.record(r)
            }
            Record::ResizeDb { db, .. } => {
                let (keys, expires) = self.hints.get(db).copied().unwrap_or_default();
                self.inner.record(&Record::ResizeDb {
                    db: *db,
                    keys,
                    expires,
                })
            }
            other => self.inner.record(other),
        }
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.inner.finish(t)
    }
}

/// One surviving key's place: its db and whether it has a TTL.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    /// Database.
    pub db: u64,
    /// True when the key has a TTL.
    pub ttl: bool,
    /// True when the key survives.
    pub keep: bool,
}

/// Writes the surviving keys of `data` (the RDB at `input`) to `path`,
/// atomically; returns the number of keys written.
pub fn write(
    data: &[u8],
    input: &Path,
    path: &Path,
    opts: &ReadOptions,
    keys: &[Kept],
    ctime_s: i64,
) -> Result<u64> {
    let mut hints: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for k in keys.iter().filter(|k| k.keep) {
        let h = hints.entry(k.db).or_default();
        h.0 += 1;
        h.1 += k.ttl as u64;
    }
    let keep: Vec<bool> = keys.iter().map(|k| k.keep).collect();
    let out = Output::create(Some(path), &[input])?;
    let mut sink = SurvivorSink {
        inner: RdbSink::new(
            out,
            RdbSinkOptions {
                ctime_s,
                ..RdbSinkOptions::default()
            },
        ),
        keep: &keep,
        hints,
        next: 0,
        kept: 0,
    };
    let r = read(data, opts, &mut sink);
    let refused = sink.inner.refusal_error();
    let kept = sink.kept;
    let complete = sink.next == keep.len();
    match (r, refused, sink.inner.into_inner()) {
        (Ok(_), None, Some(out)) if complete => {
            out.commit()?;
            Ok(kept)
        }
        (r, refused, out) => {
            if let Some(o) = out {
                o.abort();
            }
            Err(r.err().or(refused).unwrap_or_else(|| {
                Error::sink("--write-survivors: the file changed between passes")
            }))
        }
    }
}
