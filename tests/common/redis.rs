//! A live redis-server for tests, and a minimal blocking RESP2 client.
//!
//! [`Server`] starts `redis-server` on 127.0.0.1 on a free port in its own
//! temporary directory (no persistence unless asked, `DEBUG` enabled) and
//! kills it on drop. [`Client`] sends commands one at a time or pipelined in
//! batches and returns [`Reply`] values that keep bytes as bytes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A command: its arguments as bytes.
pub type Cmd = Vec<Vec<u8>>;

/// Something that can be a command argument.
pub trait Arg {
    /// The argument's bytes.
    fn arg(&self) -> Vec<u8>;
}

impl Arg for str {
    fn arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl Arg for [u8] {
    fn arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
impl<const N: usize> Arg for [u8; N] {
    fn arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
impl Arg for String {
    fn arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl Arg for Vec<u8> {
    fn arg(&self) -> Vec<u8> {
        self.clone()
    }
}
impl<T: Arg + ?Sized> Arg for &T {
    fn arg(&self) -> Vec<u8> {
        (**self).arg()
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn arg(&self) -> Vec<u8> {
                self.to_string().into_bytes()
            }
        }
    )*};
}
int_arg!(i32, i64, u32, u64, usize);

/// Builds a [`Cmd`] from arguments of mixed types: `cmd!("SET", key, 5)`.
macro_rules! cmd {
    ($($a:expr),+ $(,)?) => {
        vec![$($crate::common::redis::Arg::arg(&$a)),+]
    };
}
#[allow(unused_imports)] // not every test binary builds commands with it
pub(crate) use cmd;

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+...`
    Status(Vec<u8>),
    /// `-...`
    Error(Vec<u8>),
    /// `:...`
    Int(i64),
    /// `$...` with content.
    Bulk(Vec<u8>),
    /// A null bulk string or null array.
    Nil,
    /// `*...`
    Array(Vec<Reply>),
}

impl Reply {
    /// The bytes of a bulk string or status reply; panics otherwise.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Reply::Bulk(b) | Reply::Status(b) => b,
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }

    /// The integer of an integer reply; panics otherwise.
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    /// The items of an array reply; panics otherwise.
    pub fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(a) => a,
            other => panic!("expected an array, got {other:?}"),
        }
    }

    /// The value under `name` in a flat `[name, value, ...]` array (the
    /// RESP2 form of maps, e.g. `XINFO` replies); panics when absent.
    pub fn field(&self, name: &str) -> &Reply {
        self.try_field(name)
            .unwrap_or_else(|| panic!("no field {name:?} in {self:?}"))
    }

    /// Like [`Reply::field`], `None` when absent.
    pub fn try_field(&self, name: &str) -> Option<&Reply> {
        self.array()
            .chunks(2)
            .find(|kv| kv.len() == 2 && kv[0] == Reply::Bulk(name.as_bytes().to_vec()))
            .map(|kv| &kv[1])
    }

    /// Panics when this is an error reply (with `context` in the message).
    pub fn ok(self, context: &str) -> Reply {
        if let Reply::Error(e) = &self {
            panic!("{context}: {}", String::from_utf8_lossy(e));
        }
        self
    }
}

/// A blocking RESP2 connection.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    out: Vec<u8>,
}

/// Commands sent per pipeline batch before the replies are read (keeps both
/// sides' buffers bounded).
const BATCH: usize = 1000;

impl Client {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            reader: BufReader::with_capacity(1 << 16, s.try_clone()?),
            writer: s,
            out: Vec::with_capacity(1 << 16),
        })
    }

    fn encode(&mut self, args: &[Vec<u8>]) {
        self.out
            .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            self.out
                .extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            self.out.extend_from_slice(a);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    /// Sends one command and returns its reply (an error reply is a
    /// [`Reply::Error`], not an `Err`).
    pub fn call(&mut self, args: Cmd) -> io::Result<Reply> {
        self.encode(&args);
        self.flush()?;
        self.read_reply()
    }

    /// Sends one command; panics on an I/O error or an error reply.
    pub fn ok(&mut self, args: Cmd) -> Reply {
        let what = String::from_utf8_lossy(&args[0]).into_owned();
        self.call(args)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .ok(&what)
    }

    /// Sends `cmds` pipelined (in batches) and returns their replies in order.
    pub fn pipeline(&mut self, cmds: &[Cmd]) -> io::Result<Vec<Reply>> {
        let mut replies = Vec::with_capacity(cmds.len());
        for batch in cmds.chunks(BATCH) {
            for c in batch {
                self.encode(c);
            }
            self.flush()?;
            for _ in batch {
                replies.push(self.read_reply()?);
            }
        }
        Ok(replies)
    }

    /// Like [`Client::pipeline`], panicking on the first error reply (naming
    /// its command).
    pub fn pipeline_ok(&mut self, cmds: &[Cmd]) -> Vec<Reply> {
        let replies = self
            .pipeline(cmds)
            .unwrap_or_else(|e| panic!("pipeline: {e}"));
        for (c, r) in cmds.iter().zip(&replies) {
            if let Reply::Error(e) = r {
                let shown: Vec<String> = c
                    .iter()
                    .take(4)
                    .map(|a| String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned())
                    .collect();
                panic!("{:?}: {}", shown, String::from_utf8_lossy(e));
            }
        }
        replies
    }

    fn line(&mut self) -> io::Result<Vec<u8>> {
        let mut l = Vec::new();
        self.reader.read_until(b'\n', &mut l)?;
        if !l.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-reply",
            ));
        }
        l.truncate(l.len() - 2);
        Ok(l)
    }

    fn number(l: &[u8]) -> io::Result<i64> {
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad RESP number"))
    }

    /// Reads one reply.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let l = self.line()?;
        let (kind, rest) = l
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty RESP line"))?;
        Ok(match kind {
            b'+' => Reply::Status(rest.to_vec()),
            b'-' => Reply::Error(rest.to_vec()),
            b':' => Reply::Int(Self::number(rest)?),
            b'$' => {
                let n = Self::number(rest)?;
                if n < 0 {
                    Reply::Nil
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.reader.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Reply::Bulk(b)
                }
            }
            b'*' => {
                let n = Self::number(rest)?;
                if n < 0 {
                    Reply::Nil
                } else {
                    let mut items = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        items.push(self.read_reply()?);
                    }
                    Reply::Array(items)
                }
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown RESP type byte {kind:#x}"),
                ));
            }
        })
    }
}

/// A redis-server child process with its own temporary directory.
pub struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// `redis_version` from `INFO server`.
    pub version: String,
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn temp_dir() -> io::Result<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!(
        "rdbtool-redis-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

impl Server {
    /// Starts `binary` with the test settings plus `extra` arguments
    /// (e.g. `["--hash-max-listpack-entries", "128"]`), and waits until it
    /// answers. Retries on another port if the chosen one was taken.
    pub fn start(binary: &Path, extra: &[&str]) -> io::Result<Server> {
        let dir = temp_dir()?;
        let mut last_err = None;
        for _ in 0..5 {
            match Self::try_start(binary, &dir, extra) {
                Ok(s) => return Ok(s),
                Err(e) => last_err = Some(e),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last_err.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    fn try_start(binary: &Path, dir: &Path, extra: &[&str]) -> io::Result<Server> {
        let port = free_port()?;
        let port_s = port.to_string();
        let log = dir.join("redis.log");
        let mut args: Vec<&str> = vec![
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "yes",
            "--logfile",
            log.to_str().unwrap_or("redis.log"),
        ];
        args.extend_from_slice(extra);
        let child = Command::new(binary)
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // From here on the child is killed on drop, also on failure.
        let mut s = Server {
            child,
            port,
            dir: dir.to_path_buf(),
            version: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = s.child.try_wait()? {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                // Keep the directory for the retry; only forget the child.
                s.dir = PathBuf::new();
                return Err(io::Error::other(format!(
                    "redis-server exited ({status}): {log}"
                )));
            }
            if let Ok(mut c) = Client::connect(port)
                && let Ok(Reply::Bulk(info)) = c.call(cmd!("INFO", "server"))
            {
                let info = String::from_utf8_lossy(&info);
                s.version = info
                    .lines()
                    .find_map(|l| l.strip_prefix("redis_version:"))
                    .unwrap_or("")
                    .to_string();
                return Ok(s);
            }
            if Instant::now() > deadline {
                s.dir = PathBuf::new();
                return Err(io::Error::other("redis-server did not answer in 20 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Redis 7.0 from `PATH`; panics with a hint when it is missing
    /// (`scripts/install-redis.sh` installs it).
    pub fn redis70(extra: &[&str]) -> Server {
        let s = Server::start(Path::new("redis-server"), extra).unwrap_or_else(|e| {
            panic!("redis-server 7.0 from PATH: {e} (run scripts/install-redis.sh)")
        });
        assert!(
            s.version.starts_with("7.0."),
            "redis-server on PATH is {}, expected 7.0",
            s.version
        );
        s
    }

    /// The path of the Redis 8.2 binary (`<repo>/.cache/redis82/redis-server`),
    /// if installed.
    pub fn redis82_binary() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/redis82/redis-server");
        p.is_file().then_some(p)
    }

    /// Redis 8.2, or `None` with a printed notice when it is not installed.
    pub fn redis82(extra: &[&str]) -> Option<Server> {
        let Some(bin) = Self::redis82_binary() else {
            eprintln!(
                "NOTICE: redis-server 8.2 not found at .cache/redis82/redis-server; \
                 skipping the 8.2 part (scripts/install-redis.sh installs it)"
            );
            return None;
        };
        let s = Server::start(&bin, extra).unwrap_or_else(|e| panic!("redis-server 8.2: {e}"));
        Some(s)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's working directory (where `SAVE` writes).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last `lines` lines of the server's log (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Sends a command that must succeed; on an error reply panics with the
    /// reply and the tail of the server's log.
    pub fn must(&self, c: &mut Client, args: Cmd) -> Reply {
        let what = String::from_utf8_lossy(&args[0]).into_owned();
        match c.call(args) {
            Ok(Reply::Error(e)) => panic!(
                "{what}: {}\n--- redis.log ---\n{}",
                String::from_utf8_lossy(&e),
                self.log_tail(30)
            ),
            Ok(r) => r,
            Err(e) => panic!("{what}: {e}\n--- redis.log ---\n{}", self.log_tail(30)),
        }
    }

    /// A new connection.
    pub fn client(&self) -> Client {
        Client::connect(self.port).unwrap_or_else(|e| panic!("connect to redis-server: {e}"))
    }

    /// `SAVE`s and returns the bytes of the file the server wrote (found
    /// with `CONFIG GET dir` / `dbfilename`).
    pub fn save(&self, c: &mut Client) -> Vec<u8> {
        self.must(c, cmd!("SAVE"));
        let dir = c.ok(cmd!("CONFIG", "GET", "dir"));
        let file = c.ok(cmd!("CONFIG", "GET", "dbfilename"));
        let path = Path::new(std::str::from_utf8(dir.array()[1].bytes()).unwrap_or("."))
            .join(std::str::from_utf8(file.array()[1].bytes()).unwrap_or("dump.rdb"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
