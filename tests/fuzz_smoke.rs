//! CI smoke test on the stable toolchain: every corpus file (`corpus/` and,
//! when present, `../shared/corpus/rdb`) and a fixed number of seeded
//! mutations of each (bit flips, byte sets, truncations, length-byte bumps,
//! splices with another file) go through the reader and the exporter (the
//! fuzz harness's `rdb_read`: default, relaxed and salvage reads). No input
//! may panic, and each run's peak allocation must stay within the harness's
//! bound (a counting global allocator). The fuzz regressions are replayed
//! first.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else if p.extension().is_some_and(|x| x == "rdb") {
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
