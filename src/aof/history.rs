//! `aof history`: every record that touched a key, following it through
//! RENAME/RENAMENX, MOVE, COPY and SWAPDB, and reporting FLUSHDB/FLUSHALL
//! that wiped it. Logged writes are writes that succeeded (the server only
//! propagates commands that changed the dataset), so a logged RENAME moved
//! the value. The set of followed (db, key) names only grows: the original
//! name stays followed after a rename, since it may be written again.

use std::collections::HashSet;

use super::commands::{Lookup, key_positions, lookup};
use super::read::frame::strtol;
use super::read::reader::{AofSink, Command};
use crate::error::Result;
use crate::rdb::read::Record;
use crate::sink::Flow;

/// One thing that happened to a followed key.
#[derive(Debug, Clone)]
pub struct Event {
    /// File index in the load order.
    pub file: usize,
    /// Offset of the record (or of the RDB key record).
    pub offset: u64,
    /// Database.
    pub db: u64,
    /// Last `#TS:` before it.
    pub ts: Option<i64>,
    /// The command's arguments (empty for an RDB key record).
    pub argv: Vec<Vec<u8>>,
    /// The followed name(s) it touched, and any new name it now follows.
    pub note: String,
    /// Inside a MULTI/EXEC block starting at this offset.
    pub multi: Option<u64>,
}

/// The follower; feed it every record of a set.
pub struct History<F> {
    /// Followed names in one db.
    pairs: HashSet<(u64, Vec<u8>)>,
    /// Followed names in every db (the key given without `--db`).
    any_db: HashSet<Vec<u8>>,
    emit: F,
}

fn arg_db(a: &[u8]) -> Option<u64> {
    let (v, n) = strtol(a);
    (n == a.len() && v >= 0).then_some(v as u64)
}

impl<F: FnMut(Event) -> Result<()>> History<F> {
    /// Follows `key` in `db` (or in every db when `None`).
    pub fn new(key: &[u8], db: Option<u64>, emit: F) -> Self {
        let mut h = History {
            pairs: HashSet::new(),
            any_db: HashSet::new(),
            emit,
        };
        match db {
            Some(d) => {
                h.pairs.insert((d, key.to_vec()));
            }
            None => {
                h.any_db.insert(key.to_vec());
            }
        }
        h
    }

    fn followed(&self, db: u64, k: &[u8]) -> bool {
        self.any_db.contains(k) || self.pairs.contains(&(db, k.to_vec()))
    }

    fn follow(&mut self, db: u64, k: &[u8]) -> bool {
        !self.followed(db, k) && self.pairs.insert((db, k.to_vec()))
    }
}

impl<'a, F: FnMut(Event) -> Result<()>> AofSink<'a> for History<F> {
    fn rdb_record(&mut self, file: usize, r: &Record<'_>) -> Result<Flow> {
        if let Record::Key(k) = r
            && let Ok(key) = k.key.to_vec()
            && self.followed(k.db, &key)
        {
            let ttl = k
                .expire_ms
                .map_or(String::new(), |e| format!(", expires at {e} ms"));
            (self.emit)(Event {
                file,
                offset: k.offset,
                db: k.db,
                ts: None,
                argv: Vec::new(),
                note: format!(
                    "in the RDB part: {} {}{ttl}",
                    k.value.data_type().name(),
                    String::from_utf8_lossy(&key)
                ),
                multi: None,
            })?;
        }
        Ok(Flow::Continue)
    }

    fn command(&mut self, c: &Command<'a>) -> Result<Flow> {
        let argv = &c.argv;
        let db = c.db;
        let mut notes: Vec<String> = Vec::new();
        let name = argv.name().unwrap_or_default().to_ascii_lowercase();
        match name.as_slice() {
            b"flushall" => {
                if !self.pairs.is_empty() || !self.any_db.is_empty() {
                    notes.push("every db wiped".into());
                }
            }
            b"flushdb" => {
                let here = !self.any_db.is_empty() || self.pairs.iter().any(|(d, _)| *d == db);
                if here {
                    notes.push(format!("db {db} wiped"));
                }
            }
            b"swapdb" => {
                if let (Some(a), Some(b)) =
                    (argv.get(1).and_then(arg_db), argv.get(2).and_then(arg_db))
                {
                    let moved: Vec<(u64, Vec<u8>)> = self
                        .pairs
                        .iter()
                        .filter(|(d, _)| *d == a || *d == b)
                        .map(|(d, k)| (if *d == a { b } else { a }, k.clone()))
                        .collect();
                    for (d, k) in moved {
                        notes.push(format!("{} now in db {d}", String::from_utf8_lossy(&k)));
                        self.pairs.insert((d, k));
                    }
                    if !self.any_db.is_empty() {
                        notes.push(format!("dbs {a} and {b} swapped"));
                    }
                }
            }
            _ => {
                if let Lookup::Known(info) = lookup(argv) {
                    let keys = key_positions(info, argv);
                    let touched: Vec<usize> = keys
                        .iter()
                        .copied()
                        .filter(|&i| argv.get(i).is_some_and(|k| self.followed(db, k)))
                        .collect();
                    if !touched.is_empty() {
                        for &i in &touched {
                            notes.push(
                                String::from_utf8_lossy(argv.get(i).unwrap_or_default())
                                    .into_owned(),
                            );
                        }
                        let src = |i: usize| touched.contains(&i);
                        match name.as_slice() {
                            b"rename" | b"renamenx" if src(1) => {
                                if let Some(dst) = argv.get(2)
                                    && self.follow(db, dst)
                                {
                                    notes.push(format!(
                                        "now also following {}",
                                        String::from_utf8_lossy(dst)
                                    ));
                                }
                            }
                            b"move" if src(1) => {
                                if let (Some(k), Some(d)) =
                                    (argv.get(1), argv.get(2).and_then(arg_db))
                                    && self.follow(d, k)
                                {
                                    notes.push(format!("now also following it in db {d}"));
                                }
                            }
                            b"copy" if src(1) => {
                                let mut dst_db = db;
                                let mut it = argv.iter().skip(3);
                                while let Some(a) = it.next() {
                                    if a.eq_ignore_ascii_case(b"db")
                                        && let Some(d) = it.next().and_then(arg_db)
                                    {
                                        dst_db = d;
                                    }
                                }
                                if let Some(dst) = argv.get(2)
                                    && self.follow(dst_db, dst)
                                {
                                    notes.push(format!(
                                        "now also following the copy {} in db {dst_db}",
                                        String::from_utf8_lossy(dst)
                                    ));
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        if !notes.is_empty() {
            (self.emit)(Event {
                file: c.file,
                offset: c.offset,
                db,
                ts: c.ts,
                argv: argv.iter().map(<[u8]>::to_vec).collect(),
                note: notes.join("; "),
                multi: c.multi,
            })?;
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::read::reader::{ReadOptions, ScanState, scan_file};

    fn resp(args: &[&str]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        v
    }

    #[test]
    fn follows_renames_moves_copies_and_swaps() {
        let mut d = Vec::new();
        for c in [
            &["set", "k", "1"][..],
            &["set", "other", "1"],
            &["rename", "k", "k2"],
            &["incr", "k2"],
            &["move", "k2", "5"],
            &["SELECT", "5"],
            &["copy", "k2", "k3", "DB", "6"],
            &["swapdb", "6", "7"],
            &["SELECT", "7"],
            &["del", "k3"],
            &["flushall"],
        ] {
            d.extend(resp(c));
        }
        let mut ev = Vec::new();
        let mut h = History::new(b"k", Some(0), |e: Event| {
            ev.push((e.db, String::from_utf8(e.argv[0].clone()).unwrap()));
            Ok(())
        });
        scan_file(
            &d,
            0,
            &ReadOptions::default(),
            &mut ScanState::default(),
            &mut h,
        )
        .unwrap();
        let names: Vec<_> = ev.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "set", "rename", "incr", "move", "copy", "swapdb", "del", "flushall"
            ]
        );
        assert_eq!(ev[6].0, 7);
    }
}
