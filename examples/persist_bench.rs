//! Throughput of `rdbtool::persist::AofAppender`: `--threads` clients
//! append `SET key:<n> <value>` commands (like `redis-benchmark -t set`)
//! into a fresh multi-part AOF directory under one `appendfsync` policy;
//! each client waits for its command to be as durable as the policy
//! promises before sending the next, as a client waits for its reply.
//! Run by `bench/persist.sh`, which puts redis-server's own figures next to
//! these.
//!
//! ```text
//! cargo run --release --example persist_bench -- --fsync always --threads 50 --ops 100000 --dir /tmp/b
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rdbtool::persist::{AofDir, AofDirOptions, BoxError, Fsync, Replay};
use rdbtool::rdb::write::RdbVersion;

/// Recovery target for the bench: the directory is fresh, nothing arrives.
struct Nothing;

impl Replay for Nothing {
    fn key(&mut self, _k: rdbtool::model::owned::OwnedKey) -> Result<(), BoxError> {
        Err("the bench directory must start empty".into())
    }
    fn command(&mut self, _db: u64, _argv: &[&[u8]]) -> Result<(), BoxError> {
        Err("the bench directory must start empty".into())
    }
}

fn main() -> Result<(), BoxError> {
    let (mut fsync, mut threads, mut ops, mut size) = (Fsync::EverySec, 50u64, 100_000u64, 3usize);
    let mut dir = std::env::temp_dir().join("rdbtool-persist-bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--fsync" => fsync = v.parse()?,
            "--threads" => threads = v.parse()?,
            "--ops" => ops = v.parse()?,
            "--value-size" => size = v.parse()?,
            "--dir" => dir = PathBuf::from(v),
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut opts = AofDirOptions::new(RdbVersion::new(10).ok_or("RDB 10")?);
    opts.appender.fsync = fsync;
    let (_aof, app, _) = AofDir::open(&dir, &opts, &mut Nothing)?;
    let next = AtomicU64::new(0);
    let value = vec![b'x'; size];
    let t0 = Instant::now();
    std::thread::scope(|s| -> Result<(), BoxError> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<(), rdbtool::persist::PersistError> {
                    let mut key = Vec::with_capacity(32);
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= ops {
                            return Ok(());
                        }
                        key.clear();
                        key.extend_from_slice(b"key:");
                        key.extend_from_slice(format!("{:012}", n % 100_000).as_bytes());
                        app.append(0, &[b"SET", &key, &value])?;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "bench thread panicked")??;
        }
        Ok(())
    })?;
    let secs = t0.elapsed().as_secs_f64();
    let st = app.stats();
    app.close()?;
    println!(
        "fsync={} threads={threads} ops={ops} secs={secs:.3} ops_per_s={:.0} writes={} fsyncs={} bytes={}",
        fsync.name(),
        ops as f64 / secs,
        st.writes,
        st.fsyncs,
        st.bytes
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
