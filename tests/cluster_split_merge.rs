//! `split` and `merge` against redis-server 7.0: a snapshot of random keys
//! of every type (TTLs, hash tags, functions) split into 3 slot ranges
//! loads into 3 fresh servers with exactly the keys of their slots and the
//! same values; merging the 3 back gives the original `DEBUG DIGEST`. Every
//! merge conflict policy on inputs that really conflict.

#[path = "common/writer_redis.rs"]
mod writer_redis;

use std::path::{Path, PathBuf};

use rdbtool::cluster::slot::key_slot;
use rdbtool::restore::client::{Client, Reply};
use writer_redis::*;

const FAR_MS: i64 = 4_102_444_800_000;

fn call(c: &mut Client, argv: &[&[u8]]) -> Reply {
    let r = c.call(argv).unwrap();
    assert!(r.error().is_none(), "{r:?}");
    r
}

/// Runs rdbtool and parses its standard output as JSON.
fn json_of(args: &[&str]) -> serde_json::Value {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A reply as text (bulk strings lossy UTF-8), for substring checks.
fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        Reply::Array(Some(a)) => a.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

/// Keys of db 0 with their value digest and expiry.
fn db0_state(s: &Server) -> Vec<(Vec<u8>, Reply, Reply)> {
    let mut c = s.client();
    call(&mut c, &[b"SELECT", b"0"]);
    let mut out = Vec::new();
    let mut cursor = b"0".to_vec();
    loop {
        let Reply::Array(Some(r)) = call(&mut c, &[b"SCAN", &cursor, b"COUNT", b"500"]) else {
            panic!("SCAN reply")
        };
        cursor = r[0].bytes().unwrap().to_vec();
        if let Reply::Array(Some(keys)) = &r[1] {
            for k in keys {
                out.push(k.bytes().unwrap().to_vec());
            }
        }
        if cursor == b"0" {
            break;
        }
    }
    out.sort();
    out.dedup();
    out.into_iter()
        .map(|k| {
            let d = call(&mut c, &[b"DEBUG", b"DIGEST-VALUE", &k]);
            let t = call(&mut c, &[b"PEXPIRETIME", &k]);
            (k, d, t)
        })
        .collect()
}

/// The snapshot of the roundtrip test: random keys of every type in db 0
/// (populate's other dbs moved there), keys sharing hash tags, a function.
fn source_server(bin: &Path) -> (Server, PathBuf) {
    let s = Server::start(bin, None, &[]);
    populate(
        &s,
        11,
        Features {
            streams: true,
            functions: true,
            field_ttl: false,
        },
    );
    let mut c = s.client();
    for i in 0..60 {
        let k = format!("{{user:{}}}.f{i}", i % 7);
        call(&mut c, &[b"SET", k.as_bytes(), format!("v{i}").as_bytes()]);
        if i % 3 == 0 {
            let t = (FAR_MS + i).to_string();
            call(&mut c, &[b"PEXPIREAT", k.as_bytes(), t.as_bytes()]);
        }
    }
    // A copy with keys in dbs 0, 1 and 5, for the db-map checks.
    let multi = s.dir.path().join("multi-db.rdb");
    std::fs::copy(s.save(), &multi).unwrap();
    for db in [b"1", b"5"] {
        call(&mut c, &[b"SELECT", db]);
        let Reply::Array(Some(keys)) = call(&mut c, &[b"KEYS", b"*"]) else {
            panic!()
        };
        for k in keys {
            call(&mut c, &[b"MOVE", k.bytes().unwrap(), b"0"]);
        }
    }
    (s, multi)
}

const RANGES: [(u16, u16, &str); 3] = [
    (0, 5460, "a.rdb"),
    (5461, 10922, "b.rdb"),
    (10923, 16383, "c.rdb"),
];

#[test]
fn split_into_slot_ranges_and_merge_back() {
    let Some(bin) = redis70() else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let (src, multi) = source_server(&bin);
    let want_digest = src.digest();
    let want = db0_state(&src);
    assert!(want.len() > 300, "{} keys", want.len());
    let dir = TempDir::new("split");
    let snap = dir.path().join("src.rdb");
    std::fs::copy(src.save(), &snap).unwrap();
    let parts = dir.path().join("parts");
    let ranges = RANGES
        .iter()
        .map(|(a, b, f)| format!("{a}-{b}:{f}"))
        .collect::<Vec<_>>()
        .join(",");
    rdbtool(&["split", p(&snap), "--ranges", &ranges, "-o", p(&parts)]);

    // Each file holds exactly the keys of its slots, with their values and
    // TTLs, and the function library.
    let mut seen = 0;
    let mut files = Vec::new();
    let mut counts = Vec::new();
    for (lo, hi, name) in RANGES {
        let f = parts.join(name);
        let s = Server::start(&bin, Some(&f), &[]);
        let got = db0_state(&s);
        let expect: Vec<_> = want
            .iter()
            .filter(|(k, ..)| (lo..=hi).contains(&key_slot(k)))
            .cloned()
            .collect();
        assert!(!expect.is_empty());
        assert_eq!(got.len(), expect.len(), "{name}: key count");
        for (g, e) in got.iter().zip(&expect) {
            assert_eq!(g, e, "{name}: key {:?}", String::from_utf8_lossy(&g.0));
        }
        assert_eq!(s.key_count(), got.len() as i64, "{name}: keys outside db 0");
        let libs = text(&call(&mut s.client(), &[b"FUNCTION", b"LIST"]));
        assert!(libs.contains("wlib"), "{name}: {libs}");
        seen += got.len();
        counts.push(got.len() as u64);
        files.push(f);
    }
    assert_eq!(seen, want.len());

    // Many files at once: per-file key counts are the loaded servers',
    // the combined total their sum.
    let fleet = json_of(&["inspect", p(&parts), "--format", "json"]);
    let per: Vec<u64> = fleet["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["report"]["total"]["keys"].as_u64().unwrap())
        .collect();
    assert_eq!(per, counts);
    assert_eq!(fleet["combined"]["total"]["keys"], want.len() as u64);
    let vb = |f: &serde_json::Value| f["total"]["value_bytes"].as_u64().unwrap();
    let sum: u64 = fleet["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| vb(&f["report"]))
        .sum();
    assert_eq!(vb(&fleet["combined"]), sum);
    let rep = json_of(&[
        "report",
        p(&files[0]),
        p(&files[1]),
        p(&files[2]),
        "--format",
        "json",
    ]);
    let rk: Vec<u64> = rep["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["keys"].as_u64().unwrap())
        .collect();
    assert_eq!(rk, counts);
    assert_eq!(rep["combined"]["keys"], want.len() as u64);

    // The slot view of the source: its ranges hold the parts' keys.
    let ranges_arg = "0-5460,5461-10922,10923-16383";
    let one = json_of(&[
        "inspect",
        p(&snap),
        "--slot-ranges",
        ranges_arg,
        "--format",
        "json",
    ]);
    let by_range: Vec<u64> = one["slots"]["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["keys"].as_u64().unwrap())
        .collect();
    assert_eq!(by_range, counts);

    // --slots filter and the CSV slot column.
    let csv_path = dir.path().join("a.csv");
    rdbtool(&[
        "convert",
        p(&snap),
        "--to",
        "csv",
        "--slots",
        "0-5460",
        "-o",
        p(&csv_path),
    ]);
    let mut rd = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(rd.headers().unwrap().get(7), Some("slot"));
    let mut keys = std::collections::BTreeSet::new();
    for r in rd.byte_records() {
        let r = r.unwrap();
        let slot = key_slot(&r[1]);
        assert!(slot <= 5460);
        assert_eq!(std::str::from_utf8(&r[7]).unwrap(), slot.to_string());
        keys.insert(r[1].to_vec());
    }
    let mut c = src.client();
    let expect_csv = want
        .iter()
        .filter(|(k, ..)| key_slot(k) <= 5460)
        .filter(|(k, ..)| call(&mut c, &[b"TYPE", k]) != Reply::Status("stream".into()))
        .count();
    assert_eq!(keys.len(), expect_csv);

    // Merged back: the original dataset.
    let merged = dir.path().join("merged.rdb");
    let mut args = vec!["merge"];
    args.extend(files.iter().map(|f| p(f)));
    args.extend(["-o", p(&merged)]);
    rdbtool(&args);
    let m = Server::start(&bin, Some(&merged), &[]);
    assert_same(&src, &m, "merge of the split");
    assert_eq!(m.digest(), want_digest);

    // An AOF is an input too: the first part as the multi-part directory a
    // server writes when AOF is switched on (BASE in RESP). Merged with the
    // two other parts it must give what the same merge gives from the
    // server's own snapshot of that AOF loaded (not from a.rdb: the
    // server's AOF rewrite writes a zset score of -0 as 0).
    let a = Server::start(&bin, Some(&files[0]), &["--aof-use-rdb-preamble", "no"]);
    let mut c = a.client();
    call(&mut c, &[b"CONFIG", b"SET", b"appendonly", b"yes"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let info = text(&call(&mut c, &[b"INFO", b"persistence"]));
        if info.contains("aof_rewrite_in_progress:0")
            && info.contains("aof_rewrite_scheduled:0")
            && info.contains("aof_enabled:1")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "AOF rewrite never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let aof_dir = a.dir.path().join("appendonlydir");
    let loaded = TempDir::new("aof-loaded");
    copy_dir(&aof_dir, &loaded.path().join("appendonlydir"));
    let from_aof = Server::start_in(&bin, loaded, None, &["--appendonly", "yes"]);
    let a_saved = from_aof.save();
    let merge_digest = |first: &Path, tag: &str| {
        let out = dir.path().join(format!("merged-{tag}.rdb"));
        rdbtool(&["merge", p(first), p(&files[1]), p(&files[2]), "-o", p(&out)]);
        Server::start(&bin, Some(&out), &[]).digest()
    };
    assert_eq!(
        merge_digest(&aof_dir, "aof"),
        merge_digest(&a_saved, "saved"),
        "merge of an AOF dir and two RDBs"
    );

    // Keys of other dbs: refused for slot targets unless mapped.
    let out2 = dir.path().join("multi");
    let (code, err) = rdbtool_status(&["split", p(&multi), "--ranges", &ranges, "-o", p(&out2)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--db-map 1=0"), "{err}");
    assert!(!out2.join("a.rdb").exists(), "no output after a refusal");
    let mut total = 0;
    rdbtool(&[
        "split",
        p(&multi),
        "--ranges",
        &ranges,
        "-o",
        p(&out2),
        "--db-map",
        "1=0",
        "--db-map",
        "5=0",
    ]);
    for (_, _, name) in RANGES {
        total += Server::start(&bin, Some(&out2.join(name)), &[]).key_count();
    }
    assert_eq!(total, want.len() as i64);
}

/// Saves the keys `kv` (key, value, expiry) and a function library as an
/// RDB named `name` in `dir`.
fn snapshot(
    s: &Server,
    dir: &Path,
    name: &str,
    kv: &[(&str, &str, Option<i64>)],
    lib: &str,
) -> PathBuf {
    let mut c = s.client();
    call(&mut c, &[b"FLUSHALL"]);
    call(&mut c, &[b"FUNCTION", b"FLUSH"]);
    for (k, v, t) in kv {
        call(&mut c, &[b"SET", k.as_bytes(), v.as_bytes()]);
        if let Some(t) = t {
            call(
                &mut c,
                &[b"PEXPIREAT", k.as_bytes(), t.to_string().as_bytes()],
            );
        }
    }
    call(&mut c, &[b"FUNCTION", b"LOAD", lib.as_bytes()]);
    let f = dir.join(name);
    std::fs::copy(s.save(), &f).unwrap();
    f
}

/// (value, PEXPIRETIME) of every key of a loaded RDB.
fn values(bin: &Path, f: &Path, keys: &[&str]) -> Vec<(String, i64)> {
    let s = Server::start(bin, Some(f), &[]);
    let mut c = s.client();
    keys.iter()
        .map(|k| {
            let v = call(&mut c, &[b"GET", k.as_bytes()]);
            let Reply::Int(t) = call(&mut c, &[b"PEXPIRETIME", k.as_bytes()]) else {
                panic!()
            };
            (
                String::from_utf8_lossy(v.bytes().unwrap_or(b"(nil)")).into_owned(),
                t,
            )
        })
        .collect()
}

#[test]
fn merge_conflict_policies() {
    let Some(bin) = redis70() else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let s = Server::start(&bin, None, &[]);
    let dir = TempDir::new("merge");
    let lib = "#!lua name=mlib\nredis.register_function('mf', function(keys, args) return 1 end)";
    let t = |n: i64| Some(FAR_MS + n);
    // a: x has no TTL (never expires), y and z expire; b: y expires last;
    // c: y has no TTL, z expires.
    let x = snapshot(
        &s,
        dir.path(),
        "x.rdb",
        &[
            ("a", "x1", None),
            ("b", "x2", t(1000)),
            ("onlyx", "x", None),
        ],
        lib,
    );
    let y = snapshot(
        &s,
        dir.path(),
        "y.rdb",
        &[
            ("a", "y1", t(9000)),
            ("b", "y2", t(5000)),
            ("c", "y3", None),
        ],
        lib,
    );
    let z = snapshot(
        &s,
        dir.path(),
        "z.rdb",
        &[
            ("a", "z1", t(9500)),
            ("b", "z2", t(2000)),
            ("c", "z3", t(1)),
        ],
        lib,
    );
    let keys = ["a", "b", "c", "onlyx"];
    let inputs = [p(&x), p(&y), p(&z)];

    // error: nothing written, every conflict listed with its inputs.
    let out = dir.path().join("error.rdb");
    let mut args = vec!["merge"];
    args.extend(inputs);
    args.extend(["-o", p(&out)]);
    let (code, err) = rdbtool_status(&args);
    assert_eq!(code, 1, "{err}");
    assert!(!out.exists());
    for line in [
        "db 0 key \"a\" in inputs 0 (",
        "db 0 key \"b\" in inputs 0 (",
        "db 0 key \"c\" in inputs 1 (",
    ] {
        assert!(err.contains(line), "{line:?} not in {err}");
    }
    assert_eq!(err.matches("rdbtool: merge: conflict:").count(), 3, "{err}");

    let expect: [(&str, [(&str, i64); 4]); 3] = [
        (
            "first",
            [("x1", -1), ("x2", FAR_MS + 1000), ("y3", -1), ("x", -1)],
        ),
        (
            "last",
            [
                ("z1", FAR_MS + 9500),
                ("z2", FAR_MS + 2000),
                ("z3", FAR_MS + 1),
                ("x", -1),
            ],
        ),
        (
            "newest-ttl",
            [("x1", -1), ("y2", FAR_MS + 5000), ("y3", -1), ("x", -1)],
        ),
    ];
    for (policy, want) in expect {
        let out = dir.path().join(format!("{policy}.rdb"));
        let conflicts = dir.path().join(format!("{policy}.jsonl"));
        let mut args = vec!["merge"];
        args.extend(inputs);
        args.extend([
            "-o",
            p(&out),
            "--on-conflict",
            policy,
            "--conflicts",
            p(&conflicts),
        ]);
        rdbtool(&args);
        let got = values(&bin, &out, &keys);
        let want: Vec<(String, i64)> = want.iter().map(|(v, t)| (v.to_string(), *t)).collect();
        assert_eq!(got, want, "{policy}");
        let lines = std::fs::read_to_string(&conflicts).unwrap();
        let rows: Vec<serde_json::Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 3, "{policy}: {lines}");
        let a = rows.iter().find(|r| r["key"] == "a").unwrap();
        assert_eq!(a["inputs"], serde_json::json!([0, 1, 2]), "{policy}");
        // The one library, once.
        let m = Server::start(&bin, Some(&out), &[]);
        let libs = text(&call(&mut m.client(), &[b"FUNCTION", b"LIST"]));
        assert_eq!(libs.matches("mlib").count(), 1, "{policy}: {libs}");
    }

    // One library name with two bodies cannot be merged.
    let other = "#!lua name=mlib\nredis.register_function('mf', function(keys, args) return 2 end)";
    let w = snapshot(&s, dir.path(), "w.rdb", &[("w", "w", None)], other);
    let out = dir.path().join("clash.rdb");
    let (code, err) = rdbtool_status(&[
        "merge",
        p(&x),
        p(&w),
        "-o",
        p(&out),
        "--on-conflict",
        "last",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("\"mlib\"") && err.contains("input 0") && err.contains("input 1"),
        "{err}"
    );
    assert!(!out.exists());

    // AUX fields: fresh by default, an input's when asked.
    let aux = |f: &Path| json_of(&["inspect", "--format", "json", p(f)])["aux"].clone();
    let out = dir.path().join("aux.rdb");
    rdbtool(&[
        "merge",
        p(&x),
        p(&y),
        "-o",
        p(&out),
        "--aux-from",
        "1",
        "--on-conflict",
        "first",
    ]);
    let (got, src_aux) = (aux(&out), aux(&y));
    assert_eq!(got, src_aux);
    let out = dir.path().join("fresh.rdb");
    rdbtool(&[
        "merge",
        p(&x),
        p(&y),
        "-o",
        p(&out),
        "--on-conflict",
        "first",
    ]);
    assert_ne!(aux(&out), src_aux);
}

/// A cluster-mode node: its nodes.conf drives `split --slots-from`; Redis
/// 8.2 (when installed) writes SLOT_INFO records, checked by `--by-slot`.
#[test]
fn cluster_mode_nodes_conf_and_slot_info() {
    let Some(bin70) = redis70() else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    for bin in std::iter::once(bin70.clone()).chain(redis82()) {
        let s = Server::start(&bin, None, &["--cluster-enabled", "yes"]);
        let mut c = s.client();
        call(&mut c, &[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"]);
        let t0 = std::time::Instant::now();
        while !text(&call(&mut c, &[b"CLUSTER", b"INFO"])).contains("cluster_state:ok") {
            assert!(t0.elapsed().as_secs() < 10, "cluster never ok");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        for i in 0..200 {
            let k = format!("{{tag{}}}:{i}", i % 9);
            call(&mut c, &[b"SET", k.as_bytes(), b"v"]);
            if i % 4 == 0 {
                call(&mut c, &[b"EXPIRE", k.as_bytes(), b"100000"]);
            }
        }
        let dir = TempDir::new("cl");
        let snap = dir.path().join("node.rdb");
        std::fs::copy(s.save(), &snap).unwrap();
        let nodes = s.dir.path().join("nodes.conf");
        rdbtool(&[
            "split",
            p(&snap),
            "--slots-from",
            p(&nodes),
            "-o",
            p(dir.path()),
        ]);
        // A node that never met another does not know its IP.
        let part = dir.path().join(format!("node-{}.rdb", s.port));
        let loaded = Server::start(&bin, Some(&part), &[]);
        assert_eq!(loaded.key_count(), 200);

        let doc = json_of(&["inspect", p(&snap), "--by-slot", "--format", "json"]);
        let slots = &doc["slots"];
        assert_eq!(slots["slots_with_keys"], 9);
        let keys: u64 = slots["ranges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["keys"].as_u64().unwrap())
            .sum();
        assert_eq!(keys, 200);
        if doc["rdb_version"].as_u64() >= Some(12) {
            // One record per slot with keys, each agreeing with the keys.
            assert_eq!(slots["slot_info_records"], 9, "{slots}");
            assert_eq!(slots["slot_info_mismatches"], serde_json::json!([]));
        }
    }
}

/// Copies the files of directory `from` into a new directory `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
