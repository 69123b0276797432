//! Every real RDB file against what its sources say: each data file under
//! `../shared/corpus/rdb` with its `expected/rdb/<file>.json`
//! (MANIFEST.md), and each file of the project's `corpus/` with the
//! `<file>.json` recorded from the server that wrote it (corpus/README.md).
//! The reader and the JSONL exporter run on each file; every stated fact is
//! compared (see `common/expected.rs` for the rules and the documented
//! interpretations). Files without expectations must still load.
//!
//! Also: the `rdbtool` binary's exit codes on good, truncated, unsupported
//! files and on an output path that is the input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::expected::{Origin, Report, check_file, export};
use rdbtool::server::Target;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared() -> PathBuf {
    repo().join("../shared/corpus")
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let rd = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

#[derive(Default)]
struct Totals {
    files: usize,
    with_expectations: usize,
    keys: usize,
    facts: usize,
    expired: usize,
    failures: Vec<String>,
    unchecked: Vec<String>,
}

impl Totals {
    fn add(&mut self, r: Report) {
        self.with_expectations += 1;
        self.keys += r.keys_checked;
        self.facts += r.facts_checked;
        self.expired += r.expired_reported;
        self.failures.extend(r.failures);
        self.unchecked.extend(r.unchecked);
    }
    fn finish(self, what: &str) {
        println!(
            "{what}: {} files, {} with expectations, {} keys ({} already expired) and {} facts checked, {} facts unchecked",
            self.files,
            self.with_expectations,
            self.keys,
            self.expired,
            self.facts,
            self.unchecked.len()
        );
        for u in &self.unchecked {
            println!("  unchecked: {u}");
        }
        assert!(self.files > 0, "{what}: no files found");
        assert!(
            self.failures.is_empty(),
            "{what}: {} failures:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// Checks one directory of the shared corpus.
fn shared_dir(dir: &str) {
    let data_dir = shared().join("rdb").join(dir);
    let exp_dir = shared().join("expected/rdb").join(dir);
    let mut t = Totals::default();
    for path in files_in(&data_dir, "rdb") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel = format!("{dir}/{name}");
        let data = std::fs::read(&path).expect("read data file");
        t.files += 1;
        let exp_path = exp_dir.join(format!("{name}.json"));
        if exp_path.exists() {
            let exp: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&exp_path).expect("read expectation"))
                    .expect("expectation JSON");
            t.add(check_file(&rel, &data, &exp, Origin::Shared, None));
        } else if let Err(e) = export(&data, false, None) {
            // No source states anything: the file is valid and must load.
            t.failures
                .push(format!("{rel}: no expectation, must load, got: {e}"));
        }
    }
    // Every expectation names a data file that exists.
    if exp_dir.exists() {
        for p in files_in(&exp_dir, "json") {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            if !data_dir.join(&stem).exists() {
                t.failures
                    .push(format!("{dir}/{stem}: expectation without data file"));
            }
        }
    }
    t.finish(&format!("shared/corpus/rdb/{dir}"));
}

/// Checks one directory of the project's corpus; `target` is the server
/// that wrote (and described) its files, whose `OBJECT ENCODING` the export
/// must match.
fn own_dir(dir: &str, target: Target) {
    let d = repo().join("corpus").join(dir);
    let mut t = Totals::default();
    let mut rdbs = files_in(&d, "rdb");
    // The RDB BASE file of the multi-part AOF is an RDB too.
    let base = d.join("aof-multipart/appendonlydir");
    if base.exists() {
        rdbs.extend(files_in(&base, "rdb"));
    }
    for path in rdbs {
        let rel = path
            .strip_prefix(repo().join("corpus"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let data = std::fs::read(&path).expect("read data file");
        t.files += 1;
        let exp_path = PathBuf::from(format!("{}.json", path.display()));
        if exp_path.exists() {
            let exp: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&exp_path).expect("read expectation"))
                    .expect("expectation JSON");
            t.add(check_file(&rel, &data, &exp, Origin::Own, Some(target)));
        } else if let Err(e) = export(&data, false, Some(target)) {
            t.failures
                .push(format!("{rel}: no expectation, must load, got: {e}"));
        }
    }
    t.finish(&format!("corpus/{dir}"));
}

macro_rules! shared_tests {
    ($($name:ident => $dir:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            shared_dir($dir);
        }
    )*};
}

shared_tests! {
    shared_cupcake => "cupcake",
    shared_dragonfly => "dragonfly",
    shared_githulk => "githulk",
    shared_goredisparser => "goredisparser",
    shared_hdt3213 => "hdt3213",
    shared_keydb => "keydb",
    shared_kvrocks => "kvrocks",
    shared_librdb => "librdb",
    shared_nrk => "nrk",
    shared_rdbcli => "rdbcli",
    shared_rdbrs => "rdbrs",
    shared_rdbtools => "rdbtools",
    shared_rdbtools3 => "rdbtools3",
    shared_redis => "redis",
    shared_replicator => "replicator",
    shared_valkey => "valkey",
}

/// Every directory of the shared corpus has a test above.
#[test]
fn shared_dirs_all_covered() {
    let known = [
        "cupcake",
        "dragonfly",
        "githulk",
        "goredisparser",
        "hdt3213",
        "keydb",
        "kvrocks",
        "librdb",
        "nrk",
        "rdbcli",
        "rdbrs",
        "rdbtools",
        "rdbtools3",
        "redis",
        "replicator",
        "valkey",
    ];
    let mut dirs: Vec<String> = std::fs::read_dir(shared().join("rdb"))
        .expect("shared corpus (../shared/corpus/rdb)")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, known, "a shared corpus directory has no test");
}

#[test]
fn own_redis_70() {
    own_dir("redis-7.0", Target::Redis70);
}

#[test]
fn own_redis_82() {
    own_dir("redis-8.2", Target::Redis8);
}

// ---- the binary's exit codes ----

fn rdbtool(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(args)
        .output()
        .expect("run rdbtool")
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "rdbtool-test-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn cli_inspect_good_file_exits_0() {
    let f = repo().join("corpus/redis-7.0/encodings.rdb");
    let out = rdbtool(&["inspect".as_ref(), f.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty());
}

#[test]
fn cli_inspect_truncated_file_exits_1_naming_the_offset() {
    let src = std::fs::read(repo().join("corpus/redis-7.0/encodings.rdb")).unwrap();
    let tmp = TempDir::new("truncated");
    let cut = src.len() / 2;
    let f = tmp.0.join("truncated.rdb");
    std::fs::write(&f, &src[..cut]).unwrap();
    let out = rdbtool(&["inspect".as_ref(), f.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    // The message names a file offset inside the truncated file.
    let off: u64 = err
        .split("offset ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset in: {err}"));
    assert!(
        off <= cut as u64,
        "offset {off} beyond the end {cut}: {err}"
    );
}

#[test]
fn cli_inspect_unsupported_version_exits_4() {
    let f = shared().join("rdb/librdb/future_v19.rdb");
    let out = rdbtool(&["inspect".as_ref(), f.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "stderr: {err}");
    assert!(err.contains("unsupported RDB version 99"), "{err}");
}

#[test]
fn cli_export_refuses_to_overwrite_its_input() {
    let tmp = TempDir::new("overwrite");
    let f = tmp.0.join("dump.rdb");
    let src = std::fs::read(repo().join("corpus/redis-7.0/lfu.rdb")).unwrap();
    std::fs::write(&f, &src).unwrap();
    let out = rdbtool(&[
        "export".as_ref(),
        f.as_os_str(),
        "-o".as_ref(),
        f.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(&f).unwrap(), src, "the input was modified");
    // Only the input remains: no temporary output left behind.
    let left: Vec<_> = std::fs::read_dir(&tmp.0).unwrap().collect();
    assert_eq!(left.len(), 1);
}

/// `-o -` is standard output, as in most command-line tools: the bytes are
/// those of the file `-o FILE` writes, and no file named `-` appears. A
/// directory output (a multi-part AOF) cannot be standard output: usage error.
#[test]
fn cli_output_dash_is_standard_output() {
    let tmp = TempDir::new("dash");
    let src = repo().join("corpus/redis-7.0/lfu.rdb");
    let run = |args: &[&str]| {
        // The RDB's ctime AUX field: the same in both runs (the clock
        // may tick between them).
        Command::new(env!("CARGO_BIN_EXE_rdbtool"))
            .current_dir(&tmp.0)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .arg(args[0])
            .arg(&src)
            .args(&args[1..])
            .output()
            .expect("run rdbtool")
    };
    for (to_stdout, to_file) in [
        (&["export", "-o", "-"][..], &["export", "-o", "out"][..]),
        (
            &["convert", "--to", "rdb", "-o", "-"][..],
            &["convert", "--to", "rdb", "-o", "out"][..],
        ),
    ] {
        let a = run(to_stdout);
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
        let b = run(to_file);
        assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
        let file = std::fs::read(tmp.0.join("out")).expect("out");
        assert!(!file.is_empty());
        assert_eq!(a.stdout, file, "{to_stdout:?}");
        assert!(
            !tmp.0.join("-").exists(),
            "{to_stdout:?} wrote a file named -"
        );
        if to_stdout.contains(&"rdb") {
            // `ctime` then 1700000000 as a 32-bit integer string.
            let mut ctime = b"ctime\xc2".to_vec();
            ctime.extend_from_slice(&1_700_000_000u32.to_le_bytes());
            assert!(file.windows(ctime.len()).any(|w| w == ctime));
        }
        std::fs::remove_file(tmp.0.join("out")).expect("remove out");
    }
    for args in [
        &["convert", "--to", "aof-dir", "-o", "-"][..],
        &["split", "--by", "db", "-o", "-"][..],
    ] {
        let d = run(args);
        let err = String::from_utf8_lossy(&d.stderr);
        assert_eq!(d.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("directory"), "{args:?}: {err}");
        assert!(
            !tmp.0.join("-").exists(),
            "{args:?} made a directory named -"
        );
    }
}

/// A type-6 module value is delimited by the rest of the file reading
/// cleanly through a verified CRC-64: with a damaged trailer no end
/// qualifies, and the read fails with a parse error naming the value's
/// offset and key instead of guessing.
#[test]
fn module_pre_ga_needs_a_verifiable_rest_of_file() {
    let path = shared().join("rdb/replicator/module.rdb");
    let mut data = std::fs::read(&path).expect("module.rdb");
    assert!(export(&data, false, None).is_ok());
    let last = data.len() - 1;
    data[last] ^= 0x55;
    let e = export(&data, false, None).expect_err("damaged CRC must not load");
    assert!(
        matches!(e.kind(), rdbtool::ErrorKind::Parse(_)),
        "{:?}: {e}",
        e.kind()
    );
    let msg = e.to_string();
    assert!(
        msg.contains("type 6") && msg.contains("key \"key\""),
        "{msg}"
    );
    // Without CRC verification the structure alone decides, as before.
    let opts = rdbtool::rdb::read::ReadOptions {
        verify_checksum: false,
        ..Default::default()
    };
    let mut keys = 0;
    let mut sink = rdbtool::sink::FnSink(|r: &rdbtool::rdb::read::Record<'_>| {
        if let rdbtool::rdb::read::Record::Key(_) = r {
            keys += 1;
        }
        Ok(rdbtool::sink::Flow::Continue)
    });
    rdbtool::rdb::read::read(&data, &opts, &mut sink).expect("structure reads without CRC");
    assert!(keys > 10, "{keys} keys");
}
