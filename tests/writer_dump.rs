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
