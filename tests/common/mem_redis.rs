//! A small RESP2 client and a redis-server launcher for the memory-model
//! and report tests: each server runs on 127.0.0.1, on a free port, in its
//! own temporary directory, and is killed when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:1`
    Int(i64),
    /// `$n` bulk string (`None` = nil).
    Bulk(Option<Vec<u8>>),
    /// `*n` array (`None` = nil).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The integer of an integer reply.
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(v) => *v,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }
    /// The bytes of a bulk or simple reply.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b.clone(),
            Reply::Simple(s) => s.as_bytes().to_vec(),
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }
    /// The text of a bulk or simple reply.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
    /// The items of an array reply.
    pub fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(a)) => a.clone(),
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
}

/// A connection.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Sends one command and reads its reply (errors are replies).
    pub fn call(&mut self, args: &[&[u8]]) -> Reply {
        self.try_call(args).expect("talk to redis")
    }

    /// `call`, with a failed connection as an error instead of a panic.
    pub fn try_call(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut buf = Vec::new();
        Self::encode(&mut buf, args);
        self.w.write_all(&buf)?;
        self.read_reply()
    }

    /// Like `call`, with string arguments; panics on an error reply.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let r = self.call(&a);
        if let Reply::Error(e) = &r {
            panic!("{args:?}: {e}");
        }
        r
    }

    /// Sends all commands, then reads all replies (one round trip).
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        let mut out = Vec::new();
        for chunk in cmds.chunks(1000) {
            let mut buf = Vec::new();
            for c in chunk {
                let a: Vec<&[u8]> = c.iter().map(|x| x.as_slice()).collect();
                Self::encode(&mut buf, &a);
            }
            self.w.write_all(&buf).expect("write to redis");
            for _ in chunk {
                out.push(self.read_reply().expect("read from redis"));
            }
        }
        out
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut l = String::new();
        self.r.read_line(&mut l)?;
        if l.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(l.trim_end_matches("\r\n").to_string())
    }

    fn read_reply(&mut self) -> std::io::Result<Reply> {
        let l = self.line()?;
        let (t, rest) = l.split_at(1);
        let num = || rest.parse::<i64>().unwrap_or(-1);
        Ok(match t {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(num()),
            "$" => {
                let n = num();
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Reply::Bulk(Some(b))
                }
            }
            "*" => {
                let n = num();
                if n < 0 {
                    Reply::Array(None)
                } else {
                    let mut v = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        v.push(self.read_reply()?);
                    }
                    Reply::Array(Some(v))
                }
            }
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad RESP line {l:?}"),
                ));
            }
        })
    }
}

/// The redis-server 7.0 binary (Debian's package, on PATH).
pub fn redis70() -> PathBuf {
    PathBuf::from("redis-server")
}

/// The redis-server 8.2 binary installed by scripts/install-redis.sh.
pub fn redis82() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/redis82/redis-server");
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-redis.sh",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh temporary directory for one server.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "rdbtool-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// A running server; killed (and its directory removed) on drop.
pub struct Server {
    child: Child,
    /// Its port.
    pub port: u16,
    /// Its working directory (holds `dump.rdb`).
    pub dir: PathBuf,
    /// A connection.
    pub c: Client,
}

impl Server {
    /// Starts `binary` in `dir` (loading `dir/dump.rdb` when present) with
    /// extra `--flag value` arguments; waits until it finished loading.
    // The child is waited for in `Drop` (and on the timeout path).
    #[allow(clippy::zombie_processes)]
    pub fn start(binary: &Path, dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(binary);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir.to_str().expect("utf-8 temp dir")])
            .args([
                "--dbfilename",
                "dump.rdb",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--logfile", "server.log", "--enable-debug-command", "yes"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {}: {e}", binary.display());
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // A server still starting may reset the first connection (seen
            // under load): not up yet, as a refused connection is.
            if let Ok(mut c) = Client::connect(port)
                && let Ok(Reply::Bulk(Some(info))) = c.try_call(&[b"INFO", b"persistence"])
                && !String::from_utf8_lossy(&info).contains("loading:1")
            {
                return Server {
                    child,
                    port,
                    dir: dir.to_path_buf(),
                    c,
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("redis-server did not come up:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// `SAVE`s and returns the path of the written file.
    pub fn save(&mut self) -> PathBuf {
        assert_eq!(self.c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
        self.dir.join("dump.rdb")
    }

    /// Every key of the current db (SCAN).
    pub fn keys(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = b"0".to_vec();
        loop {
            let r = self.c.call(&[b"SCAN", &cursor, b"COUNT", b"1000"]).array();
            cursor = r[0].bytes();
            out.extend(r[1].array().iter().map(|k| k.bytes()));
            if cursor == b"0" {
                return out;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A small deterministic PRNG (splitmix64) so test data is reproducible.
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Random printable bytes of length `n` (compressible when `rep`).
    pub fn text(&mut self, n: usize, rep: bool) -> Vec<u8> {
        if rep {
            let c = b'a' + (self.next() % 26) as u8;
            return vec![c; n];
        }
        (0..n).map(|_| b'!' + (self.next() % 90) as u8).collect()
    }
}
