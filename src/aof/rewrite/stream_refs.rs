//! Redis 8.2's stream deletion policies and the commands that take them,
//! as a server logs them verbatim: XDELEX, XACKDEL, and the KEEPREF /
//! DELREF / ACKED option of XADD and XTRIM trimming. An entry is still
//! referenced while some consumer group has not been delivered it (its
//! last ID is below) or holds it pending. KEEPREF deletes and leaves the
//! pending entries (the default, XDEL's behaviour); DELREF also drops the
//! entry from every group's pending list (even an entry already gone);
//! ACKED deletes only entries no group references (trimming skips the
//! others and goes on). Deleting an entry by ID raises the stream's
//! largest deleted ID; trimming does not.

use super::keyspace::{Id, Stream};
use super::replay::{Fail, Trim};

/// What a deletion does about consumer groups' references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefPolicy {
    /// Delete; pending entries stay.
    #[default]
    KeepRef,
    /// Delete and drop the entry from every pending list.
    DelRef,
    /// Delete only what no group references.
    Acked,
}

impl RefPolicy {
    /// The policy an argument names, if it names one.
    pub fn parse(b: &[u8]) -> Option<RefPolicy> {
        match b.to_ascii_lowercase().as_slice() {
            b"keepref" => Some(RefPolicy::KeepRef),
            b"delref" => Some(RefPolicy::DelRef),
            b"acked" => Some(RefPolicy::Acked),
            _ => None,
        }
    }
}

/// Whether a consumer group still needs the entry.
fn referenced(s: &Stream, id: Id) -> bool {
    s.groups
        .values()
        .any(|g| g.last_id < id || g.pel.contains_key(&id))
}

/// Drops the entries' pending references from every group.
fn drop_refs(s: &mut Stream, ids: &[Id]) {
    for g in s.groups.values_mut() {
        for id in ids {
            g.pel.remove(id);
        }
    }
}

/// Deletes one entry under `p` (XDELEX). DELREF drops the pending
/// references even when the entry itself is already gone.
fn delete(s: &mut Stream, id: Id, p: RefPolicy) {
    if p == RefPolicy::DelRef {
        drop_refs(s, &[id]);
    }
    if !s.entries.contains_key(&id) || (p == RefPolicy::Acked && referenced(s, id)) {
        return;
    }
    s.entries.remove(&id);
    s.max_deleted = s.max_deleted.max(id);
}

/// Trims from the head under `p`: MAXLEN deletes until the length is
/// reached, MINID the entries below the ID; ACKED passes over referenced
/// entries.
pub fn trim(s: &mut Stream, t: Trim, p: RefPolicy) {
    let keep = |s: &Stream, id: Id| p == RefPolicy::Acked && referenced(s, id);
    let doomed: Vec<Id> = match t {
        Trim::MaxLen(n) => {
            let excess = (s.entries.len() as u64).saturating_sub(n) as usize;
            s.entries
                .keys()
                .filter(|id| !keep(s, **id))
                .take(excess)
                .copied()
                .collect()
        }
        Trim::MinId(min) => s
            .entries
            .keys()
            .take_while(|id| **id < min)
            .filter(|id| !keep(s, **id))
            .copied()
            .collect(),
    };
    for id in &doomed {
        s.entries.remove(id);
    }
    if p == RefPolicy::DelRef {
        drop_refs(s, &doomed);
    }
}

/// Parses `[policy] IDS n id…` at `a[i..]`.
fn policy_and_ids(a: &[&[u8]], mut i: usize) -> Result<(RefPolicy, Vec<Id>), Fail> {
    let mut p = RefPolicy::default();
    if let Some(x) = a.get(i).and_then(|x| RefPolicy::parse(x)) {
        p = x;
        i += 1;
    }
    if !a.get(i).is_some_and(|x| x.eq_ignore_ascii_case(b"ids")) {
        return Err(Fail::Err);
    }
    let n = super::replay::int(a.get(i + 1).ok_or(Fail::Err)?)?;
    let ids = a.get(i + 2..).unwrap_or_default();
    if n < 1 || ids.len() as i64 != n {
        return Err(Fail::Err);
    }
    let ids = ids
        .iter()
        .map(|x| super::replay::parse_id(x, 0))
        .collect::<Result<Vec<Id>, Fail>>()?;
    Ok((p, ids))
}

/// `XDELEX key [policy] IDS n id…` on the stream at the key.
pub fn xdelex(s: &mut Stream, a: &[&[u8]]) -> Result<(), Fail> {
    let (p, ids) = policy_and_ids(a, 2)?;
    for id in ids {
        delete(s, id, p);
    }
    Ok(())
}

/// `XACKDEL key group [policy] IDS n id…`: each ID pending in the group
/// is acknowledged, then deleted under the policy (an ID the group does
/// not hold pending is left alone).
pub fn xackdel(s: &mut Stream, a: &[&[u8]]) -> Result<(), Fail> {
    let g = a.get(2).ok_or(Fail::Err)?;
    let (p, ids) = policy_and_ids(a, 3)?;
    if !s.groups.contains_key(*g) {
        return Err(Fail::Err);
    }
    for id in ids {
        let acked = s
            .groups
            .get_mut(*g)
            .is_some_and(|grp| grp.pel.remove(&id).is_some());
        if acked {
            delete(s, id, p);
        }
    }
    Ok(())
}
