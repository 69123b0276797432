//! `examples/mini_server.rs` against a real redis-server 7.0: the same
//! random commands go to both; every reply must match, and the AOF
//! directory and `dump.rdb` the mini server writes (through
//! `rdbtool::persist`, with rewrites, saves and restarts along the way) must
//! load into a fresh redis-server with the reference's `DEBUG DIGEST`.

#[path = "common/persist_redis.rs"]
mod persist_redis;

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use persist_redis::{Client, Reply, Rng, Server, TempDir, encode, mini_server_bin, read_reply};

/// A running mini_server, talked to over its stdin/stdout.
struct Mini {
    child: Child,
    w: ChildStdin,
    r: BufReader<ChildStdout>,
}

impl Mini {
    fn start(dir: &Path, args: &[&str]) -> Mini {
        let mut child = Command::new(mini_server_bin())
            .arg("--dir")
            .arg(dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its log (recoveries, rewrites, saves) goes next to its files.
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.with_extension("log"))
                    .expect("mini_server log"),
            )
            .spawn()
            .expect("spawn mini_server");
        let w = child.stdin.take().expect("stdin");
        let r = BufReader::new(child.stdout.take().expect("stdout"));
        Mini { child, w, r }
    }

    fn cmd(&mut self, argv: &[&[u8]]) -> Reply {
        let mut b = Vec::new();
        encode(argv, &mut b);
        self.w.write_all(&b).expect("write to mini_server");
        read_reply(&mut self.r).expect("mini_server reply")
    }

    /// Clean shutdown: end of input, exit status 0.
    fn stop(self) {
        let Mini { mut child, w, r } = self;
        drop(w);
        drop(r);
        let st = child.wait().expect("wait");
        assert!(st.success(), "mini_server exited with {st} (see its .log)");
    }
}

/// Replies are equal; for errors only the error code (first word) counts.
fn same(a: &Reply, b: &Reply) -> bool {
    match (a, b) {
        (Reply::Error(x), Reply::Error(y)) => {
            x.split(|&c| c == b' ').next() == y.split(|&c| c == b' ').next()
        }
        (Reply::Array(Some(x)), Reply::Array(Some(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// One random command (several for a transaction).
fn random_commands(rng: &mut Rng, far_future_ms: i64) -> Vec<Vec<Vec<u8>>> {
    let key = |rng: &mut Rng, p: &str| -> Vec<u8> {
        let mut k = format!("{p}{}", rng.below(12)).into_bytes();
        if rng.below(10) == 0 {
            // Binary-safe keys: NUL, CR LF, high bytes.
            k.extend_from_slice(b"\x00\r\n\xff");
        }
        k
    };
    let val = |rng: &mut Rng| -> Vec<u8> {
        match rng.below(6) {
            0 => rng.below(1000).to_string().into_bytes(),
            1 => (rng.next() as i64).to_string().into_bytes(),
            // Long enough for LZF and for hashtable/quicklist encodings.
            2 => vec![b'a' + rng.below(26) as u8; 30 + rng.below(200) as usize],
            3 => (0..rng.below(8)).map(|_| rng.below(256) as u8).collect(),
            _ => format!("v{}", rng.below(100_000)).into_bytes(),
        }
    };
    let one = |rng: &mut Rng| -> Vec<Vec<u8>> {
        let c = |s: &str| s.as_bytes().to_vec();
        match rng.below(20) {
            0..=2 => vec![c("SET"), key(rng, "s"), val(rng)],
            3 => vec![c("APPEND"), key(rng, "s"), val(rng)],
            4 => vec![c("INCR"), key(rng, "n")],
            5 => vec![
                c("INCRBY"),
                key(rng, "n"),
                (rng.below(2000) as i64 - 1000).to_string().into_bytes(),
            ],
            6 => vec![c("DEL"), key(rng, "s"), key(rng, "l")],
            7..=8 => {
                let mut v = vec![c("HSET"), key(rng, "h")];
                for _ in 0..1 + rng.below(4) {
                    v.push(format!("f{}", rng.below(200)).into_bytes());
                    v.push(val(rng));
                }
                v
            }
            9 => vec![
                c("HDEL"),
                key(rng, "h"),
                format!("f{}", rng.below(200)).into_bytes(),
            ],
            10..=12 => {
                let mut v = vec![
                    c(if rng.below(2) == 0 { "LPUSH" } else { "RPUSH" }),
                    key(rng, "l"),
                ];
                for _ in 0..1 + rng.below(20) {
                    v.push(val(rng));
                }
                v
            }
            13 => vec![
                c(if rng.below(2) == 0 { "LPOP" } else { "RPOP" }),
                key(rng, "l"),
            ],
            14 => {
                let prefix = ["s", "h", "l", "n"][rng.below(4) as usize];
                vec![
                    c("PEXPIREAT"),
                    key(rng, prefix),
                    (far_future_ms + rng.below(1_000_000) as i64)
                        .to_string()
                        .into_bytes(),
                ]
            }
            15 => vec![c("SELECT"), rng.below(4).to_string().into_bytes()],
            16 => vec![c("GET"), key(rng, "s")],
            // Wrong type on purpose: errors are not logged.
            17 => vec![c("LPUSH"), key(rng, "s"), val(rng)],
            _ => vec![
                c("HGET"),
                key(rng, "h"),
                format!("f{}", rng.below(200)).into_bytes(),
            ],
        }
    };
    if rng.below(15) == 0 {
        let mut v = vec![vec![b"MULTI".to_vec()]];
        for _ in 0..1 + rng.below(4) {
            let c = one(rng);
            if c[0] != b"SELECT" {
                v.push(c);
            }
        }
        v.push(vec![b"EXEC".to_vec()]);
        v
    } else {
        vec![one(rng)]
    }
}

fn run_against_reference(fsync: &str, extra: &[&str], n: usize) {
    let mut rng = Rng::seeded(&format!("persist_server/{fsync}"));
    let t = TempDir::new(&format!("digest-{fsync}"));
    let refdir = t.path().join("ref");
    let minidir = t.path().join("mini");
    std::fs::create_dir_all(&refdir).unwrap();
    let reference = Server::start(&refdir, &[]).expect("reference redis-server");
    let mut rc: Client = reference.client();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let far = now_ms + 30 * 86_400_000;
    let mut args = vec![
        "--fsync",
        fsync,
        "--rewrite-every",
        "150",
        "--save-every",
        "400",
    ];
    args.extend_from_slice(extra);
    let mut mini = Mini::start(&minidir, &args);
    let mut db = 0;
    for i in 0..n {
        if i == n / 2 {
            // Restart from the files mid-way: the client's db is reset.
            mini.stop();
            mini = Mini::start(&minidir, &args);
            if db != 0 {
                mini.cmd(&[b"SELECT", db.to_string().as_bytes()]);
            }
        }
        for c in random_commands(&mut rng, far) {
            let argv: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            let want = rc.cmd(&argv).expect("reference");
            let got = mini.cmd(&argv);
            assert!(
                same(&want, &got),
                "command {i} {:?}: redis {want:?}, mini_server {got:?}",
                argv.iter()
                    .map(|a| a.escape_ascii().to_string())
                    .collect::<Vec<_>>()
            );
            if argv[0] == b"SELECT" && matches!(got, Reply::Status(_)) {
                db = std::str::from_utf8(argv[1]).unwrap().parse().unwrap();
            }
        }
    }
    assert_eq!(mini.cmd(&[b"SAVE"]), Reply::Status(b"OK".to_vec()));
    mini.stop();
    let want = reference.digest();
    assert_ne!(want, "0".repeat(40), "the reference holds data");

    // The AOF directory, loaded by redis-server (on a copy: the server
    // rewrites the manifest).
    let aofcopy = t.path().join("aofcopy");
    persist_redis::copy_dir(
        &minidir.join("appendonlydir"),
        &aofcopy.join("appendonlydir"),
    );
    let s = Server::start(&aofcopy, &["--appendonly", "yes"]).expect("redis loads the AOF dir");
    assert_eq!(s.digest(), want, "AOF directory digest");
    drop(s);

    // The last SAVE, loaded as dump.rdb.
    let rdbdir = t.path().join("rdbcopy");
    std::fs::create_dir_all(&rdbdir).unwrap();
    std::fs::copy(minidir.join("dump.rdb"), rdbdir.join("dump.rdb")).unwrap();
    let s = Server::start(&rdbdir, &[]).expect("redis loads dump.rdb");
    assert_eq!(s.digest(), want, "dump.rdb digest");
}

#[test]
fn mini_server_files_load_in_redis_with_the_same_digest_everysec() {
    run_against_reference("everysec", &["--timestamps"], 2500);
}

#[test]
fn mini_server_files_load_in_redis_with_the_same_digest_always() {
    run_against_reference("always", &[], 800);
}

#[test]
fn mini_server_files_load_in_redis_with_the_same_digest_no() {
    run_against_reference("no", &["--rdb-version", "9"], 800);
}
