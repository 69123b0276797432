//! Key filters of `convert` (`--db`, `--prefix`, `--key-regex`, `--type`,
//! `--expired drop`, `--db-map`) on a file built by `import`, checked by
//! reading the output back.

#[path = "common/writer_redis.rs"]
mod writer_redis;

use writer_redis::*;

fn keys_of(jsonl: &std::path::Path) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = std::fs::read_to_string(jsonl)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let j: serde_json::Value = serde_json::from_str(l).unwrap();
            Some((j["db"].as_u64()?, j["key"].as_str()?.to_string()))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn filters_select_and_map() {
    let dir = TempDir::new("filters");
    let d = |n: &str| dir.path().join(n);
    let lines = [
        r#"{"record":"header","format":"rdbtool-export","format_version":1,"magic":"REDIS","rdb_version":10}"#,
        r#"{"db":0,"key":"user:1","type":"string","expire_at_ms":null,"value":"a"}"#,
        r#"{"db":0,"key":"user:2","type":"hash","expire_at_ms":null,"value":[["f","v"]]}"#,
        r#"{"db":0,"key":"old:1","type":"string","expire_at_ms":1000,"value":"gone"}"#,
        r#"{"db":0,"key":"queue","type":"list","expire_at_ms":null,"value":["x","y"]}"#,
        r#"{"db":2,"key":"user:3","type":"set","expire_at_ms":4102444800000,"value":["m"]}"#,
        r#"{"db":2,"key":"cfg","type":"zset","expire_at_ms":null,"value":[["a",1.5]]}"#,
    ];
    std::fs::write(d("in.jsonl"), lines.join("\n") + "\n").unwrap();
    rdbtool(&["import", p(&d("in.jsonl")), "-o", p(&d("in.rdb"))]);
    let run = |name: &str, extra: &[&str]| {
        let (inp, out) = (d("in.rdb"), d(name));
        let mut args = vec!["convert", p(&inp), "-o", p(&out), "--to", "jsonl"];
        args.extend_from_slice(extra);
        rdbtool(&args);
        keys_of(&out)
    };
    let k = |db: u64, s: &str| (db, s.to_string());
    assert_eq!(run("all.jsonl", &[]).len(), 6);
    assert_eq!(
        run("db2.jsonl", &["--db", "2"]),
        vec![k(2, "cfg"), k(2, "user:3")]
    );
    assert_eq!(
        run("prefix.jsonl", &["--prefix", "user:"]),
        vec![k(0, "user:1"), k(0, "user:2"), k(2, "user:3")]
    );
    assert_eq!(
        run("re.jsonl", &["--key-regex", "^(queue|cfg)$"]),
        vec![k(0, "queue"), k(2, "cfg")]
    );
    assert_eq!(
        run("type.jsonl", &["--type", "hash", "--type", "zset"]),
        vec![k(0, "user:2"), k(2, "cfg")]
    );
    assert!(!run("exp.jsonl", &["--expired", "drop"]).contains(&k(0, "old:1")));
    assert_eq!(run("exp2.jsonl", &["--expired", "drop"]).len(), 5);
    assert_eq!(
        run("map.jsonl", &["--db-map", "2=7", "--type", "set"]),
        vec![k(7, "user:3")]
    );
    // The same filters drive RDB output; the result reads back.
    let out = d("f.rdb");
    rdbtool(&[
        "convert",
        p(&d("in.rdb")),
        "-o",
        p(&out),
        "--to",
        "rdb",
        "--prefix",
        "user:",
        "--db-map",
        "0=3",
    ]);
    rdbtool(&["export", p(&out), "-o", p(&d("f.jsonl"))]);
    assert_eq!(
        keys_of(&d("f.jsonl")),
        vec![k(2, "user:3"), k(3, "user:1"), k(3, "user:2")]
    );
    // Bad flags are usage errors.
    let (code, _) = rdbtool_status(&[
        "convert",
        p(&d("in.rdb")),
        "-o",
        p(&d("x")),
        "--to",
        "rdb",
        "--db-map",
        "zero",
    ]);
    assert_eq!(code, 2);
    let (code, _) = rdbtool_status(&[
        "convert",
        p(&d("in.rdb")),
        "-o",
        p(&d("x")),
        "--to",
        "rdb",
        "--key-regex",
        "(",
    ]);
    assert_eq!(code, 2);
    let (code, _) = rdbtool_status(&[
        "convert",
        p(&d("in.rdb")),
        "-o",
        p(&d("in.rdb")),
        "--to",
        "rdb",
    ]);
    assert_eq!(code, 2, "an input is never overwritten");
}
