//! Deep validation of one value: decodes every element the way a loading
//! server would, without keeping them. `rdbtool check` and salvage use it to
//! decide whether a value is sound; the skip walk alone only proves that the
//! value's outer structure ends where it claims to.

use super::listpack::Listpack;
use super::prim::{RdbStr, raw_stream_id};
use super::stream::{self, StreamVisitor};
use super::value::{Scratch, Value};
use crate::error::{Error, Problem};
use crate::model::DataType;

/// Collects the node blobs of a stream so they can be decoded one at a time.
#[derive(Default)]
struct Nodes<'a>(Vec<(RdbStr<'a>, RdbStr<'a>)>);

impl<'a> StreamVisitor<'a> for Nodes<'a> {
    fn node(&mut self, key: RdbStr<'a>, lp: RdbStr<'a>) {
        self.0.push((key, lp));
    }
}

/// Decodes every element of `v` (strings, members, scores, fields, stream
/// entries and groups) and returns how many elements it met. The first
/// structural problem is returned as an error at its file offset.
pub fn validate(v: &Value<'_>, scratch: &mut Scratch) -> Result<u64, Error> {
    let mut n = 0u64;
    match v.data_type() {
        DataType::String => {
            let s = v.as_string()?;
            s.bytes(&mut scratch.a)
                .map_err(|p| Error::parse(p, v.offset))?;
            n = 1;
        }
        DataType::List | DataType::Set => v.for_each_elem(scratch, |_, _| {
            n += 1;
            Ok(())
        })?,
        DataType::Zset => v.for_each_scored(scratch, |_, _| {
            n += 1;
            Ok(())
        })?,
        DataType::Hash => v.for_each_field(scratch, |_, _, _| {
            n += 1;
            Ok(())
        })?,
        DataType::Stream => n = validate_stream(v, scratch)?,
        DataType::Module => {
            v.module_id()?;
            n = 1;
        }
        // The skip walk already checked every part of these.
        DataType::Array | DataType::Cron => n = 1,
    }
    Ok(n)
}

/// Walks the stream's metadata and groups, then decodes one node at a time
/// into a reused buffer (a whole decoded stream can be many times its file
/// size).
fn validate_stream(v: &Value<'_>, scratch: &mut Scratch) -> Result<u64, Error> {
    let crate::model::RdbLayout::Stream(ver) = v.layout else {
        return Err(Error::parse(
            Problem::Invalid {
                what: "stream",
                expected: "a stream type byte",
                found: v.type_byte as u64,
            },
            v.offset,
        ));
    };
    let mut nodes = Nodes::default();
    stream::walk(v.raw, ver, &mut nodes).map_err(|e| {
        let e = crate::error::perr(e);
        Error::parse(e.problem, v.offset + (v.raw.len() - e.remaining) as u64)
    })?;
    let mut entries = Vec::new();
    let mut live = 0u64;
    for (key, lp) in &nodes.0 {
        let k = key
            .bytes(&mut scratch.a)
            .map_err(|p| Error::parse(p, v.offset))?;
        let (_, master) =
            raw_stream_id(k).map_err(|e| Error::parse(crate::error::perr(e).problem, v.offset))?;
        let blob = lp
            .bytes(&mut scratch.blob)
            .map_err(|p| Error::parse(p, v.offset))?;
        Listpack::parse(blob).map_err(|p| Error::parse(p, v.offset))?;
        entries.clear();
        stream::decode_node(master, blob, &mut entries).map_err(|p| Error::parse(p, v.offset))?;
        live += entries.len() as u64;
    }
    Ok(live)
}
