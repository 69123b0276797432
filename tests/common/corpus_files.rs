//! The RDB files of the project corpus (corpus/) and of the shared corpus
//! (../shared/corpus/rdb), for tests that run over all of them.

use std::path::{Path, PathBuf};

/// Every `.rdb` under `dir`, recursively, in path order.
fn rdb_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut v: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    v.sort();
    for p in v {
        if p.is_dir() {
            rdb_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rdb") {
            out.push(p);
        }
    }
}

/// The project corpus's RDB files, then the shared corpus's.
pub fn corpus_rdbs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rdb_files(&root.join("corpus"), &mut files);
    rdb_files(&root.join("../shared/corpus/rdb"), &mut files);
    files
}
