//! `rdbtool project` against real redis-server 7.0 evictions.
//!
//! A dataset with known idle times / LFU counters (set through RESTORE
//! IDLETIME/FREQ), or without any access data, is saved by a real server;
//! fresh servers load the file with each policy, `maxmemory` is lowered to a
//! fraction of what the data needs, and the keys the server evicted are
//! compared with what `rdbtool project` predicts from the file alone (count
//! and set). Two real runs are compared with each other too: the projection
//! must agree with the server at least as well as the server agrees with
//! itself.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdbtool::analyze::evict::{Policy, SplitMix64};
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
                // Wait until loading finished. A server still starting may
                // drop the first connection (seen once as a reset under
                // load): that is a retry, not a failure.
                loop {
                    match c.ping() {
                        Some(line) if line.starts_with(b"-LOADING") => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        Some(_) => return c,
                        None => break,
                    }
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// PING's reply line, or `None` when the connection fails.
    fn ping(&mut self) -> Option<Vec<u8>> {
        self.w.write_all(b"*1\r\n$4\r\nPING\r\n").ok()?;
        let mut line = Vec::new();
        match self.r.read_until(b'\n', &mut line) {
            Ok(n) if n > 0 => Some(line),
            _ => None,
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

/// What the file says about access: IDLE opcodes (saved under an LRU
/// policy), FREQ opcodes (LFU), or nothing (saved under `noeviction`: the
/// loading server gives every key the same access time).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    Idle,
    Freq,
    Unknown,
}

/// Value shapes a dataset mixes, each with its weight.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Hash,
    BigHash,
    List,
    BigList,
    IntSet,
    Set,
    Zset,
    BigZset,
    Stream,
}

/// Every type, small (listpack/intset) encodings mostly, with a few keys
/// in the dict/skiplist/multi-node encodings and streams.
const MIX_ALL: &[(Kind, usize)] = &[
    (Kind::Str, 30),
    (Kind::Int, 8),
    (Kind::Hash, 12),
    (Kind::BigHash, 1),
    (Kind::List, 12),
    (Kind::BigList, 1),
    (Kind::IntSet, 6),
    (Kind::Set, 6),
    (Kind::Zset, 10),
    (Kind::BigZset, 1),
    (Kind::Stream, 4),
];
/// Every type in its small encoding (listpack, intset, one-node
/// quicklist), streams included: sizes without a heavy tail.
const MIX_SMALL: &[(Kind, usize)] = &[
    (Kind::Str, 30),
    (Kind::Int, 8),
    (Kind::Hash, 12),
    (Kind::List, 12),
    (Kind::IntSet, 6),
    (Kind::Set, 6),
    (Kind::Zset, 10),
    (Kind::Stream, 4),
];
/// Strings only.
const MIX_STRINGS: &[(Kind, usize)] = &[(Kind::Str, 3), (Kind::Int, 1)];
/// Collections only, large encodings weighted up.
const MIX_COLLECTIONS: &[(Kind, usize)] = &[
    (Kind::Hash, 4),
    (Kind::BigHash, 1),
    (Kind::List, 4),
    (Kind::BigList, 1),
    (Kind::Set, 4),
    (Kind::Zset, 4),
    (Kind::BigZset, 1),
    (Kind::Stream, 2),
];

fn pick(mix: &[(Kind, usize)], rng: &mut SplitMix64) -> Kind {
    let total: usize = mix.iter().map(|m| m.1).sum();
    let mut r = rng.below(total);
    for &(k, w) in mix {
        if r < w {
            return k;
        }
        r -= w;
    }
    mix[0].0
}

fn value_cmds(kind: Kind, key: &[u8], rng: &mut SplitMix64, cmds: &mut Vec<Vec<Vec<u8>>>) {
    let k = key.to_vec();
    let mut c = Vec::new();
    let n = |rng: &mut SplitMix64, lo: usize, hi: usize| lo + rng.below(hi - lo + 1);
    match kind {
        Kind::Str => c = vec![b"SET".to_vec(), k, vec![b'v'; n(rng, 1, 300)]],
        Kind::Int => {
            c = vec![
                b"SET".to_vec(),
                k,
                rng.below(1 << 40).to_string().into_bytes(),
            ]
        }
        Kind::Hash | Kind::BigHash => {
            let fields = if matches!(kind, Kind::Hash) {
                n(rng, 1, 20)
            } else {
                n(rng, 600, 900)
            };
            c = vec![b"HSET".to_vec(), k];
            for f in 0..fields {
                c.push(format!("f{f}").into_bytes());
                c.push(vec![b'x'; n(rng, 1, 40)]);
            }
        }
        Kind::List | Kind::BigList => {
            let elems = if matches!(kind, Kind::List) {
                n(rng, 1, 30)
            } else {
                n(rng, 300, 1500)
            };
            c = vec![b"RPUSH".to_vec(), k];
            for e in 0..elems {
                c.push(format!("element-{e}").into_bytes());
            }
        }
        Kind::IntSet | Kind::Set => {
            c = vec![b"SADD".to_vec(), k];
            for _ in 0..n(rng, 1, 60) {
                let m = rng.below(1_000_000);
                c.push(
                    if matches!(kind, Kind::IntSet) {
                        m.to_string()
                    } else {
                        format!("m{m}")
                    }
                    .into_bytes(),
                );
            }
        }
        Kind::Zset | Kind::BigZset => {
            let members = if matches!(kind, Kind::Zset) {
                n(rng, 1, 40)
            } else {
                n(rng, 200, 500)
            };
            c = vec![b"ZADD".to_vec(), k];
            for m in 0..members {
                c.push(format!("{}", rng.below(1_000_000) as f64 / 7.0).into_bytes());
                c.push(format!("member-{m}").into_bytes());
            }
        }
        Kind::Stream => {
            for _ in 0..n(rng, 1, 20) {
                cmds.push(vec![
                    b"XADD".to_vec(),
                    k.clone(),
                    b"*".to_vec(),
                    b"a".to_vec(),
                    rng.below(1000).to_string().into_bytes(),
                    b"b".to_vec(),
                    vec![b'x'; n(rng, 1, 20)],
                ]);
            }
        }
    }
    if !c.is_empty() {
        cmds.push(c);
    }
}

/// Builds a dataset of `n` keys over 3 dbs, half of them with a TTL, and
/// SAVEs it as `file`. With `Access::Idle`/`Freq` every key is re-created
/// with a chosen idle time / LFU counter (RESTORE IDLETIME/FREQ, accepted
/// under an LRU/LFU policy, which also makes SAVE write them).
fn build_dataset(
    dir: &Path,
    file: &str,
    access: Access,
    mix: &[(Kind, usize)],
    n: usize,
    rng: &mut SplitMix64,
) {
    let policy = match access {
        Access::Idle => "allkeys-lru",
        Access::Freq => "allkeys-lfu",
        Access::Unknown => "noeviction",
    };
    let srv = start(dir, file, &["--maxmemory-policy", policy]).expect("redis-server");
    let mut c = Conn::connect(srv.port);
    let now_ms = SystemTimeMs::now();
    let mut cmds = Vec::new();
    for i in 0..n {
        let key = format!("k:{}:{i}", i % 37).into_bytes();
        let db = (i % 3).to_string().into_bytes();
        cmds.push(vec![b"SELECT".to_vec(), db]);
        value_cmds(pick(mix, rng), &key, rng, &mut cmds);
        if rng.below(2) == 0 {
            let at = now_ms + 3_600_000 + rng.below(86_400_000) as i64;
            cmds.push(vec![
                b"PEXPIREAT".to_vec(),
                key.clone(),
                at.to_string().into_bytes(),
            ]);
        }
        if cmds.len() > 20_000 {
            for r in c.pipeline(&cmds) {
                assert!(!matches!(r, Reply::Err(_)), "{r:?}");
            }
            cmds.clear();
        }
    }
    for r in c.pipeline(&cmds) {
        assert!(!matches!(r, Reply::Err(_)), "{r:?}");
    }
    if access == Access::Unknown {
        assert!(matches!(c.cmd(&[b"SAVE"]), Reply::Ok(_)));
        return;
    }
    let lfu = access == Access::Freq;
    // Re-create every key with a chosen idle time / LFU counter.
    for db in 0..3 {
        c.cmd(&[b"SELECT", db.to_string().as_bytes()]);
        let keys: Vec<Vec<u8>> = match c.cmd(&[b"KEYS", b"*"]) {
            Reply::Array(a) => a.iter().map(Reply::bytes).collect(),
            r => panic!("{r:?}"),
        };
        for keys in keys.chunks(5_000) {
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
    /// The file's keys missing afterwards.
    evicted: HashSet<(u64, Vec<u8>)>,
    /// Of those, writes the server refused (restore mode).
    refused: u64,
    /// `used_memory` before `maxmemory` is lowered.
    used: u64,
    maxmemory: u64,
    /// `total_eviction_exceeded_time` (ms): the eviction's wall time.
    exceeded_ms: i64,
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
    let exceeded_ms = c.info_field("stats", "total_eviction_exceeded_time");
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    let after = all_keys(&mut c);
    RealRun {
        evicted: before.difference(&after).cloned().collect(),
        refused: 0,
        used: used_before,
        maxmemory,
        exceeded_ms,
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

/// What `rdbtool project` predicts from the file alone (memory model for
/// the Debian build's allocator): the mean evicted count over 20
/// seeds and cron phases, their min and max, the range the cron's timing spans,
/// and the first run's evicted set.
struct Projected {
    count: f64,
    /// Standard deviation of the runs' counts.
    sd: f64,
    runs: (u64, u64),
    range: (u64, u64),
    set: HashSet<(u64, Vec<u8>)>,
}

/// `evict_us` is the server's own eviction speed on this machine (µs per
/// evicted key, from `total_eviction_exceeded_time`): it places the cron
/// ticks within the eviction, and depends on the machine's load, not on
/// the file.
fn projected(
    dir: &Path,
    file: &str,
    policy: Policy,
    maxmemory: u64,
    baseline: u64,
    evict_us: f64,
) -> Projected {
    let evicted = dir.join(format!("{file}.evicted.jsonl"));
    let cmd = project_cmd(&dir.join(file), &evicted);
    let (v, runs) = project_runs(cmd, policy, maxmemory, baseline, evict_us, 20);
    let counts: Vec<f64> = runs.iter().map(|&r| r as f64).collect();
    let (count, sd) = mean_sd(&counts);
    let range = &v["evicted_range"];
    let set = jsonl_keys(&evicted);
    let _ = std::fs::remove_file(&evicted);
    Projected {
        count,
        sd,
        runs: (
            runs.iter().copied().min().unwrap_or(0),
            runs.iter().copied().max().unwrap_or(0),
        ),
        range: (range[0].as_u64().unwrap(), range[1].as_u64().unwrap()),
        set,
    }
}

/// Runs `cmd` (from [`project_cmd`]) as `--format json` with the oracle's
/// settings and `runs` runs: the JSON answer and its evicted count per run.
fn project_runs(
    mut cmd: Command,
    policy: Policy,
    maxmemory: u64,
    baseline: u64,
    evict_us: f64,
    runs: u32,
) -> (serde_json::Value, Vec<u64>) {
    cmd.args(["--maxmemory", &maxmemory.to_string()])
        .args(["--policy", policy.name(), "--allocator", "system"])
        .args(["--runs", &runs.to_string(), "--format", "json"])
        .args(["--baseline", &baseline.to_string()])
        .args(["--evict-us", &format!("{evict_us:.3}")]);
    let v: serde_json::Value = serde_json::from_slice(&run(cmd)).unwrap();
    let counts = v["evicted_per_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_u64().unwrap())
        .collect();
    (v, counts)
}

/// The rdbtool binary. The bench may point at a copy, so that rebuilding
/// during a long run does not swap it under the running table.
fn rdbtool() -> Command {
    Command::new(
        std::env::var("RDBTOOL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rdbtool").into()),
    )
}

/// `rdbtool project FILE --write-evicted EVICTED`, more arguments to add.
fn project_cmd(file: &Path, evicted: &Path) -> Command {
    let mut cmd = rdbtool();
    cmd.arg("project")
        .arg(file)
        .arg("--write-evicted")
        .arg(evicted);
    cmd
}

/// Runs a command that must succeed; its standard output.
fn run(mut cmd: Command) -> Vec<u8> {
    let out = cmd.output().expect("run rdbtool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// (db, key) of every line of a `--write-evicted` file.
fn jsonl_keys(path: &Path) -> HashSet<(u64, Vec<u8>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let key = v["key"].as_str().expect("plain keys in this dataset");
            (v["db"].as_u64().unwrap(), key.as_bytes().to_vec())
        })
        .collect()
}

fn jaccard(a: &HashSet<(u64, Vec<u8>)>, b: &HashSet<(u64, Vec<u8>)>) -> f64 {
    let inter = a.intersection(b).count() as f64;
    let union = a.union(b).count() as f64;
    if union == 0.0 { 1.0 } else { inter / union }
}

fn redis_missing() -> bool {
    let missing = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err();
    if missing {
        eprintln!("redis-server not installed: skipping (scripts/install-redis.sh installs it)");
    }
    missing
}

/// A comparison's start: its temp dir, the dataset generator from `seed`,
/// and the empty server's `used_memory`; `None` without redis-server.
fn oracle_setup(tag: &str, seed: u64) -> Option<(PathBuf, SplitMix64, u64)> {
    if redis_missing() {
        return None;
    }
    let dir = temp_dir(tag);
    let baseline = empty_baseline(&dir);
    Some((dir, SplitMix64::new(seed), baseline))
}

/// One row of the comparison: the server twice, the projection once.
struct Row {
    label: String,
    policy: Policy,
    fraction: f64,
    real: f64,
    model: f64,
    count_err: f64,
    /// The server's own run-to-run count difference (relative).
    spread: f64,
    /// Allowed count error: 2 %, or the server's own run-to-run spread when
    /// that is larger (random sampling over keys of very different sizes
    /// makes the server's count itself vary by more than 2 %); for random
    /// policies 2.2 × that spread or 3 σ of the projection's runs (see
    /// `compare`).
    tolerance: f64,
    jrr: f64,
    jpr: f64,
    /// µs per evicted key the server took (mean of its two runs).
    evict_us: f64,
    /// The projection's 20 runs: min and max.
    runs: (u64, u64),
    /// The projection's cron range: eager shrink .. no tick.
    range: (u64, u64),
    /// Both real counts inside the projection's span (its runs and the
    /// cron range).
    in_range: bool,
}

impl Row {
    const HEADER: &'static str = "| dataset | policy | frac | real evicted (run 1/2) | µs/key | projected (runs min–max) | cron range | count err | real spread | J(real,real) | J(proj,real) |\n|---|---|---|---|---|---|---|---|---|---|---|";
    fn line(&self, r1: usize, r2: usize) -> String {
        let random = matches!(self.policy, Policy::AllkeysRandom | Policy::VolatileRandom);
        format!(
            "| {} | {} | {:.1} | {}/{} | {:.2} | {:.1} ({}–{}) | {}–{}{} | {:.2}% | {:.2}% | {:.3} | {}{:.3} |",
            self.label,
            self.policy.name(),
            self.fraction,
            r1,
            r2,
            self.evict_us,
            self.model,
            self.runs.0,
            self.runs.1,
            self.range.0,
            self.range.1,
            if self.in_range { "" } else { " ✗" },
            self.count_err * 100.0,
            self.spread * 100.0,
            self.jrr,
            if random { "(random) " } else { "" },
            self.jpr
        )
    }
    /// The acceptance criteria of the projection; failures as text.
    /// `span_excuses`: a count error is not a failure when both real counts
    /// lie inside the projection's span (its runs and the cron range) —
    /// the suite's gate, because whether a cron tick falls inside the
    /// eviction depends on the machine's load (two outcomes several %
    /// apart; see formats/memory-model.md); the table reports it as a miss.
    fn failures(&self, span_excuses: bool) -> Vec<String> {
        let mut f = Vec::new();
        if self.count_err > self.tolerance && !(span_excuses && self.in_range) {
            f.push(format!(
                "{} {} at {}: count error {:.2}% (real {:.1}, projected {:.1})",
                self.label,
                self.policy.name(),
                self.fraction,
                self.count_err * 100.0,
                self.real,
                self.model
            ));
        }
        // Random policies: only the count is comparable. Both Jaccards are
        // estimates from one pair of runs: 0.02 of slack.
        let random = matches!(self.policy, Policy::AllkeysRandom | Policy::VolatileRandom);
        if !random && self.jpr + 0.02 < self.jrr {
            f.push(format!(
                "{} {} at {}: Jaccard projected/real {:.3} < real/real {:.3}",
                self.label,
                self.policy.name(),
                self.fraction,
                self.jpr,
                self.jrr
            ));
        }
        f
    }
}

/// Runs every policy/fraction case on one file; prints a table line per
/// case and returns the rows.
fn compare(
    dir: &Path,
    label: &str,
    file: &str,
    policies: &[Policy],
    fractions: &[f64],
    baseline: u64,
) -> Vec<Row> {
    let before: HashSet<_> = read_file(&dir.join(file)).keys().cloned().collect();
    let mut rows = Vec::new();
    for &policy in policies {
        for &fraction in fractions {
            let r1 = real_run(dir, file, &before, policy, fraction);
            let r2 = real_run(dir, file, &before, policy, fraction);
            let evict_us = 1000.0 * (r1.exceeded_ms + r2.exceeded_ms) as f64
                / (r1.evicted.len() + r2.evicted.len()).max(1) as f64;
            let p = projected(dir, file, policy, r1.maxmemory, baseline, evict_us);
            // The projection's span: its runs (sampling and cron phase)
            // and the cron range.
            let span = p.range.0.min(p.runs.0)..=p.range.1.max(p.runs.1);
            let in_range = [&r1, &r2]
                .iter()
                .all(|r| span.contains(&(r.evicted.len() as u64)));
            // The server's own count varies a little from run to run.
            let real = (r1.evicted.len() + r2.evicted.len()) as f64 / 2.0;
            let spread = r1.evicted.len().abs_diff(r2.evicted.len()) as f64 / real.max(1.0);
            // Under a random policy each count is a draw of a random
            // variable: with per-run deviation σ, E|r1 − r2| ≈ 1.13 σ, and
            // the mean of 2 real runs minus the mean of the projection's 20
            // runs deviates by σ·√(1/2 + 1/20) ≈ 0.66 × spread; 3 of those
            // (≈ 2 × spread, 2.2 kept) is the bound chance alone stays inside.
            // Two real runs that happen to agree understate σ: the
            // projection's 20 runs estimate it too (its spread matches the
            // server's, bench/results-evict-spread.md), and the mean of 2
            // real runs minus the mean of 20 projected ones deviates by
            // σ·√(1/2 + 1/20); 3 of those is the bound for chance.
            let random = matches!(policy, Policy::AllkeysRandom | Policy::VolatileRandom);
            let chance = if random {
                (2.2 * spread).max(3.0 * p.sd * (0.5f64 + 0.05).sqrt() / real.max(1.0))
            } else {
                spread
            };
            let row = Row {
                spread,
                tolerance: chance.max(0.02),
                label: label.to_string(),
                policy,
                fraction,
                real,
                model: p.count,
                count_err: (p.count - real).abs() / real.max(1.0),
                jrr: jaccard(&r1.evicted, &r2.evicted),
                jpr: (jaccard(&p.set, &r1.evicted) + jaccard(&p.set, &r2.evicted)) / 2.0,
                evict_us,
                runs: p.runs,
                range: p.range,
                in_range,
            };
            println!("{}", row.line(r1.evicted.len(), r2.evicted.len()));
            rows.push(row);
        }
    }
    rows
}

const POLICIES: [Policy; 5] = [
    Policy::AllkeysLru,
    Policy::VolatileLru,
    Policy::VolatileTtl,
    Policy::AllkeysLfu,
    Policy::AllkeysRandom,
];

/// The policies a file is compared under: LFU needs the FREQ file, the
/// others the IDLE file; a file without access data serves all.
fn policies_for(access: Access) -> Vec<Policy> {
    POLICIES
        .iter()
        .copied()
        .filter(|p| match access {
            Access::Idle => *p != Policy::AllkeysLfu,
            Access::Freq => *p == Policy::AllkeysLfu,
            Access::Unknown => true,
        })
        .collect()
}

/// The fast subset: 20 000 keys of every type (small encodings), files
/// with IDLE and FREQ, every policy at 50/70/90 % of the memory the data
/// needs; counts within 2 % (or the server's own spread, or both real
/// counts inside the projection's span of outcomes).
#[test]
fn projection_matches_redis_evictions() {
    let Some((dir, mut rng, baseline)) = oracle_setup("oracle", 0x5eed) else {
        return;
    };
    println!("{}", Row::HEADER);
    let mut failures = Vec::new();
    for (access, file) in [(Access::Idle, "lru.rdb"), (Access::Freq, "lfu.rdb")] {
        build_dataset(&dir, file, access, MIX_SMALL, 20_000, &mut rng);
        let rows = compare(
            &dir,
            &format!("small 20k {access:?}"),
            file,
            &policies_for(access),
            &[0.5, 0.7, 0.9],
            baseline,
        );
        for r in rows.iter().filter(|r| !r.failures(true).is_empty()) {
            // Each case is a statistical comparison (about 30 per run): one
            // that misses is measured again with two fresh real runs, and
            // fails only if it misses again. A model bias misses both
            // times; the server's cron timing under a loaded machine
            // (about one case in 200) does not repeat.
            println!("again: {} {} at {}", r.label, r.policy.name(), r.fraction);
            let again = compare(&dir, &r.label, file, &[r.policy], &[r.fraction], baseline);
            failures.extend(again.iter().flat_map(|a| a.failures(true)));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `--write-survivors`: the RDB it writes loads into redis-server and
/// holds exactly the keys the projection keeps (file keys minus the
/// `--write-evicted` list of the same run), with their TTLs.
#[test]
fn survivors_file_loads_with_the_projected_keys() {
    if redis_missing() {
        return;
    }
    let dir = temp_dir("survivors");
    let mut rng = SplitMix64::new(0x5u64);
    build_dataset(&dir, "src.rdb", Access::Idle, MIX_ALL, 5_000, &mut rng);
    let file_keys = read_file(&dir.join("src.rdb"));
    let evicted = dir.join("evicted.jsonl");
    let mut cmd = project_cmd(&dir.join("src.rdb"), &evicted);
    cmd.args([
        "--maxmemory",
        "2mb",
        "--policy",
        "allkeys-lru",
        "--runs",
        "2",
    ])
    .arg("--write-survivors")
    .arg(dir.join("kept.rdb"));
    run(cmd);
    let gone = jsonl_keys(&evicted);
    assert!(
        !gone.is_empty() && gone.len() < file_keys.len(),
        "{}",
        gone.len()
    );
    let srv = start(&dir, "kept.rdb", &[]).expect("redis-server");
    let mut c = Conn::connect(srv.port);
    let loaded = all_keys(&mut c);
    let expected: HashSet<_> = file_keys
        .keys()
        .filter(|k| !gone.contains(*k))
        .cloned()
        .collect();
    assert_eq!(loaded.len(), expected.len());
    assert!(
        loaded == expected,
        "the loaded key set differs from the projection's survivors"
    );
    // TTLs and idle times came along.
    for (k, (idle, _, exp)) in file_keys
        .iter()
        .filter(|(k, _)| expected.contains(*k))
        .take(200)
    {
        c.cmd(&[b"SELECT", k.0.to_string().as_bytes()]);
        let t = c.cmd(&[b"PEXPIRETIME", &k.1]).int();
        assert_eq!(t, exp.unwrap_or(-1), "{k:?}");
        let i = c.cmd(&[b"OBJECT", b"IDLETIME", &k.1]).int() as u64;
        assert!(i + 5 >= idle.unwrap_or(0), "{k:?}: idle {i}, file {idle:?}");
    }
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The full table (bench/evict-oracle.sh): sizes × type mixes × access
/// data × policies × fractions. `EVICT_SIZES` (comma-separated key counts,
/// default 10000,50000,200000) and `EVICT_MIXES`
/// (small,all,strings,collections) narrow it. Mixes with a heavy tail of
/// key sizes make the server's own count vary by more than 2 % between
/// runs; there the tolerance is that spread.
#[test]
#[ignore = "long: run by bench/evict-oracle.sh"]
fn projection_table() {
    if redis_missing() {
        return;
    }
    let sizes: Vec<usize> = std::env::var("EVICT_SIZES")
        .unwrap_or_else(|_| "10000,50000,200000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("EVICT_SIZES: key counts"))
        .collect();
    let mixes =
        std::env::var("EVICT_MIXES").unwrap_or_else(|_| "small,all,strings,collections".into());
    let dir = temp_dir("table");
    let mut rng = SplitMix64::new(0x7ab1e);
    let baseline = empty_baseline(&dir);
    println!("{}", Row::HEADER);
    let mut failures = Vec::new();
    for n in sizes {
        for mix_name in mixes.split(',') {
            let mix = mix_named(mix_name);
            for access in [Access::Idle, Access::Freq, Access::Unknown] {
                let file = format!("{mix_name}-{n}-{access:?}.rdb");
                build_dataset(&dir, &file, access, mix, n, &mut rng);
                let label = format!("{mix_name} {}k {access:?}", n / 1000);
                let rows = compare(
                    &dir,
                    &label,
                    &file,
                    &policies_for(access),
                    &[0.5, 0.7, 0.9],
                    baseline,
                );
                failures.extend(rows.iter().flat_map(|r| r.failures(false)));
                let _ = std::fs::remove_file(dir.join(&file));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("\nfailures: {failures:#?}");
    assert!(failures.is_empty());
}

/// Mean and standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// The mix a table label names.
fn mix_named(name: &str) -> &'static [(Kind, usize)] {
    match name {
        "small" => MIX_SMALL,
        "all" => MIX_ALL,
        "strings" => MIX_STRINGS,
        "collections" => MIX_COLLECTIONS,
        other => panic!("unknown mix {other}"),
    }
}

/// A case of `mean_study`, read back from a table row: mix, keys, access
/// data, policy, fraction.
#[derive(Debug, Clone, PartialEq)]
struct MeanCase {
    mix: String,
    keys: usize,
    access: Access,
    policy: Policy,
    fraction: f64,
}

/// A case named as the tables label it: "all 10k Unknown allkeys-lru 0.9"
/// (mix, keys, access data, policy, fraction).
fn parse_case(label: &str) -> MeanCase {
    let w: Vec<&str> = label.split_whitespace().collect();
    let access = match w[2] {
        "Idle" => Access::Idle,
        "Freq" => Access::Freq,
        _ => Access::Unknown,
    };
    MeanCase {
        mix: w[0].to_string(),
        keys: w[1].trim_end_matches('k').parse::<usize>().unwrap() * 1000,
        access,
        policy: POLICIES
            .iter()
            .copied()
            .find(|p| p.name() == w[3])
            .expect("a policy of the table"),
        fraction: w[4].parse().unwrap(),
    }
}

/// The cases a `projection_table` table misses: a count error over 2 %,
/// or (not random) a Jaccard overlap more than 0.02 under the real one.
fn missed_cases(table: &str) -> Vec<MeanCase> {
    let mut out = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| ")) {
        // "| all 10k Idle | allkeys-lru | 0.9 | ... |": 11 columns.
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(policy) = POLICIES.iter().find(|p| cols.get(2) == Some(&p.name())) else {
            continue;
        };
        let num = |c: &str| -> f64 {
            c.trim_start_matches("(random) ")
                .trim_end_matches('%')
                .parse()
                .unwrap_or(0.0)
        };
        let random = matches!(policy, Policy::AllkeysRandom | Policy::VolatileRandom);
        if num(cols[8]) > 2.0 || (!random && num(cols[11]) + 0.02 < num(cols[10])) {
            out.push(parse_case(&format!("{} {} {}", cols[1], cols[2], cols[3])));
        }
    }
    out
}

/// Mean Jaccard overlap of `set` with each of `others` (skipping index
/// `skip`, the set itself when it is one of them).
fn mean_jaccard(set: &HashSet<(u64, Vec<u8>)>, others: &[RealRun], skip: Option<usize>) -> f64 {
    let js: Vec<f64> = others
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(_, r)| jaccard(set, &r.evicted))
        .collect();
    mean_sd(&js).0
}

/// The projection against the server's mean (bench/evict-oracle.sh
/// `mean`): for every case the tables in `EVICT_TABLES` miss (default the
/// 10k/50k and 200k tables), or the cases `EVICT_CASES` names
/// (";"-separated labels as the tables print them), `EVICT_REPEAT`
/// (default 8) real evictions of a fresh file of the same kind and
/// `EVICT_PROJ_RUNS` (default 40) projection runs; `EVICT_MODE=restore`
/// measures `--mode restore` against real restores instead. Prints the
/// server's mean and run-to-run deviation, the projection's mean, the error
/// against the server's mean in % and in standard errors of the
/// difference, and the Jaccard overlaps: each real run's mean overlap with
/// the other real runs (their mean and range over the runs) against the
/// projection's first run's mean overlap with the real runs.
#[test]
#[ignore = "long: run by bench/evict-oracle.sh mean"]
fn mean_study() {
    if redis_missing() {
        return;
    }
    let repeat: usize = std::env::var("EVICT_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let proj_runs: u32 = std::env::var("EVICT_PROJ_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let tables = std::env::var("EVICT_TABLES")
        .unwrap_or_else(|_| "bench/results-evict.md,bench/results-evict-200k.md".into());
    let mut cases = Vec::new();
    if let Ok(list) = std::env::var("EVICT_CASES") {
        cases.extend(list.split(';').map(parse_case));
    } else {
        for t in tables.split(',') {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(t);
            cases.extend(missed_cases(&std::fs::read_to_string(path).unwrap()));
        }
    }
    let dir = temp_dir("mean");
    let mut rng = SplitMix64::new(0x3ea7);
    // EVICT_MODE=restore: `--mode restore` against real restores
    // (`restore_table`'s cases and measure).
    let restore = std::env::var("EVICT_MODE").is_ok_and(|m| m == "restore");
    let empty = empty_baseline(&dir);
    let baseline = if restore {
        restore_baseline(&dir)
    } else {
        empty
    };
    println!(
        "| case | server mean ± sd (n) | µs/key | projection mean ± sd ({proj_runs} runs) | error vs mean | se of the error | error / se | within 2 % of the mean | model − server used memory (of the bytes to free) | J(real,real) mean (min–max) | J(proj,real) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    // One file per mix/size/access, built when the cases move on to it.
    let mut file = String::new();
    let mut before = HashSet::new();
    for c in &cases {
        let name = format!("{}-{}-{:?}.rdb", c.mix, c.keys, c.access);
        if name != file {
            let _ = std::fs::remove_file(dir.join(&file));
            file = name;
            build_dataset(&dir, &file, c.access, mix_named(&c.mix), c.keys, &mut rng);
            before = read_file(&dir.join(&file)).keys().cloned().collect();
        }
        let file = file.as_str();
        let runs: Vec<RealRun> = if restore {
            // The loaded file's memory sets the limit; the restored server
            // also holds the histograms the restore baseline counts.
            let used = loaded_used(&dir, file);
            let maxmemory = (used as f64 * c.fraction) as u64;
            (0..repeat)
                .map(|_| {
                    let (gone, evicted) = real_restore(&dir, file, &before, c.policy, maxmemory);
                    RealRun {
                        refused: gone.len() as u64 - evicted,
                        evicted: gone,
                        used: used + baseline - empty,
                        maxmemory,
                        exceeded_ms: 0,
                    }
                })
                .collect()
        } else {
            (0..repeat)
                .map(|_| real_run(&dir, file, &before, c.policy, c.fraction))
                .collect()
        };
        let counts: Vec<f64> = runs
            .iter()
            .map(|r| (r.evicted.len() as u64 - r.refused) as f64)
            .collect();
        let (rm, rsd) = mean_sd(&counts);
        let evict_us = 1000.0 * runs.iter().map(|r| r.exceeded_ms).sum::<i64>() as f64
            / counts.iter().sum::<f64>().max(1.0);
        let evicted = dir.join("mean.evicted.jsonl");
        let mut cmd = project_cmd(&dir.join(file), &evicted);
        if restore {
            cmd.args(["--mode", "restore"]);
        }
        let (v, proj) = project_runs(
            cmd,
            c.policy,
            runs[0].maxmemory,
            baseline,
            evict_us,
            proj_runs,
        );
        // The modelled memory before eviction against the server's (all
        // runs load the same file): an offset moves the count by its
        // share of the bytes to free.
        let used = runs.iter().map(|r| r.used as f64).sum::<f64>() / runs.len() as f64;
        let level = v["needed"].as_f64().unwrap() - used;
        let to_free = used - runs[0].maxmemory as f64;
        let proj: Vec<f64> = proj.into_iter().map(|c| c as f64).collect();
        let (pm, psd) = mean_sd(&proj);
        let se = (rsd * rsd / counts.len() as f64 + psd * psd / proj.len() as f64).sqrt();
        let err = (pm - rm) / rm.max(1.0);
        // A miss is a bias when the error exceeds 2 standard errors; under
        // that it is as likely the server's own run-to-run variance.
        let verdict = if err.abs() <= 0.02 {
            "yes"
        } else if (pm - rm).abs() > 2.0 * se {
            "no: bias"
        } else {
            "no: within noise"
        };
        let random = matches!(c.policy, Policy::AllkeysRandom | Policy::VolatileRandom);
        let jaccards = if random {
            "(random) | (random)".to_string()
        } else {
            let per_run: Vec<f64> = runs
                .iter()
                .enumerate()
                .map(|(i, r)| mean_jaccard(&r.evicted, &runs, Some(i)))
                .collect();
            let lo = per_run.iter().copied().fold(f64::MAX, f64::min);
            let hi = per_run.iter().copied().fold(f64::MIN, f64::max);
            let jp = mean_jaccard(&jsonl_keys(&evicted), &runs, None);
            format!("{:.3} ({lo:.3}–{hi:.3}) | {jp:.3}", mean_sd(&per_run).0)
        };
        println!(
            "| {} {}k {:?} {} {} | {rm:.1} ± {rsd:.1} ({:.1} %, n={}) | {evict_us:.2} | {pm:.1} ± {psd:.1} | {:+.2}% | {:.2}% | {:+.1} | {} | {level:+.0} B ({:+.2}%) | {jaccards} |",
            c.mix,
            c.keys / 1000,
            c.access,
            c.policy.name(),
            c.fraction,
            rsd / rm.max(1.0) * 100.0,
            counts.len(),
            err * 100.0,
            se / rm.max(1.0) * 100.0,
            (pm - rm) / se.max(1e-9),
            verdict,
            level / to_free.max(1.0) * 100.0,
        );
        let _ = std::fs::remove_file(&evicted);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `used_memory` of a fresh server that loaded `file`, with one warmed-up
/// client (as [`real_run`] measures it).
fn loaded_used(dir: &Path, file: &str) -> u64 {
    let srv = start(dir, file, &[]).expect("redis-server");
    drop(Conn::connect(srv.port));
    let mut c = Conn::connect(srv.port);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    c.info_field("memory", "used_memory");
    c.info_field("memory", "used_memory") as u64
}

/// The baseline of `--mode restore` against a fresh server: an empty
/// server's `used_memory` after one `SELECT` and one `RESTORE`. Redis 7.0
/// allocates a command's latency histogram (`latency-tracking`, on by
/// default: 24 688 B) the first time the command runs, so a fresh server
/// that takes a restore holds two more than [`empty_baseline`] counts.
fn restore_baseline(dir: &Path) -> u64 {
    let srv = start(dir, "none.rdb", &[]).expect("redis-server");
    let mut c = Conn::connect(srv.port);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    c.cmd(&[b"SELECT", b"0"]);
    // An invalid payload: the command runs (and gets its histogram), no
    // key is added.
    let r = c.cmd(&[b"RESTORE", b"probe", b"0", b"not a payload"]);
    assert!(matches!(r, Reply::Err(_)), "{r:?}");
    c.info_field("memory", "used_memory");
    c.info_field("memory", "used_memory") as u64
}

/// One real restore: an empty server at `maxmemory` under `policy` takes
/// the file's keys from `rdbtool restore` (RESTORE in file order, with the
/// file's IDLETIME/FREQ, one command in flight: a deep pipeline's query
/// buffer is memory too). The file's keys missing afterwards, and the
/// server's `evicted_keys` (the rest were refused writes).
fn real_restore(
    dir: &Path,
    file: &str,
    before: &HashSet<(u64, Vec<u8>)>,
    policy: Policy,
    maxmemory: u64,
) -> (HashSet<(u64, Vec<u8>)>, u64) {
    let srv =
        start(dir, "absent.rdb", &["--maxmemory-policy", policy.name()]).expect("redis-server");
    {
        drop(Conn::connect(srv.port));
        let mut c = Conn::connect(srv.port);
        let m = maxmemory.to_string();
        c.cmd(&[b"CONFIG", b"SET", b"maxmemory", m.as_bytes()]);
    }
    // Refused writes make the restore report failures: its status is not
    // the measure, the keys the server holds are.
    let _ = rdbtool()
        .arg("restore")
        .arg(dir.join(file))
        .arg(format!("redis://127.0.0.1:{}", srv.port))
        .args(["--pipeline", "1"])
        .output()
        .expect("run rdbtool restore");
    let mut c = Conn::connect(srv.port);
    let evicted = c.info_field("stats", "evicted_keys") as u64;
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    let after = all_keys(&mut c);
    (before.difference(&after).cloned().collect(), evicted)
}

/// `--mode restore` against the server (bench/evict-oracle.sh `restore`):
/// 10k-key files of the `small` and `all` mixes (IDLE, FREQ, none), every
/// policy at 50/70/90 % of the memory the loaded file needs; two real
/// restores per case against 20 projection runs (baseline:
/// [`restore_baseline`]). Prints evicted counts,
/// refused writes and the Jaccard overlap of the missing keys (evicted or
/// refused).
#[test]
#[ignore = "long: run by bench/evict-oracle.sh restore"]
fn restore_table() {
    let Some((dir, mut rng, _)) = oracle_setup("restore", 0x7e5707e) else {
        return;
    };
    let baseline = restore_baseline(&dir);
    println!(
        "| dataset | policy | frac | real evicted (run 1/2) | real refused | projected evicted (runs min–max) | projected refused | count err | real spread | J(real,real) | J(proj,real) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for mix_name in ["small", "all"] {
        for access in [Access::Idle, Access::Freq, Access::Unknown] {
            let file = format!("{mix_name}-10000-{access:?}.rdb");
            build_dataset(&dir, &file, access, mix_named(mix_name), 10_000, &mut rng);
            let before: HashSet<_> = read_file(&dir.join(&file)).keys().cloned().collect();
            let used = loaded_used(&dir, &file);
            for policy in policies_for(access) {
                for fraction in [0.5, 0.7, 0.9] {
                    let maxmemory = (used as f64 * fraction) as u64;
                    let r: Vec<_> = (0..2)
                        .map(|_| real_restore(&dir, &file, &before, policy, maxmemory))
                        .collect();
                    let evicted = dir.join("restore.evicted.jsonl");
                    let mut cmd = project_cmd(&dir.join(&file), &evicted);
                    cmd.args(["--mode", "restore"]);
                    let (v, runs) = project_runs(cmd, policy, maxmemory, baseline, 0.0, 20);
                    let counts: Vec<f64> = runs.iter().map(|&c| c as f64).collect();
                    let (pm, _) = mean_sd(&counts);
                    let real = (r[0].1 + r[1].1) as f64 / 2.0;
                    let refused = |i: usize| r[i].0.len() as u64 - r[i].1;
                    let p_refused = v["refused_keys"].as_u64().unwrap();
                    let random = matches!(policy, Policy::AllkeysRandom | Policy::VolatileRandom);
                    // Refused writes are not in the evicted list: overlap
                    // only where nothing was refused.
                    let refusals = refused(0) + refused(1) + p_refused > 0;
                    let jaccards = if random {
                        "(random) | (random)".to_string()
                    } else if refusals {
                        "(refusals) | (refusals)".to_string()
                    } else {
                        let set = jsonl_keys(&evicted);
                        format!(
                            "{:.3} | {:.3}",
                            jaccard(&r[0].0, &r[1].0),
                            (jaccard(&set, &r[0].0) + jaccard(&set, &r[1].0)) / 2.0
                        )
                    };
                    println!(
                        "| {mix_name} 10k {access:?} | {} | {fraction} | {}/{} | {}/{} | {pm:.1} ({}–{}) | {p_refused} | {:.2}% | {:.2}% | {jaccards} |",
                        policy.name(),
                        r[0].1,
                        r[1].1,
                        refused(0),
                        refused(1),
                        runs.iter().min().unwrap(),
                        runs.iter().max().unwrap(),
                        (pm - real).abs() / real.max(1.0) * 100.0,
                        r[0].1.abs_diff(r[1].1) as f64 / real.max(1.0) * 100.0,
                    );
                    let _ = std::fs::remove_file(&evicted);
                }
            }
            let _ = std::fs::remove_file(dir.join(&file));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
