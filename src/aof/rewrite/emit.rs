//! The rewrite's output: a replayed keyspace as the commands of a
//! RESP-format rewrite (`aof-use-rdb-preamble no`, aof.md
//! §8.2): functions first, then per non-empty db a SELECT and per key its
//! value in batches of at most 64 elements, then `PEXPIREAT`.

use std::io::{self, Write};

use std::collections::BTreeSet;

use crate::aof::rewrite::keyspace::{
    FieldVal, Fields, Id, Keyspace, Stream, Val, ZSET_LISTPACK_VALUE, ZSet,
};

/// Elements per variadic command, as the server's rewrite
/// (`AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_CMD: usize = 64;

/// Writes RESP commands and counts them.
pub struct RespWriter<W: Write> {
    w: W,
    /// Commands written.
    pub commands: u64,
    /// Bytes written.
    pub bytes: u64,
    buf: Vec<u8>,
}

impl<W: Write> RespWriter<W> {
    /// Wraps a writer.
    pub fn new(w: W) -> Self {
        RespWriter {
            w,
            commands: 0,
            bytes: 0,
            buf: Vec::with_capacity(1 << 12),
        }
    }

    /// Writes one command.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.buf.clear();
        let mut n = itoa::Buffer::new();
        self.buf.push(b'*');
        self.buf.extend_from_slice(n.format(args.len()).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        for a in args {
            let a = a.as_ref();
            self.buf.push(b'$');
            self.buf.extend_from_slice(n.format(a.len()).as_bytes());
            self.buf.extend_from_slice(b"\r\n");
            self.buf.extend_from_slice(a);
            self.buf.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&self.buf)?;
        self.commands += 1;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }

    /// Writes a `#` annotation line (e.g. `#TS:<seconds>`).
    pub fn annotation(&mut self, text: &str) -> io::Result<()> {
        self.w.write_all(text.as_bytes())?;
        self.w.write_all(b"\r\n")?;
        self.bytes += text.len() as u64 + 2;
        Ok(())
    }

    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.w
    }
}

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

/// Emits `head… items…` commands with at most 64 items (each item is one
/// or more arguments) per command.
fn batched<W: Write>(
    w: &mut RespWriter<W>,
    head: &[&[u8]],
    items: &mut dyn Iterator<Item = Vec<Vec<u8>>>,
) -> io::Result<()> {
    let mut args: Vec<Vec<u8>> = Vec::new();
    let mut n = 0;
    for it in items {
        if n == 0 {
            args.clear();
            args.extend(head.iter().map(|h| h.to_vec()));
        }
        args.extend(it);
        n += 1;
        if n == ITEMS_PER_CMD {
            w.command(&args)?;
            n = 0;
        }
    }
    if n > 0 {
        w.command(&args)?;
    }
    Ok(())
}

/// Writes a sorted set so the loading server ends up with the same scores:
/// a -0 score survives only in a skiplist (a listpack stores it as "0"),
/// and the server picks the encoding from the first member of the creating
/// ZADD. So when the set holds a -0, it starts with a member too long for
/// a listpack — a real one, or a placeholder removed again at the end —
/// and the -0 members come last.
fn write_zset<W: Write>(w: &mut RespWriter<W>, k: &[u8], z: &ZSet) -> io::Result<()> {
    let negz = |s: f64| s == 0.0 && s.is_sign_negative();
    let item = |s: f64, m: &Vec<u8>| vec![score_text(s), m.clone()];
    if !z.order.iter().any(|(s, _)| negz(s.0)) {
        return batched(
            w,
            &[b"ZADD", k],
            &mut z.order.iter().map(|(s, m)| item(s.0, m)),
        );
    }
    let long = z
        .order
        .iter()
        .find(|(s, m)| m.len() > ZSET_LISTPACK_VALUE && !negz(s.0));
    let mut dummy = None;
    let mut items: Vec<Vec<Vec<u8>>> = match long {
        Some((s, m)) => vec![item(s.0, m)],
        None => {
            let mut d = vec![b'~'; ZSET_LISTPACK_VALUE + 1];
            while z.scores.contains_key(&d) {
                d.push(b'~');
            }
            let first = vec![b"0".to_vec(), d.clone()];
            dummy = Some(d);
            vec![first]
        }
    };
    items.extend(
        z.order
            .iter()
            .filter(|e| Some(*e) != long && !negz(e.0.0))
            .map(|(s, m)| item(s.0, m)),
    );
    items.extend(
        z.order
            .iter()
            .filter(|(s, _)| negz(s.0))
            .map(|(s, m)| item(s.0, m)),
    );
    batched(w, &[b"ZADD", k], &mut items.into_iter())?;
    if let Some(d) = dummy {
        w.command(&[&b"ZREM"[..], k, &d])?;
    }
    Ok(())
}

/// Writes a stream: entries, consumer groups, their consumers and pending
/// entries, then the metadata. A pending entry whose stream entry was
/// deleted cannot be claimed (XCLAIM drops it), so such IDs are added as
/// placeholder entries, claimed, then deleted again; XSETID last restores
/// the last ID, the added-entries counter and the largest deleted ID.
fn write_stream<W: Write>(w: &mut RespWriter<W>, k: &[u8], s: &Stream) -> io::Result<()> {
    let ghosts: BTreeSet<Id> = s
        .groups
        .values()
        .flat_map(|g| g.pel.keys())
        .filter(|id| !s.entries.contains_key(id) && **id > (0, 0) && **id <= s.last_id)
        .copied()
        .collect();
    if s.entries.is_empty() && ghosts.is_empty() {
        w.command(&[&b"XADD"[..], k, b"MAXLEN", b"0", b"0-1", b"x", b"y"])?;
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
        w.command(&a)?;
    }
    for (g, grp) in &s.groups {
        w.command(&[
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
                w.command(&[&b"XGROUP"[..], b"CREATECONSUMER", k, g, c])?;
            }
            for (id, p) in owned {
                w.command(&[
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
    batched(
        w,
        &[b"XDEL", k],
        &mut ghosts.iter().map(|id| vec![id_text(*id)]),
    )?;
    w.command(&[
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
/// TTL is before `drop_expired_before` (Unix ms) are left out.
pub fn write_keyspace<W: Write>(
    ks: &Keyspace,
    w: &mut RespWriter<W>,
    drop_expired_before: Option<i64>,
) -> io::Result<()> {
    let live = |t: Option<i64>| match (t, drop_expired_before) {
        (Some(t), Some(cut)) => t >= cut,
        _ => true,
    };
    for code in ks.functions.values() {
        w.command(&[&b"FUNCTION"[..], b"LOAD", code])?;
    }
    for (db, keys) in &ks.dbs {
        let mut names: Vec<&Vec<u8>> = keys
            .iter()
            .filter(|(_, e)| live(e.expire))
            .map(|(k, _)| k)
            .collect();
        if names.is_empty() {
            continue;
        }
        // Sorted for reproducible output (the server writes hash order).
        names.sort();
        w.command(&[&b"SELECT"[..], &int_text(*db)])?;
        for k in names {
            let e = &keys[k];
            let k = k.as_slice();
            match &e.val {
                Val::Str(s) => w.command(&[&b"SET"[..], k, s])?,
                Val::List(l) => batched(w, &[b"RPUSH", k], &mut l.iter().map(|v| vec![v.clone()]))?,
                Val::Set(s) => {
                    let mut m: Vec<&Vec<u8>> = s.iter().collect();
                    m.sort();
                    batched(
                        w,
                        &[b"SADD", k],
                        &mut m.into_iter().map(|v| vec![v.clone()]),
                    )?
                }
                Val::ZSet(z) => write_zset(w, k, z)?,
                Val::Hash(h) => {
                    let mut f: Vec<(&Vec<u8>, &FieldVal)> =
                        h.iter().filter(|(_, (_, t))| live(*t)).collect();
                    f.sort();
                    if f.iter().any(|(_, (_, t))| t.is_some()) {
                        for (field, (v, t)) in f {
                            w.command(&[&b"HMSET"[..], k, field, v])?;
                            if let Some(t) = t {
                                w.command(&[
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
                            &mut f.into_iter().map(|(f, (v, _))| vec![f.clone(), v.clone()]),
                        )?;
                    }
                }
                Val::Stream(s) => write_stream(w, k, s)?,
            }
            if let Some(t) = e.expire {
                w.command(&[&b"PEXPIREAT"[..], k, &int_text(t)])?;
            }
        }
    }
    Ok(())
}
