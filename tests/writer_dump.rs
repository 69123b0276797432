//! DUMP payloads from ../shared/corpus/dump: valid ones parse and verify,
//! every corrupt one is rejected with a clear error (checksum errors exactly
//! for the payloads whose footer CRC is wrong, structural errors for the
//! rest; structurally corrupt ones are rejected even when the CRC is ignored).

use std::path::{Path, PathBuf};

use rdbtool::ErrorKind;
use rdbtool::dump::read::{DumpOptions, parse, validate};
use rdbtool::rdb::read::Scratch;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

fn check(data: &[u8], opts: &DumpOptions) -> rdbtool::Result<()> {
    let d = parse(data, opts)?;
    validate(&d.value, &mut Scratch::default())
}

#[test]
fn corpus_payloads() {
    let exp_dir = corpus().join("expected/dump");
    let Ok(groups) = std::fs::read_dir(&exp_dir) else {
        eprintln!("skipping: no shared corpus at {}", exp_dir.display());
        return;
    };
    let (mut accepted, mut corrupt, mut by_crc) = (0, 0, 0);
    let mut failures = Vec::new();
    for g in groups {
        let g = g.unwrap().path();
        for f in std::fs::read_dir(&g).unwrap() {
            let f = f.unwrap().path();
            let exp: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            let data = std::fs::read(corpus().join(exp["file"].as_str().unwrap())).unwrap();
            let name = exp["file"].as_str().unwrap().to_string();
            let expect = exp["expect"].as_str().unwrap_or("");
            let strict = check(&data, &DumpOptions::default());
            if expect == "accept" {
                accepted += 1;
                if let Err(e) = strict {
                    failures.push(format!("{name}: valid payload rejected: {e}"));
                }
                continue;
            }
            corrupt += 1;
            // The footer CRC, recomputed with the reference (bytewise) crate.
            let foot = data.len().saturating_sub(8);
            let crc_bad =
                data.len() >= 10 && crc64::crc64(0, &data[..foot]).to_le_bytes() != data[foot..];
            match (&strict, crc_bad) {
                (Ok(()), _) => failures.push(format!("{name}: corrupt payload accepted")),
                (Err(e), true) => {
                    if matches!(e.kind(), ErrorKind::Checksum { .. }) {
                        by_crc += 1;
                    } else {
                        failures.push(format!("{name}: expected a checksum error, got {e}"));
                    }
                }
                (Err(e), false) => {
                    if !matches!(e.kind(), ErrorKind::Parse(_)) {
                        failures.push(format!("{name}: expected a structural error, got {e}"));
                    }
                }
            }
            // Structure alone must also reject the payload (except the ones
            // whose source test expects the server to accept the RESTORE).
            let loose = DumpOptions {
                verify_crc: false,
                ..DumpOptions::default()
            };
            let must_reject = expect.starts_with("reject");
            if must_reject && check(&data, &loose).is_ok() {
                failures.push(format!("{name}: structurally corrupt payload accepted"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(accepted, 2);
    assert!(corrupt >= 72, "{corrupt}");
    assert!(by_crc > 0, "{by_crc}");
}

#[path = "common/writer_redis.rs"]
mod writer_redis;

/// Live DUMP/RESTORE on redis-server 7.0: every payload the server writes
/// parses and passes deep validation; payloads rdbtool writes for the same
/// values RESTORE into a fresh server with the same digest; a payload with
/// one flipped byte is refused by both.
#[test]
fn live_dump_restore_redis70() {
    use rdbtool::model::owned::OwnedValue;
    use rdbtool::rdb::write::{RdbVersion, ValueEncoder};
    use rdbtool::restore::client::Reply;
    use writer_redis::*;
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let src = Server::start(&bin, None, &[]);
    populate(
        &src,
        42,
        Features {
            streams: true,
            functions: false,
            field_ttl: false,
        },
    );
    let dst = Server::start(&bin, None, &[]);
    let (mut cs, mut cd) = (src.client(), dst.client());
    let mut enc = ValueEncoder::new(true);
    let v10 = RdbVersion::new(10).unwrap();
    let mut n = 0;
    for (db, key) in all_keys(&src) {
        let sel = db.to_string();
        cs.call(&[b"SELECT", sel.as_bytes()]).unwrap();
        cd.call(&[b"SELECT", sel.as_bytes()]).unwrap();
        let Reply::Bulk(Some(payload)) = cs.call(&[b"DUMP", &key]).unwrap() else {
            panic!("DUMP")
        };
        let d = parse(&payload, &DumpOptions::default()).unwrap();
        assert_eq!(d.version, 10);
        let mut scratch = Scratch::default();
        validate(&d.value, &mut scratch).unwrap();
        let owned = OwnedValue::from_value(&d.value, &mut scratch).unwrap();
        let mut ours = Vec::new();
        rdbtool::dump::write::encode(&owned, v10, None, &mut enc, &mut ours).unwrap();
        // Our payload verifies with our reader, and the server takes it.
        parse(&ours, &DumpOptions::default()).unwrap();
        let r = cd.call(&[b"RESTORE", &key, b"0", &ours]).unwrap();
        assert!(r.error().is_none(), "{r:?}");
        if let Reply::Int(ms) = cs.call(&[b"PEXPIRETIME", &key]).unwrap()
            && ms > 0
        {
            cd.call(&[b"PEXPIREAT", &key, ms.to_string().as_bytes()])
                .unwrap();
        }
        n += 1;
        if n == 1 {
            let mut bad = payload.clone();
            bad[1] ^= 0x40;
            let e = parse(&bad, &DumpOptions::default()).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::Checksum { .. }), "{e}");
            let r = cd.call(&[b"RESTORE", b"corrupt", b"0", &bad]).unwrap();
            assert!(r.error().is_some_and(|e| e.contains("checksum")), "{r:?}");
        }
    }
    assert!(n > 200);
    assert_same(&src, &dst, "RESTORE of rdbtool payloads");
}
