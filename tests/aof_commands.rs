//! The commands the offline AOF replay models beyond the basic types,
//! against real servers: HyperLogLogs (PFADD with sparse→dense promotion,
//! PFMERGE, PFCOUNT writing its cached cardinality, PFDEBUG TODENSE),
//! BITFIELD (SET/INCRBY, signed and unsigned widths, `#` offsets, every
//! OVERFLOW mode) and SORT … STORE (numeric and ALPHA, BY string and hash
//! field patterns, BY nosort, GET, LIMIT, DESC). redis-server 7.0 and 8.2
//! are driven with random histories of them (with a BGREWRITEAOF in the
//! middle, so the BASE holds HLLs too); then, against the original
//! directory as a fresh server loads it:
//! - `rdbtool aof rewrite` output loaded by a fresh server has the same
//!   DEBUG DIGEST and, per key, the same TYPE, PEXPIRETIME and value digest;
//! - `rdbtool export` of the directory equals `rdbtool export` of the
//!   server's SAVE key for key: value, TTL, encoding.

#[path = "common/aof_redis.rs"]
mod aof_redis;
#[path = "common/rng.rs"]
#[allow(dead_code)]
mod rng;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use aof_redis::{Client, Reply, Server, digest, load_dir, temp_dir, wait_rewrite};
use rdbtool::aof::check::check;
use rdbtool::aof::read::AofSet;
use rng::Rng;

/// Elements of the lists, sets and sorted sets: numbers (some equal as
/// doubles, like "1" and "1.0") and words, so numeric sorts sometimes fail.
fn elem(r: &mut Rng) -> String {
    match r.below(5) {
        0 => format!("e{}", r.below(12)),
        1 => format!("{}.0", r.below(6)),
        _ => (r.below(12) as i64 - 3).to_string(),
    }
}

/// A BITFIELD type.
fn bf_type(r: &mut Rng) -> String {
    if r.below(2) == 0 {
        format!("i{}", 1 + r.below(64))
    } else {
        format!("u{}", 1 + r.below(63))
    }
}

fn bitfield(r: &mut Rng) -> Vec<String> {
    let mut c = vec!["BITFIELD".to_string(), format!("bf{}", r.below(5))];
    for _ in 0..1 + r.below(4) {
        match r.below(6) {
            0 => {
                c.push("OVERFLOW".into());
                c.push(r.pick(&["WRAP", "SAT", "FAIL"]).to_string());
            }
            1 => {
                c.push("GET".into());
                c.push(bf_type(r));
                c.push(r.below(200).to_string());
            }
            k => {
                c.push(if k < 4 { "INCRBY" } else { "SET" }.into());
                c.push(bf_type(r));
                c.push(if r.below(3) == 0 {
                    format!("#{}", r.below(4))
                } else {
                    r.below(160).to_string()
                });
                c.push(match r.below(4) {
                    0 => (r.u64() as i64).to_string(),
                    1 => (-(r.below(300) as i64)).to_string(),
                    _ => r.below(300).to_string(),
                });
            }
        }
    }
    c
}

fn sort(r: &mut Rng) -> Vec<String> {
    let src = match r.below(3) {
        0 => format!("l{}", r.below(4)),
        1 => format!("t{}", r.below(4)),
        _ => format!("z{}", r.below(4)),
    };
    let mut c = vec!["SORT".to_string(), src.clone()];
    let alpha = r.below(3) == 0;
    let mut by = None;
    match r.below(5) {
        0 => by = Some("w_*"),
        1 => by = Some("wh_*->f"),
        2 => by = Some("nosort"),
        _ => {}
    }
    // ALPHA with a BY pattern leaves equal weights in an order the server
    // does not define, except for a list sorted whole (stable).
    let limit = r.below(3) == 0;
    if alpha && by.is_some_and(|b| b != "nosort") && (!src.starts_with('l') || limit) {
        by = None;
    }
    if let Some(b) = by {
        c.push("BY".into());
        c.push(b.into());
    }
    if limit {
        c.push("LIMIT".into());
        c.push((r.below(5) as i64 - 1).to_string());
        c.push((r.below(6) as i64 - 1).to_string());
    }
    for _ in 0..r.below(3) {
        c.push("GET".into());
        c.push(
            r.pick(&["#", "w_*", "wh_*->f", "wh_*->g", "nokey"])
                .to_string(),
        );
    }
    if r.below(2) == 0 {
        c.push(r.pick(&["ASC", "DESC"]).to_string());
    }
    if alpha {
        c.push("ALPHA".into());
    }
    c.push("STORE".into());
    c.push(format!("d{}", r.below(4)));
    c
}

fn random_command(r: &mut Rng) -> Vec<String> {
    // hl0..hl5 are merged together (and with the dense hl0); hs0..hs3
    // only grow, and stay sparse.
    let hll = |r: &mut Rng| format!("hl{}", r.below(6));
    let sparse = |r: &mut Rng| format!("hs{}", r.below(4));
    match r.below(40) {
        0..=2 => {
            let mut c = vec!["PFADD".to_string(), hll(r)];
            for _ in 0..r.below(6) {
                c.push(format!("p{}", r.below(3000)));
            }
            c
        }
        3..=5 => {
            let mut c = vec!["PFADD".to_string(), sparse(r)];
            for _ in 0..r.below(9) {
                c.push(format!("p{}", r.below(3000)));
            }
            c
        }
        6 => {
            // One key grows past the sparse limit (3000 bytes) and turns dense.
            let mut c = vec!["PFADD".to_string(), "hl0".into()];
            for _ in 0..60 {
                c.push(format!("q{}", r.below(100_000)));
            }
            c
        }
        7 => vec!["PFCOUNT".into(), hll(r)],
        8 => vec!["PFCOUNT".into(), sparse(r)],
        9 => vec!["PFCOUNT".into(), hll(r), hll(r)],
        10 => {
            let mut c = vec!["PFMERGE".to_string(), hll(r)];
            for _ in 0..r.below(3) {
                c.push(hll(r));
            }
            c
        }
        11 => vec!["PFDEBUG".into(), "TODENSE".into(), hll(r)],
        12 => vec!["EXPIRE".into(), hll(r), "100000".into()],
        13 => vec!["PFADD".into(), format!("w_{}", elem(r)), "x".into()],
        14..=18 => bitfield(r),
        19..=23 => sort(r),
        24..=26 => {
            let mut c = vec!["RPUSH".to_string(), format!("l{}", r.below(4))];
            for _ in 0..1 + r.below(4) {
                c.push(elem(r));
            }
            c
        }
        27 | 28 => {
            let mut c = vec!["SADD".to_string(), format!("t{}", r.below(4))];
            for _ in 0..1 + r.below(4) {
                c.push(elem(r));
            }
            c
        }
        29 | 30 => vec![
            "ZADD".into(),
            format!("z{}", r.below(4)),
            r.below(5).to_string(),
            elem(r),
        ],
        31..=33 => vec![
            "SET".into(),
            format!("w_{}", elem(r)),
            match r.below(4) {
                0 => format!("k{}", r.below(5)),
                _ => (r.below(20) as i64 - 5).to_string(),
            },
        ],
        34 | 35 => vec![
            "HSET".into(),
            format!("wh_{}", elem(r)),
            r.pick(&["f", "g"]).to_string(),
            (r.below(9) as i64 - 2).to_string(),
        ],
        36 => vec!["EXPIRE".into(), format!("d{}", r.below(4)), "100000".into()],
        37 => vec![
            "DEL".into(),
            r.pick(&["l1", "t1", "z1", "hl3", "bf1", "d1"]).to_string(),
        ],
        38 => vec![
            "SETBIT".into(),
            format!("bf{}", r.below(5)),
            r.below(90).to_string(),
            "1".into(),
        ],
        _ => vec!["LPOP".into(), format!("l{}", r.below(4))],
    }
}

/// Redis 8.2 stream commands with deletion policies (XDELEX, XACKDEL,
/// XADD and XTRIM with KEEPREF/DELREF/ACKED) on streams with two
/// consumer groups. IDs are `n-1` for a rising `n`, so the generator
/// knows them.
fn stream_command(r: &mut Rng, next_id: &mut u64) -> Vec<String> {
    let x = format!("x{}", r.below(2));
    let policy = |r: &mut Rng| r.pick(&["KEEPREF", "DELREF", "ACKED"]).to_string();
    let old = |r: &mut Rng, n: u64| format!("{}-1", 1 + r.below(n.max(1) as usize));
    match r.below(9) {
        0..=2 => {
            *next_id += 1;
            let mut c = vec!["XADD".to_string(), x];
            if r.below(3) == 0 {
                c.extend(["MAXLEN".to_string(), r.below(12).to_string(), policy(r)]);
            }
            c.extend([format!("{next_id}-1"), "f".into(), r.below(9).to_string()]);
            c
        }
        3 => vec![
            "XGROUP".into(),
            "CREATE".into(),
            x,
            format!("g{}", r.below(2)),
            r.pick(&["0", "$"]).to_string(),
            "MKSTREAM".into(),
        ],
        4 => vec![
            "XREADGROUP".into(),
            "GROUP".into(),
            format!("g{}", r.below(2)),
            "c".into(),
            "COUNT".into(),
            "3".into(),
            "STREAMS".into(),
            x,
            ">".into(),
        ],
        5 => vec![
            "XACK".into(),
            x,
            format!("g{}", r.below(2)),
            old(r, *next_id),
        ],
        6 => vec![
            "XDELEX".into(),
            x,
            policy(r),
            "IDS".into(),
            "2".into(),
            old(r, *next_id),
            old(r, *next_id),
        ],
        7 => vec![
            "XACKDEL".into(),
            x,
            format!("g{}", r.below(2)),
            policy(r),
            "IDS".into(),
            "1".into(),
            old(r, *next_id),
        ],
        _ => vec![
            "XTRIM".into(),
            x,
            "MAXLEN".into(),
            r.below(10).to_string(),
            policy(r),
        ],
    }
}

/// (key, TYPE, PEXPIRETIME, DEBUG DIGEST-VALUE) of db 0, by key.
fn key_facts(c: &mut Client) -> Vec<(Vec<u8>, Reply, Reply, Reply)> {
    let Reply::Array(Some(keys)) = c.cmd(&["KEYS", "*"]) else {
        panic!("KEYS")
    };
    let mut out: Vec<_> = keys
        .iter()
        .map(|k| {
            let k = k.bytes().unwrap().to_vec();
            let t = c.cmd(&[&b"TYPE"[..], &k]);
            let e = c.cmd(&[&b"PEXPIRETIME"[..], &k]);
            let v = c.cmd(&[&b"DEBUG"[..], b"DIGEST-VALUE", &k]);
            (k, t, e, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn rdbtool(args: &[&std::ffi::OsStr]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "rdbtool {args:?}: {err}");
    err
}

/// `rdbtool aof rewrite` of `aofdir` into `out` in `parts` parts, loaded
/// by a fresh server.
fn rewrite_and_load(bin: &str, aofdir: &Path, out: &Path, parts: &str) -> Server {
    rdbtool(&[
        "aof".as_ref(),
        "rewrite".as_ref(),
        aofdir.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--partitions".as_ref(),
        parts.as_ref(),
    ]);
    load_dir(bin, out)
}

/// The key lines of a JSONL export by key, set members and hash fields
/// sorted (their order carries no meaning), stream consumers without
/// their times. Without `encodings`, the
/// `encoding` and `rdb_type` fields are left out: a log without an RDB
/// part does not say which server wrote it, and the replay follows the
/// encoding histories of Redis 7.0 only.
fn export_keys(path: &Path, encodings: bool) -> BTreeMap<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        let Some(key) = v.get("key").filter(|_| v.get("record").is_none()) else {
            continue;
        };
        let key = key.to_string();
        if !encodings && let Some(o) = v.as_object_mut() {
            o.remove("encoding");
            o.remove("rdb_type");
        }
        // A log does not carry consumers' seen/active times (a loading
        // server sets them to its clock).
        let groups = v["value"].get_mut("groups").and_then(|g| g.as_array_mut());
        for g in groups.into_iter().flatten() {
            for c in g["consumers"].as_array_mut().into_iter().flatten() {
                if let Some(c) = c.as_object_mut() {
                    c.remove("seen_time_ms");
                    c.remove("active_time_ms");
                }
            }
        }
        if matches!(v["type"].as_str(), Some("set" | "hash"))
            && let Value::Array(a) = &mut v["value"]
        {
            a.sort_by_key(|x| x.to_string());
        }
        out.insert(key, v);
    }
    out
}

/// What one history exercised, for the callers' coverage checks.
#[derive(Default)]
struct Seen {
    keys: usize,
    dense_hlls: usize,
    sparse_hlls: usize,
    /// Commands in the log by name.
    logged: BTreeMap<String, u64>,
}

/// How a history is made and checked.
struct Mode {
    /// Take the RDB preamble at the mid-run BGREWRITEAOF.
    preamble: bool,
    /// Compare the exports' encodings too (Redis 7.0).
    encodings: bool,
    /// Mix in Redis 8.2's stream deletion commands.
    streams: bool,
}

fn run_seed(bin: &str, seed: u64, commands: usize, m: Mode) -> Seen {
    let Mode {
        preamble,
        encodings,
        streams,
    } = m;
    let dir = temp_dir("cmd-src");
    let pre = if preamble { "yes" } else { "no" };
    let src = Server::start_bin(
        bin,
        &dir,
        &["--appendfsync", "no", "--aof-use-rdb-preamble", pre],
    )
    .unwrap();
    let mut c = src.client();
    let mut r = Rng::new(seed);
    let mut next_id = 0;
    for i in 0..commands {
        if i == commands / 2 {
            c.cmd(&["BGREWRITEAOF"]);
            wait_rewrite(&mut c);
        }
        let cmd = if streams && r.below(4) == 0 {
            stream_command(&mut r, &mut next_id)
        } else {
            random_command(&mut r)
        };
        c.cmd(&cmd);
    }
    let mut seen = Seen::default();
    for k in [
        "hl0", "hl1", "hl2", "hl3", "hl4", "hl5", "hs0", "hs1", "hs2", "hs3",
    ] {
        match c.cmd(&["PFDEBUG", "ENCODING", k]) {
            Reply::Status(e) if e == "dense" => seen.dense_hlls += 1,
            Reply::Status(e) if e == "sparse" => seen.sparse_hlls += 1,
            _ => {}
        }
    }
    drop(c);
    drop(src);
    let aofdir = dir.join("appendonlydir");
    let check = check(&AofSet::open(&aofdir).unwrap(), &Default::default()).unwrap();
    for h in check.histogram {
        *seen.logged.entry(h.command).or_insert(0) += h.count;
    }

    let original = load_dir(bin, &aofdir);
    let mut oc = original.client();
    let live = digest(&mut oc);
    let facts = key_facts(&mut oc);
    seen.keys = facts.len();

    // The replayed state against the server's SAVE of the same directory.
    assert_eq!(oc.cmd(&["SAVE"]), Reply::Status("OK".into()));
    let work = temp_dir("cmd-work");
    let (ours, theirs) = (work.join("aof.jsonl"), work.join("server.jsonl"));
    let rdb = original.dir.join("dump.rdb");
    for (input, out) in [(aofdir.as_path(), &ours), (rdb.as_path(), &theirs)] {
        rdbtool(&[
            "export".as_ref(),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
    }
    let (a, b) = (
        export_keys(&ours, encodings),
        export_keys(&theirs, encodings),
    );
    let differ: Vec<String> = b
        .iter()
        .filter(|(k, v)| a.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k}:\n  server {v}\n  aof    {}",
                a.get(k).map_or("-".into(), |w| w.to_string())
            )
        })
        .chain(
            a.keys()
                .filter(|k| !b.contains_key(*k))
                .map(|k| format!("{k}: only in the AOF export")),
        )
        .collect();
    assert!(
        differ.is_empty(),
        "{bin} seed {seed}: export of the AOF differs from the server's SAVE ({} of {} keys):\n{}",
        differ.len(),
        b.len(),
        differ.join("\n")
    );

    // One part, and three by key hash (SORT with BY/GET patterns reads keys
    // of any part: the rewrite falls back to one pass when it meets one).
    for parts in ["1", "3"] {
        let out = work.join(format!("rewritten-{parts}"));
        let rewritten = rewrite_and_load(bin, &aofdir, &out, parts);
        let mut rc = rewritten.client();
        let got = key_facts(&mut rc);
        let differ: Vec<String> = facts
            .iter()
            .filter(|f| !got.contains(f))
            .map(|f| format!("{}: {:?}", f.0.escape_ascii(), (&f.1, &f.2, &f.3)))
            .collect();
        assert!(
            differ.is_empty() && got.len() == facts.len(),
            "{bin} seed {seed} parts {parts}: keys differ after the rewrite:\n{}",
            differ.join("\n")
        );
        assert_eq!(
            digest(&mut rc),
            live,
            "{bin} seed {seed} parts {parts}: DEBUG DIGEST"
        );
        drop(rc);
        rewritten.remove();
    }
    drop(oc);
    original.remove();
    for d in [dir, work] {
        let _ = std::fs::remove_dir_all(d);
    }
    seen
}

/// Seeds per server; RDBTOOL_COMMANDS_SEEDS=N runs N more of each.
fn seeds(base: &[u64]) -> Vec<u64> {
    let extra: u64 = std::env::var("RDBTOOL_COMMANDS_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    base.iter()
        .copied()
        .chain((0..extra).map(|i| 0xc0ffee + i * 7919))
        .collect()
}

/// Every command this file is about was in the logs.
fn assert_logged(bin: &str, logged: &BTreeMap<String, u64>) {
    for c in ["pfadd", "pfmerge", "pfcount", "pfdebug", "bitfield", "sort"] {
        assert!(
            logged.get(c).is_some_and(|&n| n > 0),
            "{bin}: no {c} logged: {logged:?}"
        );
    }
    eprintln!("{bin}: logged {logged:?}");
}

#[test]
fn hll_bitfield_sort_histories_match_redis_7_0() {
    let (mut dense, mut sparse, mut logged) = (0, 0, BTreeMap::new());
    for (i, seed) in seeds(&[1, 0x5eed_cafe, 77]).into_iter().enumerate() {
        let seen = run_seed(
            "redis-server",
            seed,
            4000,
            Mode {
                preamble: i % 2 == 0,
                encodings: true,
                streams: false,
            },
        );
        assert!(seen.keys > 30, "seed {seed}: {} keys", seen.keys);
        eprintln!(
            "redis 7.0 seed {seed}: {} keys, {} dense and {} sparse HLLs",
            seen.keys, seen.dense_hlls, seen.sparse_hlls
        );
        dense += seen.dense_hlls;
        sparse += seen.sparse_hlls;
        for (c, n) in seen.logged {
            *logged.entry(c).or_insert(0) += n;
        }
    }
    assert!(
        dense > 0 && sparse > 0,
        "{dense} dense and {sparse} sparse HLLs"
    );
    assert_logged("redis 7.0", &logged);
}

#[test]
fn hll_bitfield_sort_histories_match_redis_8_2() {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/redis82/redis-server");
    assert!(
        bin.is_file(),
        "{} missing: run scripts/install-redis.sh",
        bin.display()
    );
    let bin = bin.display().to_string();
    let mut logged = BTreeMap::new();
    for (i, seed) in seeds(&[82, 0x8282]).into_iter().enumerate() {
        let seen = run_seed(
            &bin,
            seed,
            4000,
            Mode {
                preamble: i % 2 == 1,
                encodings: false,
                streams: true,
            },
        );
        assert!(seen.keys > 30, "seed {seed}: {} keys", seen.keys);
        eprintln!(
            "redis 8.2 seed {seed}: {} keys, {} dense and {} sparse HLLs",
            seen.keys, seen.dense_hlls, seen.sparse_hlls
        );
        for (c, n) in seen.logged {
            *logged.entry(c).or_insert(0) += n;
        }
    }
    assert_logged("redis 8.2", &logged);
    for c in ["xdelex", "xackdel", "xtrim"] {
        assert!(
            logged.get(c).is_some_and(|&n| n > 0),
            "no {c} logged: {logged:?}"
        );
    }
}

/// A SORT whose BY and GET patterns read keys of other parts, in a log
/// that otherwise partitions: the rewrite in three parts by key hash must
/// not sort with the weights of one part only (it replays in one pass).
#[test]
fn sort_patterns_keep_a_partitioned_rewrite_whole() {
    use rdbtool::aof::rewrite::partition::key_hash;
    let dst = (0..)
        .map(|i| format!("d{i}"))
        .find(|d| key_hash(d.as_bytes()) % 3 == key_hash(b"l") % 3)
        .unwrap();
    let dir = temp_dir("cmd-parts");
    let src = Server::start(&dir, &["--appendfsync", "no"]).unwrap();
    let mut c = src.client();
    let elems = ["a", "b", "c", "d", "e", "f"];
    for (i, e) in elems.iter().enumerate() {
        c.cmd(&["RPUSH", "l", e]);
        c.cmd(&["SET", &format!("w_{e}"), &((i * 7) % 5).to_string()]);
        c.cmd(&["HSET", &format!("h_{e}"), "f", &format!("v{i}")]);
    }
    let sorted = c.cmd(&[
        "SORT", "l", "BY", "w_*", "GET", "h_*->f", "GET", "#", "STORE", &dst,
    ]);
    assert_eq!(sorted, Reply::Int(12));
    let live = digest(&mut c);
    drop(c);
    drop(src);
    let out = dir.join("rewritten");
    let aofdir = dir.join("appendonlydir");
    let rewritten = rewrite_and_load("redis-server", &aofdir, &out, "3");
    assert_eq!(digest(&mut rewritten.client()), live);
    let d = rewritten.dir.clone();
    drop(rewritten);
    for d in [d, dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}
