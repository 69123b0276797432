//! `restore` into live servers: pipelined RESTORE (and `--mode commands`)
//! into a fresh server gives the source's DEBUG DIGEST; existing keys are
//! skipped or reported; under a small `maxmemory` with `noeviction` the
//! report names exactly the keys the server refused.

#[path = "common/writer_redis.rs"]
mod writer_redis;

use std::collections::BTreeSet;

use writer_redis::*;

fn source(bin: &std::path::Path, seed: u64) -> (Server, std::path::PathBuf) {
    let src = Server::start(bin, None, &[]);
    populate(
        &src,
        seed,
        Features {
            streams: true,
            functions: true,
            field_ttl: redis82().is_some_and(|b| b == bin),
        },
    );
    let dump = src.save();
    (src, dump)
}

#[test]
fn restore_and_commands_into_fresh_servers() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let (src, dump) = source(&bin, 5);
    let dst = Server::start(&bin, None, &[]);
    rdbtool(&["restore", p(&dump), &dst.url(), "--pipeline", "16"]);
    assert_same(&src, &dst, "restore");
    assert_eq!(
        dst.client().call(&[b"FUNCTION", b"LIST"]).unwrap(),
        src.client().call(&[b"FUNCTION", b"LIST"]).unwrap()
    );
    // Again: every key exists now. skip → counted, not failed; fail → exit 1.
    let err = rdbtool(&["restore", p(&dump), &dst.url(), "--existing", "skip"]);
    assert!(
        err.contains(&format!("{} skipped", src.key_count())),
        "{err}"
    );
    let (code, err) = rdbtool_status(&["restore", p(&dump), &dst.url(), "--type", "string"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("BUSYKEY"), "{err}");
    drop(dst);

    let dst = Server::start(&bin, None, &[]);
    rdbtool(&[
        "restore",
        p(&dump),
        &dst.url(),
        "--mode",
        "commands",
        "--existing",
        "replace",
    ]);
    assert_same(&src, &dst, "restore --mode commands");

    // Filters and a db in the URL: only db 1's strings, into db 7.
    let dst = Server::start(&bin, None, &[]);
    rdbtool(&[
        "restore",
        p(&dump),
        &format!("{}/7", dst.url()),
        "--db",
        "1",
        "--type",
        "string",
    ]);
    let keys = all_keys(&dst);
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .all(|(db, k)| *db == 7 && k.starts_with(b"str:1:")),
        "{keys:?}"
    );
}

#[test]
fn restore_into_redis82_with_field_ttls() {
    let Some(bin) = redis82() else {
        eprintln!("skipping: no redis 8.2");
        return;
    };
    let (src, dump) = source(&bin, 6);
    let dst = Server::start(&bin, None, &[]);
    rdbtool(&["restore", p(&dump), &dst.url()]);
    assert_same(&src, &dst, "restore (8.2)");
    let dst = Server::start(&bin, None, &[]);
    rdbtool(&[
        "restore",
        p(&dump),
        &dst.url(),
        "--mode",
        "commands",
        "--existing",
        "replace",
    ]);
    assert_same(&src, &dst, "restore --mode commands (8.2)");
}

#[test]
fn maxmemory_refusals_are_reported_exactly() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let (src, dump) = source(&bin, 9);
    let dst = Server::start(
        &bin,
        None,
        &["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"],
    );
    let rep_dir = TempDir::new("report");
    let rep = rep_dir.path().join("r.json");
    let (code, err) = rdbtool_status(&[
        "restore",
        p(&dump),
        &dst.url(),
        "--report",
        p(&rep),
        "--pipeline",
        "8",
    ]);
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    let failed: BTreeSet<(u64, Vec<u8>)> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["db"].as_u64().unwrap(),
                f["key"].as_str().unwrap().as_bytes().to_vec(),
            )
        })
        .collect();
    assert!(!failed.is_empty(), "nothing refused: {err}");
    assert!(
        report["failed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["error"].as_str().unwrap().starts_with("OOM"))
    );
    let want: BTreeSet<_> = all_keys(&src).into_iter().collect();
    let got: BTreeSet<_> = all_keys(&dst).into_iter().collect();
    let missing: BTreeSet<_> = want.difference(&got).cloned().collect();
    assert_eq!(
        missing, failed,
        "reported keys differ from the keys that did not arrive"
    );
    assert_eq!(report["restored"].as_u64().unwrap() as usize, got.len());
}

/// `rediss://` with rustls: a CA and a server certificate made with
/// openssl, redis-server with a TLS port; restore with `--cacert` (and a
/// refused connection without it) moves every key.
#[test]
fn restore_over_tls() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let certs = TempDir::new("tls");
    let d = |n: &str| certs.path().join(n);
    if !make_certs(certs.path()) {
        eprintln!("skipping: openssl could not make certificates");
        return;
    }
    let (src, dump) = source(&bin, 11);
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let dst = Server::start(
        &bin,
        None,
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            p(&d("srv.pem")),
            "--tls-key-file",
            p(&d("srv.key")),
            "--tls-ca-cert-file",
            p(&d("ca.pem")),
            "--tls-auth-clients",
            "no",
        ],
    );
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let (code, err) = rdbtool_status(&["restore", p(&dump), &url]);
    assert_ne!(code, 0, "an unknown CA must be refused: {err}");
    assert_eq!(dst.key_count(), 0);
    rdbtool(&["restore", p(&dump), &url, "--cacert", p(&d("ca.pem"))]);
    assert_same(&src, &dst, "restore over TLS");
    rdbtool(&[
        "restore",
        p(&dump),
        &url,
        "--insecure",
        "--existing",
        "skip",
    ]);
}

/// `--resume`: a checkpoint saying the first N records are done makes a
/// rerun send exactly the records after them (in file order); the final
/// checkpoint covers every record; a checkpoint of another input is refused.
#[test]
fn resume_from_checkpoint() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let (src, dump) = source(&bin, 12);
    let work = TempDir::new("resume");
    let export = work.path().join("e.jsonl");
    rdbtool(&["export", p(&dump), "-o", p(&export)]);
    // Records the restore sink sees, in file order: functions and keys.
    let mut order = Vec::new();
    for l in std::fs::read_to_string(&export).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        match v["record"].as_str() {
            Some("function") => order.push(None),
            None => order.push(Some((
                v["db"].as_u64().unwrap(),
                v["key"].as_str().unwrap().as_bytes().to_vec(),
            ))),
            _ => {}
        }
    }
    let done = 101;
    let ckpt = work.path().join("ckpt.json");
    let size = std::fs::metadata(&dump).unwrap().len();
    std::fs::write(
        &ckpt,
        format!("{{\"input_bytes\":{size},\"records_done\":{done}}}"),
    )
    .unwrap();
    let dst = Server::start(&bin, None, &[]);
    let err = rdbtool(&["restore", p(&dump), &dst.url(), "--resume", p(&ckpt)]);
    assert!(
        err.contains(&format!("resumed after {done} records")),
        "{err}"
    );
    let mut want: Vec<_> = order[done..].iter().flatten().cloned().collect();
    want.sort();
    let got = all_keys(&dst);
    let missing: Vec<_> = want
        .iter()
        .filter(|k| !got.contains(k))
        .map(|(d, k)| format!("{d}:{}", String::from_utf8_lossy(k)))
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|k| !want.contains(k))
        .map(|(d, k)| format!("{d}:{}", String::from_utf8_lossy(k)))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}, around the cut: {:?}\n{err}",
        &order[done - 2..done + 2]
    );
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(&ckpt).unwrap()).unwrap();
    assert_eq!(c["records_done"].as_u64().unwrap() as usize, order.len());
    // Everything is done now: a rerun sends nothing (and would fail on
    // existing keys otherwise).
    rdbtool(&["restore", p(&dump), &dst.url(), "--resume", p(&ckpt)]);
    // A checkpoint of another input is refused.
    std::fs::write(&ckpt, "{\"input_bytes\":1,\"records_done\":5}").unwrap();
    let (code, err) = rdbtool_status(&["restore", p(&dump), &dst.url(), "--resume", p(&ckpt)]);
    assert_eq!(code, 2, "{err}");
    drop(src);
}
