//! The shared vocabulary of readers, writers and consumers: logical types,
//! on-disk type codes, in-memory encodings and decoded elements.

pub mod owned;

use serde::Serialize;

/// One decoded element of an aggregate: bytes borrowed from the file or a
/// scratch buffer, or an integer stored in integer form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'s> {
    /// Raw bytes.
    Bytes(&'s [u8]),
    /// An integer; its logical bytes are the canonical decimal text.
    Int(i64),
}

impl<'s> Elem<'s> {
    /// Length of the logical bytes.
    pub fn len(&self) -> usize {
        match *self {
            Elem::Bytes(b) => b.len(),
            Elem::Int(v) => crate::rdb::read::prim::int_text_len(v),
        }
    }
    /// True when the logical bytes are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends the logical bytes to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        match *self {
            Elem::Bytes(b) => out.extend_from_slice(b),
            Elem::Int(v) => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
        }
    }
    /// The logical bytes as an owned vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.append_to(&mut v);
        v
    }
    /// The value as an integer when it is one (or canonical decimal text).
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Elem::Int(v) => Some(v),
            Elem::Bytes(b) => crate::rdb::read::prim::parse_canonical_i64(b),
        }
    }
    /// The value as a score (zset blobs store scores as ints or decimal text).
    pub fn as_score(&self) -> Option<f64> {
        match *self {
            Elem::Int(v) => Some(v as f64),
            Elem::Bytes(b) => crate::rdb::read::prim::parse_double(b),
        }
    }
}

/// Logical data type, as Redis' `TYPE` command names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// Strings.
    String,
    /// Lists.
    List,
    /// Sets.
    Set,
    /// Sorted sets.
    Zset,
    /// Hashes.
    Hash,
    /// Streams.
    Stream,
    /// Module values (including vendor types such as Dragonfly's filters).
    Module,
    /// Redis 8.8 arrays.
    Array,
    /// KeyDB cron jobs.
    Cron,
}

impl DataType {
    /// The `TYPE` name.
    pub fn name(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::List => "list",
            DataType::Set => "set",
            DataType::Zset => "zset",
            DataType::Hash => "hash",
            DataType::Stream => "stream",
            DataType::Module => "module",
            DataType::Array => "array",
            DataType::Cron => "cron",
        }
    }
    /// Every type, in display order.
    pub const ALL: [DataType; 9] = [
        DataType::String,
        DataType::List,
        DataType::Set,
        DataType::Zset,
        DataType::Hash,
        DataType::Stream,
        DataType::Module,
        DataType::Array,
        DataType::Cron,
    ];
}

/// The dialect a file is written in: it decides what colliding type bytes
/// and opcodes mean (spec §8, §19, §20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Redis (and Valkey up to 8.1, KeyDB) files with `REDIS` magic.
    Redis,
    /// Valkey 9+ files with `VALKEY` magic.
    Valkey,
}

/// How a value is laid out in the file: the meaning of the type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RdbLayout {
    /// 0: one string.
    String,
    /// 1: counted strings.
    ListLinked,
    /// 2: counted strings.
    SetHashtable,
    /// 3: members with string doubles.
    ZsetV1,
    /// 5: members with binary doubles.
    ZsetV2,
    /// 4: field/value strings.
    HashHashtable,
    /// 9: zipmap blob.
    HashZipmap,
    /// 10: ziplist blob.
    ListZiplist,
    /// 11: intset blob.
    SetIntset,
    /// 12: ziplist blob of member/score.
    ZsetZiplist,
    /// 13: ziplist blob of field/value.
    HashZiplist,
    /// 14: ziplist nodes.
    ListQuicklist,
    /// 18: plain/packed nodes.
    ListQuicklist2,
    /// 16: listpack blob of field/value.
    HashListpack,
    /// 17: listpack blob of member/score.
    ZsetListpack,
    /// 20: listpack blob of members.
    SetListpack,
    /// 24: hashtable with relative field TTLs and min expire.
    HashMetadata,
    /// 25: min expire and listpack of field/value/ttl.
    HashListpackEx,
    /// 22 (Redis 7.4 RC): absolute field TTLs.
    HashMetadataPreGa,
    /// 23 (Redis 7.4 RC): listpack of field/value/ttl.
    HashListpackExPreGa,
    /// 22 (Valkey 9): field, value, i64 expire.
    ValkeyHash2,
    /// Dragonfly 31: field, value, expiry string.
    DragonflyHashWithExpiry,
    /// Dragonfly 32: member, expiry string.
    DragonflySetWithExpiry,
    /// Streams: 15 (v1), 19 (v2), 21 (v3), 26 (v4), 27 (v5).
    Stream(u8),
    /// 7: module value with annotated items.
    Module2,
    /// 6 (Redis 4.0-rc1): module id and raw module data without item
    /// annotations or terminator; its end is found by resynchronising.
    ModulePreGa,
    /// 28: Redis 8.8 array.
    Array,
    /// KeyDB 64: cron job.
    KeydbCron,
}

impl RdbLayout {
    /// Resolves a type byte for a file of the given flavor and version.
    /// `None` for opcodes and unknown bytes.
    pub fn from_type_byte(b: u8, flavor: Flavor, version: u32) -> Option<RdbLayout> {
        use RdbLayout::*;
        Some(match b {
            0 => String,
            1 => ListLinked,
            2 => SetHashtable,
            3 => ZsetV1,
            4 => HashHashtable,
            5 => ZsetV2,
            6 => ModulePreGa,
            7 => Module2,
            9 => HashZipmap,
            10 => ListZiplist,
            11 => SetIntset,
            12 => ZsetZiplist,
            13 => HashZiplist,
            14 => ListQuicklist,
            15 => Stream(1),
            16 => HashListpack,
            17 => ZsetListpack,
            18 => ListQuicklist2,
            19 => Stream(2),
            20 => SetListpack,
            21 => Stream(3),
            22 if flavor == Flavor::Valkey => ValkeyHash2,
            22 => HashMetadataPreGa,
            23 if flavor == Flavor::Redis => HashListpackExPreGa,
            24 if flavor == Flavor::Redis => HashMetadata,
            25 if flavor == Flavor::Redis => HashListpackEx,
            26 if flavor == Flavor::Redis => Stream(4),
            27 if flavor == Flavor::Redis => Stream(5),
            28 if flavor == Flavor::Redis => Array,
            // Dragonfly writes REDIS0009 with its own 31/32; Redis 8.10 uses
            // 31/32 only from RDB 15 on.
            31 if version < 15 => DragonflyHashWithExpiry,
            32 if version < 15 => DragonflySetWithExpiry,
            64 if version < 15 => KeydbCron,
            _ => return None,
        })
    }

    /// The logical type of values in this layout.
    pub fn data_type(self) -> DataType {
        use RdbLayout::*;
        match self {
            String => DataType::String,
            ListLinked | ListZiplist | ListQuicklist | ListQuicklist2 => DataType::List,
            SetHashtable | SetIntset | SetListpack | DragonflySetWithExpiry => DataType::Set,
            ZsetV1 | ZsetV2 | ZsetZiplist | ZsetListpack => DataType::Zset,
            HashHashtable
            | HashZipmap
            | HashZiplist
            | HashListpack
            | HashMetadata
            | HashListpackEx
            | HashMetadataPreGa
            | HashListpackExPreGa
            | ValkeyHash2
            | DragonflyHashWithExpiry => DataType::Hash,
            Stream(_) => DataType::Stream,
            Module2 | ModulePreGa => DataType::Module,
            Array => DataType::Array,
            KeydbCron => DataType::Cron,
        }
    }

    /// The label `redis-check-rdb` uses for this layout.
    pub fn label(self) -> &'static str {
        use RdbLayout::*;
        match self {
            String => "string",
            ListLinked => "list-linked",
            SetHashtable => "set-hashtable",
            ZsetV1 => "zset-v1",
            ZsetV2 => "zset-v2",
            HashHashtable => "hash-hashtable",
            HashZipmap => "hash-zipmap",
            ListZiplist => "list-ziplist",
            SetIntset => "set-intset",
            ZsetZiplist => "zset-ziplist",
            HashZiplist => "hash-ziplist",
            ListQuicklist => "quicklist",
            ListQuicklist2 => "quicklist-v2",
            HashListpack => "hash-listpack",
            ZsetListpack => "zset-listpack",
            SetListpack => "set-listpack",
            HashMetadata => "hash-hashtable-md",
            HashListpackEx => "hash-listpack-md",
            HashMetadataPreGa => "hash-hashtable-md-pre-release",
            HashListpackExPreGa => "hash-listpack-md-pre-release",
            ValkeyHash2 => "hash-2",
            DragonflyHashWithExpiry => "hash-with-expiry",
            DragonflySetWithExpiry => "set-with-expiry",
            Stream(1) => "stream",
            Stream(2) => "stream-v2",
            Stream(3) => "stream-v3",
            Stream(4) => "stream-v4",
            Stream(_) => "stream-v5",
            Module2 => "module-value",
            ModulePreGa => "module-pre-ga",
            Array => "array",
            KeydbCron => "keydb-cron",
        }
    }
}

/// Encoding names as `OBJECT ENCODING` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Integer-encoded string.
    Int,
    /// Short string embedded in the object.
    Embstr,
    /// Separately allocated string (also module values).
    Raw,
    /// Quicklist list.
    Quicklist,
    /// Listpack aggregate.
    Listpack,
    /// Listpack hash with field TTLs (7.4+).
    Listpackex,
    /// Integer set.
    Intset,
    /// Hash table.
    Hashtable,
    /// Skiplist sorted set.
    Skiplist,
    /// Stream (rax of listpacks).
    Stream,
}

impl Encoding {
    /// The `OBJECT ENCODING` name.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Int => "int",
            Encoding::Embstr => "embstr",
            Encoding::Raw => "raw",
            Encoding::Quicklist => "quicklist",
            Encoding::Listpack => "listpack",
            Encoding::Listpackex => "listpackex",
            Encoding::Intset => "intset",
            Encoding::Hashtable => "hashtable",
            Encoding::Skiplist => "skiplist",
            Encoding::Stream => "stream",
        }
    }
}

/// Decodes a module type id into its 9-character name and encoding version.
pub fn module_name(id: u64) -> (String, u32) {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut name = String::with_capacity(9);
    for i in 0..9 {
        let c = (id >> (10 + 6 * (8 - i))) & 63;
        name.push(CHARSET[c as usize] as char);
    }
    (name, (id & 1023) as u32)
}
