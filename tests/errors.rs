//! Error quality: every failure names the file, the offset, the key when one
//! is being read, the structure and what was expected versus found, with no
//! `Debug` dumps; and `rdbtool check` prints what redis-check-rdb prints on
//! the same files (run side by side) and says more.

use std::path::{Path, PathBuf};
use std::process::Command;

use rdbtool::ErrorKind;
use rdbtool::error::Problem;
use rdbtool::rdb::read::{ReadOptions, read};
use rdbtool::sink::{Flow, FnSink};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = root().join("../shared/corpus").join(rel);
    p.exists().then_some(p)
}

/// Reads and decodes every value (as `check` and every exporting command
/// do): the walk alone only proves where each value ends.
fn decode_err(data: &[u8]) -> Option<rdbtool::Error> {
    let mut scratch = rdbtool::rdb::read::Scratch::default();
    read(
        data,
        &ReadOptions::default(),
        &mut FnSink(|r: &rdbtool::rdb::read::Record<'_>| {
            if let rdbtool::rdb::read::Record::Key(k) = r {
                rdbtool::rdb::read::validate(&k.value, &mut scratch)
                    .map_err(|e| e.with_key(k.db, k.key.as_raw()).with_record_start(k.offset))?;
            }
            Ok(Flow::Continue)
        }),
    )
    .err()
}

fn read_err(data: &[u8]) -> Option<rdbtool::Error> {
    read(
        data,
        &ReadOptions::default(),
        &mut FnSink(|_: &rdbtool::rdb::read::Record<'_>| Ok(Flow::Continue)),
    )
    .err()
}

/// No Rust `Debug` rendering may reach a user.
fn assert_no_debug(msg: &str) {
    for bad in [
        "Some(",
        "None",
        "Problem",
        "Invalid {",
        "Length {",
        "Truncated {",
        "[0x",
        "\\u{",
    ] {
        assert!(!msg.contains(bad), "debug dump in error message: {msg}");
    }
}

#[test]
fn corrupt_shared_files_fail_with_a_located_explained_error() {
    let Some(p) = shared("rdb/redis/corrupt_ziplist.rdb") else {
        return; // the shared corpus is optional outside the project's machines
    };
    let e = decode_err(&std::fs::read(&p).unwrap()).expect("corrupt_ziplist.rdb is rejected");
    let e = e.with_path(&p);
    let msg = e.to_string();
    assert!(
        matches!(
            e.problem(),
            Some(Problem::Invalid {
                what: "ziplist",
                ..
            })
        ),
        "{msg}"
    );
    assert_eq!(e.location().key.as_deref(), Some(&b"key:000000000091"[..]));
    assert_eq!(e.location().record_start, Some(470));
    for part in [
        "corrupt_ziplist.rdb",
        "offset 488 (0x1e8)",
        "db 0",
        "key \"key:000000000091\"",
        "ziplist: expected a blob of at least 11 bytes",
        "found 5",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    assert_no_debug(&msg);

    let p = shared("rdb/librdb/future_v19.rdb").unwrap();
    let e = read_err(&std::fs::read(&p).unwrap())
        .expect("a future version (the header says 99) is refused by default");
    assert!(matches!(e.kind(), ErrorKind::UnsupportedVersion(99)), "{e}");
    assert_eq!(rdbtool::cli::exit_code(&e), 4);
    assert_no_debug(&e.to_string());

    let p = shared("rdb/valkey/encodings-rdb987-unknown-types.rdb").unwrap();
    let opts = ReadOptions {
        relaxed_version: true,
        ..ReadOptions::default()
    };
    let e = read(
        &std::fs::read(&p).unwrap(),
        &opts,
        &mut FnSink(|_: &rdbtool::rdb::read::Record<'_>| Ok(Flow::Continue)),
    )
    .expect_err("unknown types fail even when relaxed");
    assert!(
        matches!(e.problem(), Some(Problem::UnknownType { .. })),
        "{e}"
    );
    assert!(
        e.location().offset.is_some() && e.location().db.is_some(),
        "{e}"
    );
    assert_no_debug(&e.to_string());
}

#[test]
fn bad_magic_is_quoted_not_debug_printed() {
    let e = read_err(b"RDBX\x00\x01\xffhello").unwrap();
    let msg = e.to_string();
    assert!(matches!(e.kind(), ErrorKind::BadMagic(_)));
    assert!(msg.contains("found \"RDBX\\x00\\x01\\xffhe\""), "{msg}");
}

/// Every truncation of a 7.0 file fails with a located error, naming the
/// key whenever the cut falls inside a key record.
#[test]
fn every_truncation_is_located_and_names_the_key_inside_key_records() {
    let data = std::fs::read(root().join("corpus/redis-7.0/encodings.rdb")).unwrap();
    let mut spans = Vec::new();
    read(
        &data,
        &ReadOptions::default(),
        &mut FnSink(|r: &rdbtool::rdb::read::Record<'_>| {
            if let rdbtool::rdb::read::Record::Key(k) = r {
                spans.push((k.offset as usize, k.end as usize, k.key.to_vec().unwrap()));
            }
            Ok(Flow::Continue)
        }),
    )
    .unwrap();
    for cut in 9..data.len() - 9 {
        let e = read_err(&data[..cut]).unwrap_or_else(|| panic!("truncated at {cut} but read"));
        let loc = e.location();
        let msg = e.to_string();
        assert!(matches!(e.kind(), ErrorKind::Parse(_)), "cut {cut}: {msg}");
        assert!(
            loc.offset.is_some_and(|o| o as usize <= cut),
            "cut {cut}: {msg}"
        );
        assert_no_debug(&msg);
        // A cut after the key string: the key must be named.
        let key_end = |s: usize, end: usize, k: &[u8]| {
            data[s..end]
                .windows(k.len().max(1))
                .position(|w| w == k)
                .map_or(end, |p| s + p + k.len())
        };
        if let Some((_, _, key)) = spans
            .iter()
            .find(|(s, end, k)| key_end(*s, *end, k) < cut && cut < *end)
        {
            assert_eq!(loc.key.as_deref(), Some(&key[..]), "cut {cut}: {msg}");
            assert!(msg.contains("key \""), "cut {cut}: {msg}");
        }
    }
}

fn run(bin: &str, args: &[&Path]) -> (String, i32) {
    let o = Command::new(bin).args(args).output().expect("runs");
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

/// The lines redis-check-rdb prints that `rdbtool check` must print alike.
fn comparable(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            l.contains("AUX FIELD")
                || l.contains("Selecting DB ID")
                || l.contains("Checksum OK")
                || l.contains("RDB looks OK")
                || l.starts_with("--- RDB ERROR")
                || l.starts_with("[additional info] Reading")
                || l.starts_with("[info] ") && !l.contains("already expired")
        })
        .map(String::from)
        .collect()
}

#[test]
fn check_prints_what_redis_check_rdb_prints_and_more() {
    if Command::new("redis-check-rdb")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("redis-check-rdb is needed (scripts/install-redis.sh installs it)");
    }
    let ours = env!("CARGO_BIN_EXE_rdbtool");
    let mut files = vec![
        root().join("corpus/redis-7.0/encodings.rdb"),
        root().join("corpus/redis-7.0/lru.rdb"),
        root().join("corpus/redis-7.0/lfu.rdb"),
    ];
    files.extend(shared("rdb/redis/corrupt_ziplist.rdb"));
    files.extend(shared("rdb/rdbtools/rdb_version_5_with_checksum.rdb"));
    files.extend(shared("rdb/rdbtools/keys_with_expiry.rdb"));
    // A damaged copy of a 7.0 file: a string length byte bumped.
    let mut d = std::fs::read(&files[0]).unwrap();
    let tmp = std::env::temp_dir().join(format!("rdbtool-check-{}.rdb", std::process::id()));
    d[3000] = 0x7f;
    std::fs::write(&tmp, &d).unwrap();
    files.push(tmp.clone());
    // A set whose member repeats (both structures sound): the server's
    // load refuses it, and so must the check.
    let mut dup = b"REDIS0010\xfe\x00\xfb\x01\x00\x02\x03set\x03\x01a\x01b\x01a\xff".to_vec();
    dup.extend([0u8; 8]);
    let tmp_dup =
        std::env::temp_dir().join(format!("rdbtool-check-dup-{}.rdb", std::process::id()));
    std::fs::write(&tmp_dup, &dup).unwrap();
    files.push(tmp_dup.clone());
    for f in &files {
        let (theirs, their_rc) = run("redis-check-rdb", &[f]);
        let (mine, my_rc) = run(ours, &[Path::new("check"), f]);
        assert_eq!(
            their_rc == 0,
            my_rc == 0,
            "{}: verdicts differ\n{theirs}\n{mine}",
            f.display()
        );
        let t = comparable(&theirs);
        let m = comparable(&mine);
        if their_rc == 0 {
            assert_eq!(t, m, "{}:\n{theirs}\n---\n{mine}", f.display());
        } else {
            // Same report up to the error; the same key and type named.
            let upto = |v: &[String]| {
                v.iter()
                    .take_while(|l| !l.starts_with("--- RDB ERROR"))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                upto(&t),
                upto(&m),
                "{}:\n{theirs}\n---\n{mine}",
                f.display()
            );
            for l in t
                .iter()
                .filter(|l| l.starts_with("[additional info] Reading"))
            {
                assert!(m.contains(l), "{}: {l:?} missing:\n{mine}", f.display());
            }
            // And more: the record start, the offset of the problem, the
            // structure and what was expected.
            assert!(mine.contains("[more] record starts at offset"), "{mine}");
            assert!(mine.contains("expected"), "{mine}");
        }
    }
    let _ = std::fs::remove_file(tmp);
    let _ = std::fs::remove_file(tmp_dup);
}
