//! The eviction simulator against real redis-server 7.0 evictions.
//!
//! A dataset with known idle times / LFU counters (set through RESTORE
//! IDLETIME/FREQ) is saved by a real server; fresh servers load the file with
//! each policy, `maxmemory` is lowered to a fraction of what the data needs,
//! and the keys the server evicted are compared with the simulation fed with
//! the same per-key sizes (`MEMORY USAGE`) and the idle/freq values read from
//! the file by rdbtool. Two real runs are compared with each other too: the
//! simulation must agree with the server at least as well as the server
//! agrees with itself.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdbtool::analyze::evict::{EvictKey, Policy, SimParams, SplitMix64, simulate_load};
use rdbtool::rdb::read::{ReadOptions, Record, read};
use rdbtool::sink::{Flow, FnSink};

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Ok(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
    Err(String),
}

impl Reply {
    fn int(&self) -> i64 {
        match self {
            Reply::Int(v) => *v,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }
    fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) | Reply::Ok(b) => b.clone(),
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn connect(port: u16) -> Conn {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                let mut c = Conn {
                    r: BufReader::new(s.try_clone().unwrap()),
                    w: s,
                };
                // Wait until loading finished.
                loop {
                    match c.cmd(&[b"PING"]) {
                        Reply::Err(e) if e.starts_with("LOADING") => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        _ => return c,
                    }
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    fn send(&mut self, args: &[&[u8]]) {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            b.extend_from_slice(a);
            b.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&b).unwrap();
    }
    fn read(&mut self) -> Reply {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).unwrap();
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => Reply::Ok(body.into_bytes()),
            b'-' => Reply::Err(body),
            b':' => Reply::Int(body.parse().unwrap()),
            b'$' => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut v = vec![0u8; n as usize + 2];
                std::io::Read::read_exact(&mut self.r, &mut v).unwrap();
                v.truncate(n as usize);
                Reply::Bulk(Some(v))
            }
            b'*' => {
                let n: i64 = body.parse().unwrap();
                Reply::Array((0..n.max(0)).map(|_| self.read()).collect())
            }
            c => panic!("bad reply type {c}"),
        }
    }
    fn cmd(&mut self, args: &[&[u8]]) -> Reply {
        self.send(args);
        self.read()
    }
    fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        let mut out = Vec::with_capacity(cmds.len());
        for chunk in cmds.chunks(1000) {
            for c in chunk {
                let a: Vec<&[u8]> = c.iter().map(|x| x.as_slice()).collect();
                self.send(&a);
            }
            for _ in chunk {
                out.push(self.read());
            }
        }
        out
    }
    fn info_field(&mut self, section: &str, field: &str) -> i64 {
        let info = self.cmd(&[b"INFO", section.as_bytes()]).bytes();
        let text = String::from_utf8_lossy(&info).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in INFO"))
    }
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path, dbfile: &str, extra: &[&str]) -> Option<Server> {
    let port = free_port();
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ])
    .args(["--appendonly", "no", "--dir"])
    .arg(dir)
    .args(["--dbfilename", dbfile])
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let child = cmd.spawn().ok()?;
    Some(Server { child, port })
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdbtool-evict-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Builds the dataset in a server running `policy` (so RESTORE accepts
/// IDLETIME for LRU and FREQ for LFU), then SAVEs it as `file`.
fn build_dataset(dir: &Path, file: &str, lfu: bool, n: usize, rng: &mut SplitMix64) {
    let policy = if lfu { "allkeys-lfu" } else { "allkeys-lru" };
    let srv = start(dir, file, &["--maxmemory-policy", policy]).expect("redis-server");
    let mut c = Conn::connect(srv.port);
    let now_ms = SystemTimeMs::now();
    let mut cmds = Vec::new();
    for i in 0..n {
        let key = format!("k:{}:{i}", i % 37).into_bytes();
        let db = (i % 3).to_string().into_bytes();
        cmds.push(vec![b"SELECT".to_vec(), db]);
        match rng.below(4) {
            0 | 1 => {
                let len = 1 + rng.below(300);
                cmds.push(vec![b"SET".to_vec(), key.clone(), vec![b'v'; len]]);
            }
            2 => {
                let mut c = vec![b"HSET".to_vec(), key.clone()];
                for f in 0..1 + rng.below(20) {
                    c.push(format!("f{f}").into_bytes());
                    c.push(vec![b'x'; 1 + rng.below(40)]);
                }
                cmds.push(c);
            }
            _ => {
                let mut c = vec![b"RPUSH".to_vec(), key.clone()];
                for e in 0..1 + rng.below(30) {
                    c.push(format!("e{e}").into_bytes());
                }
                cmds.push(c);
            }
        }
        if rng.below(2) == 0 {
            let at = now_ms + 3_600_000 + rng.below(86_400_000) as i64;
            cmds.push(vec![
                b"PEXPIREAT".to_vec(),
                key.clone(),
                at.to_string().into_bytes(),
            ]);
        }
    }
    for r in c.pipeline(&cmds) {
        assert!(!matches!(r, Reply::Err(_)), "{r:?}");
    }
    // Re-create every key with a chosen idle time / LFU counter.
    for db in 0..3 {
        c.cmd(&[b"SELECT", db.to_string().as_bytes()]);
        let keys: Vec<Vec<u8>> = match c.cmd(&[b"KEYS", b"*"]) {
            Reply::Array(a) => a.iter().map(Reply::bytes).collect(),
            r => panic!("{r:?}"),
        };
        let dumps = c.pipeline(
            &keys
                .iter()
                .flat_map(|k| {
                    [
                        vec![b"DUMP".to_vec(), k.clone()],
                        vec![b"PEXPIRETIME".to_vec(), k.clone()],
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let mut restores = Vec::new();
        for (k, pair) in keys.iter().zip(dumps.chunks(2)) {
            let payload = pair[0].bytes();
            let exp = pair[1].int();
            let ttl = if exp > 0 { exp.to_string() } else { "0".into() };
            let mut r = vec![
                b"RESTORE".to_vec(),
                k.clone(),
                ttl.into_bytes(),
                payload,
                b"REPLACE".to_vec(),
            ];
            if exp > 0 {
                r.push(b"ABSTTL".to_vec());
            }
            if lfu {
                r.push(b"FREQ".to_vec());
                r.push(rng.below(256).to_string().into_bytes());
            } else {
                r.push(b"IDLETIME".to_vec());
                r.push(rng.below(100_000).to_string().into_bytes());
            }
            restores.push(r);
        }
        for r in c.pipeline(&restores) {
            assert!(!matches!(r, Reply::Err(_)), "{r:?}");
        }
    }
    assert!(matches!(c.cmd(&[b"SAVE"]), Reply::Ok(_)));
}

struct SystemTimeMs;
impl SystemTimeMs {
    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }
}

/// (db, key) → (idle, freq, expire) as rdbtool reads them from the file.
type FileKeys = HashMap<(u64, Vec<u8>), (Option<u64>, Option<u8>, Option<i64>)>;

fn read_file(path: &Path) -> FileKeys {
    let data = std::fs::read(path).unwrap();
    let mut out = HashMap::new();
    let mut sink = FnSink(|r: &Record<'_>| {
        if let Record::Key(k) = r {
            out.insert(
                (k.db, k.key.to_vec().unwrap()),
                (k.idle_s, k.freq, k.expire_ms),
            );
        }
        Ok(Flow::Continue)
    });
    read(&data, &ReadOptions::default(), &mut sink).unwrap();
    out
}

struct RealRun {
    evicted: HashSet<(u64, Vec<u8>)>,
    used_before: u64,
    maxmemory: u64,
}

/// Every key, listed with small SCAN replies: replies that fit the client's
/// static buffer allocate nothing, so listing keys does not itself push the
/// server over `maxmemory` (a big KEYS reply would, and cause evictions).
fn all_keys(c: &mut Conn) -> HashSet<(u64, Vec<u8>)> {
    let mut s = HashSet::new();
    for db in 0..3u64 {
        c.cmd(&[b"SELECT", db.to_string().as_bytes()]);
        let mut cursor = b"0".to_vec();
        loop {
            let r = c.cmd(&[b"SCAN", &cursor, b"COUNT", b"200"]);
            let Reply::Array(parts) = r else {
                panic!("{r:?}")
            };
            cursor = parts[0].bytes();
            if let Reply::Array(keys) = &parts[1] {
                s.extend(keys.iter().map(|k| (db, k.bytes())));
            }
            if cursor == b"0" {
                break;
            }
        }
    }
    s
}

/// `MEMORY USAGE` of every key, from a server of its own: listing and
/// sizing keys allocates (reply buffers, tens of kB that stay), which would
/// shift the memory the evicting servers start from.
fn sizes(dir: &Path, file: &str) -> HashMap<(u64, Vec<u8>), u64> {
    let srv = start(dir, file, &[]).expect("redis-server");
    let mut c = Conn::connect(srv.port);
    let keys = all_keys(&mut c);
    let mut sizes = HashMap::new();
    for db in 0..3u64 {
        c.cmd(&[b"SELECT", db.to_string().as_bytes()]);
        let keys: Vec<_> = keys.iter().filter(|k| k.0 == db).cloned().collect();
        let cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| {
                vec![
                    b"MEMORY".to_vec(),
                    b"USAGE".to_vec(),
                    k.1.clone(),
                    b"SAMPLES".to_vec(),
                    b"0".to_vec(),
                ]
            })
            .collect();
        for (k, r) in keys.into_iter().zip(c.pipeline(&cmds)) {
            sizes.insert(k, r.int() as u64);
        }
    }
    sizes
}

/// One real eviction: a fresh server loads the file, `maxmemory` drops to
/// `fraction` of `used_memory`, and the keys missing afterwards are the
/// evicted ones.
fn real_run(
    dir: &Path,
    file: &str,
    before: &HashSet<(u64, Vec<u8>)>,
    policy: Policy,
    fraction: f64,
) -> RealRun {
    let srv = start(dir, file, &["--maxmemory-policy", policy.name()]).expect("redis-server");
    // The connection that waited for the load may have grown its query
    // buffer while the server was loading: closed before measuring. The
    // first commands of a connection and the first CONFIG SET allocate
    // (query buffer, config bookkeeping: ~35 KB together) and that memory is
    // still held when eviction runs, so warm both up before measuring.
    drop(Conn::connect(srv.port));
    let mut c = Conn::connect(srv.port);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    c.info_field("memory", "used_memory");
    let used_before = c.info_field("memory", "used_memory") as u64;
    let maxmemory = (used_before as f64 * fraction) as u64;
    c.cmd(&[
        b"CONFIG",
        b"SET",
        b"maxmemory",
        maxmemory.to_string().as_bytes(),
    ]);
    // Eviction continues in a time event after CONFIG SET; wait until the
    // count is stable, then lift the limit so that listing the survivors
    // cannot evict more.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = -1;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let ev = c.info_field("stats", "evicted_keys");
        if ev == last {
            break;
        }
        last = ev;
        assert!(Instant::now() < deadline, "eviction did not settle");
    }
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    let after = all_keys(&mut c);
    RealRun {
        evicted: before.difference(&after).cloned().collect(),
        used_before,
        maxmemory,
    }
}

/// `used_memory` of an empty server with one warmed-up client: the
/// baseline `rdbtool project` adds to the modelled keyspace.
fn empty_baseline(dir: &Path) -> u64 {
    let srv = start(dir, "none.rdb", &[]).expect("redis-server");
    let mut c = Conn::connect(srv.port);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    c.info_field("memory", "used_memory");
    c.info_field("memory", "used_memory") as u64
}

/// Evicted keys `rdbtool project` predicts from the file alone (memory
/// model for the Debian build's allocator, one run).
fn projected(file: &Path, policy: Policy, maxmemory: u64, baseline: u64) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .arg("project")
        .arg(file)
        .args([
            "--maxmemory",
            &maxmemory.to_string(),
            "--policy",
            policy.name(),
        ])
        .args(["--allocator", "system", "--runs", "1", "--format", "json"])
        .args(["--baseline", &baseline.to_string()])
        .output()
        .expect("run rdbtool project");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["total"]["evicted_keys"].as_u64().unwrap()
}

fn jaccard(a: &HashSet<(u64, Vec<u8>)>, b: &HashSet<(u64, Vec<u8>)>) -> f64 {
    let inter = a.intersection(b).count() as f64;
    let union = a.union(b).count() as f64;
    if union == 0.0 { 1.0 } else { inter / union }
}

#[test]
fn simulation_matches_redis_evictions() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("redis-server not installed: skipping (scripts/install-redis.sh installs it)");
        return;
    }
    let dir = temp_dir("oracle");
    let mut rng = SplitMix64::new(0x5eed);
    build_dataset(&dir, "lru.rdb", false, 30_000, &mut rng);
    build_dataset(&dir, "lfu.rdb", true, 30_000, &mut rng);
    let cases = [
        (Policy::AllkeysLru, "lru.rdb"),
        (Policy::VolatileLru, "lru.rdb"),
        (Policy::VolatileTtl, "lru.rdb"),
        (Policy::AllkeysLfu, "lfu.rdb"),
        (Policy::AllkeysRandom, "lru.rdb"),
    ];
    let mut failures = Vec::new();
    let baseline = empty_baseline(&dir);
    println!(
        "policy          frac  real#  sim#   count-err  J(real,real)  J(sim,real)  model#  model-err"
    );
    for (policy, file) in cases {
        let file_keys = read_file(&dir.join(file));
        let before: HashSet<_> = file_keys.keys().cloned().collect();
        let sizes = sizes(&dir, file);
        for fraction in [0.5, 0.7, 0.9] {
            let r1 = real_run(&dir, file, &before, policy, fraction);
            let r2 = real_run(&dir, file, &before, policy, fraction);
            // The simulation, fed with what the file says and the sizes the
            // server reports; the baseline is everything else the server uses.
            let mut order: Vec<_> = sizes.keys().cloned().collect();
            order.sort();
            let keys: Vec<EvictKey> = order
                .iter()
                .map(|k| {
                    let (idle, freq, exp) = file_keys[k];
                    EvictKey {
                        db: k.0 as u32,
                        // MEMORY USAGE counts the main dict entry as
                        // sizeof(dictEntry) = 24 where the allocator uses 32;
                        // a key with a TTL also frees its expires entry
                        // (measured with DEL and here: 36 bytes on average).
                        bytes: sizes[k] + 8 + if exp.is_some() { 36 } else { 0 },
                        idle_s: idle.unwrap_or(0),
                        lfu: freq.unwrap_or(5),
                        expire_ms: exp,
                    }
                })
                .collect();
            let key_bytes: u64 = keys.iter().map(|k| k.bytes).sum();
            let p = SimParams {
                policy,
                maxmemory: r1.maxmemory,
                samples: 5,
                baseline: r1.used_before.saturating_sub(key_bytes),
                seed: 1,
            };
            let sim = simulate_load(&keys, p);
            // The simulation samples at random too: its count is the mean
            // of three seeds.
            let sim_count = (1..=3)
                .map(|seed| simulate_load(&keys, SimParams { seed, ..p }).evicted.len())
                .sum::<usize>() as f64
                / 3.0;
            let sim_set: HashSet<_> = sim
                .evicted
                .iter()
                .map(|&i| order[i as usize].clone())
                .collect();
            // The server's own count varies a little from run to run.
            let real = (r1.evicted.len() + r2.evicted.len()) as f64 / 2.0;
            let count_err = (sim_count - real).abs() / real.max(1.0);
            let jrr = jaccard(&r1.evicted, &r2.evicted);
            let jsr = (jaccard(&sim_set, &r1.evicted) + jaccard(&sim_set, &r2.evicted)) / 2.0;
            let model = projected(&dir.join(file), policy, r1.maxmemory, baseline);
            let model_err = (model as f64 - real).abs() / real.max(1.0);
            println!(
                "{:<15} {:.1} {:>6} {:>8.1} {:>9.2}% {:>12.3} {:>12.3} {:>7} {:>8.2}%",
                policy.name(),
                fraction,
                r1.evicted.len(),
                sim_count,
                count_err * 100.0,
                jrr,
                jsr,
                model,
                model_err * 100.0
            );
            if count_err > 0.02 {
                failures.push(format!(
                    "{} at {fraction}: count error {:.2}%",
                    policy.name(),
                    count_err * 100.0
                ));
            }
            // Random policies: only count and bytes are comparable.
            if !matches!(policy, Policy::AllkeysRandom) && jsr + 0.02 < jrr {
                failures.push(format!(
                    "{} at {fraction}: Jaccard sim/real {jsr:.3} < real/real {jrr:.3}",
                    policy.name()
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}
