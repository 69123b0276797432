//! SORT … STORE (the only form a server logs), as Redis `src/sort.c`
//! (`sortCommandGeneric`) computes it: the elements of a list, set or
//! sorted set, weighted by themselves or by a `BY` pattern (`*` replaced
//! by the element, `->field` reading a hash field; a constant pattern
//! means no sorting: list order, or score order for a sorted set, and for
//! a set an ALPHA sort so the result is deterministic), compared as
//! doubles (ties by the element's bytes) or with ALPHA as bytes (STORE
//! compares binary, not by locale), `DESC`, `LIMIT`, and `GET` patterns
//! (`#` is the element; a missing value stores an empty string). The
//! result replaces the destination as a list, or deletes it when empty.
//!
//! With ALPHA and a BY pattern, two different elements whose weights are
//! equal have no defined order on the server (its sort is not told how to
//! break the tie, and a hashed set's iteration order is the server's own):
//! such a SORT is refused as not reproducible, unless the source is a list
//! sorted whole (the C library's stable merge sort keeps list order).

use std::collections::VecDeque;

use super::keyspace::{Bytes, Db, Entry, Score, Val};
use super::replay::{Fail, int};

/// What a SORT does to the keyspace.
pub enum Sorted {
    /// Not a STORE (servers do not log one): it changes nothing.
    Read,
    /// Store this list in the destination (delete it when empty).
    Store(Vec<u8>, VecDeque<Bytes>),
}

/// A parsed SORT.
pub struct Sort<'a> {
    key: &'a [u8],
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

/// Whether a SORT (its arguments in order, name first) reads keys named
/// by its elements: a BY pattern with `*`, or a GET pattern other than
/// `#`. No part of a keyspace partitioned by key hash can be sure to hold
/// those, so such a SORT ties the parts together.
pub fn reads_pattern_keys<'a>(args: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut prev: Option<&[u8]> = None;
    for a in args {
        match prev {
            Some(p) if p.eq_ignore_ascii_case(b"by") && a.contains(&b'*') => return true,
            Some(p) if p.eq_ignore_ascii_case(b"get") && a != b"#" => return true,
            _ => {}
        }
        prev = Some(a);
    }
    false
}

fn unmodelled(what: &str) -> Fail {
    Fail::Unmodelled(format!("SORT … STORE {what}"))
}

/// Looks up `pattern` with `*` replaced by `elem` (`lookupKeyByPattern`):
/// a string value, or a hash field with `->field`; `#` is the element.
fn by_pattern(db: &Db, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < after.len());
    let (post, field) = match arrow {
        Some(i) => (&after[..i], Some(&after[i + 2..])),
        None => (after, None),
    };
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    match (db.get(key.as_slice()).map(|e| &e.val), field) {
        (Some(Val::Str(s)), None) => Some(s.clone()),
        (Some(Val::Hash(h)), Some(f)) => h.get(f).map(|(v, _)| v.to_vec()),
        _ => None,
    }
}

/// `strtod` as SORT checks it: the whole text a finite double (or
/// infinity), never NaN, no overflow.
fn score(b: &[u8]) -> Result<f64, Fail> {
    let s = std::str::from_utf8(b).map_err(|_| Fail::Err)?;
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let lower = t.to_ascii_lowercase();
    let digits = lower.trim_start_matches(['+', '-']);
    if digits.starts_with("0x") {
        return Err(unmodelled("with a hexadecimal weight"));
    }
    let v: f64 = t.parse().map_err(|_| Fail::Err)?;
    let named_inf = matches!(digits, "inf" | "infinity");
    if v.is_nan() || (v.is_infinite() && !named_inf) {
        return Err(Fail::Err);
    }
    Ok(v)
}

impl<'a> Sort<'a> {
    /// Parses `SORT key [BY p] [LIMIT o c] [GET p …] [ASC|DESC] [ALPHA]
    /// [STORE dst]`.
    pub fn parse(a: &[&'a [u8]]) -> Result<Sort<'a>, Fail> {
        let key = *a.get(1).ok_or(Fail::Err)?;
        let mut s = Sort {
            key,
            desc: false,
            alpha: false,
            limit: None,
            by: None,
            gets: Vec::new(),
            store: None,
        };
        let mut j = 2;
        while j < a.len() {
            let left = a.len() - j - 1;
            match a[j].to_ascii_lowercase().as_slice() {
                b"asc" => s.desc = false,
                b"desc" => s.desc = true,
                b"alpha" => s.alpha = true,
                b"limit" if left >= 2 => {
                    s.limit = Some((int(a[j + 1])?, int(a[j + 2])?));
                    j += 2;
                }
                b"store" if left >= 1 => {
                    s.store = Some(a[j + 1]);
                    j += 1;
                }
                b"by" if left >= 1 => {
                    s.by = Some(a[j + 1]);
                    j += 1;
                }
                b"get" if left >= 1 => {
                    s.gets.push(a[j + 1]);
                    j += 1;
                }
                _ => return Err(Fail::Err),
            }
            j += 1;
        }
        Ok(s)
    }

    /// The key sorted, when it holds a sorted set: the server converts it
    /// to a skiplist for sorting, and it stays one.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// Runs the sort against `db`.
    pub fn run(&self, db: &Db) -> Result<Sorted, Fail> {
        let mut dontsort = self.by.is_some_and(|b| !b.contains(&b'*'));
        let (mut alpha, mut by) = (self.alpha, self.by);
        let src = db.get(self.key).map(|e: &Entry| &e.val);
        let (elems, is_list): (Vec<Bytes>, bool) = match src {
            None => (Vec::new(), true),
            Some(Val::List(l)) => (l.iter().cloned().collect(), true),
            Some(Val::Set(s)) => {
                if dontsort && self.store.is_some() {
                    // A set's own order is not deterministic: sort it.
                    dontsort = false;
                    alpha = true;
                    by = None;
                }
                (s.iter().cloned().collect(), false)
            }
            Some(Val::ZSet(z)) => (z.ordered().iter().map(|(_, m)| m.clone()).collect(), false),
            Some(_) => return Err(Fail::Err),
        };
        let Some(dst) = self.store else {
            return Ok(Sorted::Read);
        };
        let n = elems.len() as i64;
        let (lstart, lcount) = self.limit.unwrap_or((0, -1));
        let mut start = lstart.clamp(0, n);
        let count = lcount.max(-1).min(n);
        let mut end = if count < 0 { n - 1 } else { start + count - 1 };
        if start >= n {
            start = n - 1;
            end = n - 2;
        }
        end = end.min(n - 1);
        let whole = start == 0 && end == n - 1;
        let picked: Vec<Bytes> = if dontsort {
            // List and sorted-set order, reversed by DESC.
            let mut e = elems;
            if self.desc {
                e.reverse();
            }
            e
        } else {
            let mut v: Vec<(Bytes, Option<f64>, Option<Vec<u8>>)> = Vec::with_capacity(elems.len());
            for m in elems {
                let w = match by {
                    Some(p) => by_pattern(db, p, &m),
                    None => Some(m.to_vec()),
                };
                let (num, cmp) = match (alpha, w) {
                    (true, w) => (None, if by.is_some() { w } else { None }),
                    (false, Some(w)) => (Some(score(&w)?), None),
                    (false, None) => (Some(0.0), None),
                };
                v.push((m, num, cmp));
            }
            if alpha && by.is_some() && !(is_list && whole) {
                let mut ws: Vec<(&Option<Vec<u8>>, &Bytes)> =
                    v.iter().map(|(m, _, c)| (c, m)).collect();
                ws.sort();
                if ws.windows(2).any(|p| p[0].0 == p[1].0 && p[0].1 != p[1].1) {
                    return Err(unmodelled(
                        "ALPHA BY with equal weights: the server leaves their order undefined",
                    ));
                }
            }
            v.sort_by(|x, y| {
                let c = if !alpha {
                    Score(x.1.unwrap_or(0.0))
                        .cmp(&Score(y.1.unwrap_or(0.0)))
                        .then_with(|| x.0.cmp(&y.0))
                } else if by.is_some() {
                    x.2.cmp(&y.2)
                } else {
                    x.0.cmp(&y.0)
                };
                if self.desc { c.reverse() } else { c }
            });
            v.into_iter().map(|(m, _, _)| m).collect()
        };
        let mut out = VecDeque::new();
        if end >= start {
            for m in &picked[start as usize..=end as usize] {
                if self.gets.is_empty() {
                    out.push_back(m.clone());
                }
                for g in &self.gets {
                    let v = by_pattern(db, g, m).unwrap_or_default();
                    out.push_back(Bytes::from(v));
                }
            }
        }
        Ok(Sorted::Store(dst.to_vec(), out))
    }
}

#[cfg(test)]
mod tests {
    use super::reads_pattern_keys;

    #[test]
    fn patterns_that_read_other_keys_are_found() {
        let reads = |a: &[&str]| reads_pattern_keys(a.iter().map(|x| x.as_bytes()));
        assert!(reads(&["SORT", "l", "BY", "w_*", "STORE", "d"]));
        assert!(reads(&[
            "SORT", "l", "GET", "#", "GET", "h_*->f", "STORE", "d"
        ]));
        assert!(!reads(&[
            "SORT", "l", "BY", "nosort", "GET", "#", "STORE", "d"
        ]));
        // A key named "by" is not the BY option's pattern.
        assert!(!reads(&["SORT", "by", "STORE", "d"]));
    }
}
