//! Partitioned replay: the keyspace split into parts, each replayed (and
//! written out, and freed) on its own, so a rewrite holds a fraction of the
//! keyspace in memory and parts run in parallel. A key's part is a hash of
//! its bytes, except for keys a command ties together.
//!
//! Exactness: a part replays, in log order, every command on its keys and
//! every command without keys (SELECT, FLUSHDB, FLUSHALL, SWAPDB, FUNCTION,
//! MULTI/EXEC). That reproduces the whole log's effect on those keys as long
//! as no command reads or writes keys of two parts. DEL, UNLINK and MSET
//! split into their per-part keys (each key's effect is independent). Any
//! other command on several keys (RENAME, SMOVE, LMOVE, COPY, the STORE
//! forms, MSETNX, …) *ties* its keys: the plan ([`Ties`], a union-find over
//! key hashes) puts every key of a group of keys ever touched together in
//! the group's part, for the whole log, so each such command runs whole in
//! one part. Groups are connected components of the "touched together"
//! graph, so a log that ties few keys keeps its parts balanced and bounded;
//! only a log tying most keys into one group puts them in one part. Ties
//! are by 64-bit hash: two keys with the same hash share a part, which is
//! still exact (placement only has to be a function of the key).

use std::hash::BuildHasher;

use super::keyspace::HashMap;
use crate::aof::commands::{Lookup, key_positions, lookup};
use crate::aof::read::Argv;

/// Which part of the keyspace one replay holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// This pass's part.
    pub index: usize,
    /// Number of parts (1: no partitioning).
    pub count: usize,
}

impl Part {
    /// The whole keyspace.
    pub const WHOLE: Part = Part { index: 0, count: 1 };
}

/// The placement hash of a key (a fixed seed: the same in the plan and in
/// every part).
pub fn key_hash(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x7061_7274_6974_696f).hash_one(key)
}

/// Where keys go: by hash, except the keys of tied groups ([`Ties`]),
/// which go to their group's part.
#[derive(Debug, Clone)]
pub struct Assign {
    /// Number of parts.
    pub count: usize,
    /// Part of every key hash in a tied group.
    moved: HashMap<u64, u32>,
}

impl Assign {
    /// Everything in one part.
    pub fn whole() -> Self {
        Assign {
            count: 1,
            moved: HashMap::default(),
        }
    }
    /// The part of a key with placement hash `h`.
    pub fn part_of_hash(&self, h: u64) -> usize {
        if self.count <= 1 {
            return 0;
        }
        match self.moved.get(&h) {
            Some(&p) => p as usize,
            None => (h % self.count as u64) as usize,
        }
    }
    /// The part of a key.
    pub fn part_of(&self, key: &[u8]) -> usize {
        if self.count <= 1 {
            0
        } else {
            self.part_of_hash(key_hash(key))
        }
    }
    /// Keys placed by their group rather than their own hash.
    pub fn tied_keys(&self) -> usize {
        self.moved.len()
    }
}

/// Groups of keys touched together by one command (union-find over key
/// hashes, path halving and union by size). Holds only keys of multi-key
/// commands: small when such commands are rare.
#[derive(Debug, Default)]
pub struct Ties {
    /// Parent of every member (a root is its own parent) and the size of
    /// the group it roots.
    parent: HashMap<u64, (u64, u32)>,
}

impl Ties {
    fn find(&mut self, h: u64) -> u64 {
        let mut x = h;
        loop {
            let p = self.parent.entry(x).or_insert((x, 1)).0;
            if p == x {
                return x;
            }
            let gp = self.parent.get(&p).map_or(p, |e| e.0);
            if let Some(e) = self.parent.get_mut(&x) {
                e.0 = gp;
            }
            x = gp;
        }
    }
    /// Puts the keys with hashes `a` and `b` in one group.
    pub fn tie(&mut self, a: u64, b: u64) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let size = |t: &Self, r| t.parent.get(&r).map_or(1, |e| e.1);
        let (big, small) = if size(self, ra) >= size(self, rb) {
            (ra, rb)
        } else {
            (rb, ra)
        };
        let total = size(self, ra) + size(self, rb);
        self.parent.insert(small, (big, 0));
        self.parent.insert(big, (big, total));
    }
    /// The placement into `count` parts: each group in the part its root
    /// hashes to (the root is one of its keys, so groups spread as keys do).
    pub fn assign(mut self, count: usize) -> Assign {
        let count = count.max(1);
        let members: Vec<u64> = self.parent.keys().copied().collect();
        let mut moved = HashMap::default();
        if count > 1 {
            moved.reserve(members.len());
            for h in members {
                let root = self.find(h);
                moved.insert(h, (root % count as u64) as u32);
            }
        }
        Assign { count, moved }
    }
}

/// How the plan places a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Class {
    /// No keys: every part runs it (SELECT, FLUSHALL, SWAPDB, MULTI, …;
    /// an unknown command too, so every part names it as an error).
    Keyless,
    /// Its keys are all in the group of the key with this placement hash.
    Key(u64),
    /// DEL, UNLINK or MSET on keys of (possibly) different parts: each part
    /// runs it with its own keys ([`subset`]).
    Split,
    /// Reads keys that cannot be known from its arguments (SORT with BY or
    /// GET patterns): only a replay in one part is exact.
    Global,
}

/// Commands with exactly one key, their first argument: the bulk of every
/// log, placed without the command table (the plan's inner loop).
const FIRST_ARG_KEY: &[&[u8]] = &[
    b"set",
    b"setex",
    b"psetex",
    b"setnx",
    b"getset",
    b"getdel",
    b"append",
    b"incr",
    b"incrby",
    b"decr",
    b"decrby",
    b"setrange",
    b"setbit",
    b"rpush",
    b"lpush",
    b"rpushx",
    b"lpushx",
    b"lpop",
    b"rpop",
    b"lset",
    b"linsert",
    b"lrem",
    b"ltrim",
    b"sadd",
    b"srem",
    b"zadd",
    b"zincrby",
    b"zrem",
    b"zpopmin",
    b"zpopmax",
    b"zremrangebyscore",
    b"zremrangebyrank",
    b"zremrangebylex",
    b"hset",
    b"hmset",
    b"hsetnx",
    b"hdel",
    b"hincrby",
    b"hpexpireat",
    b"hpersist",
    b"hsetex",
    b"xadd",
    b"xtrim",
    b"xdel",
    b"xsetid",
    b"xack",
    b"xclaim",
    b"expire",
    b"pexpire",
    b"expireat",
    b"pexpireat",
    b"persist",
    b"restore",
];

fn first_arg_only_key(name: &[u8]) -> bool {
    let mut b = [0u8; 16];
    if name.len() > b.len() {
        return false;
    }
    for (d, s) in b.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    FIRST_ARG_KEY.contains(&&b[..name.len()])
}

/// Classifies a command for the plan, tying the keys of a multi-key
/// command together in `ties`.
pub fn classify(argv: &Argv<'_>, ties: &mut Ties) -> Class {
    if argv.argc() >= 2
        && argv.name().is_some_and(first_arg_only_key)
        && let Some(key) = argv.get(1)
    {
        return Class::Key(key_hash(key));
    }
    let Lookup::Known(info) = lookup(argv) else {
        return Class::Keyless;
    };
    if info.name == "sort" && super::sort::reads_pattern_keys(argv.iter()) {
        return Class::Global;
    }
    let keys = key_positions(info, argv);
    let mut hashes = keys
        .iter()
        .map(|&i| key_hash(argv.get(i).unwrap_or_default()));
    let Some(first) = hashes.next() else {
        return Class::Keyless;
    };
    let rest: Vec<u64> = hashes.filter(|&h| h != first).collect();
    if rest.is_empty() {
        return Class::Key(first);
    }
    if matches!(info.name, "del" | "unlink" | "mset") {
        return Class::Split;
    }
    for h in rest {
        ties.tie(first, h);
    }
    Class::Key(first)
}

/// What a part runs of a [`Class::Split`] command: the command made of the
/// arguments at these positions (name, then its own keys, with their values
/// for MSET); `None` when it holds none of the keys.
pub fn subset(argv: &Argv<'_>, assign: &Assign, index: usize) -> Option<Vec<usize>> {
    let Lookup::Known(info) = lookup(argv) else {
        return None;
    };
    let mine: Vec<usize> = key_positions(info, argv)
        .into_iter()
        .filter(|&i| assign.part_of(argv.get(i).unwrap_or_default()) == index)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let values = info.name == "mset";
    Some(
        std::iter::once(0)
            .chain(
                mine.into_iter()
                    .flat_map(|i| std::iter::once(i).chain(values.then_some(i + 1))),
            )
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::read::frame::{Dialect, Item, frame};

    fn raw(args: &[&[u8]]) -> Vec<u8> {
        let mut raw = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            raw.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            raw.extend_from_slice(a);
            raw.extend_from_slice(b"\r\n");
        }
        raw
    }

    fn with_argv<T>(args: &[&[u8]], f: impl FnOnce(&Argv<'_>) -> T) -> T {
        let raw = raw(args);
        let fr = frame(&raw, Dialect::Server, false).unwrap();
        let Item::Command(a) = fr.item else { panic!() };
        f(&a)
    }

    /// `n` keys in different parts of three by hash.
    fn keys_apart(n: usize) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for i in 0.. {
            let k = format!("k{i}").into_bytes();
            if out.iter().all(|o| key_hash(o) % 3 != key_hash(&k) % 3) {
                out.push(k);
            }
            if out.len() == n {
                break;
            }
        }
        out
    }

    #[test]
    fn the_fast_path_agrees_with_the_command_table() {
        for name in FIRST_ARG_KEY {
            with_argv(&[name, b"k", b"a", b"b", b"c", b"d"], |a| {
                let Lookup::Known(info) = lookup(a) else {
                    panic!("{}", name.escape_ascii())
                };
                assert_eq!(key_positions(info, a), vec![1], "{}", name.escape_ascii());
            });
        }
    }

    #[test]
    fn commands_are_classified_by_their_keys() {
        let k = keys_apart(3);
        let (a, b, c) = (&k[0][..], &k[1][..], &k[2][..]);
        let mut t = Ties::default();
        let mut cl = |args: &[&[u8]]| with_argv(args, |v| classify(v, &mut t));
        assert_eq!(cl(&[b"SET", a, b"v"]), Class::Key(key_hash(a)));
        assert_eq!(cl(&[b"FLUSHALL"]), Class::Keyless);
        assert_eq!(cl(&[b"SWAPDB", b"0", b"1"]), Class::Keyless);
        assert_eq!(cl(&[b"NOSUCHCMD", a]), Class::Keyless);
        assert_eq!(cl(&[b"DEL", a, b]), Class::Split);
        assert_eq!(cl(&[b"MSET", a, b"1", b, b"2"]), Class::Split);
        assert_eq!(cl(&[b"RENAME", a, a]), Class::Key(key_hash(a)));
        assert_eq!(cl(&[b"SORT", a, b"BY", b"w_*", b"STORE", b]), Class::Global);
        assert_eq!(cl(&[b"RENAME", a, b]), Class::Key(key_hash(a)));
        let assign = t.assign(3);
        // Tied keys share a part; an untied key keeps its hash's.
        assert_eq!(assign.part_of(a), assign.part_of(b));
        assert_eq!(assign.part_of(c), (key_hash(c) % 3) as usize);
        assert_eq!(assign.tied_keys(), 2);
    }

    #[test]
    fn groups_are_connected_components() {
        let k = keys_apart(3);
        let mut t = Ties::default();
        for (x, y) in [(0, 1), (1, 2)] {
            with_argv(&[b"SMOVE", &k[x], &k[y], b"m"], |v| classify(v, &mut t));
        }
        let assign = t.assign(3);
        let p = assign.part_of(&k[0]);
        assert!(k.iter().all(|key| assign.part_of(key) == p));
        assert_eq!(assign.part_of(b"other"), (key_hash(b"other") % 3) as usize);
    }

    #[test]
    fn a_split_command_keeps_each_parts_keys() {
        let k = keys_apart(2);
        let assign = Ties::default().assign(3);
        let (pa, pb) = (assign.part_of(&k[0]), assign.part_of(&k[1]));
        with_argv(&[b"MSET", &k[0], b"1", &k[1], b"2"], |v| {
            assert_eq!(subset(v, &assign, pa), Some(vec![0, 1, 2]));
            assert_eq!(subset(v, &assign, pb), Some(vec![0, 3, 4]));
        });
        with_argv(&[b"DEL", &k[0], &k[1]], |v| {
            assert_eq!(subset(v, &assign, pb), Some(vec![0, 2]));
            let other = (0..3).find(|p| *p != pa && *p != pb).unwrap();
            assert_eq!(subset(v, &assign, other), None);
        });
    }
}
