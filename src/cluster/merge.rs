//! `merge`: several snapshots (the shards of a cluster, or any set of
//! files) into one RDB. Two passes over the inputs: [`plan`] reads every
//! key name, finds the keys held by more than one input and picks each
//! one's winner by the conflict policy, collects the function libraries
//! (one name with two bodies is an error) and the chosen AUX fields;
//! [`write()`] then streams each input's winning keys into one writer.
//! Only key names are held in memory, never values.

use std::io::Write;

use serde::Serialize;

use super::input::RecordInput;
use crate::analyze::inspect::library_name;
use crate::error::{Error, Result};
use crate::rdb::read::{Header, RdbStr, ReadOptions, Record};
use crate::rdb::write::{RdbSink, RdbSinkOptions, library_code};
use crate::sink::{Flow, RecordSink};

/// Hash map keyed by key names (foldhash: fast and randomly seeded).
type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Which copy of a key held by several inputs is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Nothing is written; every conflict is reported.
    Error,
    /// The copy of the first input (command-line order).
    First,
    /// The copy of the last input.
    Last,
    /// The copy that expires last; no TTL counts as never expiring; a tie
    /// goes to the later input.
    NewestTtl,
}

/// A key held by more than one input.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    /// Database.
    pub db: u64,
    /// Key bytes.
    #[serde(serialize_with = "crate::cluster::merge::lossy")]
    pub key: Vec<u8>,
    /// Indexes (0-based, command-line order) of the inputs holding it.
    pub inputs: Vec<usize>,
    /// The input whose copy is written (`None` under `error`).
    pub chosen: Option<usize>,
}

/// Serializes bytes as (lossy) UTF-8 text, for conflict listings.
fn lossy<S: serde::Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

/// What the first pass found about one key.
struct Seen {
    /// Input whose copy is written (`u32::MAX` once written).
    winner: u32,
    /// The winner's expiry.
    expire_ms: Option<i64>,
    /// Index into the conflict list, when the key is in several inputs.
    conflict: Option<u32>,
}

/// Settings of a merge.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Conflict policy.
    pub on_conflict: OnConflict,
    /// Copy the AUX fields of this input (0-based); `None`: fresh ones as
    /// `convert` writes them.
    pub aux_from: Option<usize>,
    /// Writer settings; a `None` version is the highest input version.
    pub rdb: RdbSinkOptions,
    /// Reader settings.
    pub read: ReadOptions,
}

/// The first pass's findings: what [`write()`] writes.
pub struct Plan {
    keys: Vec<Map<Box<[u8]>, Seen>>,
    /// Keys held by several inputs, in the order they were met.
    pub conflicts: Vec<Conflict>,
    /// Function libraries (code), deduplicated by name, in order met.
    pub functions: Vec<Vec<u8>>,
    /// MODULE_AUX records (module id, when, bytes), identical ones once.
    module_aux: Vec<(u64, u64, Vec<u8>)>,
    aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// The header the output is started with (the highest input version).
    header: Option<Header>,
    /// Keys per input (including those that lose a conflict).
    pub input_keys: Vec<u64>,
    /// Distinct keys (what the output holds).
    pub distinct: u64,
}

/// The first-pass sink for input `input`.
struct Survey<'p> {
    plan: &'p mut Plan,
    input: u32,
    policy: OnConflict,
    aux_wanted: bool,
    lib_from: Vec<(String, usize)>,
    kbuf: Vec<u8>,
}

impl RecordSink for Survey<'_> {
    fn header(&mut self, h: &Header) -> Result<()> {
        let p = &mut self.plan;
        if p.header.is_none_or(|c| h.version > c.version) {
            p.header = Some(*h);
        }
        Ok(())
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        let i = self.input;
        match r {
            Record::Key(k) => {
                let key = k
                    .key
                    .bytes(&mut self.kbuf)
                    .map_err(|e| Error::parse(e, k.offset))?;
                let db = usize::try_from(k.db)
                    .ok()
                    .filter(|&d| d < 1 << 16)
                    .ok_or_else(|| Error::sink(format!("db {} out of range", k.db)))?;
                let p = &mut *self.plan;
                if p.keys.len() <= db {
                    p.keys.resize_with(db + 1, Map::default);
                }
                p.input_keys[i as usize] += 1;
                match p.keys[db].get_mut(key) {
                    None => {
                        p.distinct += 1;
                        p.keys[db].insert(
                            key.into(),
                            Seen {
                                winner: i,
                                expire_ms: k.expire_ms,
                                conflict: None,
                            },
                        );
                    }
                    Some(s) => {
                        let c = match s.conflict {
                            Some(c) => c as usize,
                            None => {
                                p.conflicts.push(Conflict {
                                    db: k.db,
                                    key: key.to_vec(),
                                    inputs: vec![s.winner as usize],
                                    chosen: None,
                                });
                                s.conflict = Some(p.conflicts.len() as u32 - 1);
                                p.conflicts.len() - 1
                            }
                        };
                        p.conflicts[c].inputs.push(i as usize);
                        let later_wins = match self.policy {
                            OnConflict::Error | OnConflict::First => false,
                            OnConflict::Last => true,
                            // `None` (no TTL) sorts above every expiry.
                            OnConflict::NewestTtl => {
                                let rank = |e: Option<i64>| e.map_or(i128::MAX, i128::from);
                                rank(k.expire_ms) >= rank(s.expire_ms)
                            }
                        };
                        if later_wins {
                            s.winner = i;
                            s.expire_ms = k.expire_ms;
                        }
                        if self.policy != OnConflict::Error {
                            p.conflicts[c].chosen = Some(s.winner as usize);
                        }
                    }
                }
            }
            Record::Function { .. } | Record::FunctionPreGa { .. } => {
                if let Some(code) = library_code(r)? {
                    let name = library_name(&code);
                    let p = &mut *self.plan;
                    match p.functions.iter().position(|c| library_name(c) == name) {
                        Some(n) if p.functions[n] != code => {
                            let first = self
                                .lib_from
                                .iter()
                                .find(|(l, _)| *l == name)
                                .map_or(0, |x| x.1);
                            return Err(Error::usage(format!(
                                "function library {name:?} differs between input {first} and input {i}; \
                                 a merged server can hold only one (remove it from one input)"
                            )));
                        }
                        Some(_) => {}
                        None => {
                            p.functions.push(code);
                            self.lib_from.push((name, i as usize));
                        }
                    }
                }
            }
            Record::ModuleAux {
                module_id,
                when,
                raw,
            } => {
                let m = (*module_id, *when, raw.to_vec());
                if !self.plan.module_aux.contains(&m) {
                    self.plan.module_aux.push(m);
                }
            }
            Record::Aux { key, value } if self.aux_wanted => {
                let b = |s: &RdbStr<'_>| s.to_vec().map_err(|e| Error::parse(e, 0));
                self.plan.aux.push((b(key)?, b(value)?));
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

/// The first pass: reads every input's key names, functions and the chosen
/// AUX fields. Fails on a function clash; conflicts are listed in the plan
/// (the caller refuses to write under [`OnConflict::Error`]).
pub fn plan(inputs: &[RecordInput], opts: &MergeOptions) -> Result<Plan> {
    if let Some(n) = opts.aux_from
        && n >= inputs.len()
    {
        return Err(Error::usage(format!(
            "--aux-from {n}: there are {} inputs (0-based)",
            inputs.len()
        )));
    }
    if inputs.len() > u32::MAX as usize - 1 {
        return Err(Error::usage("too many inputs"));
    }
    let mut plan = Plan {
        keys: Vec::new(),
        conflicts: Vec::new(),
        functions: Vec::new(),
        module_aux: Vec::new(),
        aux: Vec::new(),
        header: None,
        input_keys: vec![0; inputs.len()],
        distinct: 0,
    };
    let mut lib_from = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let mut s = Survey {
            plan: &mut plan,
            input: i as u32,
            policy: opts.on_conflict,
            aux_wanted: opts.aux_from == Some(i),
            lib_from: std::mem::take(&mut lib_from),
            kbuf: Vec::new(),
        };
        input.feed(&opts.read, &mut s)?;
        lib_from = s.lib_from;
    }
    Ok(plan)
}

/// The second-pass sink: passes an input's winning keys to the writer.
struct Winners<'a, W: Write> {
    plan: &'a mut Plan,
    out: &'a mut RdbSink<W>,
    input: u32,
    kbuf: Vec<u8>,
    written: u64,
}

impl<W: Write> RecordSink for Winners<'_, W> {
    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if let Record::Key(k) = r {
            let key = k
                .key
                .bytes(&mut self.kbuf)
                .map_err(|e| Error::parse(e, k.offset))?;
            let seen = usize::try_from(k.db)
                .ok()
                .and_then(|db| self.plan.keys.get_mut(db))
                .and_then(|m| m.get_mut(key));
            if let Some(s) = seen
                && s.winner == self.input
            {
                // Written once, even if the input holds the key twice.
                s.winner = u32::MAX;
                self.out.record(r)?;
                self.written += 1;
            }
        }
        Ok(Flow::Continue)
    }
}

/// The writer a merge writes through (`write` starts and finishes it; the
/// caller commits or discards its output, and lists its refused keys).
pub fn writer<W: Write>(out: W, opts: &MergeOptions) -> RdbSink<W> {
    RdbSink::new(
        out,
        RdbSinkOptions {
            keep_aux: opts.aux_from.is_some(),
            ..opts.rdb.clone()
        },
    )
}

/// The second pass: writes the plan's AUX fields, functions and module aux
/// data, then every input's winning keys, into `sink` (from [`writer`]).
/// Returns the number of keys written.
pub fn write<W: Write>(
    mut plan: Plan,
    inputs: &[RecordInput],
    sink: &mut RdbSink<W>,
    opts: &MergeOptions,
) -> Result<u64> {
    let header = plan
        .header
        .ok_or_else(|| Error::usage("no input to merge"))?;
    sink.start(&header)?;
    for (k, v) in &plan.aux {
        sink.record(&Record::Aux {
            key: RdbStr::Raw(k),
            value: RdbStr::Raw(v),
        })?;
    }
    for code in &plan.functions {
        sink.function(code)?;
    }
    for (module_id, when, raw) in &plan.module_aux {
        sink.record(&Record::ModuleAux {
            module_id: *module_id,
            when: *when,
            raw,
        })?;
    }
    let mut written = 0;
    let mut last = None;
    for (i, input) in inputs.iter().enumerate() {
        let mut w = Winners {
            plan: &mut plan,
            out: &mut *sink,
            input: i as u32,
            kbuf: Vec::new(),
            written: 0,
        };
        last = Some(input.feed(&opts.read, &mut w)?);
        written += w.written;
    }
    let t = last.ok_or_else(|| Error::usage("no input to merge"))?;
    sink.finish(&t)?;
    Ok(written)
}
