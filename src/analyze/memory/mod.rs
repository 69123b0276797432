//! The memory model: per key, the bytes `MEMORY USAGE key SAMPLES 0`
//! reports on the server that loads the file, plus the keyspace overhead
//! that command leaves out. Documented in `formats/memory-model.md`.

pub mod alloc;
pub mod dict;
pub mod estimate;
pub mod keyspace;
pub mod layout;
pub mod packed;
pub mod rax;
pub mod score;

use serde::Serialize;

use crate::error::Result;
use crate::model::{DataType, Encoding};
use crate::rdb::read::{KeyRecord, RdbStr, Scratch};
use crate::server::{Profile, Target};
use alloc::{Alloc, sds_header};
use estimate::{Ctx, Part};
use layout::Layout;

/// The model's answer for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyMemory {
    /// What `MEMORY USAGE key SAMPLES 0` reports on the target.
    pub bytes: u64,
    /// Keyspace overhead not in `bytes`: the key's share of the main
    /// table (buckets, entry rounding) and, for keys with a TTL, of the
    /// expires table ([`keyspace::overhead`]).
    pub overhead: u64,
    /// `OBJECT ENCODING` after loading.
    pub encoding: Encoding,
    /// Elements (strings: 1; streams: entries).
    pub elements: u64,
    /// Length of the largest element (strings: the value's length), or an
    /// upper bound when `largest_exact` is false.
    pub largest_element: u64,
    /// False when the model skipped the walk the exact length needs
    /// ([`MemoryModel::lazy_largest`]); `KeyFacts::largest_element` walks.
    #[serde(skip)]
    pub largest_exact: bool,
}

/// Per-target memory model; reusable across keys (holds decode buffers).
pub struct MemoryModel {
    profile: Profile,
    alloc: Alloc,
    layout: Layout,
    scratch: Scratch,
    ids: Vec<[u8; 16]>,
    lazy_largest: bool,
    /// Keyspace overhead without and with a TTL, without size hints ...
    overhead_default: [u64; 2],
    /// ... and for the last sizes asked for: the same for every key of a db.
    overhead_sized: Option<(DbSizes, [u64; 2])>,
}

/// A db's key and expire counts (RESIZEDB hints), when known.
type DbSizes = (Option<u64>, Option<u64>);

/// Bytes of a Redis 8 key object (`kvobjCreate`): header, optional expire
/// field (reserved for keys of 128+ bytes or when the block has room),
/// header-size byte and the key as an sds.
fn kvobj_bytes(a: Alloc, robj: u64, key_len: u64, has_expire: bool, extra: u64) -> u64 {
    let has_expire = has_expire || key_len >= 128;
    let min = robj + 8 * has_expire as u64 + 1 + sds_header(key_len) + key_len + 1 + extra;
    a.class(min)
}

impl MemoryModel {
    /// A model of `profile.target` with `profile`'s thresholds, for a
    /// server build whose allocator is `alloc`.
    pub fn new(profile: Profile, alloc: Alloc) -> Self {
        let layout = Layout::of(profile.target);
        let o = |ttl| keyspace::overhead(&layout, alloc, None, None, ttl);
        MemoryModel {
            alloc,
            overhead_default: [o(false), o(true)],
            overhead_sized: None,
            layout,
            profile,
            scratch: Scratch::default(),
            ids: Vec::new(),
            lazy_largest: false,
        }
    }

    /// Lets the model skip walking values the loader keeps as stored when
    /// only their largest element would need it: `largest_element` is then
    /// an upper bound (`largest_exact` false), for consumers that look at
    /// it only for a few keys.
    pub fn lazy_largest(mut self, on: bool) -> Self {
        self.lazy_largest = on;
        self
    }

    /// The target server line.
    pub fn target(&self) -> Target {
        self.profile.target
    }

    /// Estimates one key.
    pub fn estimate(&mut self, k: &KeyRecord<'_>) -> Result<KeyMemory> {
        let l = self.layout;
        let a = self.alloc;
        let key_len = k.key.len();
        let has_expire = k.expire_ms.is_some();
        let v = &k.value;
        let value = |m: &mut Self| -> Result<Part> {
            let mut c = Ctx {
                profile: &m.profile,
                layout: &m.layout,
                scratch: &mut m.scratch,
                ids: &mut m.ids,
                alloc: m.alloc,
                lazy_largest: m.lazy_largest,
            };
            match v.data_type() {
                DataType::List => estimate::list(v, &mut c),
                DataType::Set => estimate::set(v, &mut c),
                DataType::Zset => estimate::zset(v, &mut c),
                DataType::Hash => estimate::hash(v, &mut c),
                DataType::Stream => estimate::stream(v, &mut c),
                // Module values and other vendor types: the object only.
                _ => Ok(Part {
                    bytes: 0,
                    encoding: Encoding::Raw,
                    elements: 1,
                    largest: v.raw.len() as u64,
                    largest_exact: true,
                }),
            }
        };
        let (bytes, part) = if v.data_type() == DataType::String {
            let s = v.as_string()?;
            if l.embedded_key {
                self.string_v8(&s, key_len, has_expire)
            } else {
                let p = estimate::string_v7(&s, &l, a);
                (p.bytes + a.sds(key_len) + l.key_entry, p)
            }
        } else {
            let p = value(self)?;
            let head = if l.embedded_key {
                kvobj_bytes(a, l.robj, key_len, has_expire, 0)
            } else {
                l.robj + a.sds(key_len) + l.key_entry
            };
            (head + p.bytes, p)
        };
        Ok(KeyMemory {
            bytes,
            overhead: self.overhead(has_expire),
            encoding: part.encoding,
            elements: part.elements,
            largest_element: part.largest,
            largest_exact: part.largest_exact,
        })
    }

    /// Redis 8 strings: a short value is embedded with the key when the
    /// whole object fits a cache line; otherwise the value is an sds of its
    /// own (and `OBJECT ENCODING` says `raw`).
    fn string_v8(&self, s: &RdbStr<'_>, key_len: u64, has_expire: bool) -> (u64, Part) {
        let l = &self.layout;
        let a = self.alloc;
        let len = s.len();
        let enc = crate::server::string_encoding(s);
        let part = |bytes, encoding| Part {
            bytes,
            encoding,
            elements: 1,
            largest: len,
            largest_exact: true,
        };
        match enc {
            Encoding::Int => {
                let b = kvobj_bytes(a, l.robj, key_len, has_expire, 0);
                (b, part(b, enc))
            }
            Encoding::Embstr if l.robj + key_len + 3 + 8 * has_expire as u64 + 4 + len <= 64 => {
                let b = kvobj_bytes(a, l.robj, key_len, has_expire, 3 + len + 1);
                (b, part(b, enc))
            }
            _ => {
                let b = kvobj_bytes(a, l.robj, key_len, has_expire, 0) + a.sds(len);
                (b, part(b, Encoding::Raw))
            }
        }
    }

    /// Keyspace overhead of a key in a db of `keys` keys, `expires` of
    /// them with a TTL (RESIZEDB hints; `None`: a 0.75 load factor).
    pub fn overhead_in(&mut self, keys: Option<u64>, expires: Option<u64>, has_ttl: bool) -> u64 {
        let sizes = (keys, expires);
        let pair = match self.overhead_sized {
            Some((s, pair)) if s == sizes => pair,
            _ => {
                let o = |ttl| keyspace::overhead(&self.layout, self.alloc, keys, expires, ttl);
                let pair = [o(false), o(true)];
                self.overhead_sized = Some((sizes, pair));
                pair
            }
        };
        pair[has_ttl as usize]
    }

    fn overhead(&self, has_ttl: bool) -> u64 {
        self.overhead_default[has_ttl as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::read::{ReadOptions, Record, read};
    use crate::sink::{Flow, FnSink};
    use clap::ValueEnum;

    /// The lazy model ([`MemoryModel::lazy_largest`]) answers as the eager
    /// one on every key of the corpus and the shared corpus, for every
    /// target: the same bytes, encoding and elements, and a largest element
    /// that is exact, or a bound whose walk gives the eager length.
    #[test]
    fn lazy_largest_is_the_eager_model() {
        let files = crate::testutil::corpus_rdb_files();
        assert!(files.len() >= 10, "corpus files not found");
        let (mut keys, mut bounds) = (0u64, 0u64);
        for f in &files {
            let data = std::fs::read(f).unwrap();
            for &t in Target::value_variants() {
                let p = Profile::new(t);
                let mut eager = MemoryModel::new(p, Alloc::BUNDLED);
                let mut lazy = MemoryModel::new(p, Alloc::BUNDLED).lazy_largest(true);
                let mut scratch = Scratch::default();
                let mut sink = FnSink(|r: &Record<'_>| {
                    if let Record::Key(k) = r
                        && let Ok(want) = eager.estimate(k)
                    {
                        let got = lazy.estimate(k).unwrap();
                        let exact = estimate::largest_element(&k.value, &mut scratch).unwrap();
                        assert_eq!(exact, want.largest_element, "{f:?} {t:?}");
                        assert!(got.largest_element >= exact, "{f:?} {t:?}");
                        bounds += !got.largest_exact as u64;
                        keys += 1;
                        let got = KeyMemory {
                            largest_element: exact,
                            largest_exact: true,
                            ..got
                        };
                        assert_eq!(got, want, "{f:?} {t:?}");
                    }
                    Ok(Flow::Continue)
                });
                let _ = read(&data, &ReadOptions::default(), &mut sink);
            }
        }
        // Both paths ran: keys sized from headers, and walked ones.
        assert!(
            bounds > 100 && keys > bounds,
            "{keys} keys, {bounds} bounds"
        );
    }
}
