//! Test support shared by unit tests: inputs that exercise every parser
//! path the same way in each module.

use std::path::PathBuf;

use crate::rdb::read::ReadOptions;

/// Calls `f(file, round, bytes, options)` for every RDB of the project's own
/// `corpus/`, once unchanged (round 0) and `rounds - 1` times with one bit
/// flipped at a pseudo-random offset past the header (xorshift from
/// `seed`), each with the CRC check on and off. Returns the number of files
/// (the caller asserts it found them).
pub fn for_each_flipped_corpus_file(
    seed: u64,
    rounds: u32,
    mut f: impl FnMut(&PathBuf, u32, &[u8], &ReadOptions),
) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut files = 0;
    for sub in ["redis-7.0", "redis-8.2"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in rd.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "rdb") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            files += 1;
            let mut s = seed;
            for round in 0..rounds {
                let mut d = data.clone();
                if round > 0 {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    let p = 9 + (s as usize) % (d.len() - 9);
                    d[p] ^= 1 << ((s >> 60) % 8);
                }
                for verify in [true, false] {
                    let opts = ReadOptions {
                        verify_checksum: verify,
                        relaxed_version: false,
                        salvage: false,
                    };
                    f(&path, round, &d, &opts);
                }
            }
        }
    }
    files
}

/// Every RDB of the project's `corpus/` and of the shared corpus
/// (`../shared/corpus/rdb`: other writers, many dbs, functions, modules).
pub fn corpus_rdb_files() -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rdb") {
                out.push(p);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("../shared/corpus/rdb"), &mut files);
    walk(&root.join("corpus"), &mut files);
    files.sort();
    files
}
