//! Every report section on files with known content: a redis-server 7.0
//! started by the test writes keys with chosen prefixes, types, TTLs and
//! databases; the report of its snapshot must count them exactly (and the
//! per-prefix bytes must match the server's `MEMORY USAGE`). Hot/cold runs
//! on the corpus files saved with LRU/LFU policies; `diff` on two
//! snapshots with known changes, and across RDB versions (7.0 → 8.2) where
//! nothing changed. The HTML page is rendered and, when Debian's chromium
//! is installed, loaded in a headless browser.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::browser::browser_check;
use common::mem_redis::{Client, Reply, Server, redis70, redis82, temp_dir};
use rdbtool::analyze::diff::Differ;
use rdbtool::analyze::facts::{ModelConfig, scan};
use rdbtool::analyze::html;
use rdbtool::analyze::memory::alloc::Alloc;
use rdbtool::analyze::prefix::Splitter;
use rdbtool::analyze::report::{Report, ReportBuilder, Section, Settings};
use rdbtool::analyze::ttl::BUCKETS;
use rdbtool::rdb::read::{ReadOptions, Record, read};
use rdbtool::sink::{Flow, FnSink};

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Writes the known dataset; returns the reference time `t` the TTLs are
/// relative to (10 days ahead, on a minute boundary, so the server keeps
/// every key while the analysis sees some as expired).
fn known_data(c: &mut Client) -> i64 {
    let now = c.cmd(&["TIME"]).array()[0].text().parse::<i64>().unwrap() * 1000;
    let t = (now + 10 * DAY) / MIN * MIN;
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut set_px = |k: String, at: i64, v: &str| {
        cmds.push(vec![b("SET"), b(&k), b(v)]);
        cmds.push(vec![b("PEXPIREAT"), b(&k), b(&at.to_string())]);
    };
    for i in 0..300 {
        set_px(format!("sess:a:{i}"), t + 5_000, "token");
    }
    for i in 0..50 {
        set_px(format!("cache:b:{i}"), t + 2 * 3_600_000 + i * 61_000, "v");
    }
    for i in 0..40 {
        set_px(format!("old:c:{i}"), t - DAY, "stale");
    }
    for i in 0..20 {
        set_px(format!("week:{i}"), t + 3 * DAY, "w");
    }
    for i in 0..10 {
        set_px(format!("month:{i}"), t + 20 * DAY, "m");
    }
    for i in 0..5 {
        set_px(format!("year:{i}"), t + 100 * DAY, "y");
    }
    for i in 0..200 {
        cmds.push(vec![
            b("HSET"),
            b(&format!("user:{i}:profile")),
            b("name"),
            b(&format!("user number {i}")),
            b("visits"),
            b(&i.to_string()),
        ]);
    }
    let mut list = vec![b("RPUSH"), b("big:list")];
    list.extend((0..5000).map(|i| b(&format!("item-{i}"))));
    cmds.push(list);
    let mut set = vec![b("SADD"), b("big:set")];
    set.extend((0..3000).map(|i| b(&format!("member-{i}"))));
    cmds.push(set);
    let mut zset = vec![b("ZADD"), b("big:zset")];
    for i in 0..2000 {
        zset.push(b(&i.to_string()));
        zset.push(b(&format!("z-{i}")));
    }
    cmds.push(zset);
    let mut hash = vec![b("HSET"), b("big:hash")];
    for i in 0..1000 {
        hash.push(b(&format!("f{i}")));
        hash.push(b(&format!("value-{i}")));
    }
    cmds.push(hash);
    cmds.push(vec![b("SET"), b("big:str"), vec![b'x'; 300_000]]);
    cmds.push(vec![b("SELECT"), b("3")]);
    for i in 0..7 {
        cmds.push(vec![b("SET"), b(&format!("stray:{i}")), b("?")]);
    }
    cmds.push(vec![b("SELECT"), b("0")]);
    for r in c.pipeline(&cmds) {
        assert!(!matches!(r, Reply::Error(_)), "{r:?}");
    }
    t
}

/// `MEMORY USAGE` of every key of db 0 and 3, from the live server.
fn server_usage(s: &mut Server) -> Usage {
    let mut out = BTreeMap::new();
    for db in [0u64, 3] {
        s.c.cmd(&["SELECT", &db.to_string()]);
        let keys = s.keys();
        let cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| vec![b("MEMORY"), b("USAGE"), k.clone(), b("SAMPLES"), b("0")])
            .collect();
        for (k, r) in keys.iter().zip(s.c.pipeline(&cmds)) {
            out.insert((db, k.clone()), r.int() as u64);
        }
    }
    s.c.cmd(&["SELECT", "0"]);
    out
}

fn settings(t: i64) -> Settings {
    Settings {
        now_ms: Some(t),
        wall_ms: t,
        ..Settings::default()
    }
}

fn report(file: &Path, s: Settings, alloc: Alloc) -> Report {
    let data = std::fs::read(file).unwrap();
    let cfg = ModelConfig {
        alloc,
        ..ModelConfig::default()
    };
    let mut b = ReportBuilder::new(s, None);
    let facts = scan(&data, &ReadOptions::default(), &cfg, None, |k| b.add(k)).expect("scan");
    b.finish(&file.display().to_string(), &facts)
}

/// A snapshot of the known dataset: (file, reference time, server usage).
/// `MEMORY USAGE` per (db, key).
type Usage = BTreeMap<(u64, Vec<u8>), u64>;

fn snapshot() -> (PathBuf, i64, Usage, PathBuf) {
    let dir = temp_dir("report-gen");
    let mut s = Server::start(&redis70(), &dir, &[]);
    let t = known_data(&mut s.c);
    let f = s.save();
    let keep = temp_dir("report-file");
    let file = keep.join("known.rdb");
    std::fs::copy(&f, &file).unwrap();
    drop(s);
    // Usage as the loading server reports it.
    let dir = temp_dir("report-load");
    std::fs::copy(&file, dir.join("dump.rdb")).unwrap();
    let mut s = Server::start(&redis70(), &dir, &[]);
    let usage = server_usage(&mut s);
    (file, t, usage, keep)
}

fn bucket(name: &str) -> usize {
    BUCKETS.iter().position(|b| *b == name).unwrap()
}

#[test]
fn sections_count_known_content() {
    let (file, t, usage, keep) = snapshot();
    let r = report(&file, settings(t), Alloc::SYSTEM);
    assert_eq!(r.keys, 300 + 50 + 40 + 20 + 10 + 5 + 200 + 5 + 7);
    assert_eq!(r.dbs.get(&3), Some(&7));

    // Memory by prefix: keys per node, and bytes against MEMORY USAGE.
    let p = r.prefixes.as_ref().unwrap();
    let node = |name: &str| {
        p.nodes
            .iter()
            .find(|n| n.prefix == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    assert_eq!(node("sess:").keys, 300);
    assert_eq!(node("sess:a:").keys, 300);
    assert_eq!(node("sess:a:").depth, 2);
    assert_eq!(node("user:").keys, 200);
    assert_eq!(node("user:").types.get("hash"), Some(&200));
    assert_eq!(node("big:").keys, 5);
    assert!((node("sess:").ttl_share - 1.0).abs() < 1e-9);
    assert_eq!(node("user:").ttl_share, 0.0);
    for prefix in ["sess:", "user:", "big:", "cache:", "old:"] {
        let real: u64 = usage
            .iter()
            .filter(|((_, k), _)| k.starts_with(prefix.as_bytes()))
            .map(|(_, v)| v)
            .sum();
        let est = node(prefix).bytes;
        let err = (est as f64 - real as f64).abs() / real as f64;
        assert!(err < 0.01, "{prefix}: model {est} vs server {real}");
    }
    let share: f64 = p
        .nodes
        .iter()
        .filter(|n| n.depth <= 1)
        .map(|n| n.share)
        .sum();
    assert!(
        (share - 1.0).abs() < 1e-9,
        "first-level shares sum to {share}"
    );

    // A tiny cap folds the rest into "other" buckets but keeps every key.
    let mut small = settings(t);
    small.max_nodes = 8;
    small.sections = vec![Section::Prefixes];
    let rs = report(&file, small, Alloc::SYSTEM);
    let ps = rs.prefixes.unwrap();
    assert!(ps.nodes_held <= 2 * 8 + 1, "{} nodes held", ps.nodes_held);
    let first: u64 = ps
        .nodes
        .iter()
        .filter(|n| n.depth <= 1)
        .map(|n| n.keys)
        .sum();
    assert_eq!(first, r.keys);
    assert!(ps.nodes.iter().any(|n| n.prefix.ends_with("(other)")));

    // TTL distribution.
    let ttl = r.ttl.as_ref().unwrap();
    let all = &ttl.overall.keys;
    assert_eq!(all[bucket("expired")], 40);
    assert_eq!(all[bucket("<1m")], 300);
    assert_eq!(all[bucket("<1h")], 0);
    assert_eq!(all[bucket("<1d")], 50);
    assert_eq!(all[bucket("<7d")], 20);
    assert_eq!(all[bucket("<30d")], 10);
    assert_eq!(all[bucket("longer")], 5);
    assert_eq!(all[bucket("none")], 200 + 5 + 7);
    assert_eq!(ttl.per_db[&3].keys[bucket("none")], 7);
    assert_eq!(ttl.per_type["hash"].keys[bucket("none")], 201);
    assert_eq!(ttl.per_type["string"].keys[bucket("<1m")], 300);
    let per = |p: &str| &ttl.per_prefix.iter().find(|(n, _)| n == p).unwrap().1;
    assert_eq!(per("old:c:").keys[bucket("expired")], 40);
    assert_eq!(per("cache:b:").keys[bucket("<1d")], 50);
    let no_ttl: BTreeMap<&str, u64> = ttl
        .no_ttl_by_prefix
        .iter()
        .map(|p| (p.prefix.as_str(), p.keys))
        .collect();
    assert_eq!(no_ttl.get("big:"), Some(&5));
    assert_eq!(no_ttl.get("stray:"), Some(&7));
    assert_eq!(no_ttl.values().sum::<u64>(), 212);

    // Expiry waves: the 300 session keys expire in one second.
    let w = r.waves.as_ref().unwrap();
    assert_eq!(w.burst_seconds, 1);
    assert_eq!(w.burst_minutes, 1);
    let top = &w.seconds[0];
    assert_eq!(
        (top.start_ms, top.keys, top.burst),
        ((t + 5_000), 300, true)
    );
    assert_eq!(top.prefixes[0].prefix, "sess:a:");
    assert_eq!(top.prefixes[0].keys, 300);
    assert!(w.seconds[1..].iter().all(|x| !x.burst && x.keys == 1));
    assert_eq!(w.minutes[0].start_ms, t);
    let timeline_keys: u64 = w.timeline.iter().map(|(_, n)| n).sum();
    assert_eq!(timeline_keys, 300 + 50 + 20 + 10);

    // Big keys: the order of the server's own MEMORY USAGE.
    let bk = r.bigkeys.as_ref().unwrap();
    let mut by_usage: Vec<(&(u64, Vec<u8>), &u64)> = usage.iter().collect();
    by_usage.sort_by(|a, b| b.1.cmp(a.1));
    let top5: Vec<String> = by_usage[..5]
        .iter()
        .map(|((_, k), _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    let model5: Vec<String> = bk.by_bytes[..5].iter().map(|k| k.key.clone()).collect();
    assert_eq!(model5, top5);
    assert_eq!(bk.by_elements["list"][0].key, "big:list");
    assert_eq!(bk.by_elements["list"][0].elements, 5000);
    assert_eq!(bk.by_elements["set"][0].elements, 3000);
    assert_eq!(bk.by_elements["zset"][0].elements, 2000);
    assert_eq!(bk.by_elements["hash"][0].elements, 1000);
    assert_eq!(bk.largest_element["string"].key, "big:str");
    assert_eq!(bk.largest_element["string"].length, 300_000);

    // Data-loss view.
    let l = r.dataloss.as_ref().unwrap();
    assert_eq!(l.expired_keys, 40);
    assert_eq!(l.expired_by_prefix[0].prefix, "old:c:");
    assert_eq!(l.persistent_keys, 212);
    assert_eq!(l.volatile_keys, 425);
    assert_eq!(l.unexpected_dbs.get(&3), Some(&7));
    assert!(l.empty_dbs.is_empty());

    // The HTML page.
    let page = html::render(&r);
    for needle in [
        r#"<svg id="treemap""#,
        r#"<svg id="ttl-histogram""#,
        r#"<svg id="expiry-timeline""#,
        r#"<table id="top-keys""#,
        "big:str",
        "sess:a:",
    ] {
        assert!(page.contains(needle), "page lacks {needle}");
    }
    assert!(page.matches(r#"class="bar""#).count() >= BUCKETS.len());
    assert!(!page.contains("http://") && !page.contains("https://"));
    let html_file = keep.join("report.html");
    std::fs::write(&html_file, &page).unwrap();
    browser_check(&html_file, &["treemap", "top-keys"]);
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn hot_cold_from_lru_and_lfu_files() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/redis-7.0");
    // What the file says, read directly.
    let raw = |f: &str| {
        let data = std::fs::read(corpus.join(f)).unwrap();
        let mut v: Vec<(String, Option<u64>, Option<u8>)> = Vec::new();
        let mut sink = FnSink(|r: &Record<'_>| {
            if let Record::Key(k) = r {
                v.push((
                    String::from_utf8_lossy(&k.key.to_vec().unwrap()).into_owned(),
                    k.idle_s,
                    k.freq,
                ));
            }
            Ok(Flow::Continue)
        });
        read(&data, &ReadOptions::default(), &mut sink).unwrap();
        v
    };
    let mut s = settings(0);
    s.sections = vec![Section::Hotcold];
    s.cold_idle_s = 4;
    s.cold_freq = 10;
    let lru = report(&corpus.join("lru.rdb"), s.clone(), Alloc::SYSTEM);
    let h = lru.hotcold.unwrap();
    let keys = raw("lru.rdb");
    assert_eq!(h.source, "lru");
    assert_eq!(h.lru_keys, keys.len() as u64);
    assert_eq!(h.idle[0].keys, keys.len() as u64, "all idle < 1 min");
    // Known content: lru:old keys are the idlest group.
    let max_new = keys
        .iter()
        .filter(|k| k.0.starts_with("lru:new"))
        .filter_map(|k| k.1)
        .max()
        .unwrap();
    let min_old = keys
        .iter()
        .filter(|k| k.0.starts_with("lru:old"))
        .filter_map(|k| k.1)
        .min()
        .unwrap();
    assert!(min_old > max_new);
    let cold: u64 = keys.iter().filter(|k| k.1.unwrap() >= 4).count() as u64;
    assert_eq!(h.cold_by_prefix.iter().map(|p| p.keys).sum::<u64>(), cold);

    let lfu = report(&corpus.join("lfu.rdb"), s, Alloc::SYSTEM);
    let h = lfu.hotcold.unwrap();
    assert_eq!(h.source, "lfu");
    let keys = raw("lfu.rdb");
    let count = |lo: u8, hi: u8| {
        keys.iter()
            .filter(|k| (lo..=hi).contains(&k.2.unwrap()))
            .count() as u64
    };
    for b in &h.lfu {
        assert_eq!(b.keys, count(b.min, b.max), "bucket {}-{}", b.min, b.max);
    }
    // Groups of 8: cold 6-7, warm 16-17, hot 106-107, max 255.
    assert_eq!(h.lfu.iter().find(|b| b.min == 255).unwrap().keys, 8);
    assert_eq!(h.lfu.iter().find(|b| b.min == 6).unwrap().keys, 8);
    assert_eq!(h.cold_by_prefix.len(), 1);
    assert_eq!(h.cold_by_prefix[0].prefix, "lfu:cold:");
    assert_eq!(h.cold_by_prefix[0].keys, 8);
}

fn diff_files(
    a: &Path,
    b: &Path,
) -> (
    rdbtool::analyze::diff::DiffReport,
    Vec<rdbtool::analyze::diff::Change>,
) {
    let cfg = ModelConfig::default();
    let mut d = Differ::new(Splitter::default(), 20, 1000);
    let da = std::fs::read(a).unwrap();
    scan(&da, &ReadOptions::default(), &cfg, None, |k| d.add_a(k)).unwrap();
    let db = std::fs::read(b).unwrap();
    let mut changes = Vec::new();
    scan(&db, &ReadOptions::default(), &cfg, None, |k| {
        if let Some(c) = d.add_b(k)? {
            changes.push(c);
        }
        Ok(())
    })
    .unwrap();
    let (removed, rep) = d.finish("a", "b");
    changes.extend(removed);
    (rep, changes)
}

#[test]
fn diff_finds_known_changes() {
    let dir = temp_dir("diff");
    let mut s = Server::start(&redis70(), &dir, &[]);
    known_data(&mut s.c);
    let keep = temp_dir("diff-files");
    let a = keep.join("a.rdb");
    std::fs::copy(s.save(), &a).unwrap();
    let c = &mut s.c;
    for i in 0..10 {
        c.cmd(&["SET", &format!("new:{i}"), "x"]);
    }
    for i in 0..5 {
        c.cmd(&["DEL", &format!("week:{i}")]);
    }
    for i in 0..3 {
        c.cmd(&["HSET", &format!("user:{i}:profile"), "name", "changed"]);
    }
    for i in 0..4 {
        c.cmd(&["PERSIST", &format!("month:{i}")]);
    }
    c.cmd(&["DEL", "year:0"]);
    c.cmd(&["SADD", "year:0", "now a set"]);
    c.cmd(&["SADD", "big:set", "one more"]);
    let b_file = keep.join("b.rdb");
    std::fs::copy(s.save(), &b_file).unwrap();
    drop(s);
    let (rep, changes) = diff_files(&a, &b_file);
    let t = &rep.total;
    assert_eq!((t.added, t.removed, t.changed), (10, 5, 3 + 4 + 1 + 1));
    assert_eq!(t.ttl, 4 + 1, "PERSIST ×4 and the retyped key lost its TTL");
    assert_eq!(t.r#type, 1);
    assert_eq!(t.value, 3 + 1 + 1);
    assert_eq!(rep.per_db[&0].added, 10);
    let new = rep.per_prefix.iter().find(|(p, _)| p == "new:").unwrap();
    assert_eq!(new.1.added, 10);
    assert!(
        changes
            .iter()
            .any(|c| c.key == "year:0" && c.what.contains(&"type"))
    );

    // The same data loaded and saved by 8.2 (RDB 12, other encodings):
    // nothing changed.
    let dir = temp_dir("diff82");
    std::fs::copy(&a, dir.join("dump.rdb")).unwrap();
    let mut s = Server::start(&redis82(), &dir, &[]);
    let a82 = keep.join("a82.rdb");
    std::fs::copy(s.save(), &a82).unwrap();
    drop(s);
    let (rep, changes) = diff_files(&a, &a82);
    assert_eq!(
        rep.total.added + rep.total.removed + rep.total.changed,
        0,
        "{changes:?}"
    );
    assert_eq!(rep.total.unchanged, rep.a_keys);
    let _ = std::fs::remove_dir_all(keep);
}
