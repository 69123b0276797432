//! The AOF writer against real servers: a single AOF and a Redis 7
//! multi-part directory, loaded with `appendonly yes` by a fresh server,
//! give the DEBUG DIGEST of the server that wrote the source RDB.

#[path = "common/writer_redis.rs"]
mod writer_redis;

use std::path::Path;

use writer_redis::*;

fn check(bin: &Path, f: Features, seed: u64) {
    let src = Server::start(bin, None, &[]);
    populate(&src, seed, f);
    let dump = src.save();

    // Single file: a Redis 7 server upgrades `appendonly.aof` on start.
    let dir = TempDir::new("aof");
    rdbtool(&[
        "convert",
        p(&dump),
        "-o",
        p(&dir.path().join("appendonly.aof")),
        "--to",
        "aof",
    ]);
    let s = Server::start_in(bin, dir, None, &["--appendonly", "yes"]);
    assert_same(&src, &s, "single AOF");
    drop(s);

    // Multi-part directory.
    let dir = TempDir::new("aofdir");
    rdbtool(&[
        "convert",
        p(&dump),
        "-o",
        p(&dir.path().join("appendonlydir")),
        "--to",
        "aof-dir",
    ]);
    let s = Server::start_in(bin, dir, None, &["--appendonly", "yes"]);
    assert_same(&src, &s, "AOF directory");
    assert_eq!(s.key_count(), src.key_count());
    drop(s);

    // Multi-part directory with an RDB BASE.
    let dir = TempDir::new("aofdir-rdb");
    let out = dir.path().join("appendonlydir");
    rdbtool(&[
        "convert",
        p(&dump),
        "-o",
        p(&out),
        "--to",
        "aof-dir",
        "--aof-base",
        "rdb",
    ]);
    assert!(out.join("appendonly.aof.1.base.rdb").exists());
    let s = Server::start_in(bin, dir, None, &["--appendonly", "yes"]);
    assert_same(&src, &s, "AOF directory with an RDB base");
    // The loaded server agrees about the functions too.
    let fl = s.client().call(&[b"FUNCTION", b"LIST"]).unwrap();
    assert_eq!(fl, src.client().call(&[b"FUNCTION", b"LIST"]).unwrap());
}

#[test]
fn redis70_aof_and_dir() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    check(
        &bin,
        Features {
            streams: true,
            functions: true,
            field_ttl: false,
        },
        70,
    );
}

#[test]
fn redis82_aof_with_field_ttls() {
    let Some(bin) = redis82() else {
        eprintln!("skipping: no redis 8.2");
        return;
    };
    check(
        &bin,
        Features {
            streams: true,
            functions: true,
            field_ttl: true,
        },
        82,
    );
}

#[test]
fn existing_dir_is_refused() {
    let dir = TempDir::new("exists");
    let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/redis-7.0/encodings.rdb");
    let (code, err) =
        rdbtool_status(&["convert", p(&dump), "-o", p(dir.path()), "--to", "aof-dir"]);
    assert_eq!(code, 2, "{err}");
}
