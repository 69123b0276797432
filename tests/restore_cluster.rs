//! `restore --cluster` into a 3-master Redis Cluster of redis-server 7.0
//! started on 127.0.0.1: every key reaches the master of its slot with its
//! value (DEBUG DIGEST-VALUE) and absolute TTL (PEXPIRETIME); MOVED and ASK
//! are followed while slots migrate; keys of other dbs are reported as not
//! placed unless `--db-map` sends them to db 0.

#[path = "common/writer_redis.rs"]
mod writer_redis;

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdbtool::cluster::slot::key_slot;
use rdbtool::filter::{Filter, FilterSink};
use rdbtool::rdb::read::{ReadOptions, Record, Trailer, read};
use rdbtool::restore::client::{Client, Reply, TlsOptions, Url};
use rdbtool::restore::cluster::ClusterSink;
use rdbtool::restore::{Existing, Mode, RestoreOptions, detect_version};
use rdbtool::sink::{Flow, RecordSink};
use writer_redis::*;

/// The masters' slot ranges, as the test assigns them.
const RANGES: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

/// Three cluster-enabled servers, each master of one range of `RANGES`.
/// The servers stop when it is dropped (also when a test fails).
struct Cluster {
    nodes: Vec<Server>,
    /// TLS ports (when started with certificates).
    tls_ports: Vec<u16>,
    ids: Vec<Vec<u8>>,
    /// Keys the test moved with MIGRATE, which sends relative TTLs: their
    /// expiry times drift by the milliseconds the move took.
    migrated: RefCell<HashSet<Vec<u8>>>,
}

impl Cluster {
    fn start(bin: &std::path::Path) -> Cluster {
        Self::start_with(bin, None)
    }

    /// With `certs` (a [`make_certs`] directory) the nodes also serve TLS
    /// on a second port and talk TLS on the cluster bus.
    fn start_with(bin: &std::path::Path, certs: Option<&std::path::Path>) -> Cluster {
        let mut tls_ports = Vec::new();
        let nodes: Vec<Server> = (0..3)
            .map(|_| {
                let bus = free_port().to_string();
                let mut args: Vec<String> = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-port",
                    &bus,
                    "--cluster-node-timeout",
                    "5000",
                ]
                .map(String::from)
                .to_vec();
                if let Some(d) = certs {
                    let port = free_port();
                    tls_ports.push(port);
                    let f = |n: &str| d.join(n).to_str().unwrap().to_string();
                    args.extend([
                        "--tls-port".into(),
                        port.to_string(),
                        "--tls-cluster".into(),
                        "yes".into(),
                        "--tls-cert-file".into(),
                        f("srv.pem"),
                        "--tls-key-file".into(),
                        f("srv.key"),
                        "--tls-ca-cert-file".into(),
                        f("ca.pem"),
                        "--tls-auth-clients".into(),
                        "no".into(),
                    ]);
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                Server::start(bin, None, &args)
            })
            .collect();
        let mut ids = Vec::new();
        for (n, (a, b)) in nodes.iter().zip(RANGES) {
            let mut c = n.client();
            ok(
                &mut c,
                &[
                    b"CLUSTER",
                    b"ADDSLOTSRANGE",
                    a.to_string().as_bytes(),
                    b.to_string().as_bytes(),
                ],
            );
            ids.push(ok(&mut c, &[b"CLUSTER", b"MYID"]).bytes().unwrap().to_vec());
        }
        let mut c0 = nodes[0].client();
        for n in &nodes[1..] {
            let bus = config(n, "cluster-port");
            ok(
                &mut c0,
                &[
                    b"CLUSTER",
                    b"MEET",
                    b"127.0.0.1",
                    n.port.to_string().as_bytes(),
                    bus.as_bytes(),
                ],
            );
        }
        let cl = Cluster {
            nodes,
            tls_ports,
            ids,
            migrated: RefCell::default(),
        };
        cl.wait_ok();
        cl
    }

    /// Waits until every node sees all three masters and every slot served.
    fn wait_ok(&self) {
        let t0 = Instant::now();
        loop {
            let ready = self.nodes.iter().all(|n| {
                let info = ok(&mut n.client(), &[b"CLUSTER", b"INFO"]);
                let info = String::from_utf8_lossy(info.bytes().unwrap()).into_owned();
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
            });
            if ready {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "cluster did not form"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, n: usize) -> String {
        self.nodes[n].url()
    }

    /// Moves keys of `slot` from node `from` to node `to` with MIGRATE
    /// (at most `limit` of them); the slot must be MIGRATING/IMPORTING.
    fn migrate_keys(&self, slot: u16, from: usize, to: usize, limit: usize) -> usize {
        let mut c = self.nodes[from].client();
        let keys = match ok(
            &mut c,
            &[
                b"CLUSTER",
                b"GETKEYSINSLOT",
                slot.to_string().as_bytes(),
                limit.to_string().as_bytes(),
            ],
        ) {
            Reply::Array(Some(ks)) => ks
                .iter()
                .map(|k| k.bytes().unwrap().to_vec())
                .collect::<Vec<_>>(),
            r => panic!("{r:?}"),
        };
        if keys.is_empty() {
            return 0;
        }
        let port = self.nodes[to].port.to_string();
        let mut argv: Vec<&[u8]> = vec![
            b"MIGRATE",
            b"127.0.0.1",
            port.as_bytes(),
            b"",
            b"0",
            b"5000",
            b"KEYS",
        ];
        argv.extend(keys.iter().map(|k| k.as_slice()));
        ok(&mut c, &argv);
        let n = keys.len();
        self.migrated.borrow_mut().extend(keys);
        n
    }

    /// Starts moving `slot` from node `from` to node `to`.
    fn start_migration(&self, slot: u16, from: usize, to: usize) {
        let s = slot.to_string();
        ok(
            &mut self.nodes[to].client(),
            &[
                b"CLUSTER",
                b"SETSLOT",
                s.as_bytes(),
                b"IMPORTING",
                &self.ids[from],
            ],
        );
        ok(
            &mut self.nodes[from].client(),
            &[
                b"CLUSTER",
                b"SETSLOT",
                s.as_bytes(),
                b"MIGRATING",
                &self.ids[to],
            ],
        );
    }

    /// Moves the remaining keys of `slot` and gives it to node `to` on
    /// every node (the importing node first, as redis-cli does).
    fn finish_migration(&self, slot: u16, from: usize, to: usize) {
        while self.migrate_keys(slot, from, to, 100) > 0 {}
        let s = slot.to_string();
        let mut order = vec![to, from];
        order.extend((0..3).filter(|n| *n != to && *n != from));
        for n in order {
            ok(
                &mut self.nodes[n].client(),
                &[b"CLUSTER", b"SETSLOT", s.as_bytes(), b"NODE", &self.ids[to]],
            );
        }
    }

    fn key_count(&self) -> i64 {
        self.nodes
            .iter()
            .map(|n| match ok(&mut n.client(), &[b"DBSIZE"]) {
                Reply::Int(k) => k,
                r => panic!("{r:?}"),
            })
            .sum()
    }
}

fn config(s: &Server, name: &str) -> String {
    match ok(&mut s.client(), &[b"CONFIG", b"GET", name.as_bytes()]) {
        Reply::Array(Some(v)) => String::from_utf8_lossy(v[1].bytes().unwrap()).into_owned(),
        r => panic!("{r:?}"),
    }
}

const FAR_MS: i64 = 4_102_444_800_000;

/// Two hash tags whose slots master 0 serves: keys `{tag}:...` of the
/// first are moved (MOVED), of the second imported (ASK).
fn tags() -> [String; 2] {
    let mut found = (0..)
        .map(|i| format!("mv{i}"))
        .filter(|t| key_slot(t.as_bytes()) <= RANGES[0].1);
    [found.next().unwrap(), found.next().unwrap()]
}

/// A standalone redis-server 7.0 with random keys of every type (dbs 0, 1
/// and 5, a function library) and, in db 0, many more small keys with and
/// without TTLs spread over all slots, and 40 keys on each of two hash
/// tags. Returns the server and its saved RDB.
fn source(bin: &std::path::Path, seed: u64, extra: usize) -> (Server, std::path::PathBuf) {
    let src = Server::start(bin, None, &[]);
    populate(
        &src,
        seed,
        Features {
            streams: true,
            functions: true,
            field_ttl: false,
        },
    );
    let mut c = src.client();
    let mut r = Rng::new(seed ^ 0x5eed);
    let mut n = 0;
    let mut names: Vec<Vec<u8>> = (0..extra)
        .map(|i| format!("k:{i}:{}", r.below(1000)).into_bytes())
        .collect();
    for t in tags() {
        names.extend((0..40).map(|i| format!("{{{t}}}:{i}").into_bytes()));
    }
    for (i, k) in names.iter().enumerate() {
        let v = r.value(40);
        let f = format!("f{}", r.below(9));
        let argv: Vec<&[u8]> = match i % 4 {
            0 | 1 => vec![b"SET", k, &v],
            2 => vec![b"HSET", k, f.as_bytes(), &v, b"g", b"1"],
            _ => vec![b"SADD", k, &v, f.as_bytes()],
        };
        c.send(&argv).unwrap();
        if i % 3 != 0 {
            let t = (FAR_MS + r.below(1_000_000_000) as i64).to_string();
            c.send(&[b"PEXPIREAT", k, t.as_bytes()]).unwrap();
            n += 1;
        }
        n += 1;
    }
    c.flush().unwrap();
    for _ in 0..n {
        assert!(c.read_reply().unwrap().error().is_none());
    }
    let dump = src.save();
    (src, dump)
}

/// Keys of db `db` of a server.
fn keys_of(s: &Server, db: u64) -> Vec<Vec<u8>> {
    all_keys(s)
        .into_iter()
        .filter(|(d, _)| *d == db)
        .map(|(_, k)| k)
        .collect()
}

/// (DEBUG DIGEST-VALUE, PEXPIRETIME) of each key, pipelined.
fn probe(c: &mut Client, keys: &[Vec<u8>]) -> Vec<(Reply, Reply)> {
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        for k in chunk {
            c.send(&[b"DEBUG", b"DIGEST-VALUE", k]).unwrap();
            c.send(&[b"PEXPIRETIME", k]).unwrap();
        }
        c.flush().unwrap();
        for _ in chunk {
            let d = c.read_reply().unwrap();
            out.push((d, c.read_reply().unwrap()));
        }
    }
    out
}

/// Asserts that every key of `keys` (db `db` of `src`) is on the master
/// `owner` says serves its slot, with the same value digest and expiry
/// time (within 2 s for the keys the test moved with MIGRATE).
fn assert_placed(
    src: &Server,
    db: u64,
    keys: &[Vec<u8>],
    cl: &Cluster,
    owner: impl Fn(u16) -> usize,
) {
    let mut sc = src.client();
    ok(&mut sc, &[b"SELECT", db.to_string().as_bytes()]);
    let want = probe(&mut sc, keys);
    let mut bad = Vec::new();
    for (n, node) in cl.nodes.iter().enumerate() {
        let (idx, mine): (Vec<usize>, Vec<Vec<u8>>) = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| owner(key_slot(k)) == n)
            .map(|(i, k)| (i, k.clone()))
            .unzip();
        let got = probe(&mut node.client(), &mine);
        let migrated = cl.migrated.borrow();
        for (j, i) in idx.into_iter().enumerate() {
            let drift = match (&got[j].1, &want[i].1) {
                (Reply::Int(a), Reply::Int(b)) if migrated.contains(&keys[i]) => (a - b).abs(),
                (a, b) if a == b => 0,
                _ => i64::MAX,
            };
            if got[j].0 != want[i].0 || drift > 2000 {
                bad.push(format!(
                    "{:?} on node {n}: {:?} vs {:?}",
                    String::from_utf8_lossy(&keys[i]),
                    got[j],
                    want[i]
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} keys differ, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

fn initial_owner(slot: u16) -> usize {
    RANGES.iter().position(|r| slot <= r.1).unwrap()
}

fn report_of(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn has_library(s: &Server) -> bool {
    matches!(
        ok(&mut s.client(), &[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"wlib"]),
        Reply::Array(Some(v)) if v.len() == 1
    )
}

/// Every db-0 key (and the function library, on every master) arrives on
/// the master of its slot with its value and TTL; no redirection happens
/// on a stable cluster.
#[test]
fn restore_into_three_masters() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let (src, dump) = source(&bin, 21, 20_000);
    let cl = Cluster::start(&bin);
    let work = TempDir::new("cluster");
    let rep = work.path().join("r.json");
    let ckpt = work.path().join("ckpt.json");
    let t0 = Instant::now();
    let err = rdbtool(&[
        "restore",
        p(&dump),
        &cl.url(1),
        "--cluster",
        "--db",
        "0",
        "--report",
        p(&rep),
        "--resume",
        p(&ckpt),
    ]);
    let secs = t0.elapsed().as_secs_f64();
    let keys = keys_of(&src, 0);
    eprintln!(
        "restore --cluster: {} keys in {secs:.2} s ({:.0} keys/s): {err}",
        keys.len(),
        keys.len() as f64 / secs
    );
    let r = report_of(&rep);
    assert_eq!(
        r["restored"].as_u64().unwrap() as usize,
        keys.len(),
        "{err}"
    );
    assert_eq!(r["cluster"]["topology"], "CLUSTER SHARDS");
    assert_eq!(r["cluster"]["masters"], 3);
    assert_eq!(
        (r["cluster"]["moved"].as_u64(), r["cluster"]["ask"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(r["functions"], 1);
    assert_eq!(cl.key_count() as usize, keys.len());
    assert_placed(&src, 0, &keys, &cl, initial_owner);
    assert!(cl.nodes.iter().all(has_library));
    // The checkpoint covers every record (keys and the library): a rerun
    // sends nothing (anything sent would fail on the existing keys).
    let c = report_of(&ckpt);
    assert_eq!(c["records_done"].as_u64().unwrap() as usize, keys.len() + 1);
    let err = rdbtool(&[
        "restore",
        p(&dump),
        &cl.url(0),
        "--cluster",
        "--db",
        "0",
        "--resume",
        p(&ckpt),
    ]);
    assert!(
        err.contains("0 keys restored, 0 skipped (existing), 0 failed"),
        "{err}"
    );
}

/// Forwards records to a cluster sink and, before the `at`-th key, lets
/// every reply in flight arrive and runs `action` (the test moves slots
/// there, so the sink's slot map is stale for the keys after it).
struct Midway<F: FnMut()> {
    inner: ClusterSink,
    keys: usize,
    at: usize,
    action: F,
}

impl<F: FnMut()> RecordSink for Midway<F> {
    fn record(&mut self, r: &Record<'_>) -> rdbtool::Result<Flow> {
        if let Record::Key(_) = r {
            if self.keys == self.at {
                self.inner.drain()?;
                (self.action)();
            }
            self.keys += 1;
        }
        self.inner.record(r)
    }
    fn finish(&mut self, t: &Trailer) -> rdbtool::Result<()> {
        self.inner.finish(t)
    }
}

/// Restores db 0 of `data` into the cluster (seed: master 2) in-process,
/// running `action` before the `at`-th key; returns the sink.
fn restore_midway(data: &[u8], cl: &Cluster, at: usize, action: impl FnMut()) -> ClusterSink {
    let url = Url::parse(&cl.url(2)).unwrap();
    let mut seed = Client::connect(&url).unwrap();
    let version = detect_version(&mut seed).unwrap();
    let opts = RestoreOptions {
        existing: Existing::Fail,
        mode: Mode::Restore,
        version,
        depth: 32,
        select: false,
        lossy: Vec::new(),
        skip: 0,
        checkpoint: None,
    };
    let inner = ClusterSink::new(seed, &url, &TlsOptions::default(), opts).unwrap();
    let sink = Midway {
        inner,
        keys: 0,
        at,
        action,
    };
    let only_db0 = Filter {
        dbs: vec![0],
        ..Filter::default()
    };
    let mut fs = FilterSink::new(only_db0, sink);
    read(data, &ReadOptions::default(), &mut fs).unwrap();
    fs.inner.inner
}

/// Keys of db 0 in file order.
fn file_order(data: &[u8]) -> Vec<Vec<u8>> {
    struct Order(Vec<Vec<u8>>);
    impl RecordSink for Order {
        fn record(&mut self, r: &Record<'_>) -> rdbtool::Result<Flow> {
            if let Record::Key(k) = r
                && k.db == 0
            {
                self.0.push(k.key.to_vec().unwrap());
            }
            Ok(Flow::Continue)
        }
    }
    let mut o = Order(Vec::new());
    read(data, &ReadOptions::default(), &mut o).unwrap();
    o.0
}

/// Slots move while the restore runs: halfway through, one slot has been
/// moved to master 1 (its keys with MIGRATE, then SETSLOT NODE) and
/// another is half-way migrating to master 1. The sink must see MOVED for
/// the first (its map is stale) and ASK for every later key of the second,
/// and every key must end on its slot's final owner. Then, with a third
/// slot migrating and half its keys moved, the CLI restores the same file
/// again (`--existing replace`) and follows ASK for exactly the moved keys.
#[test]
fn follows_moved_and_ask_while_slots_migrate() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let (src, dump) = source(&bin, 22, 3_000);
    let cl = Cluster::start(&bin);
    let data = std::fs::read(&dump).unwrap();
    let order: Vec<Vec<u8>> = file_order(&data);
    let at = order.len() / 2;
    let [moved_tag, ask_tag] = tags();
    let (moved, ask) = (key_slot(moved_tag.as_bytes()), key_slot(ask_tag.as_bytes()));
    let after = |slot: u16| order[at..].iter().filter(|k| key_slot(k) == slot).count();
    let before = |slot: u16| order[..at].iter().filter(|k| key_slot(k) == slot).count();
    assert!(after(moved) > 0 && before(moved) > 0 && after(ask) > 0 && before(ask) > 1);

    let migrated = std::cell::Cell::new(0);
    let sink = restore_midway(&data, &cl, at, || {
        cl.start_migration(moved, 0, 1);
        cl.finish_migration(moved, 0, 1);
        cl.start_migration(ask, 0, 1);
        migrated.set(cl.migrate_keys(ask, 0, 1, before(ask) / 2));
    });
    let st = sink.stats().clone();
    let rep = sink.report.clone();
    assert!(migrated.get() > 0);
    assert!(
        rep.failed.is_empty(),
        "{:?}",
        &rep.failed[..rep.failed.len().min(5)]
    );
    assert_eq!(rep.restored as usize, order.len());
    eprintln!(
        "midway: {} keys, {} MOVED (slot {moved}: {} keys after the move), {} ASK (slot {ask}: {} keys after)",
        order.len(),
        st.moved,
        after(moved),
        st.ask,
        after(ask)
    );
    assert!(st.moved >= 1 && st.moved as usize <= after(moved), "{st:?}");
    assert_eq!(st.ask as usize, after(ask), "{st:?}");
    // The sink learnt the moved slot from MOVED, not the migrating one.
    let map = sink.slot_map();
    let on = |slot: u16| {
        map.iter()
            .position(|s| s.ranges.iter().any(|r| r.0 <= slot && slot <= r.1))
            .map(|i| map[i].port)
    };
    assert_eq!(on(moved), Some(cl.nodes[1].port));
    assert_eq!(on(ask), Some(cl.nodes[0].port));

    cl.finish_migration(ask, 0, 1);
    let owner = |slot: u16| {
        if slot == moved || slot == ask {
            1
        } else {
            initial_owner(slot)
        }
    };
    let keys = keys_of(&src, 0);
    assert_eq!(cl.key_count() as usize, keys.len());
    assert_placed(&src, 0, &keys, &cl, owner);

    // The CLI, into a slot migrating before it starts: the keys already
    // moved are replaced on the importing node after ASK, the others on
    // the slot's owner.
    let third = order
        .iter()
        .map(|k| key_slot(k))
        .filter(|&s| s <= RANGES[0].1 && s != moved && s != ask)
        .max_by_key(|&s| order.iter().filter(|k| key_slot(k) == s).count())
        .unwrap();
    cl.start_migration(third, 0, 2);
    let in_third = order.iter().filter(|k| key_slot(k) == third).count();
    let moved_early = cl.migrate_keys(third, 0, 2, in_third.div_ceil(2));
    assert!(moved_early > 0);
    let work = TempDir::new("cluster-ask");
    let rep = work.path().join("r.json");
    let err = rdbtool(&[
        "restore",
        p(&dump),
        &cl.url(0),
        "--cluster",
        "--db",
        "0",
        "--existing",
        "replace",
        "--report",
        p(&rep),
    ]);
    let r = report_of(&rep);
    assert_eq!(
        r["cluster"]["ask"].as_u64(),
        Some(moved_early as u64),
        "{err}"
    );
    assert_eq!(r["restored"].as_u64().unwrap() as usize, keys.len());
    cl.finish_migration(third, 0, 2);
    let owner = |slot: u16| if slot == third { 2 } else { owner(slot) };
    assert_eq!(cl.key_count() as usize, keys.len());
    assert_placed(&src, 0, &keys, &cl, owner);
}

/// The cluster goes down halfway through (a slot unassigned everywhere)
/// and comes back 300 ms later (the slot given back to master 0): the
/// sink retries the keys refused with CLUSTERDOWN after its pauses and
/// every key arrives.
#[test]
fn retries_while_the_cluster_is_down() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let (src, dump) = source(&bin, 25, 1_000);
    let cl = Cluster::start(&bin);
    let data = std::fs::read(&dump).unwrap();
    let order = file_order(&data);
    let slot = key_slot(&order[order.len() / 2]);
    let owner = initial_owner(slot);
    let mut back = None;
    let sink = restore_midway(&data, &cl, order.len() / 2, || {
        let s = slot.to_string();
        for n in &cl.nodes {
            ok(&mut n.client(), &[b"CLUSTER", b"DELSLOTS", s.as_bytes()]);
        }
        let mut c = cl.nodes[owner].client();
        back = Some(std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            ok(&mut c, &[b"CLUSTER", b"ADDSLOTS", s.as_bytes()]);
        }));
    });
    back.unwrap().join().unwrap();
    let st = sink.stats();
    eprintln!("cluster down: {st:?}");
    assert!(st.clusterdown > 0, "{st:?}");
    assert!(sink.report.failed.is_empty(), "{:?}", sink.report.failed);
    assert_eq!(sink.report.restored as usize, order.len());
    let keys = keys_of(&src, 0);
    assert_eq!(cl.key_count() as usize, keys.len());
    assert_placed(&src, 0, &keys, &cl, initial_owner);
}

/// Keys of dbs 1 and 5 are reported as not placed (exit code 1) unless
/// `--db-map` sends them to db 0. The restore logs in as an ACL user that
/// may not run CLUSTER SHARDS, so the topology comes from CLUSTER SLOTS.
#[test]
fn other_dbs_are_not_placed_without_db_map() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let (src, dump) = source(&bin, 23, 500);
    let cl = Cluster::start(&bin);
    for n in &cl.nodes {
        ok(
            &mut n.client(),
            &[
                b"ACL",
                b"SETUSER",
                b"loader",
                b"on",
                b">s3cret",
                b"~*",
                b"+@all",
                b"-cluster|shards",
            ],
        );
    }
    let url = format!("redis://loader:s3cret@127.0.0.1:{}", cl.nodes[0].port);
    let work = TempDir::new("cluster-db");
    let rep = work.path().join("r.json");
    let (code, err) =
        rdbtool_status(&["restore", p(&dump), &url, "--cluster", "--report", p(&rep)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not placed: db 1"), "{err}");
    let r = report_of(&rep);
    assert_eq!(r["cluster"]["topology"], "CLUSTER SLOTS");
    let mut refused: Vec<(u64, Vec<u8>)> = r["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(
                f["error"].as_str().unwrap().starts_with("not placed: db"),
                "{f}"
            );
            (
                f["db"].as_u64().unwrap(),
                f["key"].as_str().unwrap().as_bytes().to_vec(),
            )
        })
        .collect();
    refused.sort();
    let others: Vec<(u64, Vec<u8>)> = all_keys(&src)
        .into_iter()
        .filter(|(d, _)| *d != 0)
        .collect();
    assert!(!others.is_empty());
    assert_eq!(refused, others);
    assert_eq!(
        r["cluster"]["not_placed"].as_u64(),
        Some(others.len() as u64)
    );
    let keys0 = keys_of(&src, 0);
    assert_eq!(cl.key_count() as usize, keys0.len());
    assert_placed(&src, 0, &keys0, &cl, initial_owner);

    // Mapped to db 0 (their names do not clash with db 0's), they arrive.
    rdbtool(&[
        "restore",
        p(&dump),
        &url,
        "--cluster",
        "--db-map",
        "1=0",
        "--db-map",
        "5=0",
        "--existing",
        "skip",
    ]);
    assert_eq!(cl.key_count() as usize, keys0.len() + others.len());
    for db in [1, 5] {
        assert_placed(&src, db, &keys_of(&src, db), &cl, initial_owner);
    }
}

/// `rediss://`: the topology's TLS ports are used for every master (the
/// cluster bus is TLS too), with the CA given by `--cacert`.
#[test]
fn restore_over_tls() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let certs = TempDir::new("cluster-tls");
    if !make_certs(certs.path()) {
        eprintln!("skipping: openssl could not make certificates");
        return;
    }
    let (src, dump) = source(&bin, 24, 2_000);
    let cl = Cluster::start_with(&bin, Some(certs.path()));
    let rep = certs.path().join("r.json");
    let url = format!("rediss://127.0.0.1:{}", cl.tls_ports[0]);
    let ca = certs.path().join("ca.pem");
    let err = rdbtool(&[
        "restore",
        p(&dump),
        &url,
        "--cluster",
        "--cacert",
        p(&ca),
        "--db",
        "0",
        "--report",
        p(&rep),
    ]);
    let keys = keys_of(&src, 0);
    let r = report_of(&rep);
    assert_eq!(
        r["restored"].as_u64().unwrap() as usize,
        keys.len(),
        "{err}"
    );
    let mut used: Vec<String> = r["cluster"]["keys_per_node"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    used.sort();
    let mut tls: Vec<String> = cl
        .tls_ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    tls.sort();
    assert_eq!(used, tls);
    assert_placed(&src, 0, &keys, &cl, initial_owner);
    // Again with plain commands (DEL first, then the commands that rebuild
    // each key, all of them to the key's master).
    rdbtool(&[
        "restore",
        p(&dump),
        &url,
        "--cluster",
        "--cacert",
        p(&ca),
        "--db",
        "0",
        "--mode",
        "commands",
        "--existing",
        "replace",
    ]);
    assert_eq!(cl.key_count() as usize, keys.len());
    assert_placed(&src, 0, &keys, &cl, initial_owner);
}
