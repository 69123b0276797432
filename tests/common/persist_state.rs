//! The keyspace model the persistence tests recover into and compare:
//! strings, lists and hashes per db, fed by `rdbtool::persist` recovery
//! (BASE keys, RPUSH/HSET/SET commands) or read back from a redis-server.

#![allow(dead_code)] // each test file uses a different subset

use std::collections::BTreeMap;

use rdbtool::model::owned::{OwnedKey, OwnedValue};
use rdbtool::persist::{BoxError, Replay};

use super::persist_redis::Server;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V {
    S(Vec<u8>),
    L(Vec<Vec<u8>>),
    H(BTreeMap<Vec<u8>, Vec<u8>>),
}

/// A keyspace: (db, key) → value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State(pub BTreeMap<(u64, Vec<u8>), V>);

impl State {
    pub fn rpush(&mut self, db: u64, k: &[u8], v: &[u8]) -> Result<(), BoxError> {
        match self.0.entry((db, k.to_vec())).or_insert(V::L(Vec::new())) {
            V::L(l) => {
                l.push(v.to_vec());
                Ok(())
            }
            _ => Err("RPUSH on a non-list".into()),
        }
    }
    pub fn hset(&mut self, db: u64, k: &[u8], f: &[u8], v: &[u8]) -> Result<(), BoxError> {
        match self
            .0
            .entry((db, k.to_vec()))
            .or_insert(V::H(BTreeMap::new()))
        {
            V::H(h) => {
                h.insert(f.to_vec(), v.to_vec());
                Ok(())
            }
            _ => Err("HSET on a non-hash".into()),
        }
    }
    pub fn set(&mut self, db: u64, k: &[u8], v: &[u8]) {
        self.0.insert((db, k.to_vec()), V::S(v.to_vec()));
    }

    /// The highest operation number present: the last operation applied
    /// (every operation writes its number, later ones overwrite earlier).
    pub fn last_op(&self) -> u64 {
        let num = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        self.0
            .values()
            .flat_map(|v| match v {
                V::S(s) => vec![num(s)],
                V::L(l) => l.iter().map(|e| num(e)).collect(),
                V::H(h) => h.values().map(|e| num(e)).collect(),
            })
            .max()
            .unwrap_or(0)
    }
}

impl Replay for State {
    fn key(&mut self, k: OwnedKey) -> Result<(), BoxError> {
        let v = match k.value {
            OwnedValue::String(s) => V::S(s),
            OwnedValue::List(l) => V::L(l),
            OwnedValue::Hash(h) => V::H(h.into_iter().map(|f| (f.field, f.value)).collect()),
            other => return Err(format!("unexpected {:?}", other.data_type()).into()),
        };
        self.0.insert((k.db, k.key), v);
        Ok(())
    }
    fn command(&mut self, db: u64, argv: &[&[u8]]) -> Result<(), BoxError> {
        match argv {
            [c, k, v] if c.eq_ignore_ascii_case(b"rpush") => self.rpush(db, k, v),
            [c, k, f, v] if c.eq_ignore_ascii_case(b"hset") => self.hset(db, k, f, v),
            [c, k, v] if c.eq_ignore_ascii_case(b"set") => {
                self.set(db, k, v);
                Ok(())
            }
            _ => Err(format!(
                "unexpected command {:?}",
                argv.first().map(|a| a.escape_ascii().to_string())
            )
            .into()),
        }
    }
}

/// The keyspace a redis-server holds (dbs 0 and 1).
pub fn redis_state(s: &Server) -> State {
    let mut c = s.client();
    let mut st = State::default();
    for db in 0..2u64 {
        c.q(&["SELECT", &db.to_string()]);
        for k in c.q(&["KEYS", "*"]).items() {
            let k = k.bytes().unwrap().to_vec();
            let t = c.cmd(&[b"TYPE", &k]).unwrap();
            let v = match t.bytes().unwrap() {
                b"list" => V::L(
                    c.cmd(&[b"LRANGE", &k, b"0", b"-1"])
                        .unwrap()
                        .items()
                        .iter()
                        .map(|e| e.bytes().unwrap().to_vec())
                        .collect(),
                ),
                b"hash" => V::H(
                    c.cmd(&[b"HGETALL", &k])
                        .unwrap()
                        .items()
                        .chunks(2)
                        .map(|p| {
                            (
                                p[0].bytes().unwrap().to_vec(),
                                p[1].bytes().unwrap().to_vec(),
                            )
                        })
                        .collect(),
                ),
                b"string" => V::S(c.cmd(&[b"GET", &k]).unwrap().bytes().unwrap().to_vec()),
                other => panic!("unexpected type {}", other.escape_ascii()),
            };
            st.0.insert((db, k), v);
        }
    }
    st
}
