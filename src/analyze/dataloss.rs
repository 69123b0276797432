//! The data-loss view (the causes Azure's data-loss guide lists): keys
//! already expired at snapshot time, keys no `volatile-*` policy can evict,
//! empty databases and keys in databases the operator did not expect.

use std::collections::BTreeMap;

use serde::Serialize;

use super::facts::{FileFacts, KeyFacts};
use super::prefix::{PrefixMap, label};
use super::ttl::PrefixCount;

/// The data-loss section.
#[derive(Debug, Clone, Serialize)]
pub struct DataLossReport {
    /// Reference time (Unix ms).
    pub reference_ms: i64,
    /// Keys whose TTL had passed at the reference time: a loading server
    /// drops them.
    pub expired_keys: u64,
    /// Their modelled bytes.
    pub expired_bytes: u64,
    /// Expired keys by prefix.
    pub expired_by_prefix: Vec<PrefixCount>,
    /// Keys with a TTL: the only candidates of `volatile-*` policies.
    pub volatile_keys: u64,
    /// Keys without TTL: never evicted under `volatile-*`; when they fill
    /// `maxmemory`, writes fail with OOM errors.
    pub persistent_keys: u64,
    /// Bytes of keys without TTL.
    pub persistent_bytes: u64,
    /// Share of modelled bytes held by keys without TTL.
    pub persistent_share: f64,
    /// Databases announced in the file that hold no key.
    pub empty_dbs: Vec<u64>,
    /// Keys per database outside the expected set.
    pub unexpected_dbs: BTreeMap<u64, u64>,
    /// The expected databases.
    pub expected_dbs: Vec<u64>,
    /// One-line findings for people.
    pub findings: Vec<String>,
}

/// Builds the data-loss section.
pub struct DataLoss {
    now_ms: i64,
    top: usize,
    expected: Vec<u64>,
    expired_keys: u64,
    expired_bytes: u64,
    expired: PrefixMap<PrefixCount>,
    volatile_keys: u64,
    persistent_keys: u64,
    persistent_bytes: u64,
    total_bytes: u64,
    per_db: BTreeMap<u64, u64>,
}

impl DataLoss {
    /// A builder; `expected` lists the databases keys should be in.
    pub fn new(now_ms: i64, expected: Vec<u64>, top: usize, cap: usize) -> Self {
        DataLoss {
            now_ms,
            top,
            expected,
            expired_keys: 0,
            expired_bytes: 0,
            expired: PrefixMap::new(cap),
            volatile_keys: 0,
            persistent_keys: 0,
            persistent_bytes: 0,
            total_bytes: 0,
            per_db: BTreeMap::new(),
        }
    }

    /// The expired keys of `prefix` (or of the "other" bucket when full).
    pub fn expired(&mut self, prefix: &[u8]) -> &mut PrefixCount {
        self.expired.get(prefix)
    }

    /// Counts one key but for its prefix; true when it had expired.
    pub fn count(&mut self, k: &KeyFacts<'_>) -> bool {
        let bytes = k.mem.bytes;
        self.total_bytes += bytes;
        *self.per_db.entry(k.db).or_default() += 1;
        match k.expire_ms {
            Some(e) => {
                self.volatile_keys += 1;
                if e <= self.now_ms {
                    self.expired_keys += 1;
                    self.expired_bytes += bytes;
                    return true;
                }
            }
            None => {
                self.persistent_keys += 1;
                self.persistent_bytes += bytes;
            }
        }
        false
    }

    /// Adds the counts of `o` (built by [`count`](Self::count) alone).
    pub fn merge_counts(&mut self, o: &DataLoss) {
        self.total_bytes += o.total_bytes;
        self.volatile_keys += o.volatile_keys;
        self.expired_keys += o.expired_keys;
        self.expired_bytes += o.expired_bytes;
        self.persistent_keys += o.persistent_keys;
        self.persistent_bytes += o.persistent_bytes;
        for (db, n) in &o.per_db {
            *self.per_db.entry(*db).or_default() += n;
        }
    }

    /// The finished section.
    pub fn report(self, file: &FileFacts) -> DataLossReport {
        let mut expired: Vec<PrefixCount> = self
            .expired
            .iter()
            .map(|(p, c)| PrefixCount {
                prefix: label(p),
                keys: c.keys,
                bytes: c.bytes,
            })
            .collect();
        expired.sort_by(|a, b| b.keys.cmp(&a.keys).then_with(|| a.prefix.cmp(&b.prefix)));
        expired.truncate(self.top);
        let empty_dbs: Vec<u64> = file
            .dbs_announced
            .keys()
            .filter(|db| !self.per_db.contains_key(db))
            .copied()
            .collect();
        let unexpected: BTreeMap<u64, u64> = self
            .per_db
            .iter()
            .filter(|(db, _)| !self.expected.contains(db))
            .map(|(d, n)| (*d, *n))
            .collect();
        let share = self.persistent_bytes as f64 / self.total_bytes.max(1) as f64;
        let mut findings = Vec::new();
        if self.expired_keys > 0 {
            findings.push(format!(
                "{} keys were already expired at the reference time; a server loading the file drops them",
                self.expired_keys
            ));
        }
        if self.persistent_keys > 0 {
            findings.push(format!(
                "{} keys ({:.1} % of memory) have no TTL: under volatile-* policies they are never evicted, and once they fill maxmemory writes fail with OOM",
                self.persistent_keys,
                share * 100.0
            ));
        }
        if self.volatile_keys == 0 && self.persistent_keys > 0 {
            findings.push("no key has a TTL: a volatile-* policy has nothing to evict".to_string());
        }
        for db in &empty_dbs {
            findings.push(format!("db {db} is announced but holds no key"));
        }
        for (db, n) in &unexpected {
            findings.push(format!(
                "{n} keys in db {db}, outside the expected databases"
            ));
        }
        DataLossReport {
            reference_ms: self.now_ms,
            expired_keys: self.expired_keys,
            expired_bytes: self.expired_bytes,
            expired_by_prefix: expired,
            volatile_keys: self.volatile_keys,
            persistent_keys: self.persistent_keys,
            persistent_bytes: self.persistent_bytes,
            persistent_share: share,
            empty_dbs,
            unexpected_dbs: unexpected,
            expected_dbs: self.expected,
            findings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::facts::FileFacts;

    #[test]
    fn empty_and_unexpected_dbs() {
        // Servers write no SELECTDB for empty databases, so an announced
        // empty db only comes from other writers: build the facts directly.
        let mut file = FileFacts::default();
        file.dbs_announced.insert(0, Some(0));
        file.dbs_announced.insert(2, None);
        let mut d = DataLoss::new(0, vec![0], 10, 10);
        d.per_db.insert(2, 3);
        let r = d.report(&file);
        assert_eq!(r.empty_dbs, vec![0]);
        assert_eq!(r.unexpected_dbs.get(&2), Some(&3));
        assert_eq!(r.findings.len(), 2);
    }
}
