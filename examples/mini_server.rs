//! A tiny Redis-like server persisted with `rdbtool::persist`, to show (and
//! test) the API the way a server uses it.
//!
//! It reads RESP commands on stdin and writes RESP replies on stdout, like a
//! single client connection. Strings, hashes and lists live in numbered
//! databases; every command that changes data is logged to a Redis 7
//! multi-part AOF in `<dir>/appendonlydir` before its reply is written (so
//! under `--fsync always` a reply means the command is on disk). Commands are
//! handled like an event loop: all the input already buffered is executed
//! and queued, then the log is waited for once and the replies are flushed
//! (group commit). Every `--rewrite-every N` logged commands the AOF is
//! rewritten from the keyspace; every `--save-every N` a `dump.rdb` is
//! saved. At start the keyspace is recovered from the AOF.
//!
//! ```text
//! cargo run --release --example mini_server -- --dir /tmp/mini --fsync always
//! ```
//!
//! Commands: SELECT, SET, GET, DEL, INCR, INCRBY, APPEND, PEXPIREAT, HSET,
//! HGET, HDEL, LPUSH, RPUSH, LPOP, RPOP, LLEN, MULTI/EXEC/DISCARD, plus
//! BGREWRITEAOF, SAVE and PING. The files load in redis-server 7.0.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use rdbtool::model::owned::{HashField, OwnedKey, OwnedValue};
use rdbtool::persist::{
    AofAppender, AofDir, AofDirOptions, BoxError, Fsync, Replay, Snapshot, SnapshotOptions,
};
use rdbtool::rdb::write::RdbVersion;

/// A value of the keyspace.
enum Val {
    Str(Vec<u8>),
    Hash(HashMap<Vec<u8>, Vec<u8>>),
    List(VecDeque<Vec<u8>>),
}

struct Entry {
    val: Val,
    expire_ms: Option<i64>,
}

/// The databases.
#[derive(Default)]
struct Keyspace {
    dbs: BTreeMap<u64, HashMap<Vec<u8>, Entry>>,
}

/// A reply to a command.
enum Reply {
    Ok,
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Err(String),
    Status(&'static str),
    Array(Vec<Reply>),
}

impl Reply {
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Reply::Ok => out.write_all(b"+OK\r\n"),
            Reply::Status(s) => write!(out, "+{s}\r\n"),
            Reply::Int(n) => write!(out, ":{n}\r\n"),
            Reply::Bulk(None) => out.write_all(b"$-1\r\n"),
            Reply::Bulk(Some(b)) => {
                write!(out, "${}\r\n", b.len())?;
                out.write_all(b)?;
                out.write_all(b"\r\n")
            }
            Reply::Err(e) => write!(out, "-{e}\r\n"),
            Reply::Array(v) => {
                write!(out, "*{}\r\n", v.len())?;
                v.iter().try_for_each(|r| r.write(out))
            }
        }
    }
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn int_arg(a: &[u8]) -> Option<i64> {
    std::str::from_utf8(a).ok()?.parse().ok()
}

impl Keyspace {
    /// Runs one data command in `db`; returns the reply and whether the data
    /// changed (only those commands are logged, as Redis does).
    fn exec(&mut self, db: u64, argv: &[&[u8]]) -> (Reply, bool) {
        let name = argv[0].to_ascii_uppercase();
        let d = self.dbs.entry(db).or_default();
        let arity = |n: usize, exact: bool| {
            if (exact && argv.len() != n) || argv.len() < n {
                Some(Reply::Err(format!(
                    "ERR wrong number of arguments for '{}' command",
                    String::from_utf8_lossy(argv[0]).to_lowercase()
                )))
            } else {
                None
            }
        };
        macro_rules! check {
            ($n:expr, $exact:expr) => {
                if let Some(e) = arity($n, $exact) {
                    return (e, false);
                }
            };
        }
        match &name[..] {
            b"PING" => (Reply::Status("PONG"), false),
            b"SET" => {
                check!(3, true);
                d.insert(
                    argv[1].to_vec(),
                    Entry {
                        val: Val::Str(argv[2].to_vec()),
                        expire_ms: None,
                    },
                );
                (Reply::Ok, true)
            }
            b"GET" => {
                check!(2, true);
                match d.get(argv[1]) {
                    None => (Reply::Bulk(None), false),
                    Some(Entry {
                        val: Val::Str(s), ..
                    }) => (Reply::Bulk(Some(s.clone())), false),
                    Some(_) => (Reply::Err(WRONGTYPE.into()), false),
                }
            }
            b"DEL" => {
                check!(2, false);
                let n = argv[1..].iter().filter(|k| d.remove(**k).is_some()).count();
                (Reply::Int(n as i64), n > 0)
            }
            b"INCR" | b"INCRBY" | b"APPEND" => {
                check!(if name == b"INCR" { 2 } else { 3 }, true);
                let existed = d.contains_key(argv[1]);
                let e = d.entry(argv[1].to_vec()).or_insert(Entry {
                    val: Val::Str(Vec::new()),
                    expire_ms: None,
                });
                let Val::Str(s) = &mut e.val else {
                    return (Reply::Err(WRONGTYPE.into()), false);
                };
                if name == b"APPEND" {
                    s.extend_from_slice(argv[2]);
                    return (Reply::Int(s.len() as i64), true);
                }
                let by = if name == b"INCR" {
                    Some(1)
                } else {
                    int_arg(argv[2])
                };
                let cur = if existed { int_arg(s) } else { Some(0) };
                match (cur, by) {
                    (Some(c), Some(b)) if c.checked_add(b).is_some() => {
                        let v = c + b;
                        *s = v.to_string().into_bytes();
                        (Reply::Int(v), true)
                    }
                    _ => {
                        if !existed {
                            d.remove(argv[1]);
                        }
                        (
                            Reply::Err("ERR value is not an integer or out of range".into()),
                            false,
                        )
                    }
                }
            }
            b"PEXPIREAT" => {
                check!(3, true);
                let Some(ms) = int_arg(argv[2]) else {
                    return (
                        Reply::Err("ERR value is not an integer or out of range".into()),
                        false,
                    );
                };
                match d.get_mut(argv[1]) {
                    Some(e) => {
                        e.expire_ms = Some(ms);
                        (Reply::Int(1), true)
                    }
                    None => (Reply::Int(0), false),
                }
            }
            b"HSET" => {
                if argv.len() < 4 || !argv.len().is_multiple_of(2) {
                    return (
                        Reply::Err("ERR wrong number of arguments for 'hset' command".into()),
                        false,
                    );
                }
                let e = d.entry(argv[1].to_vec()).or_insert(Entry {
                    val: Val::Hash(HashMap::new()),
                    expire_ms: None,
                });
                let Val::Hash(h) = &mut e.val else {
                    return (Reply::Err(WRONGTYPE.into()), false);
                };
                let added = argv[2..]
                    .chunks(2)
                    .filter(|fv| h.insert(fv[0].to_vec(), fv[1].to_vec()).is_none())
                    .count();
                (Reply::Int(added as i64), true)
            }
            b"HGET" => {
                check!(3, true);
                match d.get(argv[1]) {
                    None => (Reply::Bulk(None), false),
                    Some(Entry {
                        val: Val::Hash(h), ..
                    }) => (Reply::Bulk(h.get(argv[2]).cloned()), false),
                    Some(_) => (Reply::Err(WRONGTYPE.into()), false),
                }
            }
            b"HDEL" => {
                check!(3, false);
                let Some(e) = d.get_mut(argv[1]) else {
                    return (Reply::Int(0), false);
                };
                let Val::Hash(h) = &mut e.val else {
                    return (Reply::Err(WRONGTYPE.into()), false);
                };
                let n = argv[2..].iter().filter(|f| h.remove(**f).is_some()).count();
                if h.is_empty() {
                    d.remove(argv[1]);
                }
                (Reply::Int(n as i64), n > 0)
            }
            b"LPUSH" | b"RPUSH" => {
                check!(3, false);
                let e = d.entry(argv[1].to_vec()).or_insert(Entry {
                    val: Val::List(VecDeque::new()),
                    expire_ms: None,
                });
                let Val::List(l) = &mut e.val else {
                    return (Reply::Err(WRONGTYPE.into()), false);
                };
                for v in &argv[2..] {
                    if name == b"LPUSH" {
                        l.push_front(v.to_vec());
                    } else {
                        l.push_back(v.to_vec());
                    }
                }
                (Reply::Int(l.len() as i64), true)
            }
            b"LPOP" | b"RPOP" => {
                check!(2, true);
                let Some(e) = d.get_mut(argv[1]) else {
                    return (Reply::Bulk(None), false);
                };
                let Val::List(l) = &mut e.val else {
                    return (Reply::Err(WRONGTYPE.into()), false);
                };
                let v = if name == b"LPOP" {
                    l.pop_front()
                } else {
                    l.pop_back()
                };
                if l.is_empty() {
                    d.remove(argv[1]);
                }
                (Reply::Bulk(v), true)
            }
            b"LLEN" => {
                check!(2, true);
                match d.get(argv[1]) {
                    None => (Reply::Int(0), false),
                    Some(Entry {
                        val: Val::List(l), ..
                    }) => (Reply::Int(l.len() as i64), false),
                    Some(_) => (Reply::Err(WRONGTYPE.into()), false),
                }
            }
            _ => (
                Reply::Err(format!(
                    "ERR unknown command '{}'",
                    String::from_utf8_lossy(argv[0])
                )),
                false,
            ),
        }
    }

    /// The keyspace as records for a snapshot, one key at a time.
    fn records(&self) -> impl Iterator<Item = OwnedKey> + '_ {
        self.dbs.iter().flat_map(|(&db, keys)| {
            keys.iter().map(move |(k, e)| OwnedKey {
                db,
                key: k.clone(),
                expire_ms: e.expire_ms,
                idle_s: None,
                freq: None,
                value: match &e.val {
                    Val::Str(s) => OwnedValue::String(s.clone()),
                    Val::List(l) => OwnedValue::List(l.iter().cloned().collect()),
                    Val::Hash(h) => OwnedValue::Hash(
                        h.iter()
                            .map(|(f, v)| HashField {
                                field: f.clone(),
                                value: v.clone(),
                                expire_ms: None,
                            })
                            .collect(),
                    ),
                },
                source_type: None,
            })
        })
    }
}

/// Recovery feeds the keyspace: BASE keys as they are, logged commands
/// re-executed.
impl Replay for Keyspace {
    fn key(&mut self, k: OwnedKey) -> Result<(), BoxError> {
        let val = match k.value {
            OwnedValue::String(s) => Val::Str(s),
            OwnedValue::List(l) => Val::List(l.into()),
            OwnedValue::Hash(h) => Val::Hash(h.into_iter().map(|f| (f.field, f.value)).collect()),
            other => return Err(format!("unsupported type {:?}", other.data_type()).into()),
        };
        self.dbs.entry(k.db).or_default().insert(
            k.key,
            Entry {
                val,
                expire_ms: k.expire_ms,
            },
        );
        Ok(())
    }

    fn command(&mut self, db: u64, argv: &[&[u8]]) -> Result<(), BoxError> {
        // Like Redis loading an AOF, a command that fails is not fatal
        // (it failed the same way when it was first run).
        if let (Reply::Err(e), _) = self.exec(db, argv)
            && e.starts_with("ERR unknown command")
        {
            return Err(e.into());
        }
        Ok(())
    }
}

/// Reads one RESP array of bulk strings; `None` at a clean end of input.
fn read_command(r: &mut impl BufRead) -> io::Result<Option<Vec<Vec<u8>>>> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "expected a RESP array");
    let num = |l: &[u8], c: u8| -> io::Result<usize> {
        let t = l.strip_prefix(&[c]).ok_or_else(bad)?;
        let t = t.strip_suffix(b"\r\n").ok_or_else(bad)?;
        std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let n = num(&line, b'*')?;
    let mut argv = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_until(b'\n', &mut line)?;
        let len = num(&line, b'$')?;
        let mut a = vec![0; len + 2];
        r.read_exact(&mut a)?;
        a.truncate(len);
        argv.push(a);
    }
    Ok(Some(argv))
}

struct Config {
    dir: PathBuf,
    fsync: Fsync,
    timestamps: bool,
    rewrite_every: u64,
    save_every: u64,
    version: RdbVersion,
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        dir: PathBuf::from("."),
        fsync: Fsync::EverySec,
        timestamps: false,
        rewrite_every: 0,
        save_every: 0,
        version: RdbVersion::new(10).ok_or("RDB 10")?,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--dir" => c.dir = val()?.into(),
            "--fsync" => c.fsync = val()?.parse()?,
            "--timestamps" => c.timestamps = true,
            "--rewrite-every" => c.rewrite_every = val()?.parse().map_err(|e| format!("{e}"))?,
            "--save-every" => c.save_every = val()?.parse().map_err(|e| format!("{e}"))?,
            "--rdb-version" => {
                let n: u32 = val()?.parse().map_err(|e| format!("{e}"))?;
                c.version = RdbVersion::new(n).ok_or(format!("unsupported RDB version {n}"))?;
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(c)
}

fn save(ks: &Keyspace, dir: &Path, version: RdbVersion) -> Result<(), BoxError> {
    let stats = Snapshot::write(
        &dir.join("dump.rdb"),
        &SnapshotOptions::new(version),
        ks.records(),
    )?;
    eprintln!("saved {} keys, {} bytes", stats.keys, stats.bytes);
    Ok(())
}

fn rewrite(aof: &mut AofDir, app: &AofAppender, ks: &Keyspace) -> Result<(), BoxError> {
    let r = aof.rewrite(app, || ks.records())?;
    eprintln!(
        "rewrite: {} ({} keys, {} bytes), deleted {}",
        r.base.display(),
        r.keys,
        r.bytes,
        r.deleted.len()
    );
    if let Some(e) = r.cleanup_error {
        eprintln!("rewrite: old files kept until the next start: {e}");
    }
    Ok(())
}

fn run() -> Result<(), BoxError> {
    let cfg = parse_args()?;
    let mut opts = AofDirOptions::new(cfg.version);
    opts.appender.fsync = cfg.fsync;
    opts.appender.timestamps = cfg.timestamps;
    let mut ks = Keyspace::default();
    let (mut aof, app, report) = AofDir::open(&cfg.dir.join("appendonlydir"), &opts, &mut ks)?;
    eprintln!(
        "loaded {} keys and {} commands from {} files{}",
        report.keys,
        report.commands,
        report.files.len(),
        match &report.truncated {
            Some(t) => format!(
                "; truncated {} from {} to {} bytes ({})",
                t.path.display(),
                t.from,
                t.to,
                t.reason
            ),
            None => String::new(),
        }
    );
    let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let (mut db, mut logged, mut since_save) = (0u64, 0u64, 0u64);
    let mut tx: Option<Vec<Vec<Vec<u8>>>> = None;
    let mut replies: Vec<Reply> = Vec::new();
    let mut last = None;
    while let Some(argv) = read_command(&mut input)? {
        if argv.is_empty() {
            continue;
        }
        let name = argv[0].to_ascii_uppercase();
        let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        let reply = match (&name[..], tx.as_mut()) {
            (b"MULTI", None) => {
                tx = Some(Vec::new());
                Reply::Ok
            }
            (b"MULTI", Some(_)) => Reply::Err("ERR MULTI calls can not be nested".into()),
            (b"DISCARD", Some(_)) => {
                tx = None;
                Reply::Ok
            }
            (b"EXEC", Some(_)) => {
                let queued = tx.take().unwrap_or_default();
                let mut out = Vec::new();
                let mut writes: Vec<&Vec<Vec<u8>>> = Vec::new();
                for c in &queued {
                    let r: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                    let (reply, dirty) = ks.exec(db, &r);
                    if dirty {
                        writes.push(c);
                    }
                    out.push(reply);
                }
                let cmds: Vec<Vec<&[u8]>> = writes
                    .iter()
                    .map(|c| c.iter().map(Vec::as_slice).collect())
                    .collect();
                let cmds: Vec<&[&[u8]]> = cmds.iter().map(Vec::as_slice).collect();
                if !cmds.is_empty() {
                    last = Some(app.enqueue_multi(db, &cmds)?);
                    logged += 1;
                    since_save += 1;
                }
                Reply::Array(out)
            }
            (b"EXEC" | b"DISCARD", None) => Reply::Err(format!(
                "ERR {} without MULTI",
                String::from_utf8_lossy(&name)
            )),
            (b"SELECT", None) => match refs.get(1).and_then(|a| int_arg(a)) {
                Some(n) if (0..16).contains(&n) => {
                    db = n as u64;
                    Reply::Ok
                }
                _ => Reply::Err("ERR DB index is out of range".into()),
            },
            (b"BGREWRITEAOF", None) => {
                rewrite(&mut aof, &app, &ks)?;
                Reply::Status("Background append only file rewriting started")
            }
            (b"SAVE", None) => {
                save(&ks, &cfg.dir, cfg.version)?;
                Reply::Ok
            }
            (_, Some(q)) => {
                q.push(argv.clone());
                Reply::Status("QUEUED")
            }
            (_, None) => {
                let (reply, dirty) = ks.exec(db, &refs);
                if dirty {
                    last = Some(app.enqueue(db, &refs)?);
                    logged += 1;
                    since_save += 1;
                }
                reply
            }
        };
        replies.push(reply);
        if cfg.rewrite_every > 0 && logged >= cfg.rewrite_every {
            logged = 0;
            rewrite(&mut aof, &app, &ks)?;
        }
        if cfg.save_every > 0 && since_save >= cfg.save_every {
            since_save = 0;
            save(&ks, &cfg.dir, cfg.version)?;
        }
        // End of this loop iteration when no more input is buffered: make
        // the log as durable as the policy says, then reply.
        if input.buffer().is_empty() {
            if let Some(t) = last.take() {
                app.wait(t)?;
            }
            for r in replies.drain(..) {
                r.write(&mut out)?;
            }
            out.flush()?;
        }
    }
    if let Some(t) = last.take() {
        app.wait(t)?;
    }
    for r in replies.drain(..) {
        r.write(&mut out)?;
    }
    out.flush()?;
    app.close()?;
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("mini_server: {e}");
        std::process::exit(1);
    }
}
