//! What a loading server does with a value: the encoding it picks after
//! loading (`OBJECT ENCODING`), per target server version and its
//! `*-max-listpack-*` settings.

use serde::Serialize;

use crate::error::{Error, PErr, Result, perr};
use crate::model::{Elem, Encoding, RdbLayout};
use crate::rdb::read::listpack::backlen_size;
use crate::rdb::read::prim::{RdbStr, length, parse_canonical_i64, string};
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

/// Redis 8 allocates a short string together with its object, key and TTL
/// in one 64-byte block: `embstr` only while key and value bytes fit in 41
/// (33 with a TTL). Measured on redis-server 8.2.3 for keys of 0–43 bytes.
const REDIS8_EMBSTR_KEY_VALUE_BYTES: u64 = 41;
const REDIS8_EMBSTR_TTL_BYTES: u64 = 8;

/// The encoding the server reports for a key's value right after loading:
/// [`loaded_encoding`] plus what depends on the key itself (Redis 8 embeds
/// the key and TTL with short strings).
pub fn loaded_key_encoding(
    k: &KeyRecord<'_>,
    p: &Profile,
    scratch: &mut Scratch,
) -> Result<Encoding> {
    let enc = loaded_encoding(&k.value, p, scratch)?;
    if enc == Encoding::Embstr && p.target == Target::Redis8 {
        let ttl = if k.expire_ms.is_some() {
            REDIS8_EMBSTR_TTL_BYTES
        } else {
            0
        };
        let bytes = k.key.len() + k.value.as_string()?.len() + ttl;
        if bytes > REDIS8_EMBSTR_KEY_VALUE_BYTES {
            return Ok(Encoding::Raw);
        }
    }
    Ok(enc)
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

/// The encoding the server reports for `v` right after loading it.
pub fn loaded_encoding(v: &Value<'_>, p: &Profile, scratch: &mut Scratch) -> Result<Encoding> {
    use RdbLayout::*;
    Ok(match v.layout {
        String => string_encoding(&v.as_string()?),
        ListLinked | ListZiplist | ListQuicklist | ListQuicklist2 => list_encoding(v, p, scratch)?,
        SetIntset => {
            let n = v.element_count(scratch)?;
            if n > p.set_max_intset_entries {
                Encoding::Hashtable
            } else {
                Encoding::Intset
            }
        }
        SetListpack => {
            if v.element_count(scratch)? > p.set_max_listpack_entries {
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
            if v.element_count(scratch)? > p.zset_max_listpack_entries {
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
            let n = v.element_count(scratch)?;
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
        Module2 | Array | KeydbCron => Encoding::Raw,
    })
}

fn list_encoding(v: &Value<'_>, p: &Profile, scratch: &mut Scratch) -> Result<Encoding> {
    use RdbLayout::*;
    if p.target < Target::Redis72 {
        return Ok(Encoding::Quicklist);
    }
    // 7.2+ (rdb.c, listTypeTryConvertQuicklist): a loaded list becomes a
    // listpack only when its quicklist has exactly one packed node within
    // the node limit. Quicklists keep the file's nodes; a linked list is
    // pushed element by element; a ziplist list is pushed into a quicklist
    // that is never converted.
    let (size_limit, count_limit) = match p.list_node_bytes() {
        Some(b) => (b as u64, u64::MAX),
        None => (u64::MAX, p.list_max_listpack_size.max(1) as u64),
    };
    let single = match v.layout {
        ListZiplist => None,
        ListQuicklist2 | ListQuicklist => single_quicklist_node(v, scratch)?,
        _ => {
            // Pushed one by one (quicklist.c _quicklistNodeAllowInsert): the
            // next element joins the node while the estimate (node bytes +
            // element + 8) stays within the size limit, or within 8192 and
            // the count limit.
            let (mut bytes, mut count, mut one) = (LP_EMPTY_BYTES, 0u64, true);
            v.for_each_elem(scratch, |e: Elem<'_>, _| {
                let estimate = bytes + e.len() as u64 + LP_SIZE_ESTIMATE_OVERHEAD;
                one &= count == 0
                    || if size_limit != u64::MAX {
                        estimate <= size_limit
                    } else {
                        estimate <= LP_SIZE_SAFETY_LIMIT && count < count_limit
                    };
                bytes += lp_entry_bytes(&e);
                count += 1;
                Ok(())
            })?;
            one.then_some((bytes, count))
        }
    };
    Ok(match single {
        Some((bytes, count)) if bytes <= size_limit && count <= count_limit => Encoding::Listpack,
        _ => Encoding::Quicklist,
    })
}

/// Bytes of an empty listpack (header and terminator).
const LP_EMPTY_BYTES: u64 = 7;
/// quicklist.c SIZE_ESTIMATE_OVERHEAD.
const LP_SIZE_ESTIMATE_OVERHEAD: u64 = 8;
/// quicklist.c SIZE_SAFETY_LIMIT, the node size cap under a count limit.
const LP_SIZE_SAFETY_LIMIT: u64 = 8192;

/// `(listpack bytes, elements)` of a quicklist's node when it has exactly
/// one non-empty node and that node is packed; `None` otherwise. Ziplist
/// nodes (quicklist v1) are sized as the listpack they load into.
fn single_quicklist_node(v: &Value<'_>, scratch: &mut Scratch) -> Result<Option<(u64, u64)>> {
    let (mut nodes, mut elems) = (0u64, 0u64);
    v.for_each_quicklist_node(scratch, |c| {
        nodes += u64::from(c > 0);
        elems += c;
        Ok(())
    })?;
    if nodes != 1 {
        return Ok(None);
    }
    let v2 = v.layout == RdbLayout::ListQuicklist2;
    let perr = |e: nom::Err<PErr>| {
        let e = perr(e);
        Error::parse(e.problem, v.offset + (v.raw.len() - e.remaining) as u64)
    };
    // The walk for_each_quicklist_node just validated.
    let (mut r, n) = length(v.raw).map_err(perr)?;
    for _ in 0..n {
        let (rest, container) = if v2 { length(r).map_err(perr)? } else { (r, 2) };
        let (rest, s) = string(rest).map_err(perr)?;
        r = rest;
        if container == 1 {
            // A PLAIN node (one element) is never converted.
            return Ok(None);
        }
        if v2 && s.len() > LP_EMPTY_BYTES {
            // The node is the listpack: its decoded length is its size.
            return Ok(Some((s.len(), elems)));
        }
    }
    if v2 {
        return Ok(None);
    }
    // A v1 ziplist node: size the listpack its entries are re-encoded into.
    let mut bytes = LP_EMPTY_BYTES;
    v.for_each_elem(scratch, |e, _| {
        bytes += lp_entry_bytes(&e);
        Ok(())
    })?;
    Ok(Some((bytes, elems)))
}

/// Bytes a listpack entry for `e` takes (encoding, data, back length), as
/// listpack.c encodes it: integers in the smallest integer form, canonical
/// integer text as an integer, other strings with a 1-, 2- or 5-byte header.
fn lp_entry_bytes(e: &Elem<'_>) -> u64 {
    let int = match *e {
        Elem::Int(i) => Some(i),
        Elem::Bytes(b) if b.len() <= 20 => parse_canonical_i64(b),
        Elem::Bytes(_) => None,
    };
    let enc = match int {
        Some(i) if (0..=127).contains(&i) => 1,
        Some(i) if (-4096..=4095).contains(&i) => 2,
        Some(i) if i16::try_from(i).is_ok() => 3,
        Some(i) if (-(1 << 23)..(1 << 23)).contains(&i) => 4,
        Some(i) if i32::try_from(i).is_ok() => 5,
        Some(_) => 9,
        None => {
            let n = e.len();
            n + if n < 64 {
                1
            } else if n < 4096 {
                2
            } else {
                5
            }
        }
    };
    (enc + backlen_size(enc)) as u64
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
