//! What a loading server does with a value: the encoding it picks after
//! loading (`OBJECT ENCODING`), per target server version and its
//! `*-max-listpack-*` settings.

use serde::Serialize;

use crate::error::Result;
use crate::model::{Elem, Encoding, RdbLayout};
use crate::rdb::read::listpack::backlen_size;
use crate::rdb::read::prim::{RdbStr, parse_canonical_i64};
use crate::rdb::read::{KeyRecord, Scratch, Value};

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
    /// The server line that wrote a file: from its RDB `version`, refined by
    /// the `redis-ver` aux field when there is one (Redis 7.4 and 8.x both
    /// write RDB 12, and load strings differently).
    pub fn for_writer(version: u32, valkey: bool, redis_ver: Option<&[u8]>) -> Target {
        let by_version = Target::for_rdb_version(version, valkey);
        let major = redis_ver
            .and_then(|v| v.split(|&b| b == b'.').next())
            .and_then(|m| std::str::from_utf8(m).ok())
            .and_then(|m| m.parse::<u32>().ok());
        match major {
            // 255.255.255 is an unreleased build; it says nothing.
            Some(8..=254) if !valkey => by_version.max(Target::Redis8),
            _ => by_version,
        }
    }

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
    /// `hash-max-listpack-entries` as redis.conf sets it (128).
    pub hash_max_listpack_entries: u64,
    /// `hash-max-listpack-entries` built into the server (512), in force
    /// when it runs without redis.conf. Which of the two a file's writer
    /// used is unknown, so between them the file's layout decides: a
    /// listpack hash of up to this many fields stays a listpack (its writer
    /// allowed it), a hashtable one stays a hashtable (as it does under 128).
    pub hash_max_listpack_entries_builtin: u64,
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
            hash_max_listpack_entries_builtin: 512,
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

/// `OBJECT ENCODING` of a string after loading (before Redis 8).
pub fn string_encoding(s: &RdbStr<'_>) -> Encoding {
    match *s {
        RdbStr::Int(_) => Encoding::Int,
        RdbStr::Raw(b) if b.len() <= 20 && parse_canonical_i64(b).is_some() => Encoding::Int,
        _ if s.len() <= 44 => Encoding::Embstr,
        _ => Encoding::Raw,
    }
}

/// The encoding the server reports for a key right after loading it:
/// [`loaded_encoding`] of its value, except that Redis 8 embeds the key
/// (and the expire, when the key has one) in the value object, and keeps an
/// embstr value embedded only while all of it fits one 64-byte cache line
/// (object.c `kvobjSet`: 16-byte object, key + 3, expire 8, value + 4).
pub fn key_encoding(k: &KeyRecord<'_>, p: &Profile, scratch: &mut Scratch) -> Result<Encoding> {
    let enc = loaded_encoding(&k.value, p, scratch)?;
    if enc == Encoding::Embstr && p.target == Target::Redis8 {
        let value_len = k.value.as_string()?.len();
        let expire: u64 = if k.expire_ms.is_some() { 8 } else { 0 };
        let size = 16 + (k.key.len() + 3) + expire + 4 + value_len;
        if size > 64 {
            return Ok(Encoding::Raw);
        }
    }
    Ok(enc)
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
        ValkeyHash2 | DragonflyHashWithExpiry => Encoding::Hashtable,
        HashHashtable | HashZipmap | HashZiplist | HashListpack | HashListpackEx
        | HashListpackExPreGa | HashMetadata | HashMetadataPreGa => {
            // Plain blob layouts declare their count in the header; type 25
            // has its minimum expire in front of the blob, so it is walked.
            let n = match v.layout {
                HashZiplist => blob_count(v, Blob::Ziplist, 2, scratch)?,
                HashListpack => blob_count(v, Blob::Listpack, 2, scratch)?,
                _ => v.element_count(scratch)?,
            };
            // A hash with field TTLs loads as listpackex when small, as
            // a plain one loads as listpack (rdb.c).
            let ex = matches!(
                v.layout,
                HashListpackEx | HashListpackExPreGa | HashMetadata | HashMetadataPreGa
            );
            let hashtable_in_file =
                matches!(v.layout, HashHashtable | HashMetadata | HashMetadataPreGa);
            let limit = if hashtable_in_file {
                p.hash_max_listpack_entries
            } else {
                p.hash_max_listpack_entries
                    .max(p.hash_max_listpack_entries_builtin)
            };
            if n > limit {
                Encoding::Hashtable
            } else if matches!(
                v.layout,
                HashZiplist | HashListpack | HashListpackEx | HashListpackExPreGa
            ) {
                // Ziplist and listpack hashes are converted on the entry
                // count alone ("we only check the length and not max element
                // size as this is an O(N) scan", rdb.c 7.0-8.x).
                if ex {
                    Encoding::Listpackex
                } else {
                    Encoding::Listpack
                }
            } else {
                let mut maxlen = 0usize;
                v.for_each_field(scratch, |f, val, _| {
                    maxlen = maxlen.max(f.len()).max(val.len());
                    Ok(())
                })?;
                if maxlen as u64 > p.hash_max_listpack_value {
                    Encoding::Hashtable
                } else if ex {
                    Encoding::Listpackex
                } else {
                    Encoding::Listpack
                }
            }
        }
        Stream(_) => Encoding::Stream,
        Module2 | ModulePreGa | Array | KeydbCron => Encoding::Raw,
    })
}

/// Bytes one element takes in a listpack: encoding byte(s), data and
/// backlen. Like `lpAppend`, text that parses as an integer is stored as one.
fn lp_entry_bytes(e: &Elem<'_>) -> usize {
    let enc = match e.as_int() {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..=4095).contains(&v) => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None => {
            let l = e.len();
            l + if l < 64 {
                1
            } else if l < 4096 {
                2
            } else {
                5
            }
        }
    };
    enc + backlen_size(enc)
}

/// Listpack header (6 bytes) and end marker (1).
const LP_EMPTY_BYTES: usize = 7;

/// `quicklistNodeLimit`: a node's byte limit (negative fill) or element
/// count limit (positive fill, with an 8 kB safety size).
fn node_limits(p: &Profile) -> (Option<usize>, u64) {
    match p.list_node_bytes() {
        Some(b) => (Some(b), u64::MAX),
        None if p.list_max_listpack_size < 0 => (Some(65536), u64::MAX),
        None => (None, p.list_max_listpack_size.max(1) as u64),
    }
}

/// Whether a node of `sz` bytes and `count` elements is over the limit
/// (`quicklistNodeExceedsLimit`).
fn exceeds(p: &Profile, sz: usize, count: u64) -> bool {
    match node_limits(p) {
        (Some(limit), _) => sz > limit,
        (None, max) => sz > 8192 || count > max,
    }
}

fn list_encoding(v: &Value<'_>, p: &Profile, scratch: &mut Scratch) -> Result<Encoding> {
    use RdbLayout::*;
    if p.target < Target::Redis72 {
        return Ok(Encoding::Quicklist);
    }
    // 7.2+ loading (rdb.c): the list is built as a quicklist, then made a
    // listpack only when it has a single packed node within the node limits
    // (`listTypeTryConvertQuicklist`). A ziplist value (type 10) is
    // converted into a quicklist without that attempt.
    let single_node = match v.layout {
        ListZiplist => None,
        ListLinked => {
            // Elements are pushed one by one (`quicklistPushTail`): a new
            // node starts when the estimate `sz + len + 8` would exceed the
            // limit; an element over the limit gets a plain node of its own.
            let (size_limit, _) = node_limits(p);
            let large = |len: usize| len > size_limit.unwrap_or(8192);
            let (mut nodes, mut plain) = (0u64, false);
            let mut tail: Option<(usize, u64)> = None;
            v.for_each_elem(scratch, |e: Elem<'_>, _| {
                let len = e.len();
                if large(len) {
                    nodes += 1;
                    plain = true;
                    tail = None;
                    return Ok(());
                }
                tail = match tail {
                    Some((sz, n)) if !exceeds(p, sz + len + 8, n + 1) => {
                        Some((sz + lp_entry_bytes(&e), n + 1))
                    }
                    _ => {
                        nodes += 1;
                        Some((LP_EMPTY_BYTES + lp_entry_bytes(&e), 1))
                    }
                };
                Ok(())
            })?;
            if nodes == 1 && !plain { tail } else { None }
        }
        _ => {
            // Quicklists keep the file's nodes (empty ones dropped).
            let v2 = v.layout == ListQuicklist2;
            let mut nodes = Vec::new();
            v.for_each_quicklist_node_detail(scratch, |packed, bytes, count| {
                if count > 0 {
                    nodes.push((packed, bytes, count));
                }
                Ok(())
            })?;
            match nodes.as_slice() {
                [(true, bytes, count)] => {
                    if v2 {
                        Some((*bytes, *count))
                    } else {
                        // A ziplist node is re-encoded as a listpack.
                        let mut sz = LP_EMPTY_BYTES;
                        v.for_each_elem(scratch, |e, _| {
                            sz += lp_entry_bytes(&e);
                            Ok(())
                        })?;
                        Some((sz, *count))
                    }
                }
                _ => None,
            }
        }
    };
    let (size_limit, count_limit) = node_limits(p);
    Ok(match single_node {
        Some((sz, n)) if sz <= size_limit.unwrap_or(usize::MAX) && n <= count_limit => {
            Encoding::Listpack
        }
        _ => Encoding::Quicklist,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_version_refines_the_target() {
        assert_eq!(
            Target::for_writer(12, false, Some(b"7.4.1")),
            Target::Redis74
        );
        assert_eq!(
            Target::for_writer(12, false, Some(b"8.2.3")),
            Target::Redis8
        );
        assert_eq!(
            Target::for_writer(12, false, Some(b"255.255.255")),
            Target::Redis74
        );
        assert_eq!(Target::for_writer(10, false, None), Target::Redis70);
        assert_eq!(
            Target::for_writer(80, true, Some(b"8.0.0")),
            Target::Valkey8
        );
    }

    #[test]
    fn listpack_entry_sizes_match_listpack_c() {
        // encoding + data + backlen, per listpack.c.
        assert_eq!(lp_entry_bytes(&Elem::Int(127)), 2); // 7-bit uint
        assert_eq!(lp_entry_bytes(&Elem::Bytes(b"-4096")), 3); // 13-bit int
        assert_eq!(lp_entry_bytes(&Elem::Int(32767)), 4); // 16-bit
        assert_eq!(lp_entry_bytes(&Elem::Int(-(1 << 23))), 5); // 24-bit
        assert_eq!(lp_entry_bytes(&Elem::Int(i32::MIN as i64)), 6); // 32-bit
        assert_eq!(lp_entry_bytes(&Elem::Int(i64::MAX)), 10); // 64-bit
        assert_eq!(lp_entry_bytes(&Elem::Bytes(b"007")), 5); // not canonical: text
        assert_eq!(lp_entry_bytes(&Elem::Bytes(&[b'x'; 63])), 65); // 6-bit string
        assert_eq!(lp_entry_bytes(&Elem::Bytes(&[b'x'; 64])), 67); // 12-bit string
        assert_eq!(lp_entry_bytes(&Elem::Bytes(&[b'x'; 127])), 131); // 2-byte backlen
        assert_eq!(lp_entry_bytes(&Elem::Bytes(&[b'x'; 4096])), 4103); // 32-bit string
    }
}
