//! Replays every input that a fuzz campaign found crashing, hanging or
//! over-allocating (`fuzz/regressions/<target>/`) through the same harness
//! the fuzz targets use, on the stable toolchain: each must now run without
//! a panic and within the harness's allocation bound.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[test]
fn fuzz_regressions_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    let mut failures = Vec::new();
    for dir in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let dir = dir.unwrap().path();
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            harness::TARGETS.contains(&target.as_str()),
            "fuzz/regressions/{target}: no such fuzz target"
        );
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let data = std::fs::read(&f).unwrap();
            let r = catch_unwind(AssertUnwindSafe(|| harness::run_bounded(&target, &data)));
            if r.is_err() {
                failures.push(f.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression inputs found under {root:?}");
    assert!(failures.is_empty(), "regressions failing: {failures:#?}");
}
