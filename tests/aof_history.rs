//! `aof history` on an AOF written by a real redis-server 7.0: the key is
//! followed through RENAME, MOVE, COPY … DB, SWAPDB, and FLUSHALL is shown.

#[path = "common/aof_redis.rs"]
mod aof_redis;

use aof_redis::{Server, temp_dir};
use std::process::Command;

#[test]
fn follows_a_key_through_a_server_written_log() {
    let dir = temp_dir("history");
    let server = Server::start(&dir, &["--aof-timestamp-enabled", "yes"]).unwrap();
    let mut c = server.client();
    for cmd in [
        &["SET", "k", "1"][..],
        &["SET", "noise", "1"],
        &["RENAME", "k", "k2"],
        &["INCR", "k2"],
        &["MOVE", "k2", "3"],
        &["SELECT", "3"],
        &["COPY", "k2", "k3", "DB", "4"],
        &["SWAPDB", "4", "5"],
        &["SELECT", "5"],
        &["LPUSH", "other", "x"],
        &["DEL", "k3"],
        &["FLUSHALL"],
    ] {
        c.cmd(cmd);
    }
    drop(c);
    let aof = dir.join("appendonlydir");
    let out = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(["aof", "history"])
        .arg(&aof)
        .args(["k", "--db", "0", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<String> = lines
        .iter()
        .map(|l| l["argv"][0].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(
        names,
        [
            "set", "rename", "incr", "move", "copy", "swapdb", "del", "flushall"
        ]
    );
    let dbs: Vec<u64> = lines.iter().map(|l| l["db"].as_u64().unwrap()).collect();
    assert_eq!(dbs, [0, 0, 0, 0, 3, 3, 5, 5]);
    assert!(
        lines.iter().all(|l| l["ts"].as_i64().is_some()),
        "every event has a #TS: time"
    );
}
