//! Import: a JSONL export read back into an RDB loads into a server with
//! the source's DEBUG DIGEST, and exporting the imported file gives the
//! same export byte for byte (the export holds no facts of the file's
//! bytes: format_version 2); the import is deterministic. CSV round-trips
//! for string/hash/list/set/zset data.

#[path = "common/writer_redis.rs"]
mod writer_redis;

use std::path::Path;

use writer_redis::*;

fn round_trip(bin: &Path, f: Features, seed: u64) {
    let src = Server::start(bin, None, &[]);
    populate(&src, seed, f);
    let dump = src.save();
    let dir = TempDir::new("import");
    let d = |n: &str| dir.path().join(n);
    rdbtool(&["export", p(&dump), "-o", p(&d("e1.jsonl"))]);
    rdbtool(&["import", p(&d("e1.jsonl")), "-o", p(&d("i1.rdb"))]);
    rdbtool(&["export", p(&d("i1.rdb")), "-o", p(&d("e2.jsonl"))]);
    rdbtool(&["import", p(&d("e2.jsonl")), "-o", p(&d("i2.rdb"))]);
    rdbtool(&["export", p(&d("i2.rdb")), "-o", p(&d("e3.jsonl"))]);
    let read = |n: &str| std::fs::read_to_string(d(n)).unwrap();
    let (e1, e2, e3) = (read("e1.jsonl"), read("e2.jsonl"), read("e3.jsonl"));
    for (a, b) in e1.lines().zip(e2.lines()) {
        assert_eq!(a, b, "export → import → export differs");
    }
    assert_eq!(e1, e2, "export → import → export not byte-identical");
    assert_eq!(e2, e3, "second round not byte-identical");
    assert_eq!(
        std::fs::read(d("i1.rdb")).unwrap(),
        std::fs::read(d("i2.rdb")).unwrap(),
        "import is not deterministic"
    );
    let s = Server::start(bin, Some(&d("i1.rdb")), &[]);
    assert_same(&src, &s, "export → import → server");
    // The JSON array form imports too.
    rdbtool(&["convert", p(&dump), "-o", p(&d("a.json")), "--to", "json"]);
    rdbtool(&["import", p(&d("a.json")), "-o", p(&d("a.rdb"))]);
    let s = Server::start(bin, Some(&d("a.rdb")), &[]);
    assert_same(&src, &s, "JSON array import");
}

#[test]
fn redis70_jsonl_round_trip() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    round_trip(
        &bin,
        Features {
            streams: true,
            functions: true,
            field_ttl: false,
        },
        700,
    );
}

#[test]
fn redis82_jsonl_round_trip() {
    let Some(bin) = redis82() else {
        eprintln!("skipping: no redis 8.2");
        return;
    };
    round_trip(
        &bin,
        Features {
            streams: true,
            functions: true,
            field_ttl: true,
        },
        820,
    );
}

#[test]
fn csv_round_trip() {
    let Some(bin) = redis82().or_else(redis70) else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let field_ttl = redis82().is_some();
    let src = Server::start(&bin, None, &[]);
    populate(
        &src,
        31,
        Features {
            streams: false,
            functions: false,
            field_ttl,
        },
    );
    let dump = src.save();
    let dir = TempDir::new("csv");
    let d = |n: &str| dir.path().join(n);
    rdbtool(&["convert", p(&dump), "-o", p(&d("k.csv")), "--to", "csv"]);
    let v = if field_ttl { "12" } else { "10" };
    rdbtool(&[
        "import",
        p(&d("k.csv")),
        "-o",
        p(&d("k.rdb")),
        "--rdb-version",
        v,
    ]);
    let s = Server::start(&bin, Some(&d("k.rdb")), &[]);
    assert_same(&src, &s, "CSV → import → server");
}

#[test]
fn csv_minimal_columns() {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return;
    };
    let dir = TempDir::new("csvmin");
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "key,value,field\ns1,hello,\nh1,v1,f1\nh1,v2,f2\n\"with,comma\",x,\n",
    )
    .unwrap();
    let out = dir.path().join("o.rdb");
    rdbtool(&["import", p(&csv), "-o", p(&out), "--rdb-version", "10"]);
    let s = Server::start(&bin, Some(&out), &[]);
    let mut c = s.client();
    use rdbtool::restore::client::Reply;
    assert_eq!(
        c.call(&[b"GET", b"s1"]).unwrap(),
        Reply::Bulk(Some(b"hello".to_vec()))
    );
    assert_eq!(
        c.call(&[b"HGET", b"h1", b"f2"]).unwrap(),
        Reply::Bulk(Some(b"v2".to_vec()))
    );
    assert_eq!(
        c.call(&[b"GET", b"with,comma"]).unwrap(),
        Reply::Bulk(Some(b"x".to_vec()))
    );
    // Rows of one key must be consecutive.
    std::fs::write(&csv, "key,value,field\nh,1,a\ns,2,\nh,3,b\n").unwrap();
    let (code, err) = rdbtool_status(&["import", p(&csv), "-o", p(&dir.path().join("bad.rdb"))]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("consecutive"), "{err}");
}

/// Malformed import lines are bad data (exit 1) naming the line, and
/// leave no output file.
#[test]
fn bad_jsonl_lines_are_reported() {
    let dir = TempDir::new("badjsonl");
    let head = r#"{"record":"header","format":"rdbtool-export","format_version":1,"magic":"REDIS","rdb_version":10}"#;
    for bad in [
        "not json",
        r#"{"db":0,"key":"k","type":"nope","value":"x"}"#,
        r#"{"db":0,"key":"k","type":"zset","value":[["m","high"]]}"#,
        r#"{"db":0,"key":{"b64":"!!"},"type":"string","value":"x"}"#,
        r#"{"db":0,"key":"k","type":"hash","value":[["only-field"]]}"#,
        r#"{"db":0,"key":"s","type":"stream","value":{"entries":[{"id":"5","fields":[]}],"length":1,"last_id":"5-0","groups":[]}}"#,
        r#"{"db":-1,"key":"k","type":"string","value":"x"}"#,
    ] {
        let inp = dir.path().join("in.jsonl");
        std::fs::write(&inp, format!("{head}\n{bad}\n")).unwrap();
        let out = dir.path().join("o.rdb");
        let (code, err) = rdbtool_status(&["import", p(&inp), "-o", p(&out)]);
        assert_eq!(code, 1, "{bad}: {err}");
        assert!(err.contains("line 2"), "{bad}: {err}");
        assert!(!out.exists());
    }
    // A stream whose IDs do not ascend is refused by the writer (exit 1).
    let inp = dir.path().join("in.jsonl");
    std::fs::write(
        &inp,
        format!(
            "{head}\n{}\n",
            r#"{"db":0,"key":"s","type":"stream","value":{"entries":[{"id":"5-0","fields":[["a","b"]]},{"id":"4-0","fields":[["a","b"]]}],"length":2,"last_id":"5-0","groups":[]}}"#
        ),
    )
    .unwrap();
    let (code, err) = rdbtool_status(&["import", p(&inp), "-o", p(&dir.path().join("o.rdb"))]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("out of order"), "{err}");
}
