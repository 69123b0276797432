//! `inspect`: the first look at a snapshot — header, aux fields, keys per db,
//! type and encoding, expiries, byte totals, functions, modules, checksum.

use std::collections::BTreeMap;

use serde::Serialize;

use super::slots::{SlotCounts, SlotReport};
use crate::cluster::slot::key_slot;
use crate::error::{Error, Result};
use crate::model::{DataType, Encoding, Flavor, module_name};
use crate::rdb::read::{Checksum, Header, KeyRecord, Record, Scratch, Trailer};
use crate::server::{Profile, Target, key_encoding};
use crate::sink::{Flow, RecordSink};

/// Counters for one database.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DbStats {
    /// Keys.
    pub keys: u64,
    /// Keys with an expiry.
    pub expiring: u64,
    /// Keys whose expiry is before the snapshot's `ctime`.
    pub expired_at_snapshot: u64,
    /// Keys whose expiry is before the time of the analysis.
    pub expired_now: u64,
    /// Sum of key lengths.
    pub key_bytes: u64,
    /// Sum of serialized value sizes.
    pub value_bytes: u64,
    /// RESIZEDB hint (keys, expires), when present.
    pub resize_hint: Option<(u64, u64)>,
    /// Keys per `type/encoding`.
    pub by_type: BTreeMap<String, TypeStats>,
}

/// Counters for one type/encoding pair.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TypeStats {
    /// Keys.
    pub keys: u64,
    /// Serialized value bytes.
    pub value_bytes: u64,
}

/// The inspect report.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Inspect {
    /// File size in bytes.
    pub file_bytes: u64,
    /// `REDIS` or `VALKEY`.
    pub magic: String,
    /// RDB version.
    pub rdb_version: u32,
    /// Server line whose encodings are reported.
    pub encoding_target: Option<Target>,
    /// AUX fields in file order (lossy UTF-8).
    pub aux: Vec<(String, String)>,
    /// Per-database counters.
    pub dbs: BTreeMap<u64, DbStats>,
    /// Totals over all dbs.
    pub total: DbStats,
    /// Function libraries (names from their shebang lines).
    pub functions: Vec<String>,
    /// Module value counts by module name.
    pub module_keys: BTreeMap<String, u64>,
    /// MODULE_AUX records by module name.
    pub module_aux: BTreeMap<String, u64>,
    /// SLOT_INFO records.
    pub slot_info_records: u64,
    /// Vendor opcodes met (opcode → count).
    pub vendor_opcodes: BTreeMap<u8, u64>,
    /// Checksum status.
    pub checksum: Option<Checksum>,
    /// Snapshot creation time (`ctime` aux, Unix s).
    pub ctime: Option<i64>,
    /// Time of the analysis (Unix ms).
    pub now_ms: i64,
    /// Parse time in seconds (set by the caller).
    pub parse_seconds: f64,
    /// Damaged byte ranges skipped in salvage mode.
    pub skipped: Vec<crate::rdb::read::salvage::SkippedRange>,
    /// Damaged bytes salvage set back from the checksum.
    pub repaired: Vec<crate::rdb::read::salvage::RepairedRange>,
    /// Keys and bytes per slot range (`--by-slot`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<SlotReport>,
    /// The per-slot counters behind `slots` (kept to combine files).
    #[serde(skip)]
    pub slot_counts: Option<Box<SlotCounts>>,
}

/// The sink that builds an [`Inspect`].
pub struct InspectSink {
    /// The report so far.
    pub report: Inspect,
    target: Option<Target>,
    profile: Profile,
    scratch: Scratch,
    buf: Vec<u8>,
    /// Keys and value bytes per (db, type, encoding), turned into the
    /// report's `by_type` names at `finish`: formatting a name per key was a
    /// tenth of the run time on a 1M-key file.
    types: BTreeMap<(u64, DataType, Encoding), TypeStats>,
}

impl InspectSink {
    /// A new sink; `target` overrides the encoding target.
    pub fn new(file_bytes: u64, target: Option<Target>, now_ms: i64) -> Self {
        InspectSink {
            report: Inspect {
                file_bytes,
                now_ms,
                ..Default::default()
            },
            target,
            profile: Profile::new(Target::Redis70),
            scratch: Scratch::default(),
            buf: Vec::new(),
            types: BTreeMap::new(),
        }
    }
}

/// The library name in a function library's shebang line.
pub fn library_name(code: &[u8]) -> String {
    let first = code.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(first);
    line.split_whitespace()
        .find_map(|t| t.strip_prefix("name="))
        .unwrap_or("?")
        .to_string()
}

impl RecordSink for InspectSink {
    fn header(&mut self, h: &Header) -> Result<()> {
        let valkey = h.flavor == Flavor::Valkey;
        let t = self
            .target
            .unwrap_or_else(|| Target::for_rdb_version(h.version, valkey));
        self.profile = Profile::new(t);
        self.report.magic = if valkey { "VALKEY" } else { "REDIS" }.into();
        self.report.rdb_version = h.version;
        self.report.encoding_target = Some(t);
        Ok(())
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if let Record::Key(k) = r {
            let enc = key_encoding(k, &self.profile, &mut self.scratch)?;
            self.count_key(k)?;
            self.add_type(k.db, k.value.data_type(), enc, k.value.raw.len() as u64);
        } else {
            self.other_record(r);
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.report.checksum = Some(t.checksum);
        let rep = &mut self.report;
        for (&(db, dt, enc), ts) in &self.types {
            let name = format!("{}/{}", dt.name(), enc.name());
            for s in [rep.dbs.entry(db).or_default(), &mut rep.total] {
                let t = s.by_type.entry(name.clone()).or_default();
                t.keys += ts.keys;
                t.value_bytes += ts.value_bytes;
            }
        }
        self.types.clear();
        rep.slots = rep.slot_counts.as_ref().map(|c| c.report());
        Ok(())
    }
}

impl InspectSink {
    /// Also counts keys and bytes per cluster slot, shown in `ranges`.
    pub fn with_slots(mut self, ranges: Vec<(u16, u16)>) -> Self {
        self.report.slot_counts = Some(Box::new(SlotCounts::new(ranges)));
        self
    }

    /// The profile (target and thresholds) encodings are computed with,
    /// known once the header was seen.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Counts a key in its db and the totals: everything but its encoding.
    pub fn count_key(&mut self, k: &KeyRecord<'_>) -> Result<()> {
        let rep = &mut self.report;
        let kb = k.key.len();
        let vb = k.value.raw.len() as u64;
        if let Some(c) = &mut rep.slot_counts {
            let key = k
                .key
                .bytes(&mut self.buf)
                .map_err(|p| Error::parse(p, k.offset))?;
            c.add(key_slot(key), kb + vb, k.expire_ms.is_some());
        }
        let ctime_ms = rep.ctime.map(|c| c.saturating_mul(1000));
        for s in [rep.dbs.entry(k.db).or_default(), &mut rep.total] {
            s.keys += 1;
            s.key_bytes += kb;
            s.value_bytes += vb;
            if let Some(e) = k.expire_ms {
                s.expiring += 1;
                if ctime_ms.is_some_and(|c| e < c) {
                    s.expired_at_snapshot += 1;
                }
                if e < rep.now_ms {
                    s.expired_now += 1;
                }
            }
        }
        if k.value.data_type() == DataType::Module {
            let (n, _) = module_name(k.value.module_id()?);
            *rep.module_keys.entry(n).or_default() += 1;
        }
        Ok(())
    }

    /// Counts `keys` keys of `value_bytes` under (db, type, encoding).
    pub fn add_types(&mut self, db: u64, dt: DataType, enc: Encoding, ts: &TypeStats) {
        let t = self.types.entry((db, dt, enc)).or_default();
        t.keys += ts.keys;
        t.value_bytes += ts.value_bytes;
    }

    fn add_type(&mut self, db: u64, dt: DataType, enc: Encoding, value_bytes: u64) {
        let t = self.types.entry((db, dt, enc)).or_default();
        t.keys += 1;
        t.value_bytes += value_bytes;
    }

    /// Everything but keys: aux fields, functions, modules, db hints.
    pub fn other_record(&mut self, r: &Record<'_>) {
        let rep = &mut self.report;
        match r {
            Record::Key(_) => {}
            Record::Aux { key, value } => {
                let k =
                    String::from_utf8_lossy(key.bytes(&mut self.buf).unwrap_or(b"?")).into_owned();
                let v = String::from_utf8_lossy(value.bytes(&mut self.buf).unwrap_or(b"?"))
                    .into_owned();
                if k == "ctime" {
                    rep.ctime = v.parse().ok();
                }
                if k == "redis-ver" && self.target.is_none() {
                    // The writer's version refines the target (7.4 and 8.x
                    // both write RDB 12).
                    let valkey = rep.magic == "VALKEY";
                    let t = Target::for_writer(rep.rdb_version, valkey, Some(v.as_bytes()));
                    self.profile = Profile::new(t);
                    rep.encoding_target = Some(t);
                }
                rep.aux.push((k, v));
            }
            Record::ResizeDb { db, keys, expires } => {
                rep.dbs.entry(*db).or_default().resize_hint = Some((*keys, *expires));
            }
            Record::Function { code } => {
                let c = code.bytes(&mut self.buf).unwrap_or(b"");
                rep.functions.push(library_name(c));
            }
            Record::FunctionPreGa { name, .. } => {
                let n = name.bytes(&mut self.buf).unwrap_or(b"?");
                rep.functions.push(String::from_utf8_lossy(n).into_owned());
            }
            Record::ModuleAux { module_id, .. } => {
                *rep.module_aux.entry(module_name(*module_id).0).or_default() += 1;
            }
            Record::SlotInfo {
                slot,
                keys,
                expires,
            } => {
                rep.slot_info_records += 1;
                if let Some(c) = &mut rep.slot_counts {
                    c.hint(*slot, *keys, *expires);
                }
            }
            Record::Vendor { opcode, .. } => *rep.vendor_opcodes.entry(*opcode).or_default() += 1,
            Record::SelectDb { .. } => {}
            Record::Skipped { .. } => rep
                .skipped
                .extend(crate::rdb::read::salvage::SkippedRange::from_record(r)),
            Record::Repaired { .. } => rep
                .repaired
                .extend(crate::rdb::read::salvage::RepairedRange::from_record(r)),
        }
    }
}

/// Human-readable byte size.
pub fn human_bytes(n: u64) -> String {
    const U: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

impl Inspect {
    /// Renders the human report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "File      {} ({})",
            human_bytes(self.file_bytes),
            self.file_bytes
        );
        let _ = writeln!(o, "Format    {} version {}", self.magic, self.rdb_version);
        let cs = self.checksum.map_or_else(|| "-".into(), |c| c.to_string());
        let _ = writeln!(o, "Checksum  {cs}");
        if !self.skipped.is_empty() {
            let bytes: u64 = self.skipped.iter().map(|r| r.end - r.start).sum();
            let _ = writeln!(
                o,
                "Salvage   {} damaged range(s) skipped, {bytes} bytes",
                self.skipped.len()
            );
            for r in &self.skipped {
                let _ = writeln!(o, "  {r}");
            }
        }
        for r in &self.repaired {
            let _ = writeln!(o, "Salvage   {r}");
        }
        let secs = self.parse_seconds.max(1e-9);
        let _ = writeln!(
            o,
            "Parsed in {:.3} s ({:.0} MB/s)",
            self.parse_seconds,
            self.file_bytes as f64 / 1e6 / secs
        );
        if !self.aux.is_empty() {
            let _ = writeln!(o, "\nAux fields");
            for (k, v) in &self.aux {
                let _ = writeln!(o, "  {k:<16} {v}");
            }
        }
        let _ = writeln!(
            o,
            "\nKeyspace  (encodings as {} reports them after loading)",
            self.encoding_target
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        );
        let _ = writeln!(
            o,
            "  {:>4} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10}",
            "db", "keys", "expiring", "expired@snap", "expired@now", "key bytes", "val bytes"
        );
        let row = |o: &mut String, name: &str, s: &DbStats| {
            let _ = writeln!(
                o,
                "  {:>4} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10}",
                name,
                s.keys,
                s.expiring,
                s.expired_at_snapshot,
                s.expired_now,
                human_bytes(s.key_bytes),
                human_bytes(s.value_bytes)
            );
        };
        for (db, s) in &self.dbs {
            row(&mut o, &db.to_string(), s);
        }
        row(&mut o, "all", &self.total);
        if !self.total.by_type.is_empty() {
            let _ = writeln!(o, "\nTypes and encodings");
            let _ = writeln!(
                o,
                "  {:<24} {:>10} {:>12}",
                "type/encoding", "keys", "val bytes"
            );
            for (t, s) in &self.total.by_type {
                let _ = writeln!(
                    o,
                    "  {:<24} {:>10} {:>12}",
                    t,
                    s.keys,
                    human_bytes(s.value_bytes)
                );
            }
        }
        if !self.functions.is_empty() {
            let _ = writeln!(o, "\nFunction libraries: {}", self.functions.join(", "));
        }
        for (m, n) in &self.module_keys {
            let _ = writeln!(o, "Module {m}: {n} keys");
        }
        for (m, n) in &self.module_aux {
            let _ = writeln!(o, "Module {m}: {n} aux records");
        }
        if self.slot_info_records > 0 {
            let _ = writeln!(o, "Slot info records: {}", self.slot_info_records);
        }
        for (op, n) in &self.vendor_opcodes {
            let _ = writeln!(o, "Vendor opcode {op}: {n} records");
        }
        if let Some(s) = &self.slots {
            s.write_text(&mut o);
        }
        o
    }
}
