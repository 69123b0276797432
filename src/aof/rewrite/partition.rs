//! Partitioned replay: the keyspace split by a hash of the key, one part
//! replayed (and written out, and freed) at a time, so a rewrite holds a
//! fraction of the keyspace in memory. Each pass reads the whole log and
//! applies the commands on its part's keys. That is exact as long as no
//! command ties keys of different parts together: commands without keys
//! (SELECT, FLUSHDB, FLUSHALL, SWAPDB, FUNCTION) apply in every part, DEL,
//! UNLINK and MSET split into their per-part keys, and any other command
//! whose keys fall in different parts (RENAME, SMOVE, a STORE command, …)
//! makes the partitioning unsound: the caller then replays in one part.

use std::hash::BuildHasher;

use crate::aof::commands::{Lookup, key_positions, lookup};
use crate::aof::read::Argv;

/// Which part of the keyspace one pass replays.
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

    /// Whether `key` belongs to this part.
    pub fn owns(&self, key: &[u8]) -> bool {
        self.count <= 1 || part_of(key, self.count) == self.index
    }
}

/// The part a key falls in (a fixed-seed hash: the same in every pass).
pub fn part_of(key: &[u8], count: usize) -> usize {
    let h = foldhash::fast::FixedState::with_seed(0x7061_7274_6974_696f).hash_one(key);
    (h % count as u64) as usize
}

/// What a pass does with a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Apply it: all its keys are in this part, or it has none (`keys`
    /// false: it runs in every part).
    Apply {
        /// Whether it has keys.
        keys: bool,
    },
    /// Skip it (all its keys in other parts).
    Skip,
    /// Apply the command made of the arguments at these positions (a DEL,
    /// UNLINK or MSET reduced to this part's keys).
    Subset(Vec<usize>),
    /// Its keys fall in different parts and it cannot be split.
    Spans,
}

/// Commands with exactly one key, their first argument: the bulk of every
/// log, routed without the command table (every pass routes every command,
/// so this is the partitioned replay's inner loop).
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

/// Routes one command for part `p`.
pub fn route(argv: &Argv<'_>, p: Part) -> Route {
    if p.count <= 1 {
        return Route::Apply { keys: true };
    }
    if argv.argc() >= 2
        && argv.name().is_some_and(first_arg_only_key)
        && let Some(key) = argv.get(1)
    {
        return if p.owns(key) {
            Route::Apply { keys: true }
        } else {
            Route::Skip
        };
    }
    if argv.is("sort") && super::sort::reads_pattern_keys(argv.iter()) {
        return Route::Spans;
    }
    let Lookup::Known(info) = lookup(argv) else {
        // Unknown: every pass applies it, and so names it as an error.
        return Route::Apply { keys: false };
    };
    let keys = key_positions(info, argv);
    let Some(&first) = keys.first() else {
        return Route::Apply { keys: false };
    };
    let part = |i: usize| part_of(argv.get(i).unwrap_or_default(), p.count);
    let first_part = part(first);
    if keys.iter().all(|&i| part(i) == first_part) {
        return if first_part == p.index {
            Route::Apply { keys: true }
        } else {
            Route::Skip
        };
    }
    let mine: Vec<usize> = keys
        .iter()
        .copied()
        .filter(|&i| part(i) == p.index)
        .collect();
    match info.name {
        "del" | "unlink" => {
            if mine.is_empty() {
                Route::Skip
            } else {
                Route::Subset(std::iter::once(0).chain(mine).collect())
            }
        }
        "mset" => {
            if mine.is_empty() {
                Route::Skip
            } else {
                let pairs = mine.into_iter().flat_map(|i| [i, i + 1]);
                Route::Subset(std::iter::once(0).chain(pairs).collect())
            }
        }
        _ => Route::Spans,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::read::frame::{Dialect, Item, frame};

    fn routed(args: &[&[u8]], p: Part) -> Route {
        let mut raw = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            raw.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            raw.extend_from_slice(a);
            raw.extend_from_slice(b"\r\n");
        }
        let f = frame(&raw, Dialect::Server, false).unwrap();
        let Item::Command(a) = f.item else { panic!() };
        route(&a, p)
    }

    /// Two keys in different parts of two.
    fn two_keys() -> (Vec<u8>, Vec<u8>) {
        let a = b"k0".to_vec();
        let b = (1..)
            .map(|i| format!("k{i}").into_bytes())
            .find(|k| part_of(k, 2) != part_of(&a, 2))
            .unwrap();
        (a, b)
    }

    #[test]
    fn the_fast_path_agrees_with_the_command_table() {
        for name in FIRST_ARG_KEY {
            let args: [&[u8]; 6] = [name, b"k", b"a", b"b", b"c", b"d"];
            let mut raw = b"*6\r\n".to_vec();
            for a in args {
                raw.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                raw.extend_from_slice(a);
                raw.extend_from_slice(b"\r\n");
            }
            let f = frame(&raw, Dialect::Server, false).unwrap();
            let Item::Command(a) = f.item else { panic!() };
            let Lookup::Known(info) = lookup(&a) else {
                panic!("{}", name.escape_ascii())
            };
            assert_eq!(key_positions(info, &a), vec![1], "{}", name.escape_ascii());
        }
    }

    #[test]
    fn commands_are_routed_by_their_keys() {
        let (a, b) = two_keys();
        let pa = Part {
            index: part_of(&a, 2),
            count: 2,
        };
        let pb = Part {
            index: part_of(&b, 2),
            count: 2,
        };
        assert_eq!(routed(&[b"SET", &a, b"v"], pa), Route::Apply { keys: true });
        assert_eq!(routed(&[b"SET", &a, b"v"], pb), Route::Skip);
        assert_eq!(routed(&[b"FLUSHALL"], pb), Route::Apply { keys: false });
        assert_eq!(
            routed(&[b"SWAPDB", b"0", b"1"], pa),
            Route::Apply { keys: false }
        );
        assert_eq!(routed(&[b"DEL", &a, &b], pb), Route::Subset(vec![0, 2]));
        assert_eq!(
            routed(&[b"MSET", &a, b"1", &b, b"2"], pa),
            Route::Subset(vec![0, 1, 2])
        );
        assert_eq!(routed(&[b"RENAME", &a, &b], pa), Route::Spans);
        assert_eq!(routed(&[b"RENAME", &a, &a], pb), Route::Skip);
        assert_eq!(
            routed(&[b"SET", &a, b"v"], Part::WHOLE),
            Route::Apply { keys: true }
        );
    }
}
