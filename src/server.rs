//! What a loading server does with a value: the encoding it picks after
//! loading (`OBJECT ENCODING`), per target server version and its
//! `*-max-listpack-*` settings.

use serde::Serialize;

use crate::error::Result;
use crate::model::{Elem, Encoding, RdbLayout};
use crate::rdb::read::prim::{RdbStr, parse_canonical_i64};
use crate::rdb::read::{Scratch, Value};

/// A target server line whose load behaviour differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
pub enum Target {
    /// Redis 7.0 (RDB 10).
    #[value(name = "redis-7.0")]
    #[serde(rename = "redis-7.0")]
    Redis70,
    /// Redis 7.2 (RDB 11): listpack sets and small lists.
    #[value(name = "redis-7.2")]
    #[serde(rename = "redis-7.2")]
    Redis72,
    /// Redis 7.4 (RDB 12): hash field expiration.
    #[value(name = "redis-7.4")]
    #[serde(rename = "redis-7.4")]
    Redis74,
    /// Redis 8.x.
    #[value(name = "redis-8")]
    #[serde(rename = "redis-8")]
    Redis8,
    /// Valkey 8.
    #[value(name = "valkey-8")]
    #[serde(rename = "valkey-8")]
    Valkey8,
}

impl Target {
    /// The server line that writes RDB `version` (the default target).
    pub fn for_rdb_version(version: u32, valkey: bool) -> Target {
        if valkey {
            Target::Valkey8
        } else {
            match version {
                0..=10 => Target::Redis70,
                11 => Target::Redis72,
                12 => Target::Redis74,
                _ => Target::Redis8,
            }
        }
    }
}

/// The server settings that decide encodings, with the servers' defaults.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Profile {
    /// Server line.
    pub target: Target,
    /// `hash-max-listpack-entries`.
    pub hash_max_listpack_entries: u64,
    /// `hash-max-listpack-value`.
    pub hash_max_listpack_value: u64,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: u64,
    /// `zset-max-listpack-value`.
    pub zset_max_listpack_value: u64,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: u64,
    /// `set-max-listpack-entries` (7.2+).
    pub set_max_listpack_entries: u64,
    /// `set-max-listpack-value` (7.2+).
    pub set_max_listpack_value: u64,
    /// `list-max-listpack-size` (negative: size classes in KB).
    pub list_max_listpack_size: i64,
}

impl Profile {
    /// Defaults of `target`.
    pub fn new(target: Target) -> Self {
        Profile {
            target,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }

    /// Byte budget of one list node for negative `list-max-listpack-size`.
    pub fn list_node_bytes(&self) -> Option<usize> {
        match self.list_max_listpack_size {
            -1 => Some(4096),
            -2 => Some(8192),
            -3 => Some(16384),
            -4 => Some(32768),
            -5 => Some(65536),
            _ => None,
        }
    }

    fn has_listpack_sets(&self) -> bool {
        self.target >= Target::Redis72
    }
}

/// `OBJECT ENCODING` of a string after loading.
pub fn string_encoding(s: &RdbStr<'_>) -> Encoding {
    match *s {
        RdbStr::Int(_) => Encoding::Int,
        RdbStr::Raw(b) if b.len() <= 20 && parse_canonical_i64(b).is_some() => Encoding::Int,
        _ if s.len() <= 44 => Encoding::Embstr,
        _ => Encoding::Raw,
    }
}

/// Which blob layout a value's header is read as.
#[derive(Clone, Copy)]
enum Blob {
    Listpack,
    Ziplist,
    Intset,
}

/// The element count a blob value's header declares (listpack, ziplist,
/// intset), decompressing an LZF blob only as far as its header: the
/// encoding after loading needs no more (`rdb.c` converts on the count).
/// `None` when the header does not know the count (65535 entries or more)
/// or does not fit the blob; callers then take the full path
/// ([`Value::element_count`]), which also reports what is wrong.
fn header_count(v: &Value<'_>, kind: Blob, per: u64, scratch: &mut Scratch) -> Option<u64> {
    let (_, s) = crate::rdb::read::prim::string(v.raw).ok()?;
    let (head, total): (&[u8], usize) = match s {
        RdbStr::Raw(b) => (b, b.len()),
        RdbStr::Lzf { packed, len } => {
            let len = usize::try_from(len).ok()?;
            crate::rdb::read::lzf::decompress_prefix(packed, len, 10, &mut scratch.blob).ok()?;
            (&scratch.blob, len)
        }
        RdbStr::Int(_) => return None,
    };
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(head.get(i..i + 4)?.try_into().ok()?))
    };
    let u16_at = |i: usize| -> Option<u16> {
        Some(u16::from_le_bytes(head.get(i..i + 2)?.try_into().ok()?))
    };
    let n = match kind {
        Blob::Listpack | Blob::Ziplist => {
            if u32_at(0)? as usize != total {
                return None;
            }
            let n = u16_at(if matches!(kind, Blob::Listpack) { 4 } else { 8 })?;
            if n == u16::MAX {
                return None;
            }
            n as u64
        }
        Blob::Intset => {
            let width = u32_at(0)? as u64;
            let n = u32_at(4)? as u64;
            if !matches!(width, 2 | 4 | 8) || n == 0 || 8 + n * width != total as u64 {
                return None;
            }
            n
        }
    };
    Some(n / per)
}

/// The element count of a blob value: from its header when it says, else
/// by walking it.
fn blob_count(v: &Value<'_>, kind: Blob, per: u64, scratch: &mut Scratch) -> Result<u64> {
    match header_count(v, kind, per, scratch) {
        Some(n) => Ok(n),
        None => v.element_count(scratch),
    }
}

/// The encoding the server reports for `v` right after loading it.
pub fn loaded_encoding(v: &Value<'_>, p: &Profile, scratch: &mut Scratch) -> Result<Encoding> {
    use RdbLayout::*;
    Ok(match v.layout {
        String => string_encoding(&v.as_string()?),
        ListLinked | ListZiplist | ListQuicklist | ListQuicklist2 => list_encoding(v, p, scratch)?,
        SetIntset => {
            let n = blob_count(v, Blob::Intset, 1, scratch)?;
            if n > p.set_max_intset_entries {
                Encoding::Hashtable
            } else {
                Encoding::Intset
            }
        }
        SetListpack => {
            if blob_count(v, Blob::Listpack, 1, scratch)? > p.set_max_listpack_entries {
                Encoding::Hashtable
            } else {
                Encoding::Listpack
            }
        }
        SetHashtable | DragonflySetWithExpiry => {
            let n = v.element_count(scratch)?;
            if n > p.set_max_intset_entries.max(p.set_max_listpack_entries) {
                Encoding::Hashtable
            } else {
                let (mut all_int, mut maxlen) = (true, 0usize);
                v.for_each_elem(scratch, |e, _| {
                    all_int &= e.as_int().is_some();
                    maxlen = maxlen.max(e.len());
                    Ok(())
                })?;
                if all_int && n <= p.set_max_intset_entries {
                    Encoding::Intset
                } else if p.has_listpack_sets()
                    && n <= p.set_max_listpack_entries
                    && maxlen as u64 <= p.set_max_listpack_value
                {
                    Encoding::Listpack
                } else {
                    Encoding::Hashtable
                }
            }
        }
        ZsetZiplist | ZsetListpack => {
            let kind = if v.layout == ZsetZiplist {
                Blob::Ziplist
            } else {
                Blob::Listpack
            };
            if blob_count(v, kind, 2, scratch)? > p.zset_max_listpack_entries {
                Encoding::Skiplist
            } else {
                Encoding::Listpack
            }
        }
        ZsetV1 | ZsetV2 => {
            let n = v.element_count(scratch)?;
            if n > p.zset_max_listpack_entries {
                Encoding::Skiplist
            } else {
                let mut maxlen = 0usize;
                v.for_each_scored(scratch, |m, _| {
                    maxlen = maxlen.max(m.len());
                    Ok(())
                })?;
                if maxlen as u64 <= p.zset_max_listpack_value {
                    Encoding::Listpack
                } else {
                    Encoding::Skiplist
                }
            }
        }
        HashMetadata | HashMetadataPreGa | ValkeyHash2 | DragonflyHashWithExpiry => {
            Encoding::Hashtable
        }
        // Ziplist and listpack hashes are converted on the entry count alone
        // ("we only check the length and not max element size as this is an
        // O(N) scan", rdb.c 7.0-8.x), so the fields are not walked.
        HashZiplist | HashListpack => {
            let kind = if v.layout == HashZiplist {
                Blob::Ziplist
            } else {
                Blob::Listpack
            };
            if blob_count(v, kind, 2, scratch)? > p.hash_max_listpack_entries {
                Encoding::Hashtable
            } else {
                Encoding::Listpack
            }
        }
        HashListpackEx | HashListpackExPreGa => {
            if v.element_count(scratch)? > p.hash_max_listpack_entries {
                Encoding::Hashtable
            } else {
                Encoding::Listpackex
            }
        }
        HashHashtable | HashZipmap => {
            let n = v.element_count(scratch)?;
            if n > p.hash_max_listpack_entries {
                Encoding::Hashtable
            } else {
                let mut maxlen = 0usize;
                v.for_each_field(scratch, |f, val, _| {
                    maxlen = maxlen.max(f.len()).max(val.len());
                    Ok(())
                })?;
                if maxlen as u64 > p.hash_max_listpack_value {
                    Encoding::Hashtable
                } else {
                    Encoding::Listpack
                }
            }
        }
        Stream(_) => Encoding::Stream,
        Module2 | Array | KeydbCron => Encoding::Raw,
    })
}

fn list_encoding(v: &Value<'_>, p: &Profile, scratch: &mut Scratch) -> Result<Encoding> {
    if p.target < Target::Redis72 {
        return Ok(Encoding::Quicklist);
    }
    // 7.2+ keeps a list as a single listpack while it fits one node.
    let mut count = 0u64;
    let mut bytes = 0usize;
    v.for_each_elem(scratch, |e: Elem<'_>, _| {
        count += 1;
        bytes += e.len() + 2;
        Ok(())
    })?;
    let fits = match p.list_node_bytes() {
        Some(limit) => bytes + 7 <= limit,
        None => count <= p.list_max_listpack_size.max(0) as u64,
    };
    Ok(if fits {
        Encoding::Listpack
    } else {
        Encoding::Quicklist
    })
}
