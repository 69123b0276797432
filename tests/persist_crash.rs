//! Crash safety of `rdbtool::persist` under `appendfsync always`.
//!
//! The `mini_server` example runs as a child process: the test pipes it
//! numbered operations (each writes its number `i` somewhere: `RPUSH`,
//! `HSET`, `SET`, a `MULTI`/`EXEC` pair of writes, in two dbs) and reads
//! its replies — a reply is the acknowledgement that the write is on disk.
//! The child rewrites its AOF every few dozen writes, so kills also land
//! during rewrites and manifest swaps. After each SIGKILL:
//!
//! * recovery (`AofDir::open`) must yield exactly the state after the first
//!   `k` operations for some `k` with acknowledged ≤ `k` ≤ sent — no
//!   acknowledged write lost, nothing that was never sent, no partial
//!   transaction;
//! * for a sample of kills (all of them in the `--ignored` long test) a
//!   redis-server 7.0 must load a copy of the directory as the kill left it
//!   and hold the same keyspace.
//!
//! The next run restarts the child on the same directory, so recovery of
//! recovered directories is exercised too.

#[path = "common/persist_redis.rs"]
mod persist_redis;
#[path = "common/persist_state.rs"]
mod persist_state;

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use persist_redis::{Reply, Rng, Server, TempDir, copy_dir, encode, mini_server_bin, read_reply};
use persist_state::{State, redis_state};
use rdbtool::persist::{AofDir, AofDirOptions};
use rdbtool::rdb::write::RdbVersion;

/// Applies operation `i` as the model says.
fn apply_op(st: &mut State, i: u64) {
    let (db, n) = (op_db(i), i.to_string().into_bytes());
    match i % 4 {
        0 => st.rpush(db, b"log", &n).unwrap(),
        1 => st
            .hset(db, b"h", format!("f{}", i % 37).as_bytes(), &n)
            .unwrap(),
        2 => st.set(db, format!("s{}", i % 53).as_bytes(), &n),
        _ => {
            st.rpush(db, b"log2", &n).unwrap();
            st.set(db, b"t", &n);
        }
    }
}

fn op_db(i: u64) -> u64 {
    (i / 4) % 2
}

/// Operation `i` as bytes for the child, and how many replies it gets.
fn op_bytes(i: u64, cur_db: &mut u64) -> (Vec<u8>, usize) {
    let mut b = Vec::new();
    let mut replies = 0;
    let db = op_db(i);
    if *cur_db != db {
        encode(&[b"SELECT", db.to_string().as_bytes()], &mut b);
        *cur_db = db;
        replies += 1;
    }
    let n = i.to_string();
    let n = n.as_bytes();
    match i % 4 {
        0 => encode(&[b"RPUSH", b"log", n], &mut b),
        1 => encode(
            &[b"HSET", b"h", format!("f{}", i % 37).as_bytes(), n],
            &mut b,
        ),
        2 => encode(&[b"SET", format!("s{}", i % 53).as_bytes(), n], &mut b),
        _ => {
            encode(&[b"MULTI"], &mut b);
            encode(&[b"RPUSH", b"log2", n], &mut b);
            encode(&[b"SET", b"t", n], &mut b);
            encode(&[b"EXEC"], &mut b);
            replies += 3;
        }
    }
    (b, replies + 1)
}

/// Where the kill found the directory (evidence that kills hit rewrites).
#[derive(Debug, Default)]
struct Moments {
    temp_files: u64,
    history_listed: u64,
    several_incrs: u64,
    /// Files created for a rewrite step the manifest did not list yet.
    unlisted_new_files: u64,
    truncated_tails: u64,
}

fn classify(aof: &Path, m: &mut Moments) {
    let Ok(rd) = std::fs::read_dir(aof) else {
        return;
    };
    let names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let manifest = std::fs::read_to_string(aof.join("appendonly.aof.manifest")).unwrap_or_default();
    if names.iter().any(|n| n.starts_with("temp-")) {
        m.temp_files += 1;
    }
    if manifest.contains("type h") {
        m.history_listed += 1;
    }
    if manifest.matches("type i").count() > 1 {
        m.several_incrs += 1;
    }
    if names.iter().any(|n| {
        n.starts_with("appendonly.aof.")
            && !n.ends_with(".manifest")
            && !manifest.contains(n.as_str())
    }) {
        m.unlisted_new_files += 1;
    }
}

struct Outcome {
    runs: u64,
    redis_checked: u64,
    lost: u64,
    moments: Moments,
    last_op: u64,
}

/// Kills the child `max_runs` times or until `budget` has passed;
/// every `redis_every`-th kill is also checked with redis-server.
fn crash_loop(name: &str, max_runs: u64, budget: Duration, redis_every: u64) -> Outcome {
    let mut rng = Rng::seeded(name);
    let t = TempDir::new(name);
    let srv = t.path().join("srv");
    let aof = srv.join("appendonlydir");
    let bin = mini_server_bin();
    let opts = AofDirOptions::new(RdbVersion::new(10).unwrap());
    let mut model = State::default();
    let mut k = 0u64;
    let mut out = Outcome {
        runs: 0,
        redis_checked: 0,
        lost: 0,
        moments: Moments::default(),
        last_op: 0,
    };
    let start = Instant::now();
    while out.runs < max_runs && start.elapsed() < budget {
        let rewrite_every = 5 + rng.below(40);
        let mut cmd = Command::new(&bin);
        cmd.arg("--dir").arg(&srv).args([
            "--fsync",
            "always",
            "--rewrite-every",
            &rewrite_every.to_string(),
        ]);
        if rng.below(2) == 0 {
            cmd.arg("--timestamps");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mini_server");
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // Operations k+1.. until the kill; the child starts in db 0.
        let window = [1u64, 4, 16, 64][rng.below(4) as usize];
        let delay = Duration::from_micros(500 + rng.below(120_000));
        let sent = Arc::new(AtomicU64::new(k));
        let progress = Arc::new((Mutex::new(k), Condvar::new()));
        let over = Arc::new(AtomicBool::new(false));
        let writer = {
            let (sent, progress, over) =
                (Arc::clone(&sent), Arc::clone(&progress), Arc::clone(&over));
            std::thread::spawn(move || {
                let mut cur_db = 0;
                for i in k + 1.. {
                    let (bytes, _) = op_bytes(i, &mut cur_db);
                    let (lock, cv) = &*progress;
                    let mut acked = lock.lock().unwrap();
                    while i > *acked + window && !over.load(Ordering::SeqCst) {
                        acked = cv.wait_timeout(acked, Duration::from_millis(20)).unwrap().0;
                    }
                    drop(acked);
                    if over.load(Ordering::SeqCst) {
                        return;
                    }
                    sent.store(i, Ordering::SeqCst);
                    if stdin.write_all(&bytes).is_err() {
                        return;
                    }
                }
            })
        };
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            child.kill().expect("SIGKILL");
            child.wait().expect("reap")
        });
        // Acknowledgements: an operation is acknowledged by its last reply.
        let mut acked = k;
        let mut cur_db = 0;
        'read: for i in k + 1.. {
            for _ in 0..op_bytes(i, &mut cur_db).1 {
                match read_reply(&mut stdout) {
                    Ok(Reply::Error(e)) => panic!("mini_server error: {}", e.escape_ascii()),
                    Ok(_) => {}
                    Err(_) => break 'read,
                }
            }
            acked += 1;
            let (lock, cv) = &*progress;
            *lock.lock().unwrap() = acked;
            cv.notify_all();
        }
        over.store(true, Ordering::SeqCst);
        progress.1.notify_all();
        let status = killer.join().unwrap();
        writer.join().unwrap();
        // It died of the SIGKILL, not of an error of its own.
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "mini_server exited by itself: {status}"
        );
        let sent = sent.load(Ordering::SeqCst);
        out.runs += 1;
        classify(&aof, &mut out.moments);

        let check_redis = redis_every > 0 && out.runs.is_multiple_of(redis_every);
        let copy = t.path().join(format!("copy{}", out.runs));
        if check_redis && aof.exists() {
            copy_dir(&aof, &copy.join("appendonlydir"));
        }

        let mut rec = State::default();
        let (dir, app, report) = AofDir::open(&aof, &opts, &mut rec)
            .unwrap_or_else(|e| panic!("run {}: recovery failed: {e}", out.runs));
        drop(app);
        drop(dir);
        if report.truncated.is_some() {
            out.moments.truncated_tails += 1;
        }
        let got = rec.last_op();
        if got < acked {
            out.lost += acked - got;
        }
        assert!(
            got >= acked,
            "run {}: acknowledged operations up to {acked}, recovered only up to {got}",
            out.runs
        );
        assert!(
            got <= sent,
            "run {}: recovered operation {got}, but only {sent} were sent",
            out.runs
        );
        assert!(
            got >= k,
            "run {}: recovered {got} < previously recovered {k}",
            out.runs
        );
        for i in k + 1..=got {
            apply_op(&mut model, i);
        }
        assert_eq!(
            rec, model,
            "run {}: recovered state differs from the first {got} operations",
            out.runs
        );
        k = got;

        if check_redis && copy.exists() {
            let s = Server::start(&copy, &["--appendonly", "yes"]).unwrap_or_else(|e| {
                panic!("run {}: redis-server refused the directory: {e}", out.runs)
            });
            assert_eq!(
                redis_state(&s),
                model,
                "run {}: redis-server loaded a different keyspace",
                out.runs
            );
            drop(s);
            out.redis_checked += 1;
            let _ = std::fs::remove_dir_all(&copy);
        }
    }
    out.last_op = k;
    eprintln!(
        "{name}: {} kills in {:.1}s, {} checked with redis-server, {} acknowledged writes lost, {} operations applied; moments {:?}",
        out.runs,
        start.elapsed().as_secs_f64(),
        out.redis_checked,
        out.lost,
        k,
        out.moments
    );
    out
}

/// Hundreds of kills within a bounded time (PERSIST_CRASH_SECS, default 50).
#[test]
fn sigkill_under_always_loses_no_acknowledged_write() {
    let secs = std::env::var("PERSIST_CRASH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let o = crash_loop("crash", 400, Duration::from_secs(secs), 8);
    assert_eq!(o.lost, 0);
    assert!(o.runs >= 100, "only {} kills in the time budget", o.runs);
    assert!(o.redis_checked > 0);
    assert!(o.last_op > 0, "no operation was ever applied");
}

/// Every kill checked with redis-server (PERSIST_CRASH_LONG_SECS, default 900).
#[test]
#[ignore]
fn sigkill_long_every_kill_loaded_by_redis() {
    let secs = std::env::var("PERSIST_CRASH_LONG_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(900);
    let o = crash_loop("crash-long", 5000, Duration::from_secs(secs), 1);
    assert_eq!(o.lost, 0);
}
