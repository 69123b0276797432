//! A throwaway redis-server 7.0 for AOF tests: started on 127.0.0.1 on a
//! free port in a temp dir holding the AOF under test, with a tiny RESP
//! client. Killed (by its own pid) when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+…`
    Status(String),
    /// `-…`
    Error(String),
    /// `:…`
    Int(i64),
    /// `$…` (None for the null bulk).
    Bulk(Option<Vec<u8>>),
    /// `*…` (None for the null array).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bulk bytes, if this is a non-null bulk.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            _ => None,
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
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// True when a PING gets a reply line: a server still starting may
    /// reset the first connection (seen under load), which [`cmd`](Self::cmd)
    /// would take for a failure.
    fn answers(&mut self) -> bool {
        let mut line = Vec::new();
        self.w.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
            && matches!(self.r.read_until(b'\n', &mut line), Ok(n) if n > 0)
    }

    /// Sends one command and reads its reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).expect("send");
        self.read()
    }

    fn read(&mut self) -> Reply {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).expect("reply");
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => Reply::Status(body),
            b'-' => Reply::Error(body),
            b':' => Reply::Int(body.parse().unwrap()),
            b'$' => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut buf = vec![0; n as usize + 2];
                std::io::Read::read_exact(&mut self.r, &mut buf).unwrap();
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
            b'*' => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            other => panic!("unexpected reply type {other}"),
        }
    }
}

/// A running server.
pub struct Server {
    child: Child,
    /// Its port.
    pub port: u16,
    /// Its working directory (`dir`).
    pub dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Stops the server and removes its working directory.
    pub fn remove(self) {
        let dir = self.dir.clone();
        drop(self);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Starts redis-server in `dir` with AOF on (`appendonlydir/` or an
    /// old-style `appendonly.aof` already placed there) and `extra` options.
    /// Err carries the server log when it does not come up.
    pub fn start(dir: &Path, extra: &[&str]) -> Result<Server, String> {
        Self::start_bin("redis-server", dir, extra)
    }

    /// Like [`Server::start`] with another server binary.
    pub fn start_bin(bin: &str, dir: &Path, extra: &[&str]) -> Result<Server, String> {
        let port = free_port();
        let log = dir.join("server.log");
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir.display().to_string(),
            "--appendonly",
            "yes",
            "--appenddirname",
            "appendonlydir",
            "--appendfilename",
            "appendonly.aof",
            "--save",
            "",
            "--enable-debug-command",
            "yes",
            "--logfile",
            &log.display().to_string(),
            "--daemonize",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(bin)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{bin}: {e}"))?;
        let t0 = Instant::now();
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Err(std::fs::read_to_string(&log).unwrap_or_default());
            }
            // The port was free when picked; make sure the server answering
            // is ours (its pid), not another process that took the port, and
            // that it finished loading (PING answers -LOADING until then).
            if let Ok(mut c) = Client::connect(port)
                && c.answers()
                && let Reply::Bulk(Some(info)) = c.cmd(&["INFO", "server"])
                && String::from_utf8_lossy(&info)
                    .contains(&format!("process_id:{}\r\n", child.id()))
                && c.cmd(&["PING"]) == Reply::Status("PONG".into())
            {
                return Ok(Server {
                    child,
                    port,
                    dir: dir.to_path_buf(),
                });
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                return Err("timeout".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A new connection.
    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh temporary directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "rdbtool-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// DEBUG DIGEST: 40 hex digits (all zeros for an empty keyspace).
pub fn digest(c: &mut Client) -> String {
    match c.cmd(&["DEBUG", "DIGEST"]) {
        Reply::Status(d) if d.len() == 40 && d.bytes().all(|b| b.is_ascii_hexdigit()) => d,
        other => panic!("DEBUG DIGEST: {other:?}"),
    }
}

/// Waits for a BGREWRITEAOF (started or scheduled) to finish.
pub fn wait_rewrite(c: &mut Client) {
    let t0 = Instant::now();
    loop {
        let Reply::Bulk(Some(info)) = c.cmd(&["INFO", "persistence"]) else {
            panic!("INFO persistence")
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "rewrite never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh server (binary `bin`) loading a copy of the AOF directory
/// `aofdir`, refusing a truncated one.
pub fn load_dir(bin: &str, aofdir: &Path) -> Server {
    let dir = temp_dir("rw-load");
    let to = dir.join("appendonlydir");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(aofdir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    Server::start_bin(bin, &dir, &["--aof-load-truncated", "no"])
        .unwrap_or_else(|log| panic!("refused:\n{log}"))
}
