//! `convert --to parquet`: the file reads back with the `parquet` crate and
//! every row equals what the reader and the memory model say about the
//! key (corpus files written by real servers, and random data a fresh
//! redis-server 7.0 saved, checked against the server itself); DuckDB's
//! Python package reads it and its aggregates agree.

#[path = "common/corpus_files.rs"]
mod corpus_files;
#[path = "common/writer_redis.rs"]
mod writer_redis;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use corpus_files::corpus_rdbs;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use rdbtool::analyze::facts::{ModelConfig, scan};
use rdbtool::analyze::prefix::Splitter;
use rdbtool::cluster::slot::key_slot;
use rdbtool::rdb::read::ReadOptions;
use rdbtool::restore::client::Reply;
use writer_redis::*;

/// One row, by column name.
type Row = BTreeMap<String, Field>;

fn read_rows(path: &Path) -> (Vec<Row>, usize) {
    let r = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let groups = r.metadata().num_row_groups();
    let rows = r
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(n, f)| (n.clone(), f.clone()))
                .collect()
        })
        .collect();
    (rows, groups)
}

fn opt_long(v: Option<i64>) -> Field {
    v.map_or(Field::Null, Field::Long)
}

fn opt_str(v: Option<String>) -> Field {
    v.map_or(Field::Null, Field::Str)
}

/// The row the reader and the model say `path` should give for each key,
/// in file order (the `file` column aside).
fn expected_rows(path: &Path) -> Option<Vec<Row>> {
    let data = std::fs::read(path).unwrap();
    let mut keys = Vec::new();
    let file = scan(
        &data,
        &ReadOptions::default(),
        &ModelConfig::default(),
        None,
        |k| {
            keys.push((
                k.db,
                k.key.to_vec(),
                k.dtype,
                k.mem,
                k.rdb_bytes,
                k.expire_ms,
                k.idle_s,
                k.freq,
            ));
            Ok(())
        },
    )
    .ok()?;
    let split = Splitter::default();
    let (mut path_buf, mut cuts) = (Vec::new(), Vec::new());
    let rows = keys
        .into_iter()
        .map(|(db, key, dtype, mem, rdb_bytes, exp, idle, freq)| {
            split.path(&key, &mut path_buf, &mut cuts);
            let mut r = Row::new();
            let mut put = |n: &str, f: Field| {
                r.insert(n.to_string(), f);
            };
            put("db", Field::Long(db as i64));
            put("key_utf8", opt_str(String::from_utf8(key.clone()).ok()));
            put("slot", Field::Int(key_slot(&key) as i32));
            put("key", Field::Bytes(key.into()));
            put("type", Field::Str(dtype.name().into()));
            put("encoding", Field::Str(mem.encoding.name().into()));
            put("expire_at_ms", opt_long(exp));
            put(
                "ttl_ms",
                opt_long(exp.zip(file.ctime_ms).map(|(e, c)| e - c)),
            );
            put("memory_bytes", Field::Long(mem.bytes as i64));
            put("elements", Field::Long(mem.elements as i64));
            put("largest_element", Field::Long(mem.largest_element as i64));
            put("serialized_bytes", Field::Long(rdb_bytes as i64));
            put("idle_s", opt_long(idle.map(|v| v as i64)));
            put("freq", freq.map_or(Field::Null, |v| Field::Int(v as i32)));
            for i in 0..3 {
                put(
                    &format!("prefix{}", i + 1),
                    opt_str(
                        cuts.get(i)
                            .map(|&c| String::from_utf8_lossy(&path_buf[..c]).into_owned()),
                    ),
                );
            }
            r
        })
        .collect();
    Some(rows)
}

/// Key lines of the JSONL export: a second count from another consumer.
fn exported_keys(path: &Path, dir: &Path) -> usize {
    let out = dir.join("keys.jsonl");
    rdbtool(&["export", p(path), "-o", p(&out)]);
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("{\"db\":"))
        .count()
}

fn field_str(r: &Row, n: &str) -> String {
    match &r[n] {
        Field::Str(s) => s.clone(),
        f => panic!("{n}: {f:?}"),
    }
}

#[test]
fn corpus_files_read_back_with_the_reader_values() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = corpus_rdbs();
    // Files the reader (or the model) rejects cannot be exported either.
    let expected: Vec<(PathBuf, Vec<Row>)> = files
        .into_iter()
        .filter_map(|f| expected_rows(&f).map(|rows| (f, rows)))
        .collect();
    assert!(expected.len() >= 60, "only {} corpus files", expected.len());
    let dir = TempDir::new("parquet");
    let out = dir.path().join("all.parquet");
    let mut args = vec!["convert"];
    args.extend(expected.iter().map(|(f, _)| p(f)));
    args.extend(["--to", "parquet", "-o", p(&out), "--row-group-rows", "50"]);
    rdbtool(&args);
    let (rows, groups) = read_rows(&out);
    let total: usize = expected.iter().map(|(_, r)| r.len()).sum();
    assert_eq!(rows.len(), total);
    assert!(groups >= total / 50, "{groups} row groups for {total} rows");
    let mut by_file: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for mut r in rows {
        let f = field_str(&r, "file");
        r.remove("file");
        by_file.entry(f).or_default().push(r);
    }
    let mut compared = 0;
    for (f, want) in &expected {
        let got = by_file.remove(p(f)).unwrap_or_default();
        assert_eq!(got.len(), want.len(), "{}: row count", f.display());
        if f.starts_with(root.join("corpus")) {
            assert_eq!(got.len(), exported_keys(f, dir.path()), "{}", f.display());
        }
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g, w, "{} row {i}", f.display());
        }
        compared += got.len();
    }
    assert!(
        by_file.is_empty(),
        "rows of unknown files: {:?}",
        by_file.keys()
    );
    assert!(compared > 1000, "only {compared} rows compared");
}

/// The Python that has (or should have) DuckDB: scripts/install-duckdb.sh
/// installs it with this interpreter's pip.
fn duckdb_python() -> Option<&'static str> {
    let has = |py: &str| {
        Command::new(py)
            .args(["-c", "import duckdb"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has("python3") {
        return Some("python3");
    }
    // Missing: a failure, unless PyPI cannot be reached at all (then the
    // install script could not have installed it either).
    let reachable = Command::new("python3")
        .args(["-m", "pip", "index", "versions", "duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        !reachable,
        "DuckDB's Python package is missing but PyPI is reachable: run scripts/install-duckdb.sh"
    );
    eprintln!("skipping the DuckDB check: duckdb is not installed and pip cannot reach PyPI");
    None
}

/// Runs `sql` in DuckDB over `file` (bound as the view `k`); the result
/// rows as tab-separated lines.
fn duckdb(py: &str, file: &Path, sql: &str) -> Vec<String> {
    let script = r#"
import sys, duckdb
con = duckdb.connect()
con.read_parquet(sys.argv[1]).create_view("k")
for row in con.execute(sys.argv[2]).fetchall():
    print("\t".join("NULL" if v is None else str(v) for v in row))
"#;
    let out = Command::new(py)
        .args(["-c", script, p(file), sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn long(r: &Row, n: &str) -> Option<i64> {
    match &r[n] {
        Field::Long(v) => Some(*v),
        Field::Null => None,
        f => panic!("{n}: {f:?}"),
    }
}

/// A redis-server 7.0 filled with random data (streams and functions when
/// `all`), and the RDB it saved; `None` (skip) without redis-server.
fn saved_redis70(seed: u64, all: bool) -> Option<(PathBuf, Server, PathBuf)> {
    let Some(bin) = redis70() else {
        eprintln!("skipping: no redis-server");
        return None;
    };
    let src = Server::start(&bin, None, &[]);
    let f = Features {
        streams: all,
        functions: all,
        field_ttl: false,
    };
    populate(&src, seed, f);
    let dump = src.save();
    Some((bin, src, dump))
}

/// `rdbtool convert IN --to parquet -o OUT EXTRA...`; its stderr.
fn to_parquet(input: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["convert", p(input), "--to", "parquet", "-o", p(out)];
    args.extend(extra);
    rdbtool(&args)
}

#[test]
fn redis70_random_data_matches_the_server_and_duckdb() {
    let Some((bin, src, dump)) = saved_redis70(6, true) else {
        return;
    };
    let dir = TempDir::new("parquet-srv");
    let out = dir.path().join("k.parquet");
    to_parquet(&dump, &out, &["--row-group-rows", "64"]);
    let (rows, groups) = read_rows(&out);
    assert_eq!(rows.len() as i64, src.key_count());
    assert_eq!(groups, rows.len().div_ceil(64));
    assert!(!rows[0].contains_key("file"), "one input: no file column");
    // Every key, its type, encoding and absolute TTL as the server says;
    // its slot as a cluster-mode server computes it.
    let cluster = Server::start(&bin, None, &["--cluster-enabled", "yes"]);
    let mut cc = cluster.client();
    let mut c = src.client();
    let mut got_keys = Vec::new();
    for r in &rows {
        let Field::Bytes(key) = &r["key"] else {
            panic!("key: {:?}", r["key"])
        };
        let key = key.data().to_vec();
        let db = long(r, "db").unwrap();
        got_keys.push((db as u64, key.clone()));
        c.call(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
        let ask = |c: &mut rdbtool::restore::client::Client, argv: &[&[u8]]| c.call(argv).unwrap();
        let t = ask(&mut c, &[b"TYPE", &key]);
        assert_eq!(Some(field_str(r, "type").as_bytes()), t.bytes());
        let e = ask(&mut c, &[b"OBJECT", b"ENCODING", &key]);
        assert_eq!(Some(field_str(r, "encoding").as_bytes()), e.bytes());
        let Reply::Int(pexp) = ask(&mut c, &[b"PEXPIRETIME", &key]) else {
            panic!("PEXPIRETIME")
        };
        assert_eq!(long(r, "expire_at_ms"), (pexp >= 0).then_some(pexp));
        let Reply::Int(slot) = ask(&mut cc, &[b"CLUSTER", b"KEYSLOT", &key]) else {
            panic!("CLUSTER KEYSLOT")
        };
        assert_eq!(r["slot"], Field::Int(slot as i32));
    }
    got_keys.sort();
    assert_eq!(got_keys, all_keys(&src));

    let Some(py) = duckdb_python() else {
        return;
    };
    // Aggregates from the crate's reading vs DuckDB's.
    let mut by_type: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &rows {
        let e = by_type.entry(field_str(r, "type")).or_default();
        e.0 += 1;
        e.1 += long(r, "memory_bytes").unwrap();
    }
    let want: Vec<String> = by_type
        .iter()
        .map(|(t, (n, m))| format!("{t}\t{n}\t{m}"))
        .collect();
    let got = duckdb(
        py,
        &out,
        "select type, count(*), sum(memory_bytes) from k group by type order by type",
    );
    assert_eq!(got, want);
    let with_ttl = rows.iter().filter(|r| long(r, "ttl_ms").is_some()).count();
    let got = duckdb(
        py,
        &out,
        "select count(*), count(ttl_ms), count(distinct (db, key)), min(slot) >= 0 and max(slot) < 16384 from k",
    );
    assert_eq!(
        got,
        vec![format!("{}\t{with_ttl}\t{}\tTrue", rows.len(), rows.len())]
    );
    // The prefix columns group as the analyzers' prefix tree does.
    let got = duckdb(
        py,
        &out,
        "select prefix1, count(*) from k where db = 0 group by prefix1 order by prefix1 nulls first",
    );
    let mut want: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| long(r, "db") == Some(0)) {
        let pf = match &r["prefix1"] {
            Field::Str(s) => Some(s.clone()),
            _ => None,
        };
        *want.entry(pf).or_default() += 1;
    }
    let want: Vec<String> = want
        .iter()
        .map(|(k, n)| format!("{}\t{n}", k.as_deref().unwrap_or("NULL")))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn filters_and_db_map_apply() {
    let Some((_, src, dump)) = saved_redis70(7, false) else {
        return;
    };
    let dir = TempDir::new("parquet-filter");
    let out = dir.path().join("k.parquet");
    let err = to_parquet(
        &dump,
        &out,
        &[
            "--db",
            "1",
            "--db-map",
            "1=9",
            "--type",
            "hash",
            "--row-group-rows",
            "5",
        ],
    );
    let (rows, groups) = read_rows(&out);
    let want = all_keys(&src)
        .into_iter()
        .filter(|(db, k)| {
            let mut c = src.client();
            c.call(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
            *db == 1 && c.call(&[b"TYPE", k]).unwrap().bytes() == Some(b"hash")
        })
        .count();
    assert!(want > 0);
    assert_eq!(rows.len(), want);
    assert_eq!(groups, want.div_ceil(5));
    assert!(rows.iter().all(|r| long(r, "db") == Some(9)));
    assert!(err.contains(&format!("{want} rows")), "{err}");
    // Several inputs are for Parquet only.
    let (code, msg) = rdbtool_status(&[
        "convert",
        p(&dump),
        p(&dump),
        "--to",
        "jsonl",
        "-o",
        p(&dir.path().join("x.jsonl")),
    ]);
    assert_eq!(code, 2, "{msg}");
}
