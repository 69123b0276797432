//! The analyzer commands end to end on corpus files written by
//! redis-server: every output format parses and agrees with the others.

use std::path::Path;
use std::process::Command;

fn rdbtool(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run rdbtool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const FILE: &str = "corpus/redis-7.0/encodings.rdb";

#[test]
fn memory_formats_agree() {
    let (code, jsonl) = rdbtool(&["memory", FILE, "--format", "jsonl"]);
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let (code, csv) = rdbtool(&["memory", FILE, "--format", "csv"]);
    assert_eq!(code, 0);
    let mut r = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let head: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        head,
        [
            "database",
            "type",
            "key",
            "size_in_bytes",
            "encoding",
            "num_elements",
            "len_largest_element",
            "expiry",
            "slot"
        ]
    );
    let recs: Vec<csv::ByteRecord> = r.byte_records().map(|x| x.unwrap()).collect();
    assert_eq!(recs.len(), rows.len());
    for (c, j) in recs.iter().zip(&rows) {
        assert_eq!(std::str::from_utf8(&c[3]).unwrap(), j["bytes"].to_string());
        // The slot column: CRC16 of the key (or its hash tag) mod 16384
        // (checked where the key text survived the lossy UTF-8 of stdout).
        assert_eq!(std::str::from_utf8(&c[8]).unwrap(), j["slot"].to_string());
        if !String::from_utf8_lossy(&c[2]).contains('\u{fffd}') {
            let slot = rdbtool::cluster::slot::key_slot(&c[2]);
            assert_eq!(j["slot"], slot);
        }
        assert_eq!(
            j["expire_at_ms"].is_null(),
            c[7].is_empty(),
            "expiry column"
        );
    }
    let (code, table) = rdbtool(&["memory", FILE]);
    assert_eq!(code, 0);
    let total: u64 = rows.iter().map(|j| j["bytes"].as_u64().unwrap()).sum();
    assert!(table.contains(&format!("total: {} keys, {total} bytes", rows.len())));
}

#[test]
fn report_formats_and_sections() {
    let (code, json) = rdbtool(&["report", FILE, "--format", "json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    for s in ["prefixes", "ttl", "waves", "bigkeys", "hotcold", "dataloss"] {
        assert!(doc[s].is_object(), "section {s}");
        // Each section alone gives the same numbers.
        let (code, one) = rdbtool(&["report", s, FILE, "--format", "json"]);
        assert_eq!(code, 0);
        let one: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(one[s], doc[s], "section {s}");
    }
    let keys = doc["keys"].as_u64().unwrap();
    let (_, csv) = rdbtool(&["report", "ttl", FILE, "--format", "csv"]);
    let overall: u64 = csv
        .lines()
        .filter(|l| l.starts_with("ttl,overall,"))
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(overall, keys);
    let (_, jsonl) = rdbtool(&["report", FILE, "--format", "jsonl"]);
    assert!(
        jsonl
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    let (code, _) = rdbtool(&["report", "nosuch", FILE]);
    assert_eq!(code, 2);
    let html = std::env::temp_dir().join(format!("rdbtool-cli-{}.html", std::process::id()));
    let (code, _) = rdbtool(&["report", FILE, "--html", html.to_str().unwrap()]);
    assert_eq!(code, 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg id=\"treemap\""));
    let _ = std::fs::remove_file(html);
    assert!(Path::new(FILE).exists());
}

#[test]
fn diff_of_a_file_with_itself_is_empty() {
    let (code, out) = rdbtool(&["diff", FILE, FILE, "--format", "json"]);
    assert_eq!(code, 0);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["total"]["changed"], 0);
    assert_eq!(d["total"]["added"], 0);
    assert_eq!(d["total"]["unchanged"], d["a_keys"]);
    let (code, lines) = rdbtool(&["diff", FILE, FILE, "--format", "jsonl"]);
    assert_eq!(code, 0);
    assert!(lines.is_empty());
}

/// `inspect` of several files prints each file's trailer in words (it
/// printed the `Debug` form of all but a verified one): a copy whose CRC-64
/// trailer is zeroed reads as written without a checksum.
#[test]
fn inspect_of_several_files_names_each_trailer() {
    let dir = std::env::temp_dir().join(format!("rdbtool-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut data = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(FILE)).unwrap();
    let n = data.len();
    data[n - 8..].fill(0);
    let zeroed = dir.join("zeroed.rdb");
    std::fs::write(&zeroed, &data).unwrap();
    let (code, out) = rdbtool(&["inspect", FILE, zeroed.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"))
            .to_string()
    };
    assert!(
        row("zeroed.rdb").ends_with("disabled (0 in trailer)"),
        "{out}"
    );
    assert!(row("encodings.rdb").ends_with(" ok"), "{out}");
    assert!(!out.contains('{'), "{out}");
}
