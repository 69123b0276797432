//! Import errors: a malformed CSV row or JSONL line is bad data (exit 1,
//! `ErrorKind::Import`), and the message names the file, the line (and
//! CSV record), the column or field, what was expected and what was found.

use std::path::PathBuf;
use std::process::Command;

use rdbtool::error::{Error, ErrorKind};
use rdbtool::rdb::write::sink::{RdbSink, RdbSinkOptions};

fn csv(text: &str) -> Error {
    let mut sink = RdbSink::new(Vec::new(), RdbSinkOptions::default());
    rdbtool::import::csv::import(text.as_bytes(), &mut sink, 12).expect_err("the CSV is malformed")
}

fn jsonl(text: &str) -> Error {
    let mut sink = RdbSink::new(Vec::new(), RdbSinkOptions::default());
    rdbtool::import::jsonl::import(text.as_bytes(), &mut sink, 12)
        .map(|_| ())
        .expect_err("the JSONL is malformed")
}

/// Asserts the error is an import error whose message holds every part.
fn check(e: &Error, parts: &[&str]) {
    assert!(
        matches!(e.kind(), ErrorKind::Import(_)),
        "not an import error: {e}"
    );
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "{msg:?} lacks {p:?}");
    }
}

#[test]
fn csv_errors_name_line_column_expected_and_found() {
    check(
        &csv("key,value,db\nk1,v,0\nk2,v,zero\n"),
        &[
            "line 3 (record 3)",
            "column \"db\"",
            "expected a db number",
            "found \"zero\"",
        ],
    );
    check(
        &csv("key,type,value\nk,zset,abc\n"),
        &[
            "line 2",
            "column \"value\"",
            "expected a zset score",
            "found \"abc\"",
        ],
    );
    check(
        &csv("key,type,value\nk,blob,x\n"),
        &[
            "column \"type\"",
            "expected string, hash, list, set or zset",
            "found \"blob\"",
        ],
    );
    check(
        &csv("key,value,expire_at_ms\nk,v,tomorrow\n"),
        &[
            "column \"expire_at_ms\"",
            "expected a Unix time in ms",
            "found \"tomorrow\"",
        ],
    );
    check(
        &csv("key,value\na,1\nb,2\na,3\n"),
        &[
            "line 4 (record 4)",
            "column \"key\"",
            "consecutive",
            "found \"a\"",
        ],
    );
    check(
        &csv("key,value\nk,1\nk,2\n"),
        &[
            "line 3",
            "column \"key\"",
            "one row for a string key",
            "found \"k\"",
        ],
    );
    check(
        &csv("key,value,colour\n"),
        &["line 1 (CSV header)", "column 3", "found \"colour\""],
    );
    check(
        &csv("value,db\n"),
        &[
            "line 1 (CSV header)",
            "expected columns \"key\" and \"value\"",
            "found \"value\", \"db\"",
        ],
    );
    // A quoted value spanning lines: the line is the row's first.
    check(
        &csv("key,type,value\nk,list,\"a\nb\"\nk2,zset,x\n"),
        &["line 4 (record 3)", "column \"value\""],
    );
}

const HEADER: &str = r#"{"record":"header","format_version":2,"rdb_version":11}"#;

#[test]
fn jsonl_errors_name_line_key_field_expected_and_found() {
    let line = |l: &str| format!("{HEADER}\n{l}\n");
    check(
        &jsonl(&line(r#"{"db":0,"key":"k","type":"string","value":5}"#)),
        &[
            "line 2",
            "key \"k\"",
            "field \"value\"",
            "expected a string or {\"b64\": ...}",
            "found the number 5",
        ],
    );
    check(
        &jsonl(&line(r#"{"db":"x","key":"k","type":"string","value":"v"}"#)),
        &[
            "line 2",
            "field \"db\"",
            "expected an unsigned integer",
            "found the string \"x\"",
        ],
    );
    check(
        &jsonl(&line(r#"{"db":0,"key":"k","type":"zset","value":[["m"]]}"#)),
        &[
            "key \"k\"",
            "zset pair: expected [member, score], found an array of 1 items",
        ],
    );
    check(
        &jsonl(&line(
            r#"{"db":0,"key":"k","type":"zset","value":[["m",true]]}"#,
        )),
        &["score: expected a number", "found true"],
    );
    check(
        &jsonl(&line(r#"{"db":0,"key":"k","type":"tree","value":1}"#)),
        &["field \"type\"", "expected string, list", "found \"tree\""],
    );
    check(
        &jsonl(&line(r#"{"db":0,"key":"k","type":"list","value":{"a":1}}"#)),
        &["field \"value\": expected an array, found an object"],
    );
    check(
        &jsonl(&line("{not json")),
        &["line 2", "expected a JSON object, found invalid JSON"],
    );
    check(&jsonl(""), &["empty input"]);
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rdbtool-import-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_cli_names_the_file_and_exits_1() {
    for (name, text, part) in [
        (
            "bad.csv",
            "key,type,value\nk,zset,abc\n",
            "line 2 (record 2), column \"value\"",
        ),
        (
            "bad.jsonl",
            &format!("{HEADER}\n{{\"db\":0}}\n")[..],
            "line 2",
        ),
    ] {
        let input = temp(name, text);
        let out = input.with_extension("rdb");
        let r = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
            .arg("import")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(&input.display().to_string()), "{name}: {err}");
        assert!(err.contains(part), "{name}: {err}");
        assert!(!out.exists(), "{name}: no output on error");
        let _ = std::fs::remove_file(&input);
    }
}
