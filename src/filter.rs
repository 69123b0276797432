//! Key filters shared by the commands that select keys (convert, restore):
//! database, key regex, prefix, type, expired keys, database mapping. A
//! [`FilterSink`] applies them between the reader and any other sink.

use regex::bytes::Regex;

use crate::cluster::slot::{SlotSet, key_slot};
use crate::error::{Error, Result};
use crate::model::DataType;
use crate::rdb::read::{Header, KeyRecord, Record, Trailer};
use crate::sink::{Flow, RecordSink};

/// What to do with keys whose expiry is already past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Expired {
    /// Keep them (a server loading the output as master drops them).
    Keep,
    /// Leave them out.
    Drop,
}

/// Key selection and database mapping.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Only these databases (empty: all).
    pub dbs: Vec<u64>,
    /// Only keys matching this regex.
    pub key_regex: Option<Regex>,
    /// Only keys starting with one of these prefixes (empty: all).
    pub prefixes: Vec<Vec<u8>>,
    /// Only these types (empty: all).
    pub types: Vec<DataType>,
    /// Expired-key policy, judged against `now_ms`.
    pub expired: Expired,
    /// The time expiries are compared with (Unix ms).
    pub now_ms: i64,
    /// Database renumbering (`from`, `to`).
    pub db_map: Vec<(u64, u64)>,
    /// Only keys whose cluster hash slot is in this set.
    pub slots: Option<SlotSet>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            dbs: Vec::new(),
            key_regex: None,
            prefixes: Vec::new(),
            types: Vec::new(),
            expired: Expired::Keep,
            now_ms: 0,
            db_map: Vec::new(),
            slots: None,
        }
    }
}

/// Parses a `--db-map` item `FROM=TO`.
pub fn parse_db_map(s: &str) -> Result<(u64, u64)> {
    let bad = || Error::usage(format!("--db-map expects FROM=TO (e.g. 0=3), got {s:?}"));
    let (a, b) = s.split_once('=').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

impl Filter {
    /// True when the filter selects every key unchanged (so database
    /// sizing hints stay valid).
    pub fn is_identity(&self) -> bool {
        self.dbs.is_empty()
            && self.key_regex.is_none()
            && self.prefixes.is_empty()
            && self.types.is_empty()
            && self.expired == Expired::Keep
            && self.db_map.is_empty()
            && self.slots.is_none()
    }

    /// The database a source database maps to.
    pub fn map_db(&self, db: u64) -> u64 {
        self.db_map
            .iter()
            .find(|(f, _)| *f == db)
            .map_or(db, |(_, t)| *t)
    }

    /// True when a key with these properties is selected.
    pub fn selects(&self, db: u64, key: &[u8], t: DataType, expire_ms: Option<i64>) -> bool {
        (self.dbs.is_empty() || self.dbs.contains(&db))
            && (self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p)))
            && (self.types.is_empty() || self.types.contains(&t))
            && !(self.expired == Expired::Drop && expire_ms.is_some_and(|e| e <= self.now_ms))
            && self.key_regex.as_ref().is_none_or(|r| r.is_match(key))
            && self
                .slots
                .as_ref()
                .is_none_or(|s| s.contains(key_slot(key)))
    }
}

/// Passes selected keys (with mapped databases) and non-key records to the
/// inner sink; counts what it left out.
pub struct FilterSink<S> {
    /// The filter.
    pub filter: Filter,
    /// The downstream sink.
    pub inner: S,
    /// Keys left out.
    pub skipped: u64,
    kbuf: Vec<u8>,
}

impl<S> FilterSink<S> {
    /// Wraps `inner`.
    pub fn new(filter: Filter, inner: S) -> Self {
        FilterSink {
            filter,
            inner,
            skipped: 0,
            kbuf: Vec::new(),
        }
    }
}

impl<S: RecordSink> RecordSink for FilterSink<S> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.inner.header(h)
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        let f = &self.filter;
        match r {
            Record::Key(k) => {
                let key = k
                    .key
                    .bytes(&mut self.kbuf)
                    .map_err(|p| Error::parse(p, k.offset))?;
                if !f.selects(k.db, key, k.value.data_type(), k.expire_ms) {
                    self.skipped += 1;
                    return Ok(Flow::Continue);
                }
                let mapped = KeyRecord {
                    db: f.map_db(k.db),
                    ..*k
                };
                self.inner.record(&Record::Key(mapped))
            }
            Record::SelectDb { db } => {
                if !f.dbs.is_empty() && !f.dbs.contains(db) {
                    return Ok(Flow::Continue);
                }
                self.inner.record(&Record::SelectDb { db: f.map_db(*db) })
            }
            // Sizing hints no longer hold once keys are left out.
            Record::ResizeDb { .. } | Record::SlotInfo { .. } if !f.is_identity() => {
                Ok(Flow::Continue)
            }
            other => self.inner.record(other),
        }
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.inner.finish(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_filter_selects_by_hash_slot() {
        let f = Filter {
            slots: SlotSet::parse("12182,0-100").ok(),
            ..Filter::default()
        };
        // "foo" is in slot 12182; a hash tag moves a key to its tag's slot.
        assert!(f.selects(0, b"foo", DataType::String, None));
        assert!(f.selects(0, b"{foo}:bar", DataType::Hash, None));
        assert!(!f.selects(0, b"bar", DataType::String, None));
        assert!(!f.is_identity());
    }
}
