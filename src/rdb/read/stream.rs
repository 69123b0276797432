//! Stream values (types 15, 19, 21, 26, 27): one walker serves both skipping
//! (a no-op visitor, no allocation) and full decoding ([`StreamValue`]).

use serde::Serialize;

use super::listpack::Listpack;
use super::prim::{StreamId, count, len_stream_id, length, ms_time, raw_stream_id, string};
use crate::error::{PErr, PResult, Problem};
use crate::model::Elem;

/// Receives the parts of a stream as the walker meets them.
pub trait StreamVisitor<'a> {
    /// A node: its master ID key and its listpack blob (possibly LZF).
    fn node(&mut self, _key: super::prim::RdbStr<'a>, _lp: super::prim::RdbStr<'a>) {}
    /// The metadata after the nodes.
    fn meta(&mut self, _m: &StreamMeta) {}
    /// A consumer group header.
    fn group(
        &mut self,
        _name: super::prim::RdbStr<'a>,
        _last_id: StreamId,
        _entries_read: Option<u64>,
    ) {
    }
    /// A group PEL entry.
    fn pel(&mut self, _id: StreamId, _delivery_time_ms: i64, _delivery_count: u64) {}
    /// A consumer of the current group.
    fn consumer(&mut self, _name: super::prim::RdbStr<'a>, _seen_ms: i64, _active_ms: Option<i64>) {
    }
    /// An ID owned by the current consumer.
    fn consumer_pel(&mut self, _id: StreamId) {}
    /// A NACK-zone ID of the current group (v5).
    fn nack(&mut self, _id: StreamId) {}
}

/// A visitor that ignores everything (used to skip a stream).
pub struct Skip;
impl StreamVisitor<'_> for Skip {}

/// Stream-level metadata.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StreamMeta {
    /// Live entries.
    pub length: u64,
    /// Last generated ID.
    pub last_id: StreamId,
    /// First live entry (v2+; derived for v1).
    pub first_id: Option<StreamId>,
    /// Largest deleted ID (v2+).
    pub max_deleted_id: Option<StreamId>,
    /// Entries ever added (v2+).
    pub entries_added: Option<u64>,
    /// Number of listpack nodes.
    pub nodes: u64,
    /// Number of consumer groups.
    pub groups: u64,
}

/// Walks a stream value of layout version `v` (1..=5).
pub fn walk<'a, V: StreamVisitor<'a>>(i: &'a [u8], v: u8, vis: &mut V) -> PResult<'a, StreamMeta> {
    let mut m = StreamMeta::default();
    let (mut r, nodes) = count(i, 2, "stream node count")?;
    m.nodes = nodes;
    for _ in 0..nodes {
        let at = r;
        let (r2, key) = string(r)?;
        if key.len() != 16 {
            return Err(nom::Err::Error(PErr::invalid(
                at,
                "stream node key",
                "a 16-byte master ID",
                key.len(),
            )));
        }
        let (r2, lp) = string(r2)?;
        if lp.is_empty() {
            return Err(nom::Err::Error(PErr::invalid(
                r2,
                "stream node",
                "a non-empty listpack",
                0,
            )));
        }
        vis.node(key, lp);
        r = r2;
    }
    let (r2, len) = length(r)?;
    // A server refuses a stream that counts entries and holds no node
    // ("Stream length inconsistent with rax entries" in rdb.c).
    if nodes == 0 && len != 0 {
        return Err(nom::Err::Error(PErr::invalid(
            r,
            "stream length",
            "0 in a stream without listpack nodes",
            len,
        )));
    }
    m.length = len;
    let (r2, last) = len_stream_id(r2)?;
    m.last_id = last;
    r = r2;
    if v >= 2 {
        let (r2, first) = len_stream_id(r)?;
        let (r2, maxdel) = len_stream_id(r2)?;
        let (r2, added) = length(r2)?;
        m.first_id = Some(first);
        m.max_deleted_id = Some(maxdel);
        m.entries_added = Some(added);
        r = r2;
    }
    let (r2, groups) = count(r, 3, "stream group count")?;
    m.groups = groups;
    vis.meta(&m);
    r = r2;
    for _ in 0..groups {
        let (r2, name) = string(r)?;
        let (r2, last) = len_stream_id(r2)?;
        let (mut r2, entries_read) = if v >= 2 {
            let (r3, n) = length(r2)?;
            (r3, Some(n))
        } else {
            (r2, None)
        };
        vis.group(name, last, entries_read);
        let (r3, pels) = count(r2, 25, "stream PEL size")?;
        r2 = r3;
        for _ in 0..pels {
            let (r3, id) = raw_stream_id(r2)?;
            let (r3, t) = ms_time(r3)?;
            let (r3, n) = length(r3)?;
            vis.pel(id, t, n);
            r2 = r3;
        }
        let (r3, consumers) = count(r2, 10, "stream consumer count")?;
        r2 = r3;
        for _ in 0..consumers {
            let (r3, cname) = string(r2)?;
            let (r3, seen) = ms_time(r3)?;
            let (r3, active) = if v >= 3 {
                let (r4, a) = ms_time(r3)?;
                (r4, Some(a))
            } else {
                (r3, None)
            };
            vis.consumer(cname, seen, active);
            let (mut r3, n) = count(r3, 16, "consumer PEL size")?;
            for _ in 0..n {
                let (r4, id) = raw_stream_id(r3)?;
                vis.consumer_pel(id);
                r3 = r4;
            }
            r2 = r3;
        }
        if v >= 5 {
            let (mut r3, n) = count(r2, 16, "stream NACK count")?;
            for _ in 0..n {
                let (r4, id) = raw_stream_id(r3)?;
                vis.nack(id);
                r3 = r4;
            }
            r2 = r3;
        }
        r = r2;
    }
    if v >= 4 {
        let (r2, _duration) = length(r)?;
        let (r2, _max) = length(r2)?;
        let (mut r2, producers) = count(r2, 2, "IDMP producer count")?;
        for _ in 0..producers {
            let (r3, _pid) = string(r2)?;
            let (mut r3, n) = count(r3, 3, "IDMP entry count")?;
            for _ in 0..n {
                let (r4, _iid) = string(r3)?;
                let (r4, _id) = len_stream_id(r4)?;
                r3 = r4;
            }
            r2 = r3;
        }
        let (r2, _added) = length(r2)?;
        let (r2, _dups) = length(r2)?;
        r = r2;
    }
    Ok((r, m))
}

/// One stream entry, decoded.
#[derive(Debug, Clone)]
pub struct StreamEntry {
    /// Entry ID.
    pub id: StreamId,
    /// Field/value pairs in order.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A group PEL entry.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    /// Entry ID.
    pub id: StreamId,
    /// Last delivery time (Unix ms).
    pub delivery_time_ms: i64,
    /// Number of deliveries.
    pub delivery_count: u64,
    /// Owning consumer, when one owns it.
    pub consumer: Option<Vec<u8>>,
}

/// A consumer of a group.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Consumer name.
    pub name: Vec<u8>,
    /// Last interaction attempt (Unix ms).
    pub seen_time_ms: i64,
    /// Last successful interaction (v3+).
    pub active_time_ms: Option<i64>,
    /// IDs it owns.
    pub pending: Vec<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: Vec<u8>,
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Logical read counter (`None` for v1 or when stored as -1).
    pub entries_read: Option<u64>,
    /// Pending entries.
    pub pending: Vec<PendingEntry>,
    /// Consumers.
    pub consumers: Vec<Consumer>,
    /// NACK zone (v5).
    pub nacked: Vec<StreamId>,
}

/// A fully decoded stream (owned: streams are decoded on request only).
#[derive(Debug, Clone)]
pub struct StreamValue {
    /// Metadata.
    pub meta: StreamMeta,
    /// Live entries in ID order.
    pub entries: Vec<StreamEntry>,
    /// Consumer groups.
    pub groups: Vec<Group>,
}

#[derive(Default)]
struct Collect<'a> {
    nodes: Vec<(super::prim::RdbStr<'a>, super::prim::RdbStr<'a>)>,
    meta: StreamMeta,
    groups: Vec<Group>,
}

impl<'a> StreamVisitor<'a> for Collect<'a> {
    fn node(&mut self, key: super::prim::RdbStr<'a>, lp: super::prim::RdbStr<'a>) {
        self.nodes.push((key, lp));
    }
    fn meta(&mut self, m: &StreamMeta) {
        self.meta = *m;
    }
    fn group(
        &mut self,
        name: super::prim::RdbStr<'a>,
        last_id: StreamId,
        entries_read: Option<u64>,
    ) {
        self.groups.push(Group {
            name: name.to_vec().unwrap_or_default(),
            last_id,
            entries_read: entries_read.filter(|&n| n != u64::MAX),
            pending: Vec::new(),
            consumers: Vec::new(),
            nacked: Vec::new(),
        });
    }
    fn pel(&mut self, id: StreamId, delivery_time_ms: i64, delivery_count: u64) {
        if let Some(g) = self.groups.last_mut() {
            g.pending.push(PendingEntry {
                id,
                delivery_time_ms,
                delivery_count,
                consumer: None,
            });
        }
    }
    fn consumer(&mut self, name: super::prim::RdbStr<'a>, seen: i64, active: Option<i64>) {
        if let Some(g) = self.groups.last_mut() {
            g.consumers.push(Consumer {
                name: name.to_vec().unwrap_or_default(),
                seen_time_ms: seen,
                active_time_ms: active,
                pending: Vec::new(),
            });
        }
    }
    fn consumer_pel(&mut self, id: StreamId) {
        if let Some(g) = self.groups.last_mut()
            && let Some(c) = g.consumers.last_mut()
        {
            c.pending.push(id);
        }
    }
    fn nack(&mut self, id: StreamId) {
        if let Some(g) = self.groups.last_mut() {
            g.nacked.push(id);
        }
    }
}

fn int_of(e: Option<Result<Elem<'_>, Problem>>, what: &'static str) -> Result<i64, Problem> {
    match e {
        Some(Ok(el)) => el.as_int().ok_or(Problem::Invalid {
            what,
            expected: "an integer element",
            found: el.len() as u64,
        }),
        Some(Err(p)) => Err(p),
        None => Err(Problem::Truncated { what }),
    }
}

fn bytes_of(e: Option<Result<Elem<'_>, Problem>>, what: &'static str) -> Result<Vec<u8>, Problem> {
    match e {
        Some(Ok(el)) => Ok(el.to_vec()),
        Some(Err(p)) => Err(p),
        None => Err(Problem::Truncated { what }),
    }
}

/// Most bytes one node may decode to, per byte of its listpack, plus
/// [`NODE_DECODE_SLACK`]. Entries flagged SAMEFIELDS repeat the master
/// entry's field names, so decoding can outgrow the listpack; with Redis'
/// default `stream-node-max-entries 100` a node never reaches 128x. A hostile
/// node (huge field names, thousands of tiny entries) would otherwise decode
/// quadratically.
pub const NODE_DECODE_FACTOR: usize = 128;
/// Constant part of the per-node decode budget.
pub const NODE_DECODE_SLACK: usize = 64 << 10;

/// Decodes the entries of one node listpack, appending live entries.
pub fn decode_node(master: StreamId, lp: &[u8], out: &mut Vec<StreamEntry>) -> Result<(), Problem> {
    let lp = Listpack::parse(lp)?;
    let mut it = lp.iter();
    let count = int_of(it.next(), "stream node master entry")?;
    let deleted = int_of(it.next(), "stream node master entry")?;
    let nfields = int_of(it.next(), "stream node master entry")?;
    if count < 0 || deleted < 0 || !(0..=1 << 20).contains(&nfields) {
        return Err(Problem::Invalid {
            what: "stream node master entry",
            expected: "non-negative counts",
            found: count as u64,
        });
    }
    // Every field takes at least 2 listpack bytes: no allocation from a
    // count the blob cannot hold.
    if nfields as usize > lp.body_len() / 2 {
        return Err(Problem::Length {
            what: "stream node master fields",
            declared: nfields as u64,
            available: lp.body_len() as u64,
        });
    }
    let budget = NODE_DECODE_FACTOR
        .saturating_mul(lp.body_len())
        .saturating_add(NODE_DECODE_SLACK);
    let mut decoded = 0usize;
    let mut master_fields = Vec::with_capacity(nfields as usize);
    for _ in 0..nfields {
        master_fields.push(bytes_of(it.next(), "stream master field")?);
    }
    let zero = int_of(it.next(), "stream master terminator")?;
    if zero != 0 {
        return Err(Problem::Invalid {
            what: "stream node",
            expected: "master entry terminator 0",
            found: zero as u64,
        });
    }
    let total = (count as u64).saturating_add(deleted as u64);
    for _ in 0..total {
        let flags = int_of(it.next(), "stream entry flags")?;
        let ms = int_of(it.next(), "stream entry ID")? as u64;
        let seq = int_of(it.next(), "stream entry ID")? as u64;
        let id = StreamId {
            ms: master.ms.wrapping_add(ms),
            seq: master.seq.wrapping_add(seq),
        };
        let mut fields = Vec::new();
        if flags & 2 != 0 {
            for f in &master_fields {
                decoded = decoded.saturating_add(f.len());
                fields.push((f.clone(), bytes_of(it.next(), "stream entry value")?));
            }
        } else {
            let n = int_of(it.next(), "stream entry field count")?;
            if !(0..=1 << 24).contains(&n) {
                return Err(Problem::Invalid {
                    what: "stream entry",
                    expected: "a plausible field count",
                    found: n as u64,
                });
            }
            for _ in 0..n {
                let f = bytes_of(it.next(), "stream entry field")?;
                let v = bytes_of(it.next(), "stream entry value")?;
                fields.push((f, v));
            }
        }
        let _lp_count = int_of(it.next(), "stream entry lp-count")?;
        if decoded > budget {
            return Err(Problem::Limit {
                what: "stream node decoded size (SAMEFIELDS entries repeat the master fields)",
                limit: budget as u64,
            });
        }
        if flags & 1 == 0 {
            out.push(StreamEntry { id, fields });
        }
    }
    if let Some(e) = it.next() {
        e?;
        return Err(Problem::Invalid {
            what: "stream node",
            expected: "no data after the last entry",
            found: 0,
        });
    }
    Ok(())
}

/// Decodes a whole stream value.
pub fn decode(i: &[u8], v: u8) -> Result<StreamValue, PErr> {
    let mut c = Collect::default();
    let (_, meta) = walk(i, v, &mut c).map_err(crate::error::perr)?;
    let mut entries = Vec::new();
    let mut kbuf = Vec::new();
    let mut lbuf = Vec::new();
    for (key, lp) in &c.nodes {
        let k = key.bytes(&mut kbuf).map_err(|p| PErr::at(i, p))?;
        let (_, master) = raw_stream_id(k).map_err(crate::error::perr)?;
        let blob = lp.bytes(&mut lbuf).map_err(|p| PErr::at(i, p))?;
        decode_node(master, blob, &mut entries).map_err(|p| PErr::at(i, p))?;
    }
    let mut groups = c.groups;
    for g in &mut groups {
        for c in &g.consumers {
            for id in &c.pending {
                // The group PEL is written in ascending ID order (rax order).
                if let Ok(k) = g.pending.binary_search_by(|p| p.id.cmp(id)) {
                    g.pending[k].consumer = Some(c.name.clone());
                }
            }
        }
    }
    let mut meta = meta;
    if meta.first_id.is_none() {
        meta.first_id = entries.first().map(|e| e.id);
    }
    Ok(StreamValue {
        meta,
        entries,
        groups,
    })
}
