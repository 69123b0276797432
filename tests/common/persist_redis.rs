//! Test helpers for the persistence tests: a redis-server started on
//! 127.0.0.1 (free port, own directory), a small RESP client, temp
//! directories, a seeded RNG and the path of the `mini_server` example.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bytes of a bulk or status reply.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) | Reply::Status(b) => Some(b),
            _ => None,
        }
    }
    /// The items of an array reply.
    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(v)) => v,
            _ => &[],
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one reply.
pub fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let body = line
        .strip_suffix(b"\r\n")
        .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    let (&t, rest) = body.split_first().ok_or_else(|| bad("empty reply line"))?;
    let num = || -> io::Result<i64> {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad number"))
    };
    Ok(match t {
        b'+' => Reply::Status(rest.to_vec()),
        b'-' => Reply::Error(rest.to_vec()),
        b':' => Reply::Int(num()?),
        b'$' => {
            let n = num()?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let mut b = vec![0; n as usize + 2];
                r.read_exact(&mut b)?;
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(read_reply(r)?);
                }
                Reply::Array(Some(v))
            }
        }
        _ => return Err(bad("unknown reply type")),
    })
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(argv: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A connection to a server.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// Sends one command and reads its reply.
    pub fn cmd(&mut self, argv: &[&[u8]]) -> io::Result<Reply> {
        let mut b = Vec::new();
        encode(argv, &mut b);
        self.w.write_all(&b)?;
        read_reply(&mut self.r)
    }

    /// `cmd` with string arguments, panicking on I/O errors.
    pub fn q(&mut self, args: &[&str]) -> Reply {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd(&argv).expect("redis command")
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A redis-server 7.0 child process.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Server {
    /// Starts `redis-server` in `dir` with `args` (e.g. `--appendonly yes`)
    /// and waits until it answers PING (after loading its files). An
    /// error carries the tail of its log.
    pub fn start(dir: &Path, args: &[&str]) -> Result<Server, String> {
        let port = free_port();
        let log = dir.join("redis.log");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--dir",
                dir.to_str().ok_or("dir")?,
                "--save",
                "",
                "--enable-debug-command",
                "yes",
                "--logfile",
                log.to_str().ok_or("log")?,
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run redis-server: {e}"))?;
        let mut s = Server {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = s.child.try_wait() {
                return Err(format!("redis-server exited ({st}): {}", s.log_tail()));
            }
            if let Ok(mut c) = Client::connect(port)
                && let Ok(Reply::Status(p)) = c.cmd(&[b"PING"])
                && p == b"PONG"
            {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(format!("redis-server did not start: {}", s.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect to redis-server")
    }

    /// `DEBUG DIGEST`.
    pub fn digest(&self) -> String {
        let r = self.client().q(&["DEBUG", "DIGEST"]);
        String::from_utf8_lossy(r.bytes().expect("digest")).into_owned()
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("rdbtool-persist-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
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

/// xorshift64*: reproducible random tests without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// A seed from the environment (`PERSIST_SEED`) or the clock; printed
    /// so a failure can be replayed.
    pub fn seeded(test: &str) -> Rng {
        let seed = std::env::var("PERSIST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("{test}: PERSIST_SEED={seed}");
        Rng(seed)
    }
}

/// Copies a directory tree (files and subdirectories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// The `mini_server` example binary: `cargo test` builds it next to the
/// test binaries; when only one test target was built it is built here
/// with the same profile.
pub fn mini_server_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    let bin = profile_dir.join("examples/mini_server");
    if bin.exists() {
        return bin;
    }
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.args(["build", "--quiet", "--example", "mini_server"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        c.arg("--release");
    }
    let st = c.status().expect("cargo build --example mini_server");
    assert!(st.success(), "building mini_server failed");
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}
