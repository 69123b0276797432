//! Test support for the writer tests: starts redis-server on 127.0.0.1 (a
//! free port, a temp dir, killed on drop), talks RESP with rdbtool's own
//! client, and fills a server with random data of every type and encoding.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdbtool::restore::client::{Client, Reply, Url};

/// Redis 7.0 from PATH.
pub fn redis70() -> Option<PathBuf> {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| PathBuf::from("redis-server"))
}

/// Redis 8.2 installed by scripts/install-redis.sh (if present).
pub fn redis82() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/redis82/redis-server");
    p.exists().then_some(p)
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `rdbtool-writer-<tag>-<pid>-<n>` under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "rdbtool-writer-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `bin` in a new temp dir. If `rdb` is given it is copied in as
    /// `dump.rdb` and loaded. `extra` are more `--name value` settings.
    pub fn start(bin: &Path, rdb: Option<&Path>, extra: &[&str]) -> Server {
        Self::start_in(bin, TempDir::new("srv"), rdb, extra)
    }

    /// As [`start`], with an AOF setup already placed in `dir`.
    pub fn start_in(bin: &Path, dir: TempDir, rdb: Option<&Path>, extra: &[&str]) -> Server {
        if let Some(r) = rdb {
            std::fs::copy(r, dir.path().join("dump.rdb")).unwrap();
        }
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .args([
                "--dbfilename",
                "dump.rdb",
                "--save",
                "",
                "--daemonize",
                "no",
            ])
            .args(["--enable-debug-command", "yes"])
            .arg("--logfile")
            .arg(dir.path().join("log"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("start redis-server");
        let mut s = Server { child, port, dir };
        let t0 = Instant::now();
        loop {
            if let Ok(mut c) = s.try_client()
                && let Ok(r) = c.call(&[b"PING"])
                && r.error().is_none()
            {
                break;
            }
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("redis-server exited ({st}): {}", s.log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "server did not start: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn try_client(&self) -> rdbtool::Result<Client> {
        Client::connect(&Url::parse(&self.url())?)
    }

    pub fn client(&self) -> Client {
        self.try_client().unwrap()
    }

    /// DEBUG DIGEST of the whole dataset.
    pub fn digest(&self) -> String {
        let r = self.client().call(&[b"DEBUG", b"DIGEST"]).unwrap();
        String::from_utf8(r.bytes().expect("digest").to_vec()).unwrap()
    }

    /// SAVE, returning the dump path.
    pub fn save(&self) -> PathBuf {
        let r = self.client().call(&[b"SAVE"]).unwrap();
        assert!(r.error().is_none(), "{r:?}");
        self.dir.path().join("dump.rdb")
    }

    /// Total keys over every db.
    pub fn key_count(&self) -> i64 {
        let mut c = self.client();
        let mut n = 0;
        for db in 0..16 {
            c.call(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
            if let Reply::Int(k) = c.call(&[b"DBSIZE"]).unwrap() {
                n += k;
            }
        }
        n
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Random bytes: text, binary, integers, compressible runs.
    pub fn value(&mut self, max: usize) -> Vec<u8> {
        match self.below(6) {
            0 => (self.next() as i64 >> self.below(60))
                .to_string()
                .into_bytes(),
            1 => (0..self.below(max as u64) as usize)
                .map(|_| self.next() as u8)
                .collect(),
            2 => {
                let c = b'a' + self.below(26) as u8;
                vec![c; self.below(max as u64) as usize + 1]
            }
            3 => self.below(1000).to_string().into_bytes(),
            _ => (0..self.below(max as u64) as usize)
                .map(|_| b'a' + self.below(26) as u8)
                .collect(),
        }
    }
}

/// What the random data may contain.
#[derive(Clone, Copy)]
pub struct Features {
    /// Streams (RDB 9+).
    pub streams: bool,
    /// Function libraries (RDB 10+).
    pub functions: bool,
    /// Hash field TTLs (Redis 7.4+ servers).
    pub field_ttl: bool,
}

/// Runs a command that must succeed; returns its reply.
pub fn ok(c: &mut Client, argv: &[&[u8]]) -> Reply {
    let r = c.call(argv).unwrap();
    assert!(
        r.error().is_none(),
        "{:?}: {r:?}",
        argv.iter()
            .map(|a| String::from_utf8_lossy(a))
            .collect::<Vec<_>>()
    );
    r
}

const FAR_MS: i64 = 4_102_444_800_000;

/// Fills `s` with random keys of every type and encoding in dbs 0, 1, 5.
pub fn populate(s: &Server, seed: u64, f: Features) {
    let mut r = Rng::new(seed);
    let mut c = s.client();
    for db in [0u64, 1, 5] {
        ok(&mut c, &[b"SELECT", db.to_string().as_bytes()]);
        for i in 0..40 {
            let k = format!("str:{db}:{i}").into_bytes();
            let v = match i % 5 {
                0 => r.value(30),
                1 => r.value(3000),
                2 => vec![b'x'; 100 + r.below(10000) as usize],
                3 => (r.next() as i64).to_string().into_bytes(),
                _ => Vec::new(),
            };
            ok(&mut c, &[b"SET", &k, &v]);
            if i % 7 == 0 {
                let t = (FAR_MS + r.below(1_000_000) as i64).to_string();
                ok(&mut c, &[b"PEXPIREAT", &k, t.as_bytes()]);
            }
        }
        for i in 0..12 {
            let k = format!("list:{db}:{i}").into_bytes();
            let n = [1, 5, 100, 700, 3000][i % 5];
            let mut args: Vec<Vec<u8>> = Vec::new();
            for _ in 0..n {
                args.push(if i % 6 == 5 {
                    vec![b'L'; 9000]
                } else {
                    r.value(80)
                });
            }
            for chunk in args.chunks(200) {
                let mut argv: Vec<&[u8]> = vec![b"RPUSH", &k];
                argv.extend(chunk.iter().map(|a| a.as_slice()));
                ok(&mut c, &argv);
            }
        }
        for i in 0..12 {
            let k = format!("set:{db}:{i}").into_bytes();
            let n = [3, 50, 600, 100, 1000][i % 5];
            let ints = i % 2 == 0;
            let members: Vec<Vec<u8>> = (0..n)
                .map(|j| {
                    if ints {
                        ((r.next() as i64) >> r.below(63)).to_string().into_bytes()
                    } else {
                        let mut m = r.value(if i % 3 == 0 { 100 } else { 20 });
                        m.extend_from_slice(format!(":{j}").as_bytes());
                        m
                    }
                })
                .collect();
            for chunk in members.chunks(200) {
                let mut argv: Vec<&[u8]> = vec![b"SADD", &k];
                argv.extend(chunk.iter().map(|a| a.as_slice()));
                ok(&mut c, &argv);
            }
        }
        for i in 0..12 {
            let k = format!("zset:{db}:{i}").into_bytes();
            let n = [2, 20, 127, 129, 400][i % 5];
            for j in 0..n {
                let score = match r.below(8) {
                    0 => "inf".to_string(),
                    1 => "-inf".to_string(),
                    2 => "-0".to_string(),
                    3 => (r.below(1000) as i64 - 500).to_string(),
                    4 => format!("{}", (r.next() as f64) / 3.0e15),
                    _ => format!("{}", (r.below(100000) as f64) / 7.0),
                };
                let mut m = r.value(if i % 4 == 3 { 90 } else { 30 });
                m.extend_from_slice(format!("#{j}").as_bytes());
                ok(&mut c, &[b"ZADD", &k, score.as_bytes(), &m]);
            }
        }
        for i in 0..12 {
            let k = format!("hash:{db}:{i}").into_bytes();
            let n = [1, 10, 128, 129, 500][i % 5];
            let mut fields = Vec::new();
            for j in 0..n {
                let mut fl = r.value(20);
                fl.extend_from_slice(format!("~{j}").as_bytes());
                let v = r.value(if i % 3 == 2 { 200 } else { 40 });
                ok(&mut c, &[b"HSET", &k, &fl, &v]);
                fields.push(fl);
            }
            if f.field_ttl && i % 2 == 0 {
                for fl in fields.iter().step_by(3) {
                    let t = (FAR_MS + r.below(1000) as i64 * 1000).to_string();
                    ok(
                        &mut c,
                        &[b"HPEXPIREAT", &k, t.as_bytes(), b"FIELDS", b"1", fl],
                    );
                }
            }
            if i % 4 == 1 {
                ok(
                    &mut c,
                    &[b"PEXPIREAT", &k, (FAR_MS + 5).to_string().as_bytes()],
                );
            }
        }
        if f.streams {
            populate_streams(&mut c, &mut r, db);
        }
    }
    if f.functions {
        let lib =
            b"#!lua name=wlib\nredis.register_function('wf', function(keys, args) return 1 end)";
        ok(&mut c, &[b"FUNCTION", b"LOAD", lib]);
    }
}

fn populate_streams(c: &mut Client, r: &mut Rng, db: u64) {
    for i in 0..4 {
        let k = format!("stream:{db}:{i}").into_bytes();
        let n = [3, 150, 40, 1][i];
        let mut ids = Vec::new();
        for j in 0..n {
            let same = j % 3 != 0;
            let f1 = if same { b"temp".to_vec() } else { r.value(10) };
            let v1 = r.value(60);
            let reply = c
                .call(&[
                    b"XADD",
                    &k,
                    b"*",
                    &f1,
                    &v1,
                    b"other",
                    j.to_string().as_bytes(),
                ])
                .unwrap();
            ids.push(reply.bytes().unwrap().to_vec());
        }
        for id in ids.iter().step_by(7).skip(1) {
            ok(c, &[b"XDEL", &k, id]);
        }
        if i != 1 {
            ok(c, &[b"XGROUP", b"CREATE", &k, b"g1", b"0"]);
            ok(c, &[b"XGROUP", b"CREATE", &k, b"g2", b"$"]);
            c.call(&[
                b"XREADGROUP",
                b"GROUP",
                b"g1",
                b"alice",
                b"COUNT",
                b"5",
                b"STREAMS",
                &k,
                b">",
            ])
            .unwrap();
            c.call(&[
                b"XREADGROUP",
                b"GROUP",
                b"g1",
                b"bob",
                b"COUNT",
                b"3",
                b"STREAMS",
                &k,
                b">",
            ])
            .unwrap();
            ok(c, &[b"XGROUP", b"CREATECONSUMER", &k, b"g2", b"carol"]);
            if let Some(id) = ids.first() {
                c.call(&[b"XACK", &k, b"g1", id]).unwrap();
            }
        }
    }
    // An empty stream with a group and a last ID.
    let k = format!("stream:{db}:empty").into_bytes();
    ok(c, &[b"XADD", &k, b"5-1", b"a", b"b"]);
    ok(c, &[b"XDEL", &k, b"5-1"]);
    ok(c, &[b"XGROUP", b"CREATE", &k, b"g", b"$"]);
}

/// Runs the rdbtool binary; panics with its stderr on failure.
pub fn rdbtool(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "rdbtool {args:?} failed: {err}");
    err
}

/// Runs the rdbtool binary, returning (exit code, stderr).
pub fn rdbtool_status(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every (db, key) of the server, sorted.
pub fn all_keys(s: &Server) -> Vec<(u64, Vec<u8>)> {
    let mut c = s.client();
    let mut out = Vec::new();
    for db in 0..16u64 {
        c.call(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
        if let Reply::Array(Some(ks)) = c.call(&[b"KEYS", b"*"]).unwrap() {
            out.extend(ks.iter().map(|k| (db, k.bytes().unwrap().to_vec())));
        }
    }
    out.sort();
    out
}

/// Path as &str.
pub fn p(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Keys that differ between two servers (missing, value digest, TTL), for
/// assertion messages: at most 20 lines.
pub fn diff_keys(a: &Server, b: &Server) -> String {
    let (ka, kb) = (all_keys(a), all_keys(b));
    let mut out = Vec::new();
    let (mut ca, mut cb) = (a.client(), b.client());
    for (db, k) in &ka {
        if !kb.contains(&(*db, k.clone())) {
            out.push(format!("db {db} {:?}: missing", String::from_utf8_lossy(k)));
            continue;
        }
        let probe = |c: &mut Client| {
            c.call(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
            let d = c.call(&[b"DEBUG", b"DIGEST-VALUE", k]).unwrap();
            let t = c.call(&[b"PEXPIRETIME", k]).unwrap();
            (d, t)
        };
        let (x, y) = (probe(&mut ca), probe(&mut cb));
        if x != y {
            out.push(format!(
                "db {db} {:?}: {x:?} vs {y:?}",
                String::from_utf8_lossy(k)
            ));
        }
    }
    for (db, k) in &kb {
        if !ka.contains(&(*db, k.clone())) {
            out.push(format!("db {db} {:?}: extra", String::from_utf8_lossy(k)));
        }
    }
    out.truncate(20);
    out.join("\n")
}

/// Asserts equal DEBUG DIGEST, naming differing keys when not.
pub fn assert_same(want: &Server, got: &Server, what: &str) {
    let (a, b) = (want.digest(), got.digest());
    if a != b {
        panic!("{what}: digest {b} != {a}\n{}", diff_keys(want, got));
    }
}

/// Makes a CA (`ca.pem`) and a server certificate for IP 127.0.0.1
/// (`srv.pem`, `srv.key`) in `dir` with openssl; false when it cannot.
pub fn make_certs(dir: &Path) -> bool {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").is_ok()
        && run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rdbtool-test-ca",
        ])
        && run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ])
        && run(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ])
}
