//! What the server knows about each command: arity, whether it writes, and
//! where its keys are (the legacy first/last/step triple of `COMMAND`, plus
//! the few movable-key forms an AOF can hold). The table itself is generated
//! from real servers ([`super::command_table`]).

use super::command_table::COMMANDS;
use super::read::Argv;

/// One row of `COMMAND` (a command or a `container|subcommand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// Lower-case name; subcommands as `container|sub`.
    pub name: &'static str,
    /// Arity as `COMMAND` reports it (negative: at least -arity).
    pub arity: i32,
    /// Has the `write` flag.
    pub write: bool,
    /// First key position (0: none).
    pub first: i32,
    /// Last key position (negative: from the end).
    pub last: i32,
    /// Step between keys.
    pub step: i32,
    /// Keys can also be elsewhere (`movablekeys`).
    pub movable: bool,
    /// Known to Redis 7.0 (else added later).
    pub in_70: bool,
}

fn cmp_ci(a: &str, b: &[u8]) -> std::cmp::Ordering {
    let mut i = a.bytes();
    let mut j = b.iter().map(u8::to_ascii_lowercase);
    loop {
        match (i.next(), j.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(&y),
            _ => {}
        }
    }
}

/// Looks a name up, ignoring ASCII case (`container|sub` for subcommands).
pub fn lookup_name(name: &[u8]) -> Option<&'static CommandInfo> {
    COMMANDS
        .binary_search_by(|c| cmp_ci(c.name, name))
        .ok()
        .map(|i| &COMMANDS[i])
}

fn is_container(c: &CommandInfo) -> bool {
    let mut prefix = c.name.as_bytes().to_vec();
    prefix.push(b'|');
    let i = COMMANDS.partition_point(|x| x.name.as_bytes() < prefix.as_slice());
    COMMANDS
        .get(i)
        .is_some_and(|x| x.name.as_bytes().starts_with(&prefix))
}

/// How the server resolves an argv (`lookupCommand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A known command or subcommand.
    Known(&'static CommandInfo),
    /// Unknown command name.
    UnknownCommand,
    /// Known container, unknown subcommand.
    UnknownSubcommand,
}

/// Resolves a command the way the server does: a container command with
/// arguments needs a known subcommand.
pub fn lookup(argv: &Argv<'_>) -> Lookup {
    let Some(name) = argv.name() else {
        return Lookup::UnknownCommand;
    };
    let Some(base) = lookup_name(name) else {
        return Lookup::UnknownCommand;
    };
    if argv.argc() < 2 || !is_container(base) {
        return Lookup::Known(base);
    }
    let mut full = name.to_vec();
    full.push(b'|');
    full.extend_from_slice(argv.get(1).unwrap_or_default());
    match lookup_name(&full) {
        Some(c) => Lookup::Known(c),
        None => Lookup::UnknownSubcommand,
    }
}

fn int_arg(argv: &Argv<'_>, i: usize) -> Option<usize> {
    let a = argv.get(i)?;
    std::str::from_utf8(a).ok()?.parse().ok()
}

/// Positions of the keys in `argv` for command `c`: the legacy range, plus
/// the movable forms (numkeys, STORE, STREAMS, MIGRATE KEYS). Positions
/// past the end are dropped, so malformed commands yield fewer keys.
pub fn key_positions(c: &CommandInfo, argv: &Argv<'_>) -> Vec<usize> {
    let argc = argv.argc();
    let mut out = Vec::new();
    let name = c.name;
    let numkeys = |at: usize, out: &mut Vec<usize>| {
        if let Some(n) = int_arg(argv, at) {
            out.extend((at + 1..).take(n).take_while(|&i| i < argc));
        }
    };
    match name {
        "zunionstore" | "zinterstore" | "zdiffstore" => {
            out.push(1);
            numkeys(2, &mut out);
        }
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
            numkeys(2, &mut out)
        }
        "zunion" | "zinter" | "zdiff" | "sintercard" | "zintercard" | "lmpop" | "zmpop" => {
            numkeys(1, &mut out)
        }
        "blmpop" | "bzmpop" => numkeys(2, &mut out),
        "migrate" => {
            if argv.get(3).is_some_and(<[u8]>::is_empty) {
                if let Some(k) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"keys")) {
                    out.extend(k + 1..argc);
                }
            } else if argc > 3 {
                out.push(3);
            }
        }
        "xread" | "xreadgroup" => {
            if let Some(s) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) {
                let n = (argc - s - 1) / 2;
                out.extend(s + 1..s + 1 + n);
            }
        }
        _ => {
            if c.first > 0 {
                let last = if c.last < 0 {
                    argc as i64 + c.last as i64
                } else {
                    c.last as i64
                };
                let step = c.step.max(1) as usize;
                let mut i = c.first as usize;
                while (i as i64) <= last && i < argc {
                    out.push(i);
                    i += step;
                }
            }
            if matches!(name, "sort" | "sort_ro" | "georadius" | "georadiusbymember") {
                let mut it = argv.iter().enumerate().skip(2);
                while let Some((_, a)) = it.next() {
                    if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))
                        && let Some((j, _)) = it.next()
                    {
                        out.push(j);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::read::frame::{Dialect, Item, frame};

    fn argv(args: &[&str]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        v
    }

    fn keys(args: &[&str]) -> Vec<usize> {
        let raw = argv(args);
        let f = frame(&raw, Dialect::Server, false).unwrap();
        let Item::Command(a) = f.item else { panic!() };
        match lookup(&a) {
            Lookup::Known(c) => key_positions(c, &a),
            _ => panic!("unknown {args:?}"),
        }
    }

    #[test]
    fn positions() {
        assert_eq!(keys(&["SET", "k", "v"]), vec![1]);
        assert_eq!(keys(&["mset", "a", "1", "b", "2"]), vec![1, 3]);
        assert_eq!(keys(&["del", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(keys(&["XGROUP", "CREATE", "s", "g", "$"]), vec![2]);
        assert_eq!(
            keys(&["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]),
            vec![1, 3, 4]
        );
        assert_eq!(keys(&["sort", "l", "BY", "x", "STORE", "d"]), vec![1, 5]);
        assert_eq!(keys(&["rename", "a", "b"]), vec![1, 2]);
        assert!(keys(&["swapdb", "0", "1"]).is_empty());
    }

    #[test]
    fn unknown_commands() {
        let raw = argv(&["bla"]);
        let f = frame(&raw, Dialect::Server, false).unwrap();
        let Item::Command(a) = f.item else { panic!() };
        assert_eq!(lookup(&a), Lookup::UnknownCommand);
        let raw = argv(&["xgroup", "nope", "s"]);
        let f = frame(&raw, Dialect::Server, false).unwrap();
        let Item::Command(a) = f.item else { panic!() };
        assert_eq!(lookup(&a), Lookup::UnknownSubcommand);
    }
}
