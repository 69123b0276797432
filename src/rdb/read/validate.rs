//! Deep validation of one value: decodes every element the way a loading
//! server would, without keeping them. `rdbtool check` and salvage use it to
//! decide whether a value is sound; the skip walk alone only proves that the
//! value's outer structure ends where it claims to.

use std::hash::BuildHasher;

use super::listpack::Listpack;
use super::prim::{RdbStr, raw_stream_id};
use super::stream::{self, StreamVisitor};
use super::value::{MemberSet, Scratch, Value};
use crate::error::{Error, Problem};
use crate::model::{DataType, Elem};

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
        DataType::List => v.for_each_elem(scratch, |_, _| {
            n += 1;
            Ok(())
        })?,
        DataType::Set => {
            n = Distinct::walk(v, scratch, "set member (index in the value)", |v, s, f| {
                v.for_each_elem(s, |e, _| f(e))
            })?
        }
        DataType::Zset => {
            n = Distinct::walk(v, scratch, "zset member (index in the value)", |v, s, f| {
                v.for_each_scored(s, |e, _| f(e))
            })?
        }
        DataType::Hash => {
            n = Distinct::walk(v, scratch, "hash field (index in the value)", |v, s, f| {
                v.for_each_field(s, |e, _, _| f(e))
            })?
        }
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

/// Member hashes [`Scratch`] keeps its table's room for between values
/// (more costs more to clear than a small value takes to walk).
const MEMBERS_KEPT: usize = 1 << 10;

/// The hasher of set, zset and hash members: seeded once per process (a
/// hostile file cannot choose colliding members without the seed), and
/// free to make for each value.
fn member_hasher() -> foldhash::fast::FixedState {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| foldhash::fast::RandomState::default().hash_one(0u64));
    foldhash::fast::FixedState::with_seed(seed)
}

/// Finds a member that occurs twice in a set, zset or hash: a server
/// refuses such a value on load ("Duplicate set members detected"), and a
/// damaged count or length that reads past a value's end often reads the
/// next records as repeated members (every string record's type byte as an
/// empty one). Members are kept as 64-bit hashes of their logical bytes (an
/// integer as its decimal text, as the server compares them); a repeated
/// hash is confirmed on the bytes in a second walk, so a collision is
/// never reported.
struct Distinct {
    state: foldhash::fast::FixedState,
    seen: MemberSet,
    /// Hashes met more than once (a set: a hostile value may repeat one
    /// member a million times).
    repeated: MemberSet,
}

impl Distinct {
    fn hash(&self, e: &Elem<'_>) -> u64 {
        match *e {
            Elem::Bytes(b) => self.state.hash_one(b),
            Elem::Int(i) => self
                .state
                .hash_one(itoa::Buffer::new().format(i).as_bytes()),
        }
    }

    fn add(&mut self, e: &Elem<'_>) {
        let h = self.hash(e);
        if !self.seen.insert(h) {
            self.repeated.insert(h);
        }
    }

    /// Visits the members with `walk` and returns how many there are;
    /// fails when one repeats. Only when a hash repeats are the members
    /// visited again and the ones with a repeated hash compared.
    fn walk<W>(
        v: &Value<'_>,
        scratch: &mut Scratch,
        what: &'static str,
        walk: W,
    ) -> Result<u64, Error>
    where
        W: Fn(
            &Value<'_>,
            &mut Scratch,
            &mut dyn FnMut(Elem<'_>) -> Result<(), Error>,
        ) -> Result<(), Error>,
    {
        let mut d = Distinct {
            state: member_hasher(),
            seen: std::mem::take(&mut scratch.members),
            repeated: MemberSet::default(),
        };
        d.seen.clear();
        let mut n = 0u64;
        let walked = walk(v, scratch, &mut |e| {
            n += 1;
            d.add(&e);
            Ok(())
        });
        // The table goes back for the next value, unless a big value grew
        // it past what a pass should hold on to.
        if d.seen.capacity() <= MEMBERS_KEPT {
            scratch.members = std::mem::take(&mut d.seen);
        }
        walked?;
        if d.repeated.is_empty() {
            return Ok(n);
        }
        // (member bytes, its index in the walk)
        let mut found: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut i = 0u64;
        walk(v, scratch, &mut |e| {
            if d.repeated.contains(&d.hash(&e)) {
                let b = match e {
                    Elem::Bytes(b) => b.to_vec(),
                    Elem::Int(x) => itoa::Buffer::new().format(x).as_bytes().to_vec(),
                };
                found.push((b, i));
            }
            i += 1;
            Ok(())
        })?;
        found.sort_unstable();
        match found.windows(2).find(|w| w[0].0 == w[1].0) {
            None => Ok(n),
            Some(w) => Err(Error::parse(
                Problem::Invalid {
                    what,
                    expected: "no repeat (a server's load refuses one)",
                    found: w[1].1,
                },
                v.offset,
            )),
        }
    }
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
