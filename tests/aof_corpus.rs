//! `aof check` against every AOF in ../shared/corpus/aof: the expectations
//! its sources state (expected/aof/*.json), and the verdict of the real
//! `redis-check-aof` run on the same path.

use std::path::{Path, PathBuf};
use std::process::Command;

use rdbtool::aof::check::{CheckReport, check};
use rdbtool::aof::read::{AofSet, AofSink, Command as AofCmd, ReadOptions, open_sources, read_set};
use rdbtool::aof::rewrite::keyspace::Val;
use rdbtool::aof::rewrite::replay;
use rdbtool::rdb::read::ReadOptions as RdbOpts;
use rdbtool::sink::Flow;
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Every AOF of the corpus: (path relative to aof/, the path to check,
/// the path redis-check-aof takes).
fn entries() -> Vec<(String, PathBuf, PathBuf)> {
    let root = corpus().join("aof");
    let mut out = Vec::new();
    for group in std::fs::read_dir(&root).expect("corpus/aof") {
        let group = group.unwrap().path();
        for e in std::fs::read_dir(&group).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if p.is_file() {
                out.push((rel, p.clone(), p));
            } else if p.join("appendonlydir").is_dir() {
                let dir = p.join("appendonlydir");
                out.push((rel, dir.clone(), dir.join("appendonly.aof.manifest")));
            } else {
                let f = p.join("appendonly.aof");
                out.push((rel, f.clone(), f));
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 29,
        "expected the 29 corpus AOFs, found {}",
        out.len()
    );
    out
}

fn expectation(rel: &str) -> Option<Value> {
    let base = corpus().join("expected/aof");
    [
        base.join(format!("{rel}.json")),
        base.join(rel).with_extension("json"),
    ]
    .iter()
    .find(|p| p.is_file())
    .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
}

fn run_check(p: &Path) -> CheckReport {
    let set = AofSet::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    check(&set, &RdbOpts::default()).unwrap()
}

#[test]
fn expectations_hold() {
    let mut checked = 0;
    for (rel, path, _) in entries() {
        let Some(exp) = expectation(&rel) else {
            continue;
        };
        checked += 1;
        let r = run_check(&path);
        let ctx = format!("{rel}: {:#?}", r.server);
        match exp.get("load") {
            Some(Value::String(s)) if s == "ok" => {
                assert!(r.server.loads && r.server.truncates.is_none(), "{ctx}");
                assert!(r.checker.valid, "{rel}: checker says invalid");
            }
            Some(Value::String(s)) if s == "error" => {
                assert!(!r.server.loads, "{ctx}");
                let m = exp["error_match"].as_str().unwrap();
                let err = r.server.error.clone().unwrap_or_default();
                assert!(err.contains(m), "{rel}: error {err:?} lacks {m:?}");
            }
            Some(Value::Object(o)) => {
                // A torn tail: loads after a cut with aof-load-truncated yes,
                // refuses with no.
                assert_eq!(o["aof-load-truncated no"], "error", "{rel}");
                assert!(r.server.loads && r.server.truncates.is_some(), "{ctx}");
                let m = exp["error_match"].as_str().unwrap();
                let err = r
                    .server
                    .error_if_load_truncated_no
                    .clone()
                    .unwrap_or_default();
                assert!(err.contains(m), "{rel}: {err:?} lacks {m:?}");
                assert!(!r.checker.valid, "{rel}");
            }
            None => {}
            other => panic!("{rel}: unexpected load {other:?}"),
        }
        if let Some(dbs) = exp.get("databases").and_then(Value::as_object) {
            replayed_keyspace_matches(&rel, &path, dbs);
        }
        if let Some(line) = exp.pointer("/check_aof/ok_up_to_line") {
            assert_eq!(Some(r.checker.ok_up_to_line), line.as_u64(), "{rel}");
        }
        if let Some(n) = exp.get("command_events") {
            // The source of appendonly2's figure (redis-replicator's
            // RedisAofReplicatorTest.open2) counts only SET commands on keys
            // starting with "test_"; the others count every command.
            let ours = if rel.ends_with("appendonly2.aof") {
                count_commands(&path, |c| {
                    c.argv.is("set") && c.argv.get(1).is_some_and(|k| k.starts_with(b"test_"))
                })
            } else {
                r.commands
            };
            assert_eq!(Some(ours), n.as_u64(), "{rel}: command events");
        }
        if let Some(n) = exp.get("timestamp_annotations") {
            assert_eq!(Some(r.timestamps.annotations), n.as_u64(), "{rel}");
        }
        if let Some(n) = exp.get("commands_between_ts_1643689192000_and_1643691222000_ms") {
            let within = count_commands(&path, |c| {
                c.ts.is_some_and(|t| (1643689192..=1643691222).contains(&t))
            });
            assert_eq!(Some(within), n.as_u64(), "{rel}");
        }
    }
    assert!(checked >= 25, "only {checked} expectation files matched");
}

/// The keyspace `aof rewrite` replays to holds what the source states.
fn replayed_keyspace_matches(rel: &str, p: &Path, dbs: &serde_json::Map<String, Value>) {
    let set = AofSet::open(p).unwrap();
    let now = 1_800_000_000_000;
    let replayed = match replay(&set, now, &ReadOptions::default()) {
        Ok((r, _)) => r,
        Err(e) => {
            // SPOP as a client sends it (the test suite writes it by hand;
            // servers log SREM/DEL) picks a random member: not replayable.
            assert!(e.to_string().contains("'spop'"), "{rel}: {e}");
            return;
        }
    };
    for (db, keys) in dbs {
        let db: u64 = db.parse().unwrap();
        for (k, want) in keys.as_object().unwrap() {
            let got = replayed.ks.dbs.get(&db).and_then(|d| d.get(k.as_bytes()));
            let live = got.filter(|e| e.expire.is_none_or(|t| t >= now));
            if want.get("absent") == Some(&Value::Bool(true)) {
                assert!(live.is_none(), "{rel}: {k} should be absent");
                continue;
            }
            let e = live.unwrap_or_else(|| panic!("{rel}: {k} missing"));
            match (want.get("type").and_then(Value::as_str), &e.val) {
                (Some("string"), Val::Str(s)) => {
                    if let Some(v) = want.get("value") {
                        assert_eq!(s.as_slice(), v.as_str().unwrap().as_bytes(), "{rel}: {k}");
                    }
                }
                (Some("set"), Val::Set(s)) => {
                    if let Some(n) = want.get("len") {
                        assert_eq!(Some(s.len() as u64), n.as_u64(), "{rel}: {k}");
                    }
                }
                (t, v) => panic!("{rel}: {k}: expected {t:?}, replayed {v:?}"),
            }
        }
    }
}

/// Commands of the AOF at `p` for which `pred` holds.
fn count_commands(p: &Path, pred: impl Fn(&AofCmd<'_>) -> bool) -> u64 {
    struct Count<F>(u64, F);
    impl<'a, F: Fn(&AofCmd<'_>) -> bool> AofSink<'a> for Count<F> {
        fn command(&mut self, c: &AofCmd<'a>) -> rdbtool::Result<Flow> {
            if (self.1)(c) {
                self.0 += 1;
            }
            Ok(Flow::Continue)
        }
    }
    let set = AofSet::open(p).unwrap();
    let src = open_sources(&set).unwrap();
    let mut c = Count(0, pred);
    read_set(&set, &src, &ReadOptions::default(), true, &mut c).unwrap();
    c.0
}

/// The summary redis-check-aof prints last: (exit ok, filename, size,
/// ok_up_to, ok_up_to_line, diff) — the numbers only when it printed one.
/// (filename, size, ok_up_to, ok_up_to_line, diff) of a checker summary line.
type Summary = (String, u64, u64, u64, u64);

fn redis_check_aof(p: &Path) -> (bool, Option<Summary>) {
    let out = Command::new("redis-check-aof")
        .arg(p)
        .output()
        .expect("redis-check-aof on PATH");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .rev()
        .find(|l| l.starts_with("AOF analyzed: "))
        .map(|l| {
            let field = |k: &str| {
                l.split(", ")
                    .find_map(|kv| {
                        kv.trim_start_matches("AOF analyzed: ")
                            .strip_prefix(&format!("{k}="))
                    })
                    .unwrap()
                    .to_string()
            };
            let n = |k: &str| field(k).parse::<u64>().unwrap();
            (
                field("filename"),
                n("size"),
                n("ok_up_to"),
                n("ok_up_to_line"),
                n("diff"),
            )
        });
    (out.status.success(), summary)
}

#[test]
fn agrees_with_redis_check_aof() {
    let mut agreed = 0;
    for (rel, _, checker_path) in entries() {
        let (ok, summary) = redis_check_aof(&checker_path);
        let r = run_check(&checker_path);
        assert_eq!(
            r.checker.valid, ok,
            "{rel}: verdict differs from redis-check-aof"
        );
        if let Some((name, size, ok_up_to, line, diff)) = summary {
            let c = &r.checker;
            let ours_name = c.filename.clone().unwrap_or_default();
            // Single files are named by the path as given; compare the file name.
            assert!(name.ends_with(&ours_name), "{rel}: {name} vs {ours_name}");
            assert_eq!(
                (c.size, c.ok_up_to, c.ok_up_to_line, c.diff),
                (size, ok_up_to, line, diff),
                "{rel}"
            );
        }
        agreed += 1;
    }
    eprintln!("aof check agrees with redis-check-aof on {agreed} corpus AOFs");
}
