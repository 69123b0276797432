//! Salvage sets back short damage that a file's CRC-64 trailer locates: a
//! run of 1 to 3 changed bytes anywhere before the trailer of a file a
//! server or tool wrote (the header, a length, a value, the EOF opcode)
//! reads back as the intact file, every key with its value, with one
//! `Repaired` record naming the offset and both byte runs, and the trailer
//! still reporting the mismatch. Without `--salvage`, `check` and the
//! error of any command that fails on the damage name the run the checksum
//! locates.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "common/corpus_files.rs"]
mod corpus_files;
#[path = "common/rng.rs"]
#[allow(dead_code)] // the generator's other helpers serve other tests
mod rng;

use rdbtool::crc::burst::{Burst, max_len};
use rdbtool::rdb::read::{Checksum, ReadOptions, Record, Scratch, read, validate};
use rdbtool::sink::{Flow, FnSink};

/// What a read delivered: every record but the salvage notes (debug
/// text, with values in full), the repairs, and the skipped ranges.
#[derive(Default, PartialEq, Debug)]
struct Read {
    records: Vec<String>,
    keys: usize,
    repaired: Vec<(u64, Vec<u8>, Vec<u8>)>,
    skipped: usize,
    checksum: Option<Checksum>,
}

fn read_all(data: &[u8], salvage: bool) -> Option<Read> {
    let mut out = Read::default();
    let mut scratch = Scratch::default();
    let opts = ReadOptions {
        salvage,
        ..ReadOptions::default()
    };
    let tr = read(
        data,
        &opts,
        &mut FnSink(|r: &Record<'_>| {
            match r {
                Record::Repaired {
                    offset,
                    found,
                    fixed,
                } => out.repaired.push((*offset, found.to_vec(), fixed.to_vec())),
                Record::Skipped { .. } => out.skipped += 1,
                Record::Key(k) => {
                    validate(&k.value, &mut scratch)?;
                    out.keys += 1;
                    out.records.push(format!(
                        "{} {:?} {:?} {:?} {:?} {:?}",
                        k.db,
                        k.key.to_vec(),
                        k.value.raw,
                        k.expire_ms,
                        k.idle_s,
                        k.freq
                    ));
                }
                r => out.records.push(format!("{r:?}")),
            }
            Ok(Flow::Continue)
        }),
    )
    .ok()?;
    out.checksum = Some(tr.checksum);
    Some(out)
}

/// The files with a checksum that read cleanly, every value decoded.
fn checksummed_files() -> Vec<(PathBuf, Vec<u8>, Read)> {
    corpus_files::corpus_rdbs()
        .into_iter()
        .filter_map(|p| {
            let data = std::fs::read(&p).ok()?;
            let intact = read_all(&data, false)?;
            matches!(intact.checksum, Some(Checksum::Ok { .. })).then_some((p, data, intact))
        })
        .collect()
}

#[test]
fn salvage_sets_back_short_damage_the_checksum_locates() {
    let files = checksummed_files();
    assert!(
        files.len() >= 10,
        "too few checksummed files: {}",
        files.len()
    );
    let mut rng = rng::Rng::new(0x00c0_ffee);
    let mut copies = 0;
    for (path, data, intact) in &files {
        let foot = data.len() - 8;
        let max = max_len(foot);
        assert!(max >= 1, "{}: no run short enough", path.display());
        for copy in 0..40 {
            let len = 1 + copy % max;
            let offset = rng.below(foot - len + 1);
            // First and last byte changed, any bits between.
            let first = rng.range(1, 255);
            let last = if len == 1 { 0 } else { rng.range(1, 255) };
            let between =
                rng.u64() & ((1u64 << (8 * len)) - 1) & !0xff & !(0xff << (8 * (len - 1)));
            let xor = first | last << (8 * (len - 1)) | between;
            let burst = Burst { offset, len, xor };
            let mut d = data.clone();
            burst.apply(&mut d);
            let what = format!("{} copy {copy}: {burst:?}", path.display());
            let got = read_all(&d, true).unwrap_or_else(|| panic!("{what}: salvage failed"));
            assert_eq!(got.records, intact.records, "{what}: records differ");
            assert_eq!(got.skipped, 0, "{what}: skipped ranges");
            let span = offset..offset + len;
            assert_eq!(
                got.repaired,
                vec![(offset as u64, d[span.clone()].to_vec(), data[span].to_vec())],
                "{what}"
            );
            let stored = u64::from_le_bytes(data[foot..].try_into().unwrap());
            assert_eq!(
                got.checksum,
                Some(Checksum::Mismatch {
                    stored,
                    computed: crc64::crc64(0, &d[..foot]),
                }),
                "{what}"
            );
            copies += 1;
        }
    }
    eprintln!("{} files, {copies} damaged copies set back", files.len());
}

/// Damage the checksum cannot explain (a run longer than it locates) is
/// left to the resync, and a file read with `--no-checksum` is not
/// repaired at all.
#[test]
fn longer_damage_and_no_checksum_are_not_repaired() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/redis-7.0/encodings.rdb");
    let data = std::fs::read(p).unwrap();
    let mut d = data.clone();
    // 4 bytes in the middle: one more than a file this size allows.
    assert_eq!(max_len(d.len() - 8), 3);
    let at = d.len() / 2;
    for b in &mut d[at..at + 4] {
        *b ^= 0x5a;
    }
    let got = read_all(&d, true).unwrap();
    assert!(got.repaired.is_empty());
    let mut one = data.clone();
    one[at] ^= 1;
    let opts = ReadOptions {
        salvage: true,
        verify_checksum: false,
        ..ReadOptions::default()
    };
    let mut repaired = 0;
    read(
        &one,
        &opts,
        &mut FnSink(|r: &Record<'_>| {
            repaired += usize::from(matches!(r, Record::Repaired { .. }));
            Ok(Flow::Continue)
        }),
    )
    .unwrap();
    assert_eq!(repaired, 0);
}

#[test]
fn check_names_the_damage_the_checksum_locates() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/redis-8.2/encodings.rdb");
    let mut data = std::fs::read(p).unwrap();
    let intact_keys = read_all(&data, false).unwrap().keys;
    let at = data.len() / 3;
    let was = data[at];
    data[at] ^= 0x10;
    let dir = std::env::temp_dir().join(format!("rdbtool-repair-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("flipped.rdb");
    std::fs::write(&f, &data).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
            .args(args)
            .arg(&f)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        (o.status.code(), out + &err)
    };
    let (code, out) = run(&["check"]);
    assert_eq!(code, Some(1), "{out}");
    let hint = format!(
        "1 byte(s) at offset {at} (0x{at:x}) hold {:02x} where the checksum gives {was:02x}",
        data[at]
    );
    assert!(out.contains(&hint), "{out}");
    let (code, out) = run(&["check", "--salvage"]);
    assert_eq!(code, Some(1), "{out}");
    let line = format!(
        "SALVAGE repaired 1 byte at offset {at} (0x{at:x}): the file holds {:02x}, its checksum gives {was:02x}",
        data[at]
    );
    assert!(out.contains(&line), "{out}");
    assert!(out.contains("every record read"), "{out}");
    assert!(
        out.contains(&format!(
            "salvage set 1 damaged byte(s) at offset {at} back from it and read every record"
        )),
        "{out}"
    );
    assert_eq!(read_all(&data, true).unwrap().keys, intact_keys);
    assert!(
        out.contains(&format!("[info] {intact_keys} keys read")),
        "{out}"
    );
    // Any command that fails on the damage names the run on stderr.
    let (code, out) = run(&["inspect"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "rdbtool: hint: the file's CRC-64 locates the damage: {hint}"
        )),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
