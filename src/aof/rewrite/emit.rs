//! The rewrite's output: a replayed keyspace as the commands of a
//! RESP-format rewrite (`aof-use-rdb-preamble no`, aof.md
//! §8.2): functions first, then per non-empty db a SELECT and per key its
//! value in batches of at most 64 elements, then `PEXPIREAT`.

use std::io::Write;

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::aof::rewrite::keyspace::{
    Bytes, FieldVal, Fields, Id, Keyspace, Stream, Val, ZSET_LISTPACK_VALUE, ZSet,
};
use crate::aof::write::RespWriter;
use crate::error::Result;

/// Elements per variadic command, as the server's rewrite
/// (`AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_CMD: usize = 64;

/// A score as text the server parses back to the same double (shortest
/// round-trip; `inf`/`-inf`).
pub fn score_text(s: f64) -> Vec<u8> {
    if s == f64::INFINITY {
        b"inf".to_vec()
    } else if s == f64::NEG_INFINITY {
        b"-inf".to_vec()
    } else {
        ryu::Buffer::new().format_finite(s).as_bytes().to_vec()
    }
}

fn id_text(id: Id) -> Vec<u8> {
    format!("{}-{}", id.0, id.1).into_bytes()
}

fn int_text(n: impl itoa::Integer) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

/// One item of a variadic command: an optional first argument (a score,
/// a field) and the element; borrowed from the keyspace where possible.
type Item<'a> = (Option<Cow<'a, [u8]>>, Cow<'a, [u8]>);

/// Emits `head… items…` commands with at most 64 items per command.
fn batched<'a, W: Write>(
    w: &mut RespWriter<W>,
    head: &[&[u8]],
    items: impl Iterator<Item = Item<'a>>,
) -> Result<()> {
    let mut items = items.peekable();
    let mut batch: Vec<Item<'a>> = Vec::with_capacity(ITEMS_PER_CMD);
    while items.peek().is_some() {
        batch.clear();
        batch.extend(items.by_ref().take(ITEMS_PER_CMD));
        let mut args: Vec<&[u8]> = Vec::with_capacity(head.len() + 2 * batch.len());
        args.extend_from_slice(head);
        for (a, b) in &batch {
            if let Some(a) = a {
                args.push(a);
            }
            args.push(b);
        }
        w.command_args(&args)?;
    }
    Ok(())
}

fn one(v: &[u8]) -> Item<'_> {
    (None, Cow::Borrowed(v))
}

/// Writes a sorted set so the loading server ends up with the same scores:
/// a -0 score survives only in a skiplist (a listpack stores it as "0"),
/// and the server picks the encoding from the first member of the creating
/// ZADD. So when the set holds a -0, it starts with a member too long for
/// a listpack — a real one, or a placeholder removed again at the end —
/// and the -0 members come last.
fn write_zset<W: Write>(w: &mut RespWriter<W>, k: &[u8], z: &ZSet) -> Result<()> {
    let negz = |s: f64| s == 0.0 && s.is_sign_negative();
    fn item(s: f64, m: &[u8]) -> Item<'_> {
        (Some(Cow::Owned(score_text(s))), Cow::Borrowed(m))
    }
    if !z.scores.values().any(|s| negz(*s)) {
        return batched(w, &[b"ZADD", k], z.scores.iter().map(|(m, s)| item(*s, m)));
    }
    let long = z
        .scores
        .iter()
        .find(|(m, s)| m.len() > ZSET_LISTPACK_VALUE && !negz(**s));
    let mut dummy = None;
    let mut items: Vec<Item<'_>> = match long {
        Some((m, s)) => vec![item(*s, m)],
        None => {
            let mut d = vec![b'~'; ZSET_LISTPACK_VALUE + 1];
            while z.scores.contains_key(d.as_slice()) {
                d.push(b'~');
            }
            dummy = Some(d.clone());
            vec![(Some(Cow::Borrowed(&b"0"[..])), Cow::Owned(d))]
        }
    };
    let first = long.map(|(m, _)| m);
    items.extend(
        z.scores
            .iter()
            .filter(|(m, s)| Some(*m) != first && !negz(**s))
            .map(|(m, s)| item(*s, m)),
    );
    items.extend(
        z.scores
            .iter()
            .filter(|(_, s)| negz(**s))
            .map(|(m, s)| item(*s, m)),
    );
    batched(w, &[b"ZADD", k], items.into_iter())?;
    if let Some(d) = dummy {
        w.command_args(&[&b"ZREM"[..], k, &d])?;
    }
    Ok(())
}

/// Writes a stream: entries, metadata (XSETID), consumer groups, their
/// consumers and pending entries. A pending entry whose stream entry was
/// deleted cannot be claimed (XCLAIM drops it), so such IDs are added as
/// placeholder entries, claimed, then deleted again, and a second XSETID
/// restores the largest deleted ID.
fn write_stream<W: Write>(w: &mut RespWriter<W>, k: &[u8], s: &Stream) -> Result<()> {
    let ghosts: BTreeSet<Id> = s
        .groups
        .values()
        .flat_map(|g| g.pel.keys())
        .filter(|id| !s.entries.contains_key(id) && **id > (0, 0) && **id <= s.last_id)
        .copied()
        .collect();
    if s.entries.is_empty() && ghosts.is_empty() {
        w.command_args(&[&b"XADD"[..], k, b"MAXLEN", b"0", b"0-1", b"x", b"y"])?;
    }
    let placeholder = vec![(b"x".to_vec(), b"y".to_vec())];
    let mut all: Vec<(&Id, &Fields)> = s.entries.iter().collect();
    all.extend(ghosts.iter().map(|id| (id, &placeholder)));
    all.sort_by_key(|(id, _)| **id);
    for (id, fields) in all {
        let mut a: Vec<Vec<u8>> = vec![b"XADD".to_vec(), k.to_vec(), id_text(*id)];
        for (f, v) in fields {
            a.push(f.clone());
            a.push(v.clone());
        }
        w.command_args(&a)?;
    }
    // Before the groups: servers may bound a group's ENTRIESREAD by the
    // stream's entries-added counter.
    xsetid(w, k, s)?;
    for (g, grp) in &s.groups {
        w.command_args(&[
            &b"XGROUP"[..],
            b"CREATE",
            k,
            g,
            &id_text(grp.last_id),
            b"ENTRIESREAD",
            &int_text(grp.entries_read),
        ])?;
        let mut consumers: Vec<&Vec<u8>> = grp.consumers.iter().collect();
        consumers.extend(grp.pel.values().map(|p| &p.consumer));
        consumers.sort();
        consumers.dedup();
        for c in consumers {
            let mut owned = grp.pel.iter().filter(|(_, p)| &p.consumer == c).peekable();
            if owned.peek().is_none() {
                w.command_args(&[&b"XGROUP"[..], b"CREATECONSUMER", k, g, c])?;
            }
            for (id, p) in owned {
                w.command_args(&[
                    &b"XCLAIM"[..],
                    k,
                    g,
                    c,
                    b"0",
                    &id_text(*id),
                    b"TIME",
                    &int_text(p.time),
                    b"RETRYCOUNT",
                    &int_text(p.count),
                    b"JUSTID",
                    b"FORCE",
                ])?;
            }
        }
    }
    if !ghosts.is_empty() {
        batched(
            w,
            &[b"XDEL", k],
            ghosts.iter().map(|id| (None, Cow::Owned(id_text(*id)))),
        )?;
        // XDEL moved the largest deleted ID; put it back.
        xsetid(w, k, s)?;
    }
    Ok(())
}

fn xsetid<W: Write>(w: &mut RespWriter<W>, k: &[u8], s: &Stream) -> Result<()> {
    w.command_args(&[
        &b"XSETID"[..],
        k,
        &id_text(s.last_id),
        b"ENTRIESADDED",
        &int_text(s.entries_added),
        b"MAXDELETEDID",
        &id_text(s.max_deleted),
    ])
}

/// Writes the keyspace as rewrite commands. Keys (and hash fields) whose
/// TTL is before `drop_expired_before` (Unix ms) are left out. Function
/// libraries come first when `functions` is set (a partitioned rewrite
/// writes them with its first part).
pub fn write_keyspace<W: Write>(
    ks: &Keyspace,
    w: &mut RespWriter<W>,
    drop_expired_before: Option<i64>,
    functions: bool,
) -> Result<()> {
    let live = |t: Option<i64>| match (t, drop_expired_before) {
        (Some(t), Some(cut)) => t >= cut,
        _ => true,
    };
    for code in ks.functions.values().filter(|_| functions) {
        w.command_args(&[&b"FUNCTION"[..], b"LOAD", code])?;
    }
    for (db, keys) in &ks.dbs {
        let mut entries = keys.iter().filter(|(_, e)| live(e.expire)).peekable();
        if entries.peek().is_none() {
            continue;
        }
        // Hash order, as the server writes (sorting millions of keys would
        // cost more than the rest of the output).
        w.command_args(&[&b"SELECT"[..], &int_text(*db)])?;
        for (k, e) in entries {
            let k = k.as_slice();
            match &e.val {
                Val::Str(s) => w.command_args(&[&b"SET"[..], k, s])?,
                Val::List(l) => batched(w, &[b"RPUSH", k], l.iter().map(|v| one(v)))?,
                Val::Set(s) => batched(w, &[b"SADD", k], s.iter().map(|v| one(v)))?,
                Val::ZSet(z) => write_zset(w, k, z)?,
                Val::Hash(h) => {
                    let f: Vec<(&Bytes, &FieldVal)> =
                        h.iter().filter(|(_, (_, t))| live(*t)).collect();
                    if f.iter().any(|(_, (_, t))| t.is_some()) {
                        for (field, (v, t)) in f {
                            w.command_args(&[&b"HMSET"[..], k, field, v])?;
                            if let Some(t) = t {
                                w.command_args(&[
                                    &b"HPEXPIREAT"[..],
                                    k,
                                    &int_text(*t),
                                    b"FIELDS",
                                    b"1",
                                    field,
                                ])?;
                            }
                        }
                    } else {
                        batched(
                            w,
                            &[b"HMSET", k],
                            f.into_iter().map(|(f, (v, _))| {
                                (Some(Cow::Borrowed(&f[..])), Cow::Borrowed(&v[..]))
                            }),
                        )?;
                    }
                }
                Val::Stream(s) => write_stream(w, k, s)?,
            }
            if let Some(t) = e.expire {
                let mut n = itoa::Buffer::new();
                w.command_args(&[&b"PEXPIREAT"[..], k, n.format(t).as_bytes()])?;
            }
        }
    }
    Ok(())
}
