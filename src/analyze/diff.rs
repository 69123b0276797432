//! `diff A B`: keys added, removed and changed (value, type, TTL) between
//! two snapshots, with counts per database and prefix. Values are compared
//! by a 128-bit digest of their logical content, so the same data written
//! in different encodings or RDB versions compares equal.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;

use serde::Serialize;

use super::facts::KeyFacts;
use super::prefix::{PrefixMap, Splitter, label, leaf};
use crate::error::Result;
use crate::model::{DataType, Elem};
use crate::rdb::read::{Scratch, Value};

/// A 128-bit content digest.
pub type Digest = (u64, u64);

fn h2(parts: &[&[u8]]) -> Digest {
    let mut a = std::hash::DefaultHasher::new();
    let mut b = std::hash::DefaultHasher::new();
    a.write_u8(1);
    b.write_u8(2);
    for p in parts {
        a.write_usize(p.len());
        a.write(p);
        b.write_usize(p.len());
        b.write(p);
    }
    (a.finish(), b.finish())
}

fn add(x: Digest, y: Digest) -> Digest {
    (x.0.wrapping_add(y.0), x.1.wrapping_add(y.1))
}

fn text<'b>(e: &Elem<'b>, buf: &'b mut Vec<u8>) -> &'b [u8] {
    match *e {
        Elem::Bytes(b) => b,
        Elem::Int(_) => {
            buf.clear();
            e.append_to(buf);
            buf
        }
    }
}

/// The digest of a value's logical content: ordered for lists and stream
/// entries, order-free for sets, sorted sets and hashes.
pub fn digest(v: &Value<'_>, scratch: &mut Scratch) -> Result<Digest> {
    let (mut b1, mut b2) = (Vec::new(), Vec::new());
    let tag = [v.data_type() as u8];
    Ok(match v.data_type() {
        DataType::String => {
            let s = v.as_string()?;
            let mut buf = Vec::new();
            let b = s
                .bytes(&mut buf)
                .map_err(|p| crate::error::Error::parse(p, v.offset))?;
            h2(&[&tag, b])
        }
        DataType::List => {
            let mut acc = h2(&[&tag]);
            let mut i = 0u64;
            v.for_each_elem(scratch, |e, _| {
                i += 1;
                let d = h2(&[&i.to_le_bytes(), text(&e, &mut b1)]);
                acc = add(acc, d);
                Ok(())
            })?;
            acc
        }
        DataType::Set => {
            let mut acc = h2(&[&tag]);
            v.for_each_elem(scratch, |e, ttl| {
                let t = ttl.unwrap_or(0).to_le_bytes();
                acc = add(acc, h2(&[text(&e, &mut b1), &t]));
                Ok(())
            })?;
            acc
        }
        DataType::Zset => {
            let mut acc = h2(&[&tag]);
            v.for_each_scored(scratch, |m, s| {
                // -0.0 and 0.0 are the same score to a server.
                let s = if s == 0.0 { 0.0f64 } else { s };
                acc = add(acc, h2(&[text(&m, &mut b1), &s.to_bits().to_le_bytes()]));
                Ok(())
            })?;
            acc
        }
        DataType::Hash => {
            let mut acc = h2(&[&tag]);
            v.for_each_field(scratch, |f, val, ttl| {
                let t = ttl.unwrap_or(0).to_le_bytes();
                acc = add(acc, h2(&[text(&f, &mut b1), text(&val, &mut b2), &t]));
                Ok(())
            })?;
            acc
        }
        DataType::Stream => {
            let s = v.stream()?;
            let mut acc = h2(&[&tag, format!("{:?}", s.meta.last_id).as_bytes()]);
            for e in &s.entries {
                let mut parts: Vec<&[u8]> = Vec::new();
                let id = format!("{}", e.id);
                parts.push(id.as_bytes());
                for (f, x) in &e.fields {
                    parts.push(f);
                    parts.push(x);
                }
                acc = add(acc, h2(&parts));
            }
            for g in &s.groups {
                let gl = format!("{}:{:?}:{}", g.last_id, g.entries_read, g.pending.len());
                acc = add(acc, h2(&[&g.name, gl.as_bytes()]));
            }
            acc
        }
        _ => h2(&[&tag, v.raw]),
    })
}

/// What a side holds for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Side {
    /// Type.
    pub r#type: &'static str,
    /// Absolute expiry (Unix ms).
    pub expire_ms: Option<i64>,
    /// Modelled bytes.
    pub bytes: u64,
    /// Content digest.
    #[serde(skip)]
    pub digest: Digest,
}

/// One change.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// Database.
    pub db: u64,
    /// Key (lossy UTF-8; see `key_b64` for other bytes).
    pub key: String,
    /// What differs: `type`, `value`, `ttl`.
    pub what: Vec<&'static str>,
    /// The key in A.
    pub a: Option<Side>,
    /// The key in B.
    pub b: Option<Side>,
}

/// Counts of one group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Keys only in B.
    pub added: u64,
    /// Keys only in A.
    pub removed: u64,
    /// Keys in both with a difference.
    pub changed: u64,
    /// Keys in both, identical.
    pub unchanged: u64,
    /// Of the changed: value differs.
    pub value: u64,
    /// Of the changed: type differs.
    pub r#type: u64,
    /// Of the changed: TTL differs.
    pub ttl: u64,
    /// Modelled bytes in B minus bytes in A.
    pub bytes_delta: i64,
}

impl Counts {
    fn count(&mut self, c: &Change) {
        match c.change {
            "added" => self.added += 1,
            "removed" => self.removed += 1,
            _ => {
                self.changed += 1;
                for w in &c.what {
                    match *w {
                        "value" => self.value += 1,
                        "type" => self.r#type += 1,
                        _ => self.ttl += 1,
                    }
                }
            }
        }
        let a = c.a.map_or(0, |s| s.bytes as i64);
        let b = c.b.map_or(0, |s| s.bytes as i64);
        self.bytes_delta += b - a;
    }
}

/// The diff summary.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// First file.
    pub a: String,
    /// Second file.
    pub b: String,
    /// Keys in A.
    pub a_keys: u64,
    /// Keys in B.
    pub b_keys: u64,
    /// Totals.
    pub total: Counts,
    /// Per database.
    pub per_db: BTreeMap<u64, Counts>,
    /// Per prefix (most changes first).
    pub per_prefix: Vec<(String, Counts)>,
}

/// Builds a diff: feed A's keys, then B's, then finish.
pub struct Differ {
    split: Splitter,
    top: usize,
    a: HashMap<(u64, Vec<u8>), Side>,
    a_keys: u64,
    b_keys: u64,
    total: Counts,
    per_db: BTreeMap<u64, Counts>,
    per_prefix: PrefixMap<Counts>,
    scratch: Scratch,
    path: Vec<u8>,
    cuts: Vec<usize>,
}

impl Differ {
    /// A new diff.
    pub fn new(split: Splitter, top: usize, cap: usize) -> Self {
        Differ {
            split,
            top,
            a: HashMap::new(),
            a_keys: 0,
            b_keys: 0,
            total: Counts::default(),
            per_db: BTreeMap::new(),
            per_prefix: PrefixMap::new(cap),
            scratch: Scratch::default(),
            path: Vec::new(),
            cuts: Vec::new(),
        }
    }

    fn side(&mut self, k: &KeyFacts<'_>) -> Result<Side> {
        Ok(Side {
            r#type: k.dtype.name(),
            expire_ms: k.expire_ms,
            bytes: k.mem.bytes,
            digest: digest(&k.value, &mut self.scratch)?,
        })
    }

    /// Remembers a key of A.
    pub fn add_a(&mut self, k: &KeyFacts<'_>) -> Result<()> {
        self.a_keys += 1;
        let s = self.side(k)?;
        self.a.insert((k.db, k.key.to_vec()), s);
        Ok(())
    }

    fn note(&mut self, c: &Change, key: &[u8]) {
        self.total.count(c);
        self.per_db.entry(c.db).or_default().count(c);
        self.split.path(key, &mut self.path, &mut self.cuts);
        self.per_prefix.get(leaf(&self.path, &self.cuts)).count(c);
    }

    /// Compares a key of B; returns the change, if any.
    pub fn add_b(&mut self, k: &KeyFacts<'_>) -> Result<Option<Change>> {
        self.b_keys += 1;
        let b = self.side(k)?;
        let change = match self.a.remove(&(k.db, k.key.to_vec())) {
            None => Some(Change {
                change: "added",
                db: k.db,
                key: String::from_utf8_lossy(&k.key).into_owned(),
                what: vec![],
                a: None,
                b: Some(b),
            }),
            Some(a) => {
                let mut what = Vec::new();
                if a.r#type != b.r#type {
                    what.push("type");
                }
                if a.digest != b.digest {
                    what.push("value");
                }
                if a.expire_ms != b.expire_ms {
                    what.push("ttl");
                }
                if what.is_empty() {
                    self.total.unchanged += 1;
                    self.per_db.entry(k.db).or_default().unchanged += 1;
                    self.split.path(&k.key, &mut self.path, &mut self.cuts);
                    self.per_prefix.get(leaf(&self.path, &self.cuts)).unchanged += 1;
                    None
                } else {
                    Some(Change {
                        change: "changed",
                        db: k.db,
                        key: String::from_utf8_lossy(&k.key).into_owned(),
                        what,
                        a: Some(a),
                        b: Some(b),
                    })
                }
            }
        };
        if let Some(c) = &change {
            self.note(c, &k.key);
        }
        Ok(change)
    }

    /// Keys of A not in B (sorted), then the summary.
    pub fn finish(mut self, a: &str, b: &str) -> (Vec<Change>, DiffReport) {
        let mut rest: Vec<((u64, Vec<u8>), Side)> =
            std::mem::take(&mut self.a).into_iter().collect();
        rest.sort_by(|x, y| x.0.cmp(&y.0));
        let mut removed = Vec::new();
        for ((db, key), side) in rest {
            let c = Change {
                change: "removed",
                db,
                key: String::from_utf8_lossy(&key).into_owned(),
                what: vec![],
                a: Some(side),
                b: None,
            };
            self.note(&c, &key);
            removed.push(c);
        }
        let mut per: Vec<(String, Counts)> = self
            .per_prefix
            .iter()
            .map(|(p, c)| (label(p), c.clone()))
            .collect();
        per.sort_by(|x, y| {
            let cx = x.1.added + x.1.removed + x.1.changed;
            let cy = y.1.added + y.1.removed + y.1.changed;
            cy.cmp(&cx).then_with(|| x.0.cmp(&y.0))
        });
        per.truncate(self.top);
        (
            removed,
            DiffReport {
                a: a.to_string(),
                b: b.to_string(),
                a_keys: self.a_keys,
                b_keys: self.b_keys,
                total: self.total,
                per_db: self.per_db,
                per_prefix: per,
            },
        )
    }
}
