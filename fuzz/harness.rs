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
//! Adding a parser (hook for the DUMP payload and AOF/RESP/manifest parsers):
//! write a `pub fn <target>(data: &[u8])` here, add it to [`TARGETS`] and
//! [`run`], add `fuzz_targets/<target>.rs` (three lines, like the others) and
//! a `[[bin]]` in `fuzz/Cargo.toml`, and name its seed directories in
//! `fuzz/run-all.sh` (`seeds_for`). Regressions then go to
//! `fuzz/regressions/<target>/` and are replayed automatically.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use rdbtool::analyze::check;
use rdbtool::analyze::inspect::InspectSink;
use rdbtool::export::json::{JsonExporter, JsonMode};
use rdbtool::model::{Flavor, RdbLayout};
use rdbtool::rdb::read::intset::Intset;
use rdbtool::rdb::read::listpack::Listpack;
use rdbtool::rdb::read::ziplist::Ziplist;
use rdbtool::rdb::read::{
    Header, KeyRecord, RdbStr, ReadOptions, Record, Scratch, StreamId, Value, lzf, module, read,
    stream, validate, value, zipmap,
};
use rdbtool::server::{Profile, Target, loaded_encoding};
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
        _ => return false,
    }
    true
}

/// A whole file through the reader with the JSON exporter as sink: with the
/// default options, relaxed (any plausible version, no CRC; the inspect
/// report is built too), and in salvage mode (resynchronising after damage);
/// then through `rdbtool check`.
pub fn rdb_read(data: &[u8]) {
    let relaxed = ReadOptions {
        verify_checksum: false,
        relaxed_version: true,
        salvage: false,
    };
    let salvage = ReadOptions {
        salvage: true,
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
    let _ = check::check(data, std::path::Path::new("input.rdb"), &relaxed, 0);
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
        "rdb_read" | "rdb_value" => 1100,
        // A node may decode to 128x its size (stream::NODE_DECODE_FACTOR),
        // plus two vectors per field pair.
        "stream_node" => 256,
        _ => 32,
    };
    factor * input_len + (64 << 10)
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
