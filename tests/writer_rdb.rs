//! The RDB writer against real servers: random data of every type and
//! encoding written by redis-server → SAVE → rdbtool convert to each target
//! version → loaded by a fresh server → DEBUG DIGEST equal to the source's.

#[path = "common/writer_redis.rs"]
mod writer_redis;

use std::path::Path;

use writer_redis::*;

/// Converts `src` to `version` (extra flags), loads it into `bin`, returns
/// the digest and the key count.
fn load_converted(
    bin: &std::path::Path,
    src: &std::path::Path,
    version: u32,
    extra: &[&str],
) -> (String, i64) {
    let dir = TempDir::new("conv");
    let out = dir.path().join(format!("v{version}.rdb"));
    let v = version.to_string();
    let mut args = vec![
        "convert",
        p(src),
        "-o",
        p(&out),
        "--to",
        "rdb",
        "--rdb-version",
        &v,
    ];
    args.extend_from_slice(extra);
    rdbtool(&args);
    let s = Server::start(bin, Some(&out), &[]);
    (s.digest(), s.key_count())
}

#[test]
fn redis70_versions_7_to_10() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    // Full data for RDB 9 and 10; without streams for 7 and 8 (no layout).
    for (versions, streams) in [(&[9u32, 10][..], true), (&[7, 8][..], false)] {
        let src = Server::start(&bin, None, &[]);
        populate(
            &src,
            7 + versions[0] as u64,
            Features {
                streams,
                functions: true,
                field_ttl: false,
            },
        );
        let want = src.digest();
        let keys = src.key_count();
        let dump = src.save();
        // Same version, every value decoded and re-encoded by rdbtool.
        let (got, n) = load_converted(&bin, &dump, 10, &["--reencode", "--lossy", "functions"]);
        assert_eq!(
            (got.as_str(), n),
            (want.as_str(), keys),
            "RDB 10 re-encoded"
        );
        for &v in versions {
            // Functions cannot be held below RDB 10; v1 streams lose the v2
            // metadata (neither is part of the digest).
            let lossy = match v {
                10 => vec![],
                9 => vec!["--lossy", "functions,stream-meta"],
                _ => vec!["--lossy", "functions"],
            };
            let (got, n) = load_converted(&bin, &dump, v, &lossy);
            assert_eq!(n, keys, "RDB {v}: key count");
            assert_eq!(got, want, "RDB {v}: digest");
        }
    }
}

#[test]
fn redis82_versions_11_and_12() {
    let Some(bin) = redis82() else {
        eprintln!("skipping: no redis 8.2 at .cache/redis82");
        return;
    };
    let src = Server::start(&bin, None, &[]);
    populate(
        &src,
        82,
        Features {
            streams: true,
            functions: true,
            field_ttl: true,
        },
    );
    let want = src.digest();
    let keys = src.key_count();
    let dump = src.save();
    let (got, n) = load_converted(&bin, &dump, 12, &[]);
    assert_eq!((got.as_str(), n), (want.as_str(), keys), "RDB 12");
    let (got, n) = load_converted(&bin, &dump, 12, &["--reencode"]);
    assert_eq!(
        (got.as_str(), n),
        (want.as_str(), keys),
        "RDB 12 re-encoded"
    );
    // RDB 11 cannot hold independent field TTLs: refused without --lossy.
    let dir = TempDir::new("refuse");
    let out = dir.path().join("v11.rdb");
    let (code, err) = rdbtool_status(&[
        "convert",
        p(&dump),
        "-o",
        p(&out),
        "--to",
        "rdb",
        "--rdb-version",
        "11",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("field-ttl"), "{err}");
    assert!(!out.exists());
    // With the loss accepted, the data loads; the digest then equals the
    // source's after the same down-conversion done by commands: a hash
    // whose fields all expire together gets that key TTL, other field TTLs
    // are removed.
    let (got, n) = load_converted(&bin, &dump, 11, &["--lossy", "field-ttl"]);
    assert_eq!(n, keys);
    use rdbtool::restore::client::Reply;
    let mut c = src.client();
    for db in [0, 1, 5] {
        c.call(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
        for i in (0..12).step_by(2) {
            let k = format!("hash:{db}:{i}");
            let Reply::Array(Some(fs)) = c.call(&[b"HKEYS", k.as_bytes()]).unwrap() else {
                panic!("HKEYS {k}")
            };
            let fs: Vec<Vec<u8>> = fs.iter().map(|f| f.bytes().unwrap().to_vec()).collect();
            let mut times = Vec::new();
            for f in &fs {
                let r = c
                    .call(&[b"HPEXPIRETIME", k.as_bytes(), b"FIELDS", b"1", f])
                    .unwrap();
                let Reply::Array(Some(t)) = r else {
                    panic!("{r:?}")
                };
                times.push(t[0].clone());
            }
            let all_same = times.iter().all(|t| *t == times[0] && *t != Reply::Int(-1));
            if let (true, Reply::Int(t)) = (all_same, &times[0]) {
                c.call(&[b"PEXPIREAT", k.as_bytes(), t.to_string().as_bytes(), b"LT"])
                    .unwrap();
                c.call(&[b"PEXPIREAT", k.as_bytes(), t.to_string().as_bytes(), b"NX"])
                    .unwrap();
            }
            for f in &fs {
                c.call(&[b"HPERSIST", k.as_bytes(), b"FIELDS", b"1", f])
                    .unwrap();
            }
        }
    }
    assert_eq!(got, src.digest(), "RDB 11 with field TTLs dropped");
}

/// Every RDB file of the shared corpus that the reader accepts (all
/// versions, Valkey, Dragonfly, KeyDB dialects) re-encoded by the writer
/// into RDB 12 (and Valkey 80 for Valkey files) reads back with the same
/// keys, values and TTLs.
#[test]
fn shared_corpus_reencodes_losslessly() {
    use rdbtool::model::owned::OwnedValue;
    use rdbtool::rdb::read::{ReadOptions, Record, Scratch, parse_header, read};
    use rdbtool::rdb::write::{Loss, RdbSink, RdbSinkOptions, RdbVersion};
    use rdbtool::sink::{Flow, FnSink};

    /// (db, key, expiry, canonical value text) of every key, sorted.
    type Keys = Vec<(u64, Vec<u8>, Option<i64>, String)>;
    fn keys(data: &[u8]) -> rdbtool::Result<Keys> {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        read(
            data,
            &ReadOptions::default(),
            &mut FnSink(|r: &Record<'_>| {
                if let Record::Key(k) = r {
                    let v = OwnedValue::from_value(&k.value, &mut scratch)?;
                    out.push((
                        k.db,
                        k.key.to_vec().unwrap_or_default(),
                        k.expire_ms,
                        normal(v),
                    ));
                }
                Ok(Flow::Continue)
            }),
        )?;
        out.sort();
        Ok(out)
    }
    /// A canonical text of a value: element order where it is significant.
    fn normal(v: OwnedValue) -> String {
        match v {
            OwnedValue::Set(mut s) => {
                s.sort();
                format!("set {s:?}")
            }
            OwnedValue::Zset(mut z) => {
                z.sort_by(|a, b| a.0.cmp(&b.0));
                let z: Vec<_> = z.iter().map(|(m, s)| (m, s.to_bits())).collect();
                format!("zset {z:?}")
            }
            OwnedValue::Hash(mut h) => {
                h.sort_by(|a, b| a.field.cmp(&b.field));
                format!("hash {h:?}")
            }
            OwnedValue::Stream(s) => {
                let e: Vec<_> = s.entries.iter().map(|e| (e.id, &e.fields)).collect();
                let g: Vec<_> = s
                    .groups
                    .iter()
                    .map(|g| {
                        let c: Vec<_> = g
                            .consumers
                            .iter()
                            .map(|c| (&c.name, c.seen_time_ms, &c.pending))
                            .collect();
                        let p: Vec<_> = g
                            .pending
                            .iter()
                            .map(|p| (p.id, p.delivery_count, p.delivery_time_ms))
                            .collect();
                        format!(
                            "{:?} {} {:?} {p:?} {c:?}",
                            g.name, g.last_id, g.entries_read
                        )
                    })
                    .collect();
                format!("stream {e:?} last {} groups {g:?}", s.meta.last_id)
            }
            other => format!("{other:?}"),
        }
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/rdb");
    let mut files = Vec::new();
    let mut walk = vec![dir];
    while let Some(d) = walk.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let (mut done, mut failures) = (0, Vec::new());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let Ok(before) = keys(&data) else { continue };
        let Ok(h) = parse_header(&data, &ReadOptions::default()) else {
            continue;
        };
        let target = if h.flavor == rdbtool::model::Flavor::Valkey {
            80
        } else {
            12
        };
        let mut sink = RdbSink::new(
            Vec::new(),
            RdbSinkOptions {
                version: RdbVersion::new(target),
                reencode: true,
                lossy: vec![Loss::Keys, Loss::StreamMeta, Loss::FieldTtl],
                ..RdbSinkOptions::default()
            },
        );
        if let Err(e) = read(&data, &ReadOptions::default(), &mut sink) {
            failures.push(format!("{}: write: {e}", f.display()));
            continue;
        }
        let out = sink.into_inner().unwrap();
        let after = match keys(&out) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{}: re-read: {e}", f.display()));
                continue;
            }
        };
        // Values the target cannot hold were dropped under `keys`, empty
        // aggregates are left out (servers skip them); every other key must
        // be unchanged.
        let empty =
            |t: &str| !t.starts_with("stream") && (t.ends_with("([])") || t.ends_with(" []"));
        let kept: Vec<_> = before
            .iter()
            .filter(|k| !k.3.starts_with("Opaque") && !k.3.starts_with("Module") && !empty(&k.3))
            .cloned()
            .collect();
        let after: Vec<_> = after
            .into_iter()
            .filter(|k| !k.3.starts_with("Opaque") && !k.3.starts_with("Module") && !empty(&k.3))
            .collect();
        if kept != after {
            let diff = kept.iter().zip(&after).find(|(a, b)| a != b);
            failures.push(format!(
                "{}: {} vs {} keys; first difference {diff:?}",
                f.display(),
                kept.len(),
                after.len()
            ));
        }
        done += 1;
    }
    assert!(done > 80, "{done}");
    assert!(
        failures.is_empty(),
        "{}",
        failures.join("\n").chars().take(6000).collect::<String>()
    );
}
