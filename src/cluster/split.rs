//! `split`: one pass over a snapshot, several RDB writers. A [`Router`]
//! names the output of every key (by cluster slot, database, key prefix or
//! running count); each output is an [`RdbSink`] opened on first use (slot
//! outputs: all at the header, so an empty range still gets its file).
//! Function libraries and module aux data belong to every output: they are
//! kept and replayed into outputs opened later.

use std::collections::HashMap;
use std::io::Write;

use super::nodes::Master;
use super::slot::{SLOTS, key_slot};
use crate::error::{Error, Result};
use crate::rdb::read::{Header, KeyRecord, Record, Trailer};
use crate::rdb::write::{RdbSink, RdbSinkOptions, library_code};
use crate::sink::{Flow, RecordSink};

/// No output for this slot.
const NONE: u16 = u16::MAX;

/// How keys are distributed over outputs.
#[derive(Debug, Clone)]
pub enum Router {
    /// By cluster hash slot: `table[slot]` is the output index (or none);
    /// outputs are a cluster's nodes, so every key must be in db 0.
    Slots {
        /// Output index per slot.
        table: Vec<u16>,
        /// Output names, by index.
        names: Vec<String>,
    },
    /// One output per database, `db-N.rdb`.
    Db,
    /// One output per first key segment (up to the first separator byte),
    /// `prefix-<segment>.rdb`; keys without a separator go to
    /// `noprefix.rdb`. At most `max_files` outputs.
    Prefix {
        /// Separator bytes.
        separators: Vec<u8>,
        /// Cap on the number of outputs.
        max_files: usize,
    },
    /// Consecutive runs of `keys_per_file` keys, `part-0000.rdb`, ...
    Count {
        /// Keys per output.
        keys_per_file: u64,
    },
}

impl Router {
    /// A slot router from `SLOTS:NAME` items (`0-5460:a.rdb`; several
    /// ranges for one output joined with `+`: `0-10+20-30:a.rdb`). Ranges
    /// may not overlap; unless `partial`, together they must cover every
    /// slot.
    pub fn from_ranges(items: &[String], partial: bool) -> Result<Router> {
        let mut table = vec![NONE; SLOTS as usize];
        let mut names: Vec<String> = Vec::new();
        for item in items {
            let (slots, name) = item.split_once(':').ok_or_else(|| {
                Error::usage(format!("--ranges item {item:?}: expected SLOTS:FILE"))
            })?;
            let idx = match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_string());
                    names.len() - 1
                }
            };
            for part in slots.split('+') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                let parse = |s: &str| s.trim().parse::<u16>().ok().filter(|&v| v < SLOTS);
                let (Some(a), Some(b)) = (parse(a), parse(b)) else {
                    return Err(Error::usage(format!(
                        "--ranges item {item:?}: invalid slot range {part:?} (slots are 0-16383)"
                    )));
                };
                if a > b {
                    return Err(Error::usage(format!("--ranges: empty range {part:?}")));
                }
                Self::assign(&mut table, a, b, idx, &names)?;
            }
        }
        Self::slots(table, names, partial)
    }

    /// A slot router from the masters of a `nodes.conf`: one output per
    /// master, named `<ip>-<port>.rdb`.
    pub fn from_masters(masters: &[Master], partial: bool) -> Result<Router> {
        let mut table = vec![NONE; SLOTS as usize];
        let mut names = Vec::new();
        for m in masters {
            names.push(format!("{}.rdb", m.file_stem()));
            for &(a, b) in &m.ranges {
                Self::assign(&mut table, a, b, names.len() - 1, &names)?;
            }
        }
        Self::slots(table, names, partial)
    }

    fn assign(table: &mut [u16], a: u16, b: u16, idx: usize, names: &[String]) -> Result<()> {
        let idx = u16::try_from(idx)
            .ok()
            .filter(|&i| i != NONE)
            .ok_or_else(|| Error::usage("too many outputs"))?;
        for s in a..=b {
            let cur = table[s as usize];
            if cur != NONE && cur != idx {
                return Err(Error::usage(format!(
                    "slot {s} is given to both {} and {}",
                    names[cur as usize], names[idx as usize]
                )));
            }
            table[s as usize] = idx;
        }
        Ok(())
    }

    fn slots(table: Vec<u16>, names: Vec<String>, partial: bool) -> Result<Router> {
        if names.is_empty() {
            return Err(Error::usage("no slot ranges given"));
        }
        if !partial && let Some(s) = table.iter().position(|&i| i == NONE) {
            let end = table[s..]
                .iter()
                .position(|&i| i != NONE)
                .map_or(SLOTS as usize - 1, |n| s + n - 1);
            return Err(Error::usage(format!(
                "slots {s}-{end} belong to no output; give every slot a file, or pass --partial to leave their keys out"
            )));
        }
        Ok(Router::Slots { table, names })
    }

    /// True when outputs are cluster nodes (db 0 only).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Router::Slots { .. })
    }
}

/// One output of a split.
pub struct Part<W: Write> {
    /// File name (relative to the output directory).
    pub name: String,
    /// The writer.
    pub sink: RdbSink<W>,
    /// Keys routed here.
    pub keys: u64,
}

/// A record every output receives (function libraries, module aux data).
enum Shared {
    Function(Vec<u8>),
    ModuleAux {
        module_id: u64,
        when: u64,
        raw: Vec<u8>,
    },
}

/// The splitting sink; `open` creates the writer of a named output.
pub struct Split<W: Write, F: FnMut(&str) -> Result<W>> {
    router: Router,
    opts: RdbSinkOptions,
    open: F,
    header: Option<Header>,
    shared: Vec<Shared>,
    /// The outputs, in the order they were opened (slot outputs: by index).
    pub parts: Vec<Part<W>>,
    by_name: HashMap<String, usize>,
    kbuf: Vec<u8>,
    /// Keys in slots no output serves (`--partial`), left out.
    pub uncovered: u64,
    keys: u64,
    /// Keys seen per db, kept when databases are mapped onto each other: a
    /// key present in two of them would be written twice, and a server
    /// refuses to load a file with a duplicate key.
    seen: Option<std::collections::HashSet<(u64, Box<[u8]>)>>,
}

impl<W: Write, F: FnMut(&str) -> Result<W>> Split<W, F> {
    /// A split by `router`; every output is written with `opts`.
    pub fn new(router: Router, opts: RdbSinkOptions, open: F) -> Self {
        Split {
            router,
            opts,
            open,
            header: None,
            shared: Vec::new(),
            parts: Vec::new(),
            by_name: HashMap::new(),
            kbuf: Vec::new(),
            uncovered: 0,
            keys: 0,
            seen: None,
        }
    }

    /// Fails the split on a key met twice in one db (needed when several
    /// source dbs are mapped to one).
    pub fn check_duplicates(mut self) -> Self {
        self.seen = Some(Default::default());
        self
    }

    /// The output called `name`, opened (and given the shared records so
    /// far) on first use.
    fn part(&mut self, name: &str) -> Result<usize> {
        if let Some(&i) = self.by_name.get(name) {
            return Ok(i);
        }
        if let Router::Prefix { max_files, .. } = self.router
            && self.parts.len() >= max_files
        {
            return Err(Error::usage(format!(
                "more than {max_files} prefixes (next: {name}); raise --max-files or split --by count"
            )));
        }
        let h = self
            .header
            .ok_or_else(|| Error::sink("split output opened before the header"))?;
        let mut sink = RdbSink::new((self.open)(name)?, self.opts.clone());
        sink.start(&h)?;
        for s in &self.shared {
            replay(&mut sink, s)?;
        }
        self.parts.push(Part {
            name: name.to_string(),
            sink,
            keys: 0,
        });
        self.by_name.insert(name.to_string(), self.parts.len() - 1);
        Ok(self.parts.len() - 1)
    }

    /// The output a key goes to; `None`: left out (uncovered slot).
    fn route(&mut self, k: &KeyRecord<'_>) -> Result<Option<usize>> {
        let key = k
            .key
            .bytes(&mut self.kbuf)
            .map_err(|p| Error::parse(p, k.offset))?;
        if let Some(seen) = &mut self.seen
            && !seen.insert((k.db, key.into()))
        {
            return Err(Error::usage(format!(
                "key \"{}\" is twice in db {} after --db-map (two source dbs hold it)",
                key.escape_ascii(),
                k.db
            ))
            .with_key(k.db, Some(key)));
        }
        let name = match &self.router {
            Router::Slots { table, names } => {
                if k.db != 0 {
                    return Err(Error::usage(format!(
                        "a cluster node holds db 0 only; map db {db} with --db-map {db}=0",
                        db = k.db
                    ))
                    .with_key(k.db, Some(key)));
                }
                match table[key_slot(key) as usize] {
                    NONE => return Ok(None),
                    i => names[i as usize].clone(),
                }
            }
            Router::Db => format!("db-{}.rdb", k.db),
            Router::Prefix { separators, .. } => {
                match key.iter().position(|b| separators.contains(b)) {
                    Some(n) => format!("prefix-{}.rdb", file_safe(&key[..n])),
                    None => "noprefix.rdb".to_string(),
                }
            }
            Router::Count { keys_per_file } => {
                format!("part-{:04}.rdb", self.keys / (*keys_per_file).max(1))
            }
        };
        self.part(&name).map(Some)
    }

    /// Ends every output; returns them for the caller to commit (or abort).
    pub fn into_parts(self) -> Vec<Part<W>> {
        self.parts
    }
}

/// Gives a shared record to one output.
fn replay<W: Write>(sink: &mut RdbSink<W>, s: &Shared) -> Result<()> {
    match s {
        Shared::Function(code) => sink.function(code),
        Shared::ModuleAux {
            module_id,
            when,
            raw,
        } => sink
            .record(&Record::ModuleAux {
                module_id: *module_id,
                when: *when,
                raw,
            })
            .map(|_| ()),
    }
}

/// Bytes as a file-name part: ASCII letters, digits, `-` and `_` as they
/// are, everything else `%XX`.
fn file_safe(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

impl<W: Write, F: FnMut(&str) -> Result<W>> RecordSink for Split<W, F> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.header = Some(*h);
        if let Router::Slots { names, .. } = &self.router {
            for n in names.clone() {
                self.part(&n)?;
            }
        }
        Ok(())
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        let shared = match r {
            Record::Key(k) => {
                if let Some(i) = self.route(k)? {
                    self.keys += 1;
                    let p = &mut self.parts[i];
                    p.keys += 1;
                    p.sink.record(r)?;
                } else {
                    self.uncovered += 1;
                }
                return Ok(Flow::Continue);
            }
            Record::Function { .. } | Record::FunctionPreGa { .. } => {
                library_code(r)?.map(Shared::Function)
            }
            Record::ModuleAux {
                module_id,
                when,
                raw,
            } => Some(Shared::ModuleAux {
                module_id: *module_id,
                when: *when,
                raw: raw.to_vec(),
            }),
            // Fresh AUX fields are written per output; SELECTDB is written
            // before each db's first key; size and slot hints of the input
            // do not describe any one output.
            _ => None,
        };
        if let Some(s) = shared {
            for p in &mut self.parts {
                replay(&mut p.sink, &s)?;
            }
            self.shared.push(s);
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        for p in &mut self.parts {
            p.sink.finish(t)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_must_cover_and_not_overlap() {
        let items = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = Router::from_ranges(
            &items(&["0-5460:a", "5461-10922:b", "10923-16383:c"]),
            false,
        )
        .unwrap();
        let Router::Slots { table, names } = r else {
            panic!()
        };
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!((table[0], table[5461], table[16383]), (0, 1, 2));
        let e = Router::from_ranges(&items(&["0-5460:a", "5461-10000:b"]), false).unwrap_err();
        assert!(e.to_string().contains("10001-16383"), "{e}");
        assert!(Router::from_ranges(&items(&["0-5460:a", "5461-10000:b"]), true).is_ok());
        let e = Router::from_ranges(&items(&["0-100:a", "100-16383:b"]), false).unwrap_err();
        assert!(e.to_string().contains("slot 100"), "{e}");
        assert!(Router::from_ranges(&items(&["0-100+200-16383:a", "101-199:b"]), false).is_ok());
        assert!(Router::from_ranges(&items(&["0-16384:a"]), true).is_err());
        assert!(Router::from_ranges(&items(&["0-5"]), true).is_err());
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe(b"user"), "user");
        assert_eq!(file_safe(b"a/b.\xff"), "a%2Fb%2E%FF");
    }
}
