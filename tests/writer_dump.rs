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

/// No false alarms: every key of every RDB file in `corpus/` and in
/// ../shared/corpus/rdb that the reader accepts, wrapped as a DUMP payload,
/// passes parse and deep validation (files that need modules or are
/// expected to fail to load are left out).
#[test]
fn validation_accepts_server_written_values() {
    use rdbtool::dump::write::from_raw;
    use rdbtool::rdb::read::{ReadOptions, Record, read};
    use rdbtool::sink::{Flow, FnSink};
    let mut files = Vec::new();
    let mut walk = vec![
        Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        corpus().join("rdb"),
    ];
    while let Some(d) = walk.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk.push(p);
            } else if p.extension().is_some_and(|x| x == "rdb") {
                files.push(p);
            }
        }
    }
    let (mut checked, mut failures) = (0, Vec::new());
    for f in &files {
        // Only files a server loads without help.
        let exp = corpus()
            .join("expected")
            .join(f.strip_prefix(corpus()).unwrap_or(f))
            .with_extension("rdb.json");
        if let Ok(b) = std::fs::read(&exp) {
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            // Empty aggregates load (skipped) but are refused as payloads.
            let empty_keys = v.get("empty_keys_skipped").is_some()
                || v["notes"]
                    .as_str()
                    .is_some_and(|n| n.contains("empty collection"));
            if v.get("load").is_some_and(|l| l != "ok")
                || v.get("module_values").is_some()
                || empty_keys
            {
                continue;
            }
        }
        let data = std::fs::read(f).unwrap();
        // The payload footer carries the file's version (and so its flavor).
        let Ok(h) = rdbtool::rdb::read::parse_header(&data, &ReadOptions::default()) else {
            continue;
        };
        let footer = h.version as u16;
        let mut payload = Vec::new();
        let mut scratch = Scratch::default();
        let _ = read(
            &data,
            &ReadOptions::default(),
            &mut FnSink(|r: &Record<'_>| {
                if let Record::Key(k) = r {
                    let v = k.value;
                    // Modules, arrays and vendor layouts are not validated.
                    if matches!(
                        v.data_type(),
                        rdbtool::model::DataType::Module
                            | rdbtool::model::DataType::Array
                            | rdbtool::model::DataType::Cron
                    ) || v.type_byte > 27
                    {
                        return Ok(Flow::Continue);
                    }
                    payload.clear();
                    from_raw(&mut payload, v.type_byte, v.raw, footer);
                    let r = parse(&payload, &DumpOptions::default())
                        .and_then(|d| validate(&d.value, &mut scratch));
                    checked += 1;
                    if let Err(e) = r {
                        let key = k.key.to_vec().unwrap_or_default();
                        failures.push(format!(
                            "{}: {:?}: {e}",
                            f.display(),
                            String::from_utf8_lossy(&key)
                        ));
                    }
                }
                Ok(Flow::Continue)
            }),
        );
    }
    assert!(checked > 500, "{checked}");
    assert!(
        failures.is_empty(),
        "{} false alarms:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// redis-rdb-cli's `dump` output (RESP `RESTORE` commands for every key of
/// its test RDB): every payload parses, verifies its CRC and validates.
#[test]
fn rdbcli_restore_streams() {
    for name in ["rct_all.rdb.dump", "rct_all.rdb.dump7"] {
        let Ok(data) = std::fs::read(corpus().join("dump/rdbcli").join(name)) else {
            eprintln!("skipping: no shared corpus");
            return;
        };
        let mut rest = data.as_slice();
        let mut payloads = 0;
        let mut versions = std::collections::BTreeSet::new();
        while !rest.is_empty() {
            let (argv, r) = resp_array(rest).unwrap_or_else(|| panic!("{name}: bad RESP"));
            rest = r;
            if argv[0].eq_ignore_ascii_case(b"restore") {
                let d = parse(&argv[3], &DumpOptions::default()).unwrap_or_else(|e| {
                    panic!("{name}: key {:?}: {e}", String::from_utf8_lossy(&argv[1]))
                });
                validate(&d.value, &mut Scratch::default()).unwrap();
                versions.insert(d.version);
                payloads += 1;
            }
        }
        assert!(payloads > 10, "{name}: {payloads}");
        eprintln!("{name}: {payloads} payloads, footer versions {versions:?}");
    }
}

/// One RESP array of bulk strings from the front of `b`.
fn resp_array(b: &[u8]) -> Option<(Vec<Vec<u8>>, &[u8])> {
    fn line(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let i = b.windows(2).position(|w| w == b"\r\n")?;
        Some((&b[..i], &b[i + 2..]))
    }
    let (l, mut r) = line(b)?;
    let n: usize = std::str::from_utf8(l.strip_prefix(b"*")?)
        .ok()?
        .parse()
        .ok()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let (l, r2) = line(r)?;
        let len: usize = std::str::from_utf8(l.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        out.push(r2.get(..len)?.to_vec());
        r = r2.get(len + 2..)?;
    }
    Some((out, r))
}

/// Hostile payloads never panic: valid payloads from the corpus and from
/// rdbtool's writer, mutated (byte flips, truncations, insertions) and
/// parsed with the CRC check off, either validate or fail with an error.
#[test]
fn mutated_payloads_do_not_panic() {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for name in ["rct_all.rdb.dump", "rct_all.rdb.dump7"] {
        let Ok(data) = std::fs::read(corpus().join("dump/rdbcli").join(name)) else {
            eprintln!("skipping: no shared corpus");
            return;
        };
        let mut rest = data.as_slice();
        while let Some((argv, r)) = resp_array(rest) {
            rest = r;
            if argv[0].eq_ignore_ascii_case(b"restore") && argv[3].len() < 4096 {
                seeds.push(argv[3].clone());
            }
        }
    }
    let opts = DumpOptions {
        verify_crc: false,
        ..DumpOptions::default()
    };
    let mut x = 0x243F6A8885A308D3u64;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    let (mut ok, mut err) = (0, 0);
    for round in 0..30_000 {
        let mut p = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rnd(4) {
            let body = p.len().saturating_sub(10).max(1);
            match rnd(4) {
                0 => {
                    let i = rnd(body);
                    p[i] ^= 1 << rnd(8);
                }
                1 => {
                    let i = rnd(body);
                    p[i] = [0, 0xff, 0x80, 0xc3, 0x40, 0xfe][rnd(6)];
                }
                2 => {
                    let i = rnd(body);
                    p.remove(i);
                }
                _ => {
                    let i = rnd(body);
                    p.insert(i, rnd(256) as u8);
                }
            }
        }
        let r = parse(&p, &opts).and_then(|d| validate(&d.value, &mut Scratch::default()));
        if r.is_ok() { ok += 1 } else { err += 1 }
    }
    assert!(
        err > 10_000,
        "mutations mostly rejected: {ok} ok, {err} errors"
    );
}
