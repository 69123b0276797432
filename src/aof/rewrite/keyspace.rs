//! The in-memory keyspace an AOF replays into: every Redis data type with
//! what a rewrite needs (values, key TTLs, hash field TTLs, stream metadata,
//! consumer groups with their PELs) and function libraries.

use std::cell::{Ref, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Hash map of the keyspace (foldhash: fast and randomly seeded).
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// Hash set of the keyspace.
pub type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// A stream ID.
pub type Id = (u64, u64);

/// Longest byte string [`Bytes`] keeps inline.
const INLINE: usize = 22;

/// An immutable byte string of the keyspace (keys, elements, fields and
/// their values): up to 22 bytes inline, longer ones in one exact-size heap
/// block. Most keys and elements are short, and a `Vec<u8>` costs 24 bytes
/// plus a heap block of at least 32 for each; this costs 24 bytes in all.
/// Hashes and compares as the bytes, so maps keyed by it are searched with
/// a `&[u8]`.
#[derive(Clone)]
pub enum Bytes {
    /// Length and bytes.
    Inline(u8, [u8; INLINE]),
    /// Longer strings.
    Heap(Box<[u8]>),
}

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline(n, b) => &b[..*n as usize],
            Bytes::Heap(b) => b,
        }
    }
}

impl From<&[u8]> for Bytes {
    fn from(b: &[u8]) -> Self {
        if b.len() <= INLINE {
            let mut a = [0u8; INLINE];
            a[..b.len()].copy_from_slice(b);
            Bytes::Inline(b.len() as u8, a)
        } else {
            Bytes::Heap(b.into())
        }
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        if v.len() <= INLINE {
            Bytes::from(v.as_slice())
        } else {
            Bytes::Heap(v.into_boxed_slice())
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for Bytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::hash::Hash for Bytes {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h)
    }
}

impl PartialEq for Bytes {
    fn eq(&self, o: &Self) -> bool {
        self.as_slice() == o.as_slice()
    }
}
impl Eq for Bytes {}

impl PartialEq<[u8]> for Bytes {
    fn eq(&self, o: &[u8]) -> bool {
        self.as_slice() == o
    }
}

impl PartialOrd for Bytes {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bytes {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(o.as_slice())
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.as_slice().escape_ascii())
    }
}

/// A score ordered as Redis orders them: numerically, -0 equal to 0 (ties
/// then go by member). Scores are never NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Score {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0
            .partial_cmp(&o.0)
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

/// Server defaults deciding a sorted set's encoding
/// (`zset-max-listpack-entries`, `zset-max-listpack-value`).
pub const ZSET_LISTPACK_ENTRIES: usize = 128;
/// See [`ZSET_LISTPACK_ENTRIES`].
pub const ZSET_LISTPACK_VALUE: usize = 64;

/// A sorted set: member → score, and (score, member) order. `listpack`
/// tracks the encoding the server would use, because a listpack stores
/// scores as text and turns -0 into 0 (a skiplist keeps -0, and DEBUG
/// DIGEST tells them apart).
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    /// Scores by member.
    pub scores: HashMap<Bytes, f64>,
    /// Members in ZRANGE order, built on the first rank or range operation
    /// and maintained from then on (most logs never need it: building it for
    /// every ZADD would double the memory of large sets).
    order: RefCell<Option<Ranked>>,
    /// The server would hold it as a listpack.
    pub listpack: bool,
}

/// Members in ZRANGE order.
pub type Ranked = BTreeSet<(Score, Bytes)>;

/// What [`ZSet::ordered`] returns for a set that cannot build its order.
static NO_ORDER: Ranked = BTreeSet::new();

impl ZSet {
    /// An empty set with the given encoding.
    pub fn new(listpack: bool) -> Self {
        ZSet {
            listpack,
            ..ZSet::default()
        }
    }
    /// Sets a member's score, converting to a skiplist first when a new
    /// member would exceed the listpack limits (as `zsetAdd` does).
    pub fn insert(&mut self, m: Bytes, s: f64) {
        if self.listpack
            && !self.scores.contains_key(&m)
            && (self.len() + 1 > ZSET_LISTPACK_ENTRIES || m.len() > ZSET_LISTPACK_VALUE)
        {
            self.listpack = false;
        }
        let s = if self.listpack && s == 0.0 { 0.0 } else { s };
        match self.order.get_mut() {
            Some(o) => {
                if let Some(old) = self.scores.insert(m.clone(), s) {
                    o.remove(&(Score(old), m.clone()));
                }
                o.insert((Score(s), m));
            }
            None => {
                self.scores.insert(m, s);
            }
        }
    }
    /// Members in ZRANGE order (score, then member bytes).
    pub fn ordered(&self) -> Ref<'_, Ranked> {
        if self.order.borrow().is_none() {
            let o = self
                .scores
                .iter()
                .map(|(m, s)| (Score(*s), m.clone()))
                .collect();
            *self.order.borrow_mut() = Some(o);
        }
        Ref::map(self.order.borrow(), |o| o.as_ref().unwrap_or(&NO_ORDER))
    }
    /// Settles the encoding of a set built whole (a STORE destination, a
    /// loaded value): a listpack when it fits, and then -0 reads back as 0.
    pub fn settle(&mut self) {
        self.listpack = self.len() <= ZSET_LISTPACK_ENTRIES
            && self.scores.keys().all(|m| m.len() <= ZSET_LISTPACK_VALUE);
        if self.listpack {
            let negz: Vec<Bytes> = self
                .scores
                .iter()
                .filter(|(_, s)| **s == 0.0 && s.is_sign_negative())
                .map(|(m, _)| m.clone())
                .collect();
            for m in negz {
                self.insert(m, 0.0);
            }
        }
    }
    /// Removes a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self.scores.remove(m) {
            Some(s) => {
                if let Some(o) = self.order.get_mut() {
                    o.remove(&(Score(s), Bytes::from(m)));
                }
                true
            }
            None => false,
        }
    }
    /// Number of members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

/// A pending entry of a consumer group.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Owning consumer.
    pub consumer: Vec<u8>,
    /// Last delivery time (Unix ms).
    pub time: i64,
    /// Delivery count.
    pub count: u64,
}

/// A consumer group.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Last delivered ID.
    pub last_id: Id,
    /// Entries read (-1: unknown).
    pub entries_read: i64,
    /// Pending entries by ID.
    pub pel: BTreeMap<Id, Pending>,
    /// Consumers (their PELs are derived from `pel`).
    pub consumers: BTreeSet<Vec<u8>>,
}

/// A stream entry's field/value pairs.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// A hash field's value and TTL (Unix ms).
pub type FieldVal = (Bytes, Option<i64>);

/// A stream.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// Entries by ID.
    pub entries: BTreeMap<Id, Fields>,
    /// Last ID ever added (or set).
    pub last_id: Id,
    /// Largest deleted ID.
    pub max_deleted: Id,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups in name order (the server's rax order).
    pub groups: BTreeMap<Vec<u8>, Group>,
}

/// Server defaults deciding a hash's encoding: `hash-max-listpack-entries`
/// as built into the server (in force without redis.conf; see
/// [`crate::server::Profile`]) and `hash-max-listpack-value`.
pub const HASH_LISTPACK_ENTRIES: usize = 512;
/// See [`HASH_LISTPACK_ENTRIES`].
pub const HASH_LISTPACK_VALUE: usize = 64;
/// `set-max-intset-entries`.
pub const SET_INTSET_ENTRIES: usize = 512;

/// A collection and whether the server would still hold it in its small
/// encoding (an intset set, a listpack hash). A server converts out of it
/// when a command adds what the small form cannot hold, and never back
/// (a hash that once held a long value stays a hashtable after it is
/// deleted): the state follows that history, so the records of the
/// replayed keyspace carry the RDB types the server's own RDB would.
#[derive(Debug, Clone)]
pub struct Tracked<T> {
    /// The elements.
    pub items: T,
    /// Still in the small encoding.
    pub compact: bool,
}

impl<T: Default> Default for Tracked<T> {
    fn default() -> Self {
        Tracked {
            items: T::default(),
            compact: true,
        }
    }
}

impl<T> std::ops::Deref for Tracked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.items
    }
}

impl<T> std::ops::DerefMut for Tracked<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.items
    }
}

/// A set (intset while every member is an integer and it is small).
pub type SetVal = Tracked<HashSet<Bytes>>;
/// A hash: field → (value, field TTL in Unix ms); listpack while small.
pub type HashVal = Tracked<HashMap<Bytes, FieldVal>>;

impl SetVal {
    /// Adds a member, leaving the intset encoding as `setTypeAdd` does
    /// (a member that is not an integer, or one member too many).
    pub fn add(&mut self, m: &[u8]) {
        let new = self.items.insert(Bytes::from(m));
        if self.compact
            && new
            && (crate::rdb::read::prim::parse_canonical_i64(m).is_none()
                || self.items.len() > SET_INTSET_ENTRIES)
        {
            self.compact = false;
        }
    }
    /// Settles the encoding of a set built whole (a STORE destination, a
    /// loaded value): an intset when it fits.
    pub fn settle(&mut self) {
        self.compact = self.items.len() <= SET_INTSET_ENTRIES
            && self
                .items
                .iter()
                .all(|m| crate::rdb::read::prim::parse_canonical_i64(m).is_some());
    }
}

impl HashVal {
    /// Before a write of `args` (fields and values): a listpack hash
    /// becomes a hashtable when one is too long (`hashTypeTryConversion`).
    pub fn check_lengths(&mut self, args: &[&[u8]]) {
        if self.compact && args.iter().any(|a| a.len() > HASH_LISTPACK_VALUE) {
            self.compact = false;
        }
    }
    /// After a write: too many fields for a listpack.
    pub fn check_len(&mut self) {
        if self.compact && self.items.len() > HASH_LISTPACK_ENTRIES {
            self.compact = false;
        }
    }
    /// Settles the encoding of a hash built whole (a loaded value).
    pub fn settle(&mut self) {
        self.compact = self.items.len() <= HASH_LISTPACK_ENTRIES
            && self.items.iter().all(|(f, (v, _))| {
                f.len() <= HASH_LISTPACK_VALUE && v.len() <= HASH_LISTPACK_VALUE
            });
    }
}

/// A value.
#[derive(Debug, Clone)]
pub enum Val {
    /// String.
    Str(Vec<u8>),
    /// List.
    List(VecDeque<Bytes>),
    /// Set.
    Set(SetVal),
    /// Sorted set (boxed: it is the largest variant, and most keys are
    /// strings).
    ZSet(Box<ZSet>),
    /// Hash: field → (value, field TTL in Unix ms).
    Hash(HashVal),
    /// Stream.
    Stream(Box<Stream>),
}

impl Val {
    /// Whether the server deletes a key holding this (empty aggregates).
    pub fn is_empty(&self) -> bool {
        match self {
            Val::Str(_) | Val::Stream(_) => false,
            Val::List(l) => l.is_empty(),
            Val::Set(s) => s.is_empty(),
            Val::ZSet(z) => z.is_empty(),
            Val::Hash(h) => h.is_empty(),
        }
    }
}

/// A key's entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value.
    pub val: Val,
    /// TTL as Unix ms.
    pub expire: Option<i64>,
}

/// One database.
pub type Db = HashMap<Bytes, Entry>;

/// Every database and the function libraries.
#[derive(Debug, Clone, Default)]
pub struct Keyspace {
    /// Databases by number (absent = empty).
    pub dbs: BTreeMap<u64, Db>,
    /// Function libraries: name → source code.
    pub functions: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Keyspace {
    /// A database, created when missing.
    pub fn db(&mut self, n: u64) -> &mut Db {
        self.dbs.entry(n).or_default()
    }
    /// Total keys.
    pub fn keys(&self) -> usize {
        self.dbs.values().map(HashMap::len).sum()
    }
}
