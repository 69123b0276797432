//! Stream encoder (types 15, 19, 21), the mirror of
//! [`crate::rdb::read::stream`]: entries packed into node listpacks the way
//! `streamAppendItem` builds them (master entry, SAMEFIELDS compression,
//! `stream-node-max-bytes` 4096 / `stream-node-max-entries` 100), then the
//! metadata, groups, PELs and consumers in radix-tree (ascending) order.

use super::listpack::ListpackBuilder;
use super::prim::{StrEncoder, put_len, put_len_id, put_ms, put_raw_id, put_raw_str};
use crate::rdb::read::StreamId;
use crate::rdb::read::stream::{StreamEntry, StreamValue};

const NODE_MAX_BYTES: usize = 4096;
const NODE_MAX_ENTRIES: usize = 100;

/// Why a stream cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamProblem {
    /// Entry IDs are not strictly ascending.
    Unordered(StreamId),
    /// A consumer owns an ID that is not in its group's PEL.
    OrphanConsumerPel(StreamId),
}

impl std::fmt::Display for StreamProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamProblem::Unordered(id) => {
                write!(f, "stream entry IDs must ascend; {id} is out of order")
            }
            StreamProblem::OrphanConsumerPel(id) => {
                write!(f, "consumer PEL entry {id} is missing from its group's PEL")
            }
        }
    }
}

fn entry_bytes(e: &StreamEntry) -> usize {
    e.fields.iter().map(|(f, v)| f.len() + v.len()).sum()
}

/// Appends a stream value of layout version `ver` (1..=3).
pub fn encode(
    s: &StreamValue,
    ver: u8,
    strs: &mut StrEncoder,
    lp: &mut ListpackBuilder,
    out: &mut Vec<u8>,
) -> Result<(), StreamProblem> {
    for w in s.entries.windows(2) {
        if w[1].id <= w[0].id {
            return Err(StreamProblem::Unordered(w[1].id));
        }
    }
    // Node boundaries, as streamAppendItem decides them before each append.
    let mut nodes: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, e) in s.entries.iter().enumerate() {
        let t = entry_bytes(e);
        if i > start && (bytes + t >= NODE_MAX_BYTES || i - start >= NODE_MAX_ENTRIES) {
            nodes.push(start..i);
            start = i;
            bytes = 0;
        }
        // Overhead per entry: flags, IDs, counts and element headers.
        bytes += t + 4 * e.fields.len() + 8;
    }
    if start < s.entries.len() {
        nodes.push(start..s.entries.len());
    }
    put_len(out, nodes.len() as u64);
    for r in nodes {
        let node = &s.entries[r];
        let master = node[0].id;
        let mfields: Vec<&[u8]> = node[0].fields.iter().map(|(f, _)| f.as_slice()).collect();
        lp.reset();
        lp.push_int(node.len() as i64);
        lp.push_int(0);
        lp.push_int(mfields.len() as i64);
        for f in &mfields {
            lp.push(f);
        }
        lp.push_int(0);
        for e in node {
            let same = e.fields.len() == mfields.len()
                && e.fields.iter().zip(&mfields).all(|((f, _), m)| f == m);
            lp.push_int(if same { 2 } else { 0 });
            lp.push_int(e.id.ms.wrapping_sub(master.ms) as i64);
            lp.push_int(e.id.seq.wrapping_sub(master.seq) as i64);
            if same {
                for (_, v) in &e.fields {
                    lp.push(v);
                }
                lp.push_int(e.fields.len() as i64 + 3);
            } else {
                lp.push_int(e.fields.len() as i64);
                for (f, v) in &e.fields {
                    lp.push(f);
                    lp.push(v);
                }
                lp.push_int(2 * e.fields.len() as i64 + 4);
            }
        }
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&master.ms.to_be_bytes());
        key[8..].copy_from_slice(&master.seq.to_be_bytes());
        put_raw_str(out, &key);
        strs.put(out, lp.finish());
    }
    let m = &s.meta;
    // The stored length, not the entry count: Redis 5/6 files with trimmed
    // streams disagree, load fine, and XLEN reports the stored length.
    put_len(out, m.length);
    put_len_id(out, m.last_id);
    if ver >= 2 {
        put_len_id(out, s.entries.first().map(|e| e.id).unwrap_or_default());
        put_len_id(out, m.max_deleted_id.unwrap_or_default());
        put_len(out, m.entries_added.unwrap_or(s.entries.len() as u64));
    }
    let mut groups: Vec<_> = s.groups.iter().collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    put_len(out, groups.len() as u64);
    for g in groups {
        put_raw_str(out, &g.name);
        put_len_id(out, g.last_id);
        if ver >= 2 {
            put_len(out, g.entries_read.unwrap_or(u64::MAX));
        }
        let mut pel: Vec<_> = g.pending.iter().collect();
        pel.sort_by_key(|p| p.id);
        put_len(out, pel.len() as u64);
        for p in &pel {
            put_raw_id(out, p.id);
            put_ms(out, p.delivery_time_ms);
            put_len(out, p.delivery_count);
        }
        let mut consumers: Vec<_> = g.consumers.iter().collect();
        consumers.sort_by(|a, b| a.name.cmp(&b.name));
        put_len(out, consumers.len() as u64);
        for c in consumers {
            put_raw_str(out, &c.name);
            put_ms(out, c.seen_time_ms);
            if ver >= 3 {
                put_ms(out, c.active_time_ms.unwrap_or(c.seen_time_ms));
            }
            let mut ids = c.pending.clone();
            ids.sort();
            put_len(out, ids.len() as u64);
            for id in ids {
                if pel.binary_search_by_key(&id, |p| p.id).is_err() {
                    return Err(StreamProblem::OrphanConsumerPel(id));
                }
                put_raw_id(out, id);
            }
        }
    }
    Ok(())
}
