//! The eviction projection's section of the HTML report: `rdbtool report
//! --html --project-maxmemory --project-policy` on a corpus file written by
//! redis-server 7.0 carries the same figures as `rdbtool project`, and the
//! page renders in a headless browser.

mod common;

use std::path::Path;
use std::process::Command;

use common::browser::browser_check;
use common::mem_redis::temp_dir;

fn rdbtool(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_rdbtool"))
        .args(args)
        .output()
        .expect("run rdbtool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn report_page_carries_the_projection() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/redis-7.0/lru.rdb");
    let file = file.to_str().unwrap();
    let json = |maxmemory: &str| -> serde_json::Value {
        let out = rdbtool(&[
            "project",
            file,
            "--maxmemory",
            maxmemory,
            "--policy",
            "allkeys-lru",
            "--format",
            "json",
        ]);
        serde_json::from_slice(&out).unwrap()
    };
    // A limit halfway between the baseline and what every key needs.
    let whole = json("1gb");
    let (baseline, needed) = (
        whole["baseline"].as_u64().unwrap(),
        whole["needed"].as_u64().unwrap(),
    );
    let limit = ((baseline + needed) / 2).to_string();
    let p = json(&limit);
    let evicted = p["total"]["evicted_keys"].as_u64().unwrap();
    assert!(evicted > 0 && evicted < p["total"]["keys"].as_u64().unwrap());
    let dir = temp_dir("project-html");
    let page = dir.join("report.html");
    rdbtool(&[
        "report",
        file,
        "--html",
        page.to_str().unwrap(),
        "--project-maxmemory",
        &limit,
        "--project-policy",
        "allkeys-lru",
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    let expected = format!(
        "{} of {} keys evicted ({} of {} bytes)",
        evicted, p["total"]["keys"], p["total"]["evicted_bytes"], p["total"]["bytes"]
    );
    assert!(html.contains(&expected), "{expected} not in the page");
    browser_check(
        &page,
        &[
            "projection",
            "projection-types",
            "projection-keys",
            "treemap",
        ],
    );
    let _ = std::fs::remove_dir_all(dir);
}
