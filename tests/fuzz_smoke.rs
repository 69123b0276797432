//! CI smoke test on the stable toolchain: every corpus file (`corpus/` and,
//! when present, `../shared/corpus/rdb`) and a fixed number of seeded
//! mutations of each (bit flips, byte sets, truncations, length-byte bumps,
//! splices with another file) go through the reader and the exporter (the
//! fuzz harness's `rdb_read`: default, relaxed and salvage reads (with or
//! without the checksum, by the input's byte parity), and `check`). No input
//! may panic, and each run's peak allocation must stay within the harness's
//! bound (a counting global allocator). The fuzz regressions are replayed
//! first.
//!
//! The second test does the same for every other parser's target: DUMP
//! payloads (`../shared/corpus/dump`), AOF files and manifests (`corpus/`,
//! `../shared/corpus/aof`), JSONL and CSV imports (one-key exports of the
//! corpus files), the RDB round trip (corpus files under 64 KiB) and the
//! generated-records round trip (seeded random bytes), plus whatever a
//! local campaign left in `fuzz/corpus/<target>`.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The allocation counters are process-wide: the tests of this file take
/// turns so that one's allocations never count against the other's bound.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Mutations per corpus file (fewer for files over 256 KiB, which take
/// longer to read three times).
const MUTATIONS: usize = 24;
const MUTATIONS_BIG: usize = 3;

/// xorshift64*: fixed seeds, so a failure names a reproducible case.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    files_matching(dir, &|p| p.extension().is_some_and(|x| x == "rdb"), out);
}

fn files_matching(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_matching(&p, keep, out);
        } else if keep(&p) {
            out.push(p);
        }
    }
}

/// One mutation of `d` (kind chosen by the RNG), `other` for splices.
fn mutate(d: &[u8], other: &[u8], rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let mut m = d.to_vec();
    if m.is_empty() {
        return (m, "empty");
    }
    // Past the 9-byte header most of the time: damage inside the data.
    let pos = |rng: &mut Rng, len: usize| {
        if len > 9 && rng.below(8) != 0 {
            9 + rng.below(len - 9)
        } else {
            rng.below(len)
        }
    };
    let kind = match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = pos(rng, m.len());
                m[i] ^= 1 << rng.below(8);
            }
            "bit flips"
        }
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = pos(rng, m.len());
                m[i] = [0x00, 0xff, 0x7f, 0x80, 0x81, 0xc3, rng.next() as u8][rng.below(7)];
            }
            "byte sets"
        }
        2 => {
            m.truncate(rng.below(m.len()));
            "truncation"
        }
        3 => {
            // A length byte made larger: 6-bit lengths grow, or turn into
            // 14/32/64-bit length prefixes that claim far more than remains.
            let i = pos(rng, m.len());
            m[i] = match rng.below(4) {
                0 => m[i].wrapping_add(1 + rng.below(8) as u8),
                1 => 0x40 | (m[i] & 0x3f),
                2 => 0x80,
                _ => 0x81,
            };
            "length bump"
        }
        _ => {
            let cut = pos(rng, m.len());
            let from = rng.below(other.len());
            let take = rng.below(other.len() - from + 1).min(1 << 16);
            m.truncate(cut);
            m.extend_from_slice(&other[from..from + take]);
            "splice"
        }
    };
    (m, kind)
}

#[test]
fn corpus_mutations_never_panic_and_stay_within_allocation_bounds() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t0 = Instant::now();

    let mut replayed = 0;
    for dir in std::fs::read_dir(root.join("fuzz/regressions"))
        .unwrap()
        .flatten()
    {
        let target = dir.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            harness::run_bounded(&target, &std::fs::read(f.path()).unwrap());
            replayed += 1;
        }
    }

    let mut files = Vec::new();
    files_under(&root.join("corpus"), &mut files);
    files_under(&root.join("../shared/corpus/rdb"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no corpus files");
    let datas: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();

    let mut rng = Rng(0x5eed_f00d);
    let (mut runs, mut bytes, mut worst) = (0usize, 0usize, (0f64, String::new()));
    let mut failures = Vec::new();
    for (i, (f, d)) in files.iter().zip(&datas).enumerate() {
        let n = if d.len() > 256 << 10 {
            MUTATIONS_BIG
        } else {
            MUTATIONS
        };
        let other = &datas[(i + 1) % datas.len()];
        for m in 0..=n {
            let (input, kind) = if m == 0 {
                (d.clone(), "original")
            } else {
                mutate(d, other, &mut rng)
            };
            let r = catch_unwind(AssertUnwindSafe(|| {
                harness::run_bounded("rdb_read", &input)
            }));
            match r {
                Ok(peak) => {
                    let ratio = peak as f64 / input.len().max(1) as f64;
                    if input.len() > 4096 && ratio > worst.0 {
                        worst = (ratio, format!("{} ({kind})", f.display()));
                    }
                }
                Err(_) => failures.push(format!("{} mutation {m} ({kind})", f.display())),
            }
            runs += 1;
            bytes += input.len();
        }
    }
    eprintln!(
        "fuzz smoke: {replayed} regressions, {runs} inputs ({} files, {:.1} MB) in {:.1} s; \
         worst peak allocation / input size (inputs > 4 KiB): {:.1}x on {}",
        files.len(),
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64(),
        worst.0,
        worst.1
    );
    assert!(failures.is_empty(), "inputs that failed: {failures:#?}");
}

/// Mutations per input for the other parsers' targets.
const OTHER_MUTATIONS: usize = 12;
/// Inputs taken per target from a local campaign's corpus.
const CAMPAIGN_INPUTS: usize = 300;

/// One-key JSONL exports (header line first) and CSV tables of every key
/// of `data`.
fn exports(data: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    use rdbtool::export::csv_keys::CsvKeys;
    use rdbtool::export::json::{JsonExporter, JsonMode};
    use rdbtool::rdb::read::{ReadOptions, Record, read};
    use rdbtool::sink::{Flow, RecordSink};
    struct Each {
        header: Option<rdbtool::rdb::read::Header>,
        jsonl: Vec<Vec<u8>>,
        csv: Vec<Vec<u8>>,
    }
    impl RecordSink for Each {
        fn header(&mut self, h: &rdbtool::rdb::read::Header) -> rdbtool::Result<()> {
            self.header = Some(*h);
            Ok(())
        }
        fn record(&mut self, r: &Record<'_>) -> rdbtool::Result<Flow> {
            if let (Record::Key(_), Some(h)) = (r, self.header) {
                let mut j = JsonExporter::new(Vec::new(), JsonMode::Lines, None);
                j.header(&h)?;
                j.record(r)?;
                self.jsonl.push(j.into_inner());
                let mut c = CsvKeys::new(Vec::new())?;
                if c.record(r).is_ok() {
                    self.csv.push(c.into_inner()?);
                }
            }
            Ok(Flow::Continue)
        }
    }
    let mut e = Each {
        header: None,
        jsonl: Vec::new(),
        csv: Vec::new(),
    };
    read(data, &ReadOptions::default(), &mut e).expect("corpus file reads");
    (e.jsonl, e.csv)
}

#[test]
fn every_other_parser_survives_its_corpus_and_mutations() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/corpus");
    let t0 = Instant::now();
    let read_all = |ps: Vec<PathBuf>| -> Vec<Vec<u8>> {
        ps.iter().filter_map(|p| std::fs::read(p).ok()).collect()
    };
    let mut inputs: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();

    let mut dumps = Vec::new();
    files_matching(&shared.join("dump"), &|_| true, &mut dumps);
    inputs.push(("dump_payload", read_all(dumps)));

    let is_manifest = |p: &Path| p.extension().is_some_and(|x| x == "manifest");
    let is_aof = |p: &Path| {
        let n = p.file_name().unwrap_or_default().to_string_lossy();
        !is_manifest(p) && (n.ends_with(".aof") || n.contains(".aof."))
    };
    let (mut aofs, mut manifests) = (Vec::new(), Vec::new());
    for d in [root.join("corpus"), shared.join("aof")] {
        files_matching(&d, &is_aof, &mut aofs);
        files_matching(&d, &is_manifest, &mut manifests);
    }
    aofs.retain(|p| p.metadata().is_ok_and(|m| m.len() < 256 << 10));
    inputs.push(("aof_read", read_all(aofs)));
    inputs.push(("aof_manifest", read_all(manifests)));

    let mut rdbs = Vec::new();
    files_under(&root.join("corpus"), &mut rdbs);
    files_under(&shared.join("rdb"), &mut rdbs);
    rdbs.sort();
    rdbs.retain(|p| p.metadata().is_ok_and(|m| m.len() < 64 << 10));
    let rdbs = read_all(rdbs);
    let (mut jsonl, mut csv) = (Vec::new(), Vec::new());
    for f in [
        "corpus/redis-7.0/encodings.rdb",
        "corpus/redis-8.2/encodings.rdb",
    ] {
        let (j, c) = exports(&std::fs::read(root.join(f)).unwrap());
        jsonl.extend(j);
        csv.extend(c);
    }
    inputs.push(("import_jsonl", jsonl));
    inputs.push(("import_csv", csv));
    inputs.push(("rdb_roundtrip", rdbs));
    let mut rng = Rng(0x5eed_c0de);
    let random: Vec<Vec<u8>> = (0..200)
        .map(|_| {
            (0..64 + rng.below(2048))
                .map(|_| rng.next() as u8)
                .collect()
        })
        .collect();
    inputs.push(("records_roundtrip", random));

    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for (target, mut datas) in inputs {
        assert!(!datas.is_empty(), "{target}: no inputs");
        let seeds = datas.len();
        let mut campaign = Vec::new();
        files_matching(
            &root.join("fuzz/corpus").join(target),
            &|_| true,
            &mut campaign,
        );
        campaign.sort();
        campaign.truncate(CAMPAIGN_INPUTS);
        datas.extend(read_all(campaign));
        // One sequence per target, seeds first: the cases stay the same
        // whatever a local campaign left behind.
        let mut rng = Rng(0x5eed_c0de ^ target.bytes().fold(0u64, |h, b| h * 31 + b as u64));
        let mut runs = 0;
        for (i, d) in datas.iter().enumerate() {
            let other = &datas[(i + 1) % datas.len()];
            for m in 0..=OTHER_MUTATIONS {
                let (input, kind) = if m == 0 {
                    (d.clone(), "original")
                } else {
                    mutate(d, other, &mut rng)
                };
                let r = catch_unwind(AssertUnwindSafe(|| harness::run_bounded(target, &input)));
                if r.is_err() {
                    failures.push(format!("{target} input {i} mutation {m} ({kind})"));
                }
                runs += 1;
            }
        }
        summary.push(format!(
            "{target}: {seeds} seeds + {} campaign, {runs} runs",
            datas.len() - seeds
        ));
    }
    eprintln!(
        "fuzz smoke (other parsers) in {:.1} s: {}",
        t0.elapsed().as_secs_f64(),
        summary.join("; ")
    );
    assert!(failures.is_empty(), "inputs that failed: {failures:#?}");
}
