//! Commands that rebuild a key, as Redis' AOF rewrite (`rewriteAppendOnlyFile`)
//! writes them.

use crate::error::Result;
use crate::model::owned::{OwnedKey, OwnedValue};
use crate::rdb::read::StreamId;
use crate::rdb::write::prim::score_text;
use crate::rdb::write::{RdbVersion, ValueEncoder};

/// Elements per variadic command (Redis' `AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_CMD: usize = 64;

/// Receives commands as argument vectors.
pub trait CommandSink {
    /// One command.
    fn command(&mut self, argv: &[&[u8]]) -> Result<()>;
}

fn id_text(id: StreamId) -> Vec<u8> {
    format!("{}-{}", id.ms, id.seq).into_bytes()
}

fn num(v: impl itoa::Integer) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// Emits a variadic command `head... item...` in batches of 64 items of
/// `per` arguments each.
fn batched<S: CommandSink>(s: &mut S, head: &[&[u8]], items: &[&[u8]], per: usize) -> Result<()> {
    let mut argv: Vec<&[u8]> = Vec::with_capacity(head.len() + ITEMS_PER_CMD * per);
    for chunk in items.chunks(ITEMS_PER_CMD * per) {
        argv.clear();
        argv.extend_from_slice(head);
        argv.extend_from_slice(chunk);
        s.command(&argv)?;
    }
    Ok(())
}

/// Emits a function library (`FUNCTION LOAD`, with `REPLACE` when asked).
pub fn emit_function<S: CommandSink>(s: &mut S, code: &[u8], replace: bool) -> Result<()> {
    if replace {
        s.command(&[b"FUNCTION", b"LOAD", b"REPLACE", code])
    } else {
        s.command(&[b"FUNCTION", b"LOAD", code])
    }
}

/// Emits the commands that rebuild `k` (without `SELECT`). Values without a
/// command form (modules, opaque values) become `RESTORE` of a DUMP payload
/// for RDB version `dump_version`.
pub fn emit_key<S: CommandSink>(
    s: &mut S,
    k: &OwnedKey,
    dump_version: RdbVersion,
    enc: &mut ValueEncoder,
) -> Result<()> {
    let key = k.key.as_slice();
    match &k.value {
        OwnedValue::String(v) => s.command(&[b"SET", key, v])?,
        OwnedValue::List(items) => {
            let refs: Vec<&[u8]> = items.iter().map(|e| e.as_slice()).collect();
            batched(s, &[b"RPUSH", key], &refs, 1)?;
        }
        OwnedValue::Set(items) => {
            let refs: Vec<&[u8]> = items.iter().map(|e| e.as_slice()).collect();
            batched(s, &[b"SADD", key], &refs, 1)?;
        }
        OwnedValue::Zset(items) => {
            // Members scored -0 go last: a listpack zset stores -0 as 0 on
            // Redis 7.2+, so they must arrive once a large zset has become
            // a skiplist (which keeps the sign, as the source had it).
            let mut items: Vec<&(Vec<u8>, f64)> = items.iter().collect();
            items.sort_by_key(|(_, sc)| *sc == 0.0 && sc.is_sign_negative());
            let scores: Vec<Vec<u8>> = items
                .iter()
                .map(|(_, sc)| {
                    let mut t = Vec::new();
                    score_text(&mut t, *sc);
                    t
                })
                .collect();
            let mut refs: Vec<&[u8]> = Vec::with_capacity(items.len() * 2);
            for ((m, _), sc) in items.iter().map(|x| (&x.0, x.1)).zip(&scores) {
                refs.push(sc);
                refs.push(m);
            }
            batched(s, &[b"ZADD", key], &refs, 2)?;
        }
        OwnedValue::Hash(fields) => {
            let mut refs: Vec<&[u8]> = Vec::with_capacity(fields.len() * 2);
            for f in fields {
                refs.push(&f.field);
                refs.push(&f.value);
            }
            batched(s, &[b"HMSET", key], &refs, 2)?;
            // Field TTLs: one HPEXPIREAT per expiry time.
            let mut ttl: Vec<(i64, &[u8])> = fields
                .iter()
                .filter_map(|f| f.expire_ms.map(|t| (t, f.field.as_slice())))
                .collect();
            ttl.sort();
            for group in ttl.chunk_by(|a, b| a.0 == b.0) {
                for chunk in group.chunks(ITEMS_PER_CMD) {
                    let t = num(chunk[0].0);
                    let n = num(chunk.len());
                    let mut argv: Vec<&[u8]> = vec![b"HPEXPIREAT", key, &t, b"FIELDS", &n];
                    argv.extend(chunk.iter().map(|(_, f)| *f));
                    s.command(&argv)?;
                }
            }
        }
        OwnedValue::Stream(st) => emit_stream(s, key, st)?,
        OwnedValue::Module(_) | OwnedValue::Opaque { .. } => {
            let mut payload = Vec::new();
            crate::dump::write::encode(&k.value, dump_version, k.source_type, enc, &mut payload)?;
            s.command(&[b"RESTORE", key, b"0", &payload])?;
        }
    }
    if let Some(ms) = k.expire_ms {
        s.command(&[b"PEXPIREAT", key, &num(ms)])?;
    }
    Ok(())
}

fn emit_stream<S: CommandSink>(
    s: &mut S,
    key: &[u8],
    st: &crate::rdb::read::stream::StreamValue,
) -> Result<()> {
    let m = &st.meta;
    let last = id_text(m.last_id);
    if st.entries.is_empty() {
        // Create the empty stream the way Redis' rewrite does.
        s.command(&[b"XADD", key, b"MAXLEN", b"0", &last, b"x", b"y"])?;
    }
    for e in &st.entries {
        let id = id_text(e.id);
        let mut argv: Vec<&[u8]> = Vec::with_capacity(3 + 2 * e.fields.len());
        argv.extend_from_slice(&[b"XADD", key, &id]);
        for (f, v) in &e.fields {
            argv.push(f);
            argv.push(v);
        }
        s.command(&argv)?;
    }
    let added = num(m.entries_added.unwrap_or(st.entries.len() as u64));
    let maxdel = id_text(m.max_deleted_id.unwrap_or_default());
    s.command(&[
        b"XSETID",
        key,
        &last,
        b"ENTRIESADDED",
        &added,
        b"MAXDELETEDID",
        &maxdel,
    ])?;
    for g in &st.groups {
        let gl = id_text(g.last_id);
        let read: Vec<u8> = match g.entries_read {
            Some(n) => num(n),
            None => b"-1".to_vec(),
        };
        s.command(&[
            b"XGROUP",
            b"CREATE",
            key,
            &g.name,
            &gl,
            b"ENTRIESREAD",
            &read,
        ])?;
        for c in &g.consumers {
            if c.pending.is_empty() {
                s.command(&[b"XGROUP", b"CREATECONSUMER", key, &g.name, &c.name])?;
            }
        }
        for p in &g.pending {
            // Entries nobody owns cannot be recreated by command.
            let Some(owner) = &p.consumer else { continue };
            let id = id_text(p.id);
            let t = num(p.delivery_time_ms);
            let n = num(p.delivery_count);
            s.command(&[
                b"XCLAIM",
                key,
                &g.name,
                owner,
                b"0",
                &id,
                b"TIME",
                &t,
                b"RETRYCOUNT",
                &n,
                b"JUSTID",
                b"FORCE",
            ])?;
        }
    }
    Ok(())
}
