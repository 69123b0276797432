//! `aof repair` and `aof truncate` on the corpus: every damaged AOF, once
//! repaired, loads in a real redis-server 7.0 (with `aof-load-truncated no`,
//! so nothing is left for the server to cut); truncation to a timestamp
//! gives the bytes `redis-check-aof --truncate-to-timestamp` gives.

#[path = "common/aof_redis.rs"]
mod aof_redis;

use std::path::{Path, PathBuf};
use std::process::Command;

use aof_redis::{Reply, Server, temp_dir};
use rdbtool::aof::check::check;
use rdbtool::aof::read::{AofSet, Layout};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

fn rdbtool(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(args)
        .output()
        .unwrap()
}

/// Every corpus AOF as the path to give rdbtool.
fn corpus_aofs() -> Vec<(String, PathBuf)> {
    let root = corpus().join("aof");
    let mut out = Vec::new();
    for g in std::fs::read_dir(&root).unwrap() {
        for e in std::fs::read_dir(g.unwrap().path()).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let p = if p.join("appendonlydir").is_dir() {
                p.join("appendonlydir")
            } else if p.is_dir() {
                p.join("appendonly.aof")
            } else {
                p
            };
            out.push((rel, p));
        }
    }
    out.sort();
    out
}

/// Places a repaired AOF in a fresh server dir and starts a server on it.
fn serve(repaired: &Path, multi: bool) -> Result<Server, String> {
    let dir = temp_dir("repair-srv");
    if multi {
        let d = dir.join("appendonlydir");
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(repaired).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
        }
    } else {
        std::fs::copy(repaired, dir.join("appendonly.aof")).unwrap();
    }
    Server::start(&dir, &["--aof-load-truncated", "no"])
}

fn after_fix(rel: &str) -> Option<Value> {
    let p = corpus().join("expected/aof").join(format!("{rel}.json"));
    let v: Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
    v.get("after_fix").cloned()
}

#[test]
fn repaired_damaged_files_load_in_redis() {
    let mut repaired = 0;
    for (rel, path) in corpus_aofs() {
        let set = AofSet::open(&path).unwrap();
        let report = check(&set, &Default::default()).unwrap();
        let fixable = !report.checker.valid
            && report.manifest.as_ref().is_none_or(|m| m.error.is_none())
            && report.files.iter().all(|f| f.format != "missing");
        if !fixable {
            continue;
        }
        let multi = matches!(set.layout, Layout::MultiPart { .. });
        let mut sizes = Vec::new();
        for mode in ["fix", "salvage"] {
            let work = temp_dir("repair");
            let out = work.join(if multi { "out" } else { "out.aof" });
            let mut args = vec![
                std::ffi::OsStr::new("aof"),
                "repair".as_ref(),
                path.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ];
            if mode == "salvage" {
                args.push("--salvage".as_ref());
            }
            let o = rdbtool(&args);
            assert!(
                o.status.success(),
                "{rel} {mode}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let set2 = AofSet::open(&out).unwrap();
            let r2 = check(&set2, &Default::default()).unwrap();
            assert!(
                r2.checker.valid && r2.server.loads && r2.server.truncates.is_none(),
                "{rel} {mode}: {:?}",
                r2.checker
            );
            let server = serve(&out, multi)
                .unwrap_or_else(|log| panic!("{rel} {mode}: server refused:\n{log}"));
            let mut c = server.client();
            let Reply::Int(n) = c.cmd(&["DBSIZE"]) else {
                panic!()
            };
            sizes.push(n);
            if let (Some(exp), "fix") = (after_fix(&rel), mode) {
                let keys = exp
                    .pointer("/databases/0")
                    .and_then(Value::as_object)
                    .unwrap();
                for (k, want) in keys {
                    let got = c.cmd(&["GET", k.as_str()]);
                    if want.get("absent") == Some(&Value::Bool(true)) {
                        assert_eq!(got, Reply::Bulk(None), "{rel}: {k} should be absent");
                    } else {
                        let v = want["value"].as_str().unwrap();
                        assert_eq!(got.bytes(), Some(v.as_bytes()), "{rel}: {k}");
                    }
                }
            }
            repaired += 1;
        }
        // Salvage never keeps less than the plain fix.
        assert!(sizes[1] >= sizes[0], "{rel}: {sizes:?}");
    }
    assert!(repaired >= 6, "only {repaired} repairs");
}

#[test]
fn in_place_repair_keeps_a_backup() {
    let src = corpus().join("aof/redis-tests/short_read_set/appendonlydir");
    let work = temp_dir("inplace").join("appendonlydir");
    std::fs::create_dir_all(&work).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), work.join(e.file_name())).unwrap();
    }
    let incr = work.join("appendonly.aof.1.incr.aof");
    let before = std::fs::read(&incr).unwrap();
    let o = rdbtool(&[
        "aof".as_ref(),
        "repair".as_ref(),
        work.as_os_str(),
        "--in-place".as_ref(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = std::fs::read(&incr).unwrap();
    assert!(after.len() < before.len() && before.starts_with(&after));
    let bak: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".bak-"))
        .collect();
    assert_eq!(bak.len(), 1);
    assert_eq!(std::fs::read(&bak[0]).unwrap(), before);
    // The input of a non-in-place run is never touched.
    let o = rdbtool(&[
        "aof".as_ref(),
        "repair".as_ref(),
        src.as_os_str(),
        "-o".as_ref(),
        work.join("x").as_os_str(),
    ]);
    assert!(o.status.success());
}

#[test]
fn truncate_to_timestamp_matches_redis_check_aof() {
    let src = corpus().join("aof/replicator/appendonly-with-ts.aof");
    let text = std::fs::read(&src).unwrap();
    let mut stamps: Vec<i64> = text
        .split(|&b| b == b'\n')
        .filter_map(|l| {
            std::str::from_utf8(l.strip_prefix(b"#TS:")?)
                .ok()?
                .trim_end()
                .parse()
                .ok()
        })
        .collect();
    stamps.dedup();
    assert!(stamps.len() > 10);
    let work = temp_dir("truncate");
    for (i, t) in stamps.iter().step_by(stamps.len() / 6).skip(1).enumerate() {
        let t = t.to_string();
        let ours = work.join(format!("ours{i}.aof"));
        let o = rdbtool(&[
            "aof".as_ref(),
            "truncate".as_ref(),
            src.as_os_str(),
            "--to".as_ref(),
            t.as_ref(),
            "-o".as_ref(),
            ours.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let theirs = work.join(format!("theirs{i}.aof"));
        std::fs::copy(&src, &theirs).unwrap();
        let c = Command::new("redis-check-aof")
            .args(["--truncate-to-timestamp", &t])
            .arg(&theirs)
            .output()
            .unwrap();
        assert!(c.status.success());
        assert_eq!(
            std::fs::read(&ours).unwrap(),
            std::fs::read(&theirs).unwrap(),
            "--to {t}"
        );
    }
}
