//! Down-conversion: fitting a key into a target version that lacks one of
//! its features. A faithful equivalent is used when one exists (a hash
//! whose fields all expire together becomes a key TTL); otherwise the loss
//! must be accepted by name (`--lossy`), or the key is refused.

use super::version::{Loss, RdbVersion};
use crate::model::owned::{OwnedKey, OwnedValue};
use crate::rdb::read::StreamId;

/// What to do with a key after adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it (possibly changed).
    Keep,
    /// Leave it out (its loss was accepted).
    Drop,
}

fn check(needed: Loss, allowed: &[Loss]) -> Result<(), Loss> {
    if allowed.contains(&needed) {
        Ok(())
    } else {
        Err(needed)
    }
}

/// Adapts `k` to `t`. `Err(loss)` names the first loss the key needs that
/// `allowed` does not accept; the key is then unchanged in the ways that
/// matter to the caller (it must not be written).
pub fn adapt(k: &mut OwnedKey, t: RdbVersion, allowed: &[Loss]) -> Result<Verdict, Loss> {
    if !t.has_rdb9() && (k.idle_s.is_some() || k.freq.is_some()) {
        check(Loss::EvictionHints, allowed)?;
        k.idle_s = None;
        k.freq = None;
    }
    match &mut k.value {
        OwnedValue::Hash(fields) if !t.has_field_ttl() => {
            let ttls: Vec<i64> = fields.iter().filter_map(|f| f.expire_ms).collect();
            if let Some(&min) = ttls.iter().min() {
                let all_same = ttls.len() == fields.len() && ttls.iter().all(|&x| x == min);
                if all_same {
                    // Every field expires at `min`: so does the hash.
                    k.expire_ms = Some(k.expire_ms.map_or(min, |e| e.min(min)));
                } else if k.expire_ms.is_some_and(|e| e <= min) {
                    // The key expires before any field would.
                } else {
                    check(Loss::FieldTtl, allowed)?;
                }
                fields.iter_mut().for_each(|f| f.expire_ms = None);
                k.source_type = None;
            }
        }
        OwnedValue::Stream(s) => {
            let Some(ver) = t.stream_version() else {
                check(Loss::Keys, allowed)?;
                return Ok(Verdict::Drop);
            };
            if ver < 3 {
                let differs = s.groups.iter().any(|g| {
                    g.consumers
                        .iter()
                        .any(|c| c.active_time_ms.is_some_and(|a| a != c.seen_time_ms))
                });
                if differs {
                    check(Loss::ActiveTime, allowed)?;
                }
                for g in &mut s.groups {
                    g.consumers.iter_mut().for_each(|c| c.active_time_ms = None);
                }
            }
            if ver < 2 {
                let m = &s.meta;
                let derived = m.max_deleted_id.is_none_or(|id| id == StreamId::default())
                    && m.entries_added.is_none_or(|n| n == s.entries.len() as u64)
                    && s.groups.iter().all(|g| g.entries_read.is_none());
                if !derived {
                    check(Loss::StreamMeta, allowed)?;
                }
                s.meta.max_deleted_id = None;
                s.meta.entries_added = None;
                s.groups.iter_mut().for_each(|g| g.entries_read = None);
            }
        }
        OwnedValue::Module(_) if !t.has_rdb8() => {
            check(Loss::Keys, allowed)?;
            return Ok(Verdict::Drop);
        }
        OwnedValue::Opaque { type_byte, .. } if !t.accepts_type(*type_byte) => {
            check(Loss::Keys, allowed)?;
            return Ok(Verdict::Drop);
        }
        _ => {}
    }
    Ok(Verdict::Keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::owned::HashField;

    fn hash(ttls: &[Option<i64>], expire: Option<i64>) -> OwnedKey {
        OwnedKey {
            db: 0,
            key: b"h".to_vec(),
            expire_ms: expire,
            idle_s: None,
            freq: None,
            value: OwnedValue::Hash(
                ttls.iter()
                    .enumerate()
                    .map(|(i, t)| HashField {
                        field: vec![b'a' + i as u8],
                        value: b"v".to_vec(),
                        expire_ms: *t,
                    })
                    .collect(),
            ),
            source_type: Some(25),
        }
    }

    #[test]
    fn field_ttls_into_rdb11() {
        let t = RdbVersion::new(11).unwrap();
        let mut k = hash(&[Some(5000), Some(5000)], None);
        assert_eq!(adapt(&mut k, t, &[]), Ok(Verdict::Keep));
        assert_eq!(k.expire_ms, Some(5000));
        let mut k = hash(&[Some(5000), None], Some(4000));
        assert_eq!(adapt(&mut k, t, &[]), Ok(Verdict::Keep));
        assert_eq!(k.expire_ms, Some(4000));
        let mut k = hash(&[Some(5000), None], None);
        assert_eq!(adapt(&mut k, t, &[]), Err(Loss::FieldTtl));
        assert_eq!(adapt(&mut k, t, &[Loss::FieldTtl]), Ok(Verdict::Keep));
        assert_eq!(k.expire_ms, None);
        let mut k = hash(&[Some(5000), None], None);
        assert_eq!(
            adapt(&mut k, RdbVersion::new(12).unwrap(), &[]),
            Ok(Verdict::Keep)
        );
        let OwnedValue::Hash(f) = &k.value else {
            unreachable!()
        };
        assert_eq!(f[0].expire_ms, Some(5000));
    }
}
