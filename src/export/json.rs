//! Lossless JSON Lines / JSON export (schema: `formats/export-jsonl.md`).
//! One object per key, plus `record` lines for everything else in the file.
//! Writes straight into a buffered writer with reused scratch buffers.

use std::io::Write;

use base64::Engine;

use crate::error::{Error, Result};
use crate::model::{DataType, Elem, RdbLayout, module_name};
use crate::rdb::read::{Checksum, Header, KeyRecord, RdbStr, Record, Scratch, Trailer};
use crate::server::{Profile, Target, key_encoding};
use crate::sink::{Flow, RecordSink};

/// Version of the export schema, written in the header line.
pub const FORMAT_VERSION: u32 = 2;

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonMode {
    /// One JSON object per line.
    Lines,
    /// One JSON array holding the same objects.
    Array,
}

/// Writes JSON text for bytes: a string when valid UTF-8, else `{"b64": ...}`.
///
/// The leading run of bytes that need neither escaping nor UTF-8 checks
/// (printable ASCII, most keys and values) is found in one pass; only the
/// rest, from the first other byte, is validated and then escaped. A
/// validation pass of its own over every string was 7% of an export.
pub fn write_bytes<W: Write>(w: &mut W, b: &[u8]) -> std::io::Result<()> {
    let plain = plain_prefix(b);
    let Some(rest) = b.get(plain..).filter(|r| !r.is_empty()) else {
        w.write_all(b"\"")?;
        w.write_all(b)?;
        return w.write_all(b"\"");
    };
    // The prefix is ASCII, so the whole is UTF-8 exactly when the rest is.
    match std::str::from_utf8(rest) {
        Ok(_) => write_escaped(w, b, plain),
        Err(_) => {
            w.write_all(b"{\"b64\":\"")?;
            w.write_all(
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .as_bytes(),
            )?;
            w.write_all(b"\"}")
        }
    }
}

/// True for printable ASCII other than `"` and `\`: written as is.
#[inline]
fn is_plain(c: u8) -> bool {
    (0x20..0x80).contains(&c) && c != b'"' && c != b'\\'
}

/// Length of the leading run of [`is_plain`] bytes; 16-byte blocks are
/// tested branch-free (the compiler vectorizes it).
fn plain_prefix(b: &[u8]) -> usize {
    let mut i = 0;
    while let Some(block) = b.get(i..i + 16) {
        if block.iter().fold(false, |acc, &c| acc | !is_plain(c)) {
            break;
        }
        i += 16;
    }
    let tail = b.get(i..).unwrap_or_default();
    i + tail
        .iter()
        .position(|&c| !is_plain(c))
        .unwrap_or(tail.len())
}

/// True for the bytes a JSON string must escape.
#[inline]
fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// Writes the escape sequence of one byte for which `needs_escape` holds.
fn write_escape<W: Write>(w: &mut W, c: u8) -> std::io::Result<()> {
    match c {
        b'"' => w.write_all(b"\\\""),
        b'\\' => w.write_all(b"\\\\"),
        b'\n' => w.write_all(b"\\n"),
        b'\r' => w.write_all(b"\\r"),
        b'\t' => w.write_all(b"\\t"),
        _ => write!(w, "\\u{:04x}", c),
    }
}

/// Writes a JSON string literal with minimal escaping.
///
/// Clean 16-byte blocks are skipped with one branch-free test (the compiler
/// vectorizes it): a per-byte loop was 40% of an export's time.
pub fn write_str<W: Write>(w: &mut W, s: &str) -> std::io::Result<()> {
    write_escaped(w, s.as_bytes(), 0)
}

/// Writes `bytes` (valid UTF-8) as a JSON string literal; the first `from`
/// bytes are known to need no escape.
fn write_escaped<W: Write>(w: &mut W, bytes: &[u8], from: usize) -> std::io::Result<()> {
    w.write_all(b"\"")?;
    let mut start = 0;
    let mut i = from;
    while let Some(block) = bytes.get(i..i + 16) {
        if block.iter().fold(false, |acc, &c| acc | needs_escape(c)) {
            for (j, &c) in block.iter().enumerate() {
                if needs_escape(c) {
                    w.write_all(&bytes[start..i + j])?;
                    write_escape(w, c)?;
                    start = i + j + 1;
                }
            }
        }
        i += 16;
    }
    for (j, &c) in bytes[i..].iter().enumerate() {
        if needs_escape(c) {
            w.write_all(&bytes[start..i + j])?;
            write_escape(w, c)?;
            start = i + j + 1;
        }
    }
    w.write_all(&bytes[start..])?;
    w.write_all(b"\"")
}

fn write_elem<W: Write>(w: &mut W, e: Elem<'_>) -> std::io::Result<()> {
    match e {
        Elem::Bytes(b) => write_bytes(w, b),
        Elem::Int(v) => {
            w.write_all(b"\"")?;
            w.write_all(itoa::Buffer::new().format(v).as_bytes())?;
            w.write_all(b"\"")
        }
    }
}

/// Writes a score: shortest round-trip number, `"inf"`/`"-inf"`/`"nan"`
/// as strings, `-0.0` keeps its sign.
pub fn write_score<W: Write>(w: &mut W, s: f64) -> std::io::Result<()> {
    if s.is_nan() {
        w.write_all(b"\"nan\"")
    } else if s == f64::INFINITY {
        w.write_all(b"\"inf\"")
    } else if s == f64::NEG_INFINITY {
        w.write_all(b"\"-inf\"")
    } else {
        w.write_all(ryu::Buffer::new().format_finite(s).as_bytes())
    }
}

fn write_rdbstr<W: Write>(w: &mut W, s: &RdbStr<'_>, buf: &mut Vec<u8>) -> Result<()> {
    let b = s.bytes(buf).map_err(|p| Error::parse(p, 0))?;
    write_bytes(w, b)?;
    Ok(())
}

fn write_b64<W: Write>(w: &mut W, b: &[u8]) -> std::io::Result<()> {
    w.write_all(b"{\"b64\":\"")?;
    w.write_all(
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .as_bytes(),
    )?;
    w.write_all(b"\"}")
}

/// The exporting sink.
pub struct JsonExporter<W: Write> {
    out: W,
    mode: JsonMode,
    first: bool,
    target: Option<Target>,
    profile: Profile,
    scratch: Scratch,
    kbuf: Vec<u8>,
    /// A zset's (member start, member end, score), members in `members`.
    pairs: Vec<(usize, usize, f64)>,
    members: Vec<u8>,
    line: Vec<u8>,
    /// The header, written once the aux fields that precede the keys are
    /// seen: `redis-ver` refines the encoding target.
    pending_header: Option<Header>,
    /// Aux lines (bodies) read before the header line was written.
    held: Vec<Vec<u8>>,
    redis_ver: Option<Vec<u8>>,
}

impl<W: Write> JsonExporter<W> {
    /// A new exporter. `target` fixes the server whose encodings are
    /// reported; by default the one that writes the file's RDB version.
    pub fn new(out: W, mode: JsonMode, target: Option<Target>) -> Self {
        JsonExporter {
            out,
            mode,
            first: true,
            target,
            profile: Profile::new(target.unwrap_or(Target::Redis70)),
            scratch: Scratch::default(),
            kbuf: Vec::new(),
            pairs: Vec::new(),
            members: Vec::new(),
            line: Vec::with_capacity(4096),
            pending_header: None,
            held: Vec::new(),
            redis_ver: None,
        }
    }

    fn begin_line(&mut self) {
        self.line.clear();
        if self.mode == JsonMode::Array {
            self.line
                .extend_from_slice(if self.first { b"[\n" } else { b",\n" });
        }
        self.first = false;
    }

    fn end_line(&mut self) -> Result<()> {
        if self.mode == JsonMode::Lines {
            self.line.push(b'\n');
        }
        self.out.write_all(&self.line)?;
        Ok(())
    }

    fn key_line(&mut self, k: &KeyRecord<'_>) -> Result<()> {
        if k.value.is_empty_key(&mut self.scratch)? {
            return self.empty_key_line(k);
        }
        let enc = key_encoding(k, &self.profile, &mut self.scratch)?;
        self.begin_line();
        let mut l = std::mem::take(&mut self.line);
        let r = self.write_key(&mut l, k, enc.name());
        self.line = l;
        r?;
        self.end_line()
    }

    /// A key a loading server skips because its value has no elements: kept
    /// as a record line so the export stays lossless without reporting a
    /// key the server would not hold.
    fn empty_key_line(&mut self, k: &KeyRecord<'_>) -> Result<()> {
        self.begin_line();
        let mut l = std::mem::take(&mut self.line);
        let r = (|| -> Result<()> {
            write!(l, "{{\"record\":\"empty_key\",\"db\":{},\"key\":", k.db)?;
            let kb = k
                .key
                .bytes(&mut self.kbuf)
                .map_err(|p| Error::parse(p, k.offset))?;
            write_bytes(&mut l, kb)?;
            write!(
                l,
                ",\"type\":\"{}\",\"rdb_type\":{}}}",
                k.value.data_type().name(),
                k.value.type_byte
            )?;
            Ok(())
        })();
        self.line = l;
        r?;
        self.end_line()
    }

    fn write_key(&mut self, l: &mut Vec<u8>, k: &KeyRecord<'_>, enc: &str) -> Result<()> {
        let v = &k.value;
        l.extend_from_slice(b"{\"db\":");
        l.extend_from_slice(itoa::Buffer::new().format(k.db).as_bytes());
        l.extend_from_slice(b",\"key\":");
        let kb = k
            .key
            .bytes(&mut self.kbuf)
            .map_err(|p| Error::parse(p, k.offset))?;
        write_bytes(l, kb)?;
        write!(
            l,
            ",\"type\":\"{}\",\"encoding\":\"{}\",\"rdb_type\":{},\"expire_at_ms\":",
            v.data_type().name(),
            enc,
            v.type_byte
        )?;
        match k.expire_ms {
            Some(ms) => l.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes()),
            None => l.extend_from_slice(b"null"),
        }
        if let Some(idle) = k.idle_s {
            write!(l, ",\"lru_idle_s\":{idle}")?;
        }
        if let Some(f) = k.freq {
            write!(l, ",\"lfu_freq\":{f}")?;
        }
        l.extend_from_slice(b",\"value\":");
        self.write_value(l, v)?;
        l.push(b'}');
        Ok(())
    }

    fn write_value(&mut self, l: &mut Vec<u8>, v: &crate::rdb::read::Value<'_>) -> Result<()> {
        match v.data_type() {
            DataType::String => {
                let s = v.as_string()?;
                let b = s
                    .bytes(&mut self.scratch.a)
                    .map_err(|p| Error::parse(p, v.offset))?;
                write_bytes(l, b)?;
            }
            DataType::List | DataType::Set => {
                l.push(b'[');
                let mut first = true;
                let with_ttl = v.layout == RdbLayout::DragonflySetWithExpiry;
                v.for_each_elem(&mut self.scratch, |e, ttl| {
                    if !first {
                        l.push(b',');
                    }
                    first = false;
                    if with_ttl {
                        l.push(b'[');
                        write_elem(l, e)?;
                        match ttl {
                            Some(t) => write!(l, ",{t}]")?,
                            None => l.extend_from_slice(b",null]"),
                        }
                    } else {
                        write_elem(l, e)?;
                    }
                    Ok(())
                })?;
                l.push(b']');
            }
            DataType::Zset => {
                // Members go into one reused buffer (a Vec per member was
                // an allocation per element), sorted as ranges of it.
                let mut pairs = std::mem::take(&mut self.pairs);
                let mut members = std::mem::take(&mut self.members);
                pairs.clear();
                members.clear();
                v.for_each_scored(&mut self.scratch, |m, s| {
                    let start = members.len();
                    m.append_to(&mut members);
                    pairs.push((start, members.len(), s));
                    Ok(())
                })?;
                // ZRANGE order: score, then member bytes. The skiplist
                // compares scores numerically, so -0 and 0 tie and the
                // member decides; `total_cmp` alone would put -0 first.
                let num = |s: f64| if s == 0.0 { 0.0 } else { s };
                let member =
                    |&(a, b, _): &(usize, usize, f64)| members.get(a..b).unwrap_or_default();
                pairs.sort_by(|a, b| {
                    num(a.2)
                        .total_cmp(&num(b.2))
                        .then_with(|| member(a).cmp(member(b)))
                });
                l.push(b'[');
                for (i, p) in pairs.iter().enumerate() {
                    if i > 0 {
                        l.push(b',');
                    }
                    l.push(b'[');
                    write_bytes(l, member(p))?;
                    l.push(b',');
                    write_score(l, p.2)?;
                    l.push(b']');
                }
                l.push(b']');
                self.pairs = pairs;
                self.members = members;
            }
            DataType::Hash => {
                l.push(b'[');
                let mut first = true;
                v.for_each_field(&mut self.scratch, |f, val, ttl| {
                    if !first {
                        l.push(b',');
                    }
                    first = false;
                    l.push(b'[');
                    write_elem(l, f)?;
                    l.push(b',');
                    write_elem(l, val)?;
                    if let Some(t) = ttl {
                        write!(l, ",{t}")?;
                    }
                    l.push(b']');
                    Ok(())
                })?;
                l.push(b']');
            }
            DataType::Stream => self.write_stream(l, v)?,
            DataType::Module => {
                let id = v.module_id()?;
                let (name, ver) = module_name(id);
                write!(
                    l,
                    "{{\"module_id\":{id},\"module\":\"{name}\",\"module_version\":{ver},\"raw\":"
                )?;
                write_b64(l, v.raw)?;
                l.push(b'}');
            }
            DataType::Array | DataType::Cron => {
                l.extend_from_slice(b"{\"raw\":");
                write_b64(l, v.raw)?;
                l.push(b'}');
            }
        }
        Ok(())
    }

    fn write_stream(&mut self, l: &mut Vec<u8>, v: &crate::rdb::read::Value<'_>) -> Result<()> {
        let s = v.stream()?;
        let m = &s.meta;
        l.extend_from_slice(b"{\"entries\":[");
        for (i, e) in s.entries.iter().enumerate() {
            if i > 0 {
                l.push(b',');
            }
            write!(l, "{{\"id\":\"{}\",\"fields\":[", e.id)?;
            for (j, (f, val)) in e.fields.iter().enumerate() {
                if j > 0 {
                    l.push(b',');
                }
                l.push(b'[');
                write_bytes(l, f)?;
                l.push(b',');
                write_bytes(l, val)?;
                l.push(b']');
            }
            l.extend_from_slice(b"]}");
        }
        write!(l, "],\"length\":{},\"last_id\":\"{}\"", m.length, m.last_id)?;
        match m.first_id {
            Some(id) => write!(l, ",\"first_id\":\"{id}\"")?,
            None => l.extend_from_slice(b",\"first_id\":null"),
        }
        match m.max_deleted_id {
            Some(id) => write!(l, ",\"max_deleted_entry_id\":\"{id}\"")?,
            None => l.extend_from_slice(b",\"max_deleted_entry_id\":null"),
        }
        match m.entries_added {
            Some(n) => write!(l, ",\"entries_added\":{n}")?,
            None => l.extend_from_slice(b",\"entries_added\":null"),
        }
        l.extend_from_slice(b",\"groups\":[");
        for (gi, g) in s.groups.iter().enumerate() {
            if gi > 0 {
                l.push(b',');
            }
            l.extend_from_slice(b"{\"name\":");
            write_bytes(l, &g.name)?;
            write!(l, ",\"last_id\":\"{}\",\"entries_read\":", g.last_id)?;
            match g.entries_read {
                Some(n) => write!(l, "{n}")?,
                None => l.extend_from_slice(b"null"),
            }
            l.extend_from_slice(b",\"pending\":[");
            for (pi, p) in g.pending.iter().enumerate() {
                if pi > 0 {
                    l.push(b',');
                }
                write!(
                    l,
                    "{{\"id\":\"{}\",\"delivery_time_ms\":{},\"delivery_count\":{},\"consumer\":",
                    p.id, p.delivery_time_ms, p.delivery_count
                )?;
                match &p.consumer {
                    Some(c) => write_bytes(l, c)?,
                    None => l.extend_from_slice(b"null"),
                }
                l.push(b'}');
            }
            l.extend_from_slice(b"],\"consumers\":[");
            for (ci, c) in g.consumers.iter().enumerate() {
                if ci > 0 {
                    l.push(b',');
                }
                l.extend_from_slice(b"{\"name\":");
                write_bytes(l, &c.name)?;
                write!(
                    l,
                    ",\"seen_time_ms\":{},\"active_time_ms\":",
                    c.seen_time_ms
                )?;
                match c.active_time_ms {
                    Some(t) => write!(l, "{t}")?,
                    None => l.extend_from_slice(b"null"),
                }
                l.extend_from_slice(b",\"pending_ids\":[");
                for (k, id) in c.pending.iter().enumerate() {
                    if k > 0 {
                        l.push(b',');
                    }
                    write!(l, "\"{id}\"")?;
                }
                l.extend_from_slice(b"]}");
            }
            l.push(b']');
            if !g.nacked.is_empty() {
                l.extend_from_slice(b",\"nacked\":[");
                for (k, id) in g.nacked.iter().enumerate() {
                    if k > 0 {
                        l.push(b',');
                    }
                    write!(l, "\"{id}\"")?;
                }
                l.push(b']');
            }
            l.push(b'}');
        }
        l.extend_from_slice(b"]}");
        Ok(())
    }

    fn other_line(&mut self, r: &Record<'_>) -> Result<()> {
        self.begin_line();
        let mut l = std::mem::take(&mut self.line);
        let res = self.write_other(&mut l, r);
        self.line = l;
        res?;
        self.end_line()
    }

    fn write_other(&mut self, l: &mut Vec<u8>, r: &Record<'_>) -> Result<()> {
        let buf = &mut self.scratch.a;
        match r {
            Record::Aux { key, value } => {
                l.extend_from_slice(b"{\"record\":\"aux\",\"key\":");
                write_rdbstr(l, key, buf)?;
                l.extend_from_slice(b",\"value\":");
                write_rdbstr(l, value, buf)?;
            }
            Record::SelectDb { db } => write!(l, "{{\"record\":\"selectdb\",\"db\":{db}")?,
            Record::ResizeDb { db, keys, expires } => write!(
                l,
                "{{\"record\":\"resizedb\",\"db\":{db},\"keys\":{keys},\"expires\":{expires}"
            )?,
            Record::Function { code } => {
                l.extend_from_slice(b"{\"record\":\"function\",\"code\":");
                write_rdbstr(l, code, buf)?;
            }
            Record::FunctionPreGa {
                name,
                engine,
                description,
                code,
            } => {
                l.extend_from_slice(b"{\"record\":\"function_pre_ga\",\"name\":");
                write_rdbstr(l, name, buf)?;
                l.extend_from_slice(b",\"engine\":");
                write_rdbstr(l, engine, buf)?;
                l.extend_from_slice(b",\"description\":");
                match description {
                    Some(d) => write_rdbstr(l, d, buf)?,
                    None => l.extend_from_slice(b"null"),
                }
                l.extend_from_slice(b",\"code\":");
                write_rdbstr(l, code, buf)?;
            }
            Record::ModuleAux {
                module_id,
                when,
                raw,
            } => {
                let (name, ver) = module_name(*module_id);
                write!(
                    l,
                    "{{\"record\":\"module_aux\",\"module_id\":{module_id},\"module\":\"{name}\",\"module_version\":{ver},\"when\":{when},\"raw\":"
                )?;
                write_b64(l, raw)?;
            }
            Record::SlotInfo {
                slot,
                keys,
                expires,
            } => write!(
                l,
                "{{\"record\":\"slot_info\",\"slot\":{slot},\"keys\":{keys},\"expires\":{expires}"
            )?,
            Record::Vendor { opcode, raw } => {
                write!(l, "{{\"record\":\"vendor\",\"opcode\":{opcode},\"raw\":")?;
                write_b64(l, raw)?;
            }
            Record::Skipped {
                start,
                end,
                db,
                last_key,
                error,
            } => {
                write!(
                    l,
                    "{{\"record\":\"skipped\",\"start\":{start},\"end\":{end},\"db\":{db},\"last_key\":"
                )?;
                match last_key {
                    Some(k) => write_bytes(l, k)?,
                    None => l.extend_from_slice(b"null"),
                }
                l.extend_from_slice(b",\"error\":");
                write_str(l, &error.to_string())?;
            }
            Record::Repaired {
                offset,
                found,
                fixed,
            } => {
                write!(
                    l,
                    "{{\"record\":\"repaired\",\"offset\":{offset},\"found\":"
                )?;
                write_bytes(l, found)?;
                l.extend_from_slice(b",\"fixed\":");
                write_bytes(l, fixed)?;
            }
            Record::Key(_) => {}
        }
        l.push(b'}');
        Ok(())
    }
}

impl<W: Write> JsonExporter<W> {
    /// Returns the writer (after `finish` flushed it).
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> JsonExporter<W> {
    /// Writes the header (if still held back for the aux fields) and returns
    /// the server line whose encodings the key lines report: what a
    /// parallel renderer of key lines must be primed with.
    pub fn start_keys(&mut self) -> Result<Target> {
        self.flush_header()?;
        Ok(self.profile.target)
    }

    /// Writes the header line and the aux lines held back for it.
    fn flush_header(&mut self) -> Result<()> {
        let Some(h) = self.pending_header.take() else {
            return Ok(());
        };
        let t = self.target.unwrap_or_else(|| {
            Target::for_writer(
                h.version,
                h.flavor == crate::model::Flavor::Valkey,
                self.redis_ver.as_deref(),
            )
        });
        self.profile = Profile::new(t);
        self.begin_line();
        let magic = match h.flavor {
            crate::model::Flavor::Redis => "REDIS",
            crate::model::Flavor::Valkey => "VALKEY",
        };
        let mut l = std::mem::take(&mut self.line);
        write!(
            l,
            "{{\"record\":\"header\",\"format\":\"rdbtool-export\",\"format_version\":{FORMAT_VERSION},\"magic\":\"{magic}\",\"rdb_version\":{},\"encoding_target\":\"{}\"}}",
            h.version,
            serde_json::to_value(t)?.as_str().unwrap_or("")
        )?;
        self.line = l;
        self.end_line()?;
        for body in std::mem::take(&mut self.held) {
            self.begin_line();
            self.line.extend_from_slice(&body);
            self.end_line()?;
        }
        Ok(())
    }
}

/// The `status` name of a checksum (formats/export-jsonl.md, trailer).
fn checksum_status(c: &Checksum) -> &'static str {
    match c {
        Checksum::Absent => "absent",
        Checksum::Disabled => "disabled",
        Checksum::Ok { .. } => "ok",
        Checksum::Unchecked { .. } => "unchecked",
        Checksum::Mismatch { .. } => "mismatch",
    }
}

impl<W: Write> RecordSink for JsonExporter<W> {
    fn header(&mut self, h: &Header) -> Result<()> {
        self.pending_header = Some(*h);
        Ok(())
    }

    fn record(&mut self, r: &Record<'_>) -> Result<Flow> {
        if self.pending_header.is_some() {
            if let Record::Aux { key, value } = r {
                let mut buf = Vec::new();
                if key.bytes(&mut buf).map_err(|p| Error::parse(p, 0))? == b"redis-ver" {
                    self.redis_ver = Some(value.to_vec().map_err(|p| Error::parse(p, 0))?);
                }
                let mut body = Vec::new();
                self.write_other(&mut body, r)?;
                self.held.push(body);
                return Ok(Flow::Continue);
            }
            self.flush_header()?;
        }
        match r {
            Record::Key(k) => self.key_line(k)?,
            Record::SelectDb { .. } => {}
            other => self.other_line(other)?,
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, t: &Trailer) -> Result<()> {
        self.flush_header()?;
        self.begin_line();
        let mut l = std::mem::take(&mut self.line);
        // Only the checksum's status: its value and the file's length are
        // facts of the file's bytes, not of its content, and would differ
        // for the same content written again (format_version 2;
        // `rdbtool inspect` reports them).
        write!(
            l,
            "{{\"record\":\"trailer\",\"checksum\":{{\"status\":\"{}\"}}}}",
            checksum_status(&t.checksum)
        )?;
        self.line = l;
        self.end_line()?;
        if self.mode == JsonMode::Array {
            self.out.write_all(b"\n]\n")?;
        }
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings with escapes at every position of the 16-byte blocks (and in
    /// the tail) read back as the same string.
    #[test]
    fn escaped_strings_round_trip() {
        let specials = ["\"", "\\", "\n", "\r", "\t", "\u{1}", "\u{1f}", "é", "x"];
        for len in 0..40 {
            for (k, sp) in specials.iter().enumerate() {
                for pos in 0..=len {
                    let mut s: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                    s.insert_str(pos, sp);
                    if k % 2 == 0 {
                        s.push_str(sp);
                    }
                    let mut out = Vec::new();
                    write_str(&mut out, &s).unwrap();
                    let back: String = serde_json::from_slice(&out).unwrap();
                    assert_eq!(back, s);
                }
            }
        }
    }

    /// Bytes with a non-ASCII, escaped or invalid byte at every position of
    /// the 16-byte blocks: valid UTF-8 reads back as the same string,
    /// anything else is base64 of the bytes.
    #[test]
    fn bytes_are_strings_exactly_when_utf8() {
        let specials: [&[u8]; 6] = [
            b"\"",
            b"\x01",
            "\u{e9}".as_bytes(),
            b"\xff",
            b"\xc3",
            b"\x7f",
        ];
        for len in 0..40 {
            for sp in specials {
                for pos in 0..=len {
                    let mut b: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    b.splice(pos..pos, sp.iter().copied());
                    let mut out = Vec::new();
                    write_bytes(&mut out, &b).unwrap();
                    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
                    match std::str::from_utf8(&b) {
                        Ok(s) => assert_eq!(v.as_str(), Some(s)),
                        Err(_) => {
                            let b64 = v["b64"].as_str().unwrap();
                            let back = base64::engine::general_purpose::STANDARD
                                .decode(b64)
                                .unwrap();
                            assert_eq!(back, b);
                        }
                    }
                }
            }
        }
    }
}
