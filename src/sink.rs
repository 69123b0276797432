//! The one small trait between readers and every consumer (analyzers,
//! exporters, writers): records are pushed, borrowed for the call.

use crate::error::Result;
use crate::rdb::read::{Header, KeyRecord, RdbStr, Record, Trailer, Value};

/// Whether the reader should go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Continue with the next record.
    Continue,
    /// Stop cleanly; `finish` still runs.
    Stop,
}

/// A consumer of records. Only `record` is required.
pub trait RecordSink {
    /// Called once with the file header, before any record.
    fn header(&mut self, _h: &Header) -> Result<()> {
        Ok(())
    }
    /// Called for every record in file order. An `Err` aborts the read.
    fn record(&mut self, r: &Record<'_>) -> Result<Flow>;
    /// Called once at the end (also after a `Stop`).
    fn finish(&mut self, _t: &Trailer) -> Result<()> {
        Ok(())
    }
}

impl<S: RecordSink + ?Sized> RecordSink for &mut S {
    fn header(&mut self, h: &Header) -> Result<()> {
        (**self).header(h)
    }
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        (**self).record(r)
    }
    fn finish(&mut self, t: &Trailer) -> Result<()> {
        (**self).finish(t)
    }
}

/// Feeds two sinks from one pass; stops when both asked to stop.
pub struct Tee<A, B>(pub A, pub B);

impl<A: RecordSink, B: RecordSink> RecordSink for Tee<A, B> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.0.header(h)?;
        self.1.header(h)
    }
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        let a = self.0.record(r)?;
        let b = self.1.record(r)?;
        Ok(if a == Flow::Stop && b == Flow::Stop {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.0.finish(t)?;
        self.1.finish(t)
    }
}

/// A sink from a closure over records.
pub struct FnSink<F>(pub F);

impl<F: FnMut(&Record<'_>) -> Result<Flow>> RecordSink for FnSink<F> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        (self.0)(r)
    }
}

/// Re-borrows the part of `data` that `part` points into, with `data`'s
/// lifetime; `None` when `part` does not lie inside `data`.
pub(crate) fn rebase_slice<'d>(data: &'d [u8], part: &[u8]) -> Option<&'d [u8]> {
    let off = (part.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    data.get(off..off.checked_add(part.len())?)
}

/// A key record borrowed for one [`RecordSink::record`] call, re-borrowed
/// from the whole input `data` it was read from, so a sink that holds
/// `data` can keep it (e.g. to hand it to another thread). `None` when the
/// record does not point into `data`.
pub fn rebase_key<'d>(data: &'d [u8], k: &KeyRecord<'_>) -> Option<KeyRecord<'d>> {
    let key = match k.key {
        RdbStr::Raw(b) => RdbStr::Raw(rebase_slice(data, b)?),
        RdbStr::Int(v) => RdbStr::Int(v),
        RdbStr::Lzf { packed, len } => RdbStr::Lzf {
            packed: rebase_slice(data, packed)?,
            len,
        },
    };
    let v = &k.value;
    Some(KeyRecord {
        db: k.db,
        key,
        value: Value {
            layout: v.layout,
            type_byte: v.type_byte,
            raw: rebase_slice(data, v.raw)?,
            offset: v.offset,
        },
        expire_ms: k.expire_ms,
        idle_s: k.idle_s,
        freq: k.freq,
        offset: k.offset,
        end: k.end,
    })
}
