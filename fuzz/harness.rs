//! The fuzz harness shared by the cargo-fuzz targets (this file is the fuzz
//! crate's library) and the stable tests that replay regressions and
//! mutations (`tests/fuzz_regressions.rs`, `tests/fuzz_smoke.rs` include it
//! with `#[path]`), so a crash found by libFuzzer replays through exactly the
//! same code on stable.
//!
//! Every target also installs a counting global allocator and checks that a
//! run's peak allocation stays within [`alloc_bound`] of its input size: an
//! allocation driven by an unchecked length, or a decoder whose output grows
//! faster than its input, fails as loudly as a panic.
//!
//! Adding a parser: write a `pub fn <target>(data: &[u8])` here, add it to
//! [`TARGETS`] and [`run`], add `fuzz_targets/<target>.rs` (three lines, like
//! the others) and a `[[bin]]` in `fuzz/Cargo.toml`, and give it seeds
//! (`seeds.rs` or `run-all.sh`). Regressions then go to
//! `fuzz/regressions/<target>/` and are replayed automatically.
#![allow(dead_code)]

#[path = "roundtrip.rs"]
pub mod roundtrip;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use rdbtool::analyze::check;
use rdbtool::analyze::inspect::InspectSink;
use rdbtool::aof::read::manifest;
use rdbtool::aof::read::{
    Annotation, AofSet, AofSink, Command as AofCommand, Dialect, ReadOptions as AofOptions,
    ScanState, scan_file,
};
use rdbtool::dump::read::{self as dump, DumpOptions};
use rdbtool::export::json::{JsonExporter, JsonMode};
use rdbtool::model::{Flavor, RdbLayout};
use rdbtool::rdb::read::intset::Intset;
use rdbtool::rdb::read::listpack::Listpack;
use rdbtool::rdb::read::ziplist::Ziplist;
use rdbtool::rdb::read::{
    Header, KeyRecord, RdbStr, ReadOptions, Record, Scratch, StreamId, Value, lzf, module, read,
    stream, validate, value, zipmap,
};
use rdbtool::rdb::write::{RdbSink, RdbSinkOptions};
use rdbtool::server::{Profile, Target, loaded_encoding};
use rdbtool::sink::Flow;
use rdbtool::sink::RecordSink;

/// Every fuzz target, by name (the names of `fuzz/fuzz_targets/*.rs`).
pub const TARGETS: &[&str] = &[
    "rdb_read",
    "rdb_value",
    "listpack",
    "ziplist",
    "zipmap",
    "intset",
    "lzf",
    "stream_node",
    "module_items",
    "dump_payload",
    "aof_read",
    "aof_manifest",
    "import_jsonl",
    "import_csv",
    "rdb_roundtrip",
    "records_roundtrip",
];

/// Runs `target` on `data`; `false` when no such target exists.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "rdb_read" => rdb_read(data),
        "rdb_value" => rdb_value(data),
        "listpack" => listpack(data),
        "ziplist" => ziplist(data),
        "zipmap" => zipmap_blob(data),
        "intset" => intset(data),
        "lzf" => lzf_blob(data),
        "stream_node" => stream_node(data),
        "module_items" => module_items(data),
        "dump_payload" => dump_payload(data),
        "aof_read" => aof_read(data),
        "aof_manifest" => aof_manifest(data),
        "import_jsonl" => import_jsonl(data),
        "import_csv" => import_csv(data),
        "rdb_roundtrip" => roundtrip::rdb_roundtrip(data),
        "records_roundtrip" => roundtrip::records_roundtrip(data),
        _ => return false,
    }
    true
}

/// A whole file through the reader with the JSON exporter as sink: with the
/// default options, relaxed (any plausible version, no CRC; the inspect
/// report is built too), and in salvage mode (resynchronising after damage),
/// with or without the checksum as the parity of the input's bytes says
/// (with it, a mutant one short run away from a seed is set back from its
/// CRC and read as the seed; without it, the resync meets that damage; one
/// salvage pass, not both: a hostile input may cost a salvage its whole
/// work budget); then through `rdbtool check`, as is (which names the run
/// the CRC locates) and relaxed.
pub fn rdb_read(data: &[u8]) {
    let relaxed = ReadOptions {
        verify_checksum: false,
        relaxed_version: true,
        salvage: false,
    };
    let salvage = ReadOptions {
        salvage: true,
        verify_checksum: data.iter().fold(0, |a, b| a ^ b) & 1 == 0,
        ..ReadOptions::default()
    };
    for opts in [ReadOptions::default(), relaxed.clone(), salvage] {
        let mut ex = JsonExporter::new(std::io::sink(), JsonMode::Lines, None);
        if opts.relaxed_version {
            let mut inspect = InspectSink::new(data.len() as u64, None, 0);
            let _ = read(data, &opts, &mut rdbtool::sink::Tee(&mut ex, &mut inspect));
            let _ = inspect.report.to_text();
        } else {
            let _ = read(data, &opts, &mut ex);
        }
    }
    let input = std::path::Path::new("input.rdb");
    let _ = check::check(data, input, &ReadOptions::default(), 0);
    let _ = check::check(data, input, &relaxed, 0);
}

/// Flavor and version selected by the second byte of an `rdb_value` input:
/// bit 7 picks Valkey (versions 80/81), else Redis version 1-16.
pub fn flavor_version(sel: u8) -> (Flavor, u32) {
    if sel & 0x80 != 0 {
        (Flavor::Valkey, 80 + (sel & 1) as u32)
    } else {
        (Flavor::Redis, 1 + (sel & 0x0f) as u32)
    }
}

/// The selector byte for a file of `flavor`/`version` (inverse of
/// [`flavor_version`]), used to write `rdb_value` seeds.
pub fn selector(flavor: Flavor, version: u32) -> u8 {
    match flavor {
        Flavor::Valkey => 0x80 | (version.saturating_sub(80) & 1) as u8,
        Flavor::Redis => (version.clamp(1, 16) - 1) as u8,
    }
}

/// `type byte, selector byte, value bytes`: the skip walk, then every
/// visitor, the loaded-encoding model for every target and the exporter.
pub fn rdb_value(data: &[u8]) {
    let [t, sel, raw @ ..] = data else { return };
    let (flavor, version) = flavor_version(*sel);
    let Some(layout) = RdbLayout::from_type_byte(*t, flavor, version) else {
        return;
    };
    let Ok((rest, ())) = value::skip(raw, layout) else {
        return;
    };
    let v = Value {
        layout,
        type_byte: *t,
        raw: &raw[..raw.len() - rest.len()],
        offset: 2,
    };
    exercise_value(&v, flavor, version);
}

/// Runs every consumer of a value: each visitor (also those of other types,
/// which must fail cleanly), counts, the encoding model and the exporter.
pub fn exercise_value(v: &Value<'_>, flavor: Flavor, version: u32) {
    let mut s = Scratch::default();
    let _ = validate(v, &mut s);
    let _ = v.element_count(&mut s);
    let _ = v.for_each_elem(&mut s, |_, _| Ok(()));
    let _ = v.for_each_scored(&mut s, |_, _| Ok(()));
    let _ = v.for_each_field(&mut s, |_, _, _| Ok(()));
    let _ = v.for_each_quicklist_node(&mut s, |_| Ok(()));
    let _ = v.stream_meta();
    let _ = v.stream();
    let _ = v.module_id();
    let _ = v.as_string();
    for t in [
        Target::Redis70,
        Target::Redis72,
        Target::Redis74,
        Target::Redis8,
        Target::Valkey8,
    ] {
        let _ = loaded_encoding(v, &Profile::new(t), &mut s);
    }
    let mut ex = JsonExporter::new(std::io::sink(), JsonMode::Lines, None);
    let _ = ex.header(&Header {
        flavor,
        version,
        len: 9,
    });
    let rec = KeyRecord {
        db: 0,
        key: RdbStr::Raw(b"k"),
        value: *v,
        expire_ms: Some(1),
        idle_s: Some(1),
        freq: Some(1),
        offset: 0,
        end: v.raw.len() as u64,
    };
    let _ = ex.record(&Record::Key(rec));
}

/// A listpack blob: header check, every element, the count.
pub fn listpack(data: &[u8]) {
    if let Ok(l) = Listpack::parse(data) {
        for e in l.iter() {
            if e.is_err() {
                break;
            }
        }
        let _ = l.count();
    }
}

/// A ziplist blob: header check, every entry, the count.
pub fn ziplist(data: &[u8]) {
    if let Ok(z) = Ziplist::parse(data) {
        for e in z.iter() {
            if e.is_err() {
                break;
            }
        }
        let _ = z.count();
    }
}

/// A zipmap blob: every pair.
pub fn zipmap_blob(data: &[u8]) {
    let _ = zipmap::for_each_pair(data, |_, _| Ok(()));
}

/// An intset blob: header check and every element.
pub fn intset(data: &[u8]) {
    if let Ok(s) = Intset::parse(data) {
        let _ = s.iter().fold(0i64, |a, v| a.wrapping_add(v));
    }
}

/// `u16le declared length, compressed bytes`: the decoder must never
/// produce more than declared.
pub fn lzf_blob(data: &[u8]) {
    let [a, b, packed @ ..] = data else { return };
    let expected = u16::from_le_bytes([*a, *b]) as usize;
    let mut out = Vec::new();
    let ok = lzf::decompress_into(packed, expected, &mut out).is_ok();
    assert!(
        out.len() <= expected,
        "LZF output beyond the declared length"
    );
    assert!(!ok || out.len() == expected, "LZF accepted a short output");
}

/// A stream node listpack (master ID 0-0).
pub fn stream_node(data: &[u8]) {
    let mut out = Vec::new();
    let _ = stream::decode_node(StreamId::default(), data, &mut out);
}

/// A module item stream, a MODULE_2 value and a MODULE_AUX body.
pub fn module_items(data: &[u8]) {
    let _ = module::walk_items(data);
    let _ = module::module_value(data);
    let _ = module::module_aux(data);
}

/// A DUMP payload: parsed with the CRC checked (the error path), then
/// without (so mutations reach the value), deep-validated, and run through
/// every value consumer.
pub fn dump_payload(data: &[u8]) {
    let _ = dump::parse(data, &DumpOptions::default());
    let lax = DumpOptions {
        verify_crc: false,
        allow_zero_crc: true,
        max_version: None,
    };
    if let Ok(d) = dump::parse(data, &lax) {
        let _ = dump::validate(&d.value, &mut Scratch::default());
        let flavor = if d.version >= 80 {
            Flavor::Valkey
        } else {
            Flavor::Redis
        };
        exercise_value(&d.value, flavor, d.version.into());
    }
}

/// Touches every part of every record an AOF scan delivers.
#[derive(Default)]
struct AofTouch {
    bytes: usize,
}

impl<'a> AofSink<'a> for AofTouch {
    fn rdb_record(&mut self, _file: usize, _r: &Record<'_>) -> rdbtool::Result<Flow> {
        self.bytes += 1;
        Ok(Flow::Continue)
    }
    fn command(&mut self, c: &AofCommand<'a>) -> rdbtool::Result<Flow> {
        self.bytes += c.argv.iter().map(<[u8]>::len).sum::<usize>() + c.argv.argc();
        let _ = (c.argv.name(), c.argv.get(1), c.argv.is("multi"));
        let _ = rdbtool::aof::commands::lookup(&c.argv);
        Ok(Flow::Continue)
    }
    fn annotation(&mut self, a: &Annotation<'a>) -> rdbtool::Result<Flow> {
        self.bytes += a.text.len();
        Ok(Flow::Continue)
    }
}

/// An AOF file (RESP, inline commands, `#TS:` annotations, MULTI/EXEC, an
/// RDB preamble): scanned with the server's rules (RESP only, and with
/// inline commands) and the checker's, then `rdbtool aof check` on it as a
/// single file (written to a per-thread temp file: the check opens paths).
pub fn aof_read(data: &[u8]) {
    let rdb = ReadOptions {
        verify_checksum: false,
        relaxed_version: true,
        salvage: false,
    };
    for (dialect, inline) in [
        (Dialect::Server, false),
        (Dialect::Server, true),
        (Dialect::Checker, false),
    ] {
        let opts = AofOptions {
            dialect,
            inline,
            rdb: rdb.clone(),
        };
        let _ = scan_file(
            data,
            0,
            &opts,
            &mut ScanState::default(),
            &mut AofTouch::default(),
        );
    }
    let dir = std::env::temp_dir().join(format!(
        "rdbtool-fuzz-aof-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let path = dir.join("appendonly.aof");
    if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&path, data).is_ok() {
        if let Ok(set) = AofSet::open(&path) {
            let _ = rdbtool::aof::check::check(&set, &rdb);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A multi-part AOF manifest. One the parser accepts must survive the
/// writer's rendering (`format_entry`) and parse back to the same entries,
/// when every rendered line fits the server's 1024-byte line buffer.
pub fn aof_manifest(data: &[u8]) {
    let _ = manifest::looks_like_manifest(data);
    let Ok(m) = manifest::parse(data) else { return };
    let entries: Vec<_> = m.load_order().chain(&m.history).collect();
    if entries.is_empty() {
        // Comments only: nothing to render (an empty file is refused).
        return;
    }
    let mut out = Vec::new();
    for e in &entries {
        let at = out.len();
        manifest::format_entry(&e.name, e.seq, e.file_type, &mut out);
        if out.len() - at > 1023 {
            return;
        }
    }
    let again = manifest::parse(&out)
        .unwrap_or_else(|e| panic!("aof_manifest: a rendered manifest does not parse: {e}"));
    let key = |e: &&manifest::Entry| (e.name.clone(), e.seq, e.file_type);
    let got: Vec<_> = again
        .load_order()
        .chain(&again.history)
        .map(|e| key(&e))
        .collect();
    let want: Vec<_> = entries.iter().map(key).collect();
    assert_eq!(got, want, "aof_manifest: entries changed in a round trip");
}

/// Import output must be a file the reader accepts, holding `keys` keys.
fn check_import(out: Option<Vec<u8>>, keys: u64, what: &str) {
    let out = out.unwrap_or_default();
    let mut n = 0u64;
    let mut count = CountKeys(&mut n);
    if let Err(e) = read(&out, &ReadOptions::default(), &mut count) {
        panic!("{what}: an accepted import wrote an unreadable RDB: {e}");
    }
    assert!(n <= keys, "{what}: {n} keys written for {keys} read");
}

struct CountKeys<'a>(&'a mut u64);
impl RecordSink for CountKeys<'_> {
    fn record(&mut self, r: &Record<'_>) -> rdbtool::Result<Flow> {
        if let Record::Key(k) = r {
            *self.0 += 1;
            let _ =
                rdbtool::model::owned::OwnedValue::from_value(&k.value, &mut Scratch::default())
                    .expect("a written value decodes");
        }
        Ok(Flow::Continue)
    }
}

/// A JSONL export imported into an RDB 12 file (the version a header line
/// names otherwise); an accepted import must read back.
pub fn import_jsonl(data: &[u8]) {
    let mut sink = RdbSink::new(Vec::new(), RdbSinkOptions::default());
    if let Ok(stats) = rdbtool::import::jsonl::import(data, &mut sink, 12) {
        check_import(sink.into_inner(), stats.keys, "import_jsonl");
    }
}

/// A CSV key table imported into an RDB 12 file; an accepted import must
/// read back.
pub fn import_csv(data: &[u8]) {
    let mut sink = RdbSink::new(Vec::new(), RdbSinkOptions::default());
    if let Ok(keys) = rdbtool::import::csv::import(data, &mut sink, 12) {
        check_import(sink.into_inner(), keys, "import_csv");
    }
}

/// A global allocator that counts live bytes and their high-water mark.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are plain atomics.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` was allocated by `System` with layout `l`.
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: `p` was allocated by `System` with layout `l`.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            grew(new);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// The most a run of `target` on `input_len` bytes may have allocated at
/// once. Whole-file and whole-value targets end in the exporter and may
/// legitimately expand: LZF decodes at most 88 bytes per input byte (a
/// 3-byte back-reference copies 264), and the exporter writes a value's JSON
/// into one line buffer (escapes up to 6x, growth 2x). Inner decoders build
/// at most a few words per element, and an element takes at least 2 bytes.
pub fn alloc_bound(target: &str, input_len: usize) -> usize {
    let factor = match target {
        "rdb_read" | "rdb_value" | "dump_payload" | "aof_read" | "rdb_roundtrip" => 1100,
        // A JSON document tree costs up to ~80 bytes per 2-byte element,
        // and the import holds the owned key and its encoding.
        "import_jsonl" | "import_csv" => 256,
        // Generated keys are bounded by count and size, not by input.
        "records_roundtrip" => 64,
        // A node may decode to 128x its size (stream::NODE_DECODE_FACTOR),
        // plus two vectors per field pair.
        "stream_node" => 256,
        _ => 32,
    };
    // The RDB writer's fixed buffers (output buffer, LZF hash table) come
    // on top for the targets that write.
    let fixed = match target {
        "import_jsonl" | "import_csv" | "rdb_roundtrip" | "records_roundtrip" => 1 << 20,
        _ => 64 << 10,
    };
    factor * input_len + fixed
}

/// Runs `f` and returns the peak bytes it allocated above what was live
/// before (single-threaded callers: the counters are process-wide).
pub fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// Runs `target` on `data` and panics when the peak allocation exceeds
/// [`alloc_bound`]; returns the peak.
pub fn run_bounded(target: &str, data: &[u8]) -> usize {
    let mut known = true;
    let peak = peak_during(|| known = run(target, data));
    assert!(known, "unknown fuzz target {target}");
    let bound = alloc_bound(target, data.len());
    assert!(
        peak <= bound,
        "{target}: peak allocation {peak} bytes for a {}-byte input (bound {bound})",
        data.len()
    );
    peak
}
