//! Loads a page in Debian's headless chromium (when installed) and checks
//! the rendered DOM: the page's script ran and the given elements exist.

use std::path::Path;
use std::process::Command;

use super::mem_redis::temp_dir;

/// Renders `page`; asserts `data-rendered="1"` (set by the page's script)
/// and an element with each of `ids`. Without chromium, says so and
/// returns (the callers check the page's text themselves).
pub fn browser_check(page: &Path, ids: &[&str]) {
    let Some(bin) = ["chromium", "chromium-browser"]
        .iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
    else {
        eprintln!("chromium not installed: checked the page's elements only");
        return;
    };
    let profile = temp_dir("chromium");
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains(r#"data-rendered="1""#),
        "script did not run:\n{}",
        &dom[..dom.len().min(500)]
    );
    for id in ids {
        assert!(
            dom.contains(&format!(r#"id="{id}""#)),
            "no #{id} in the rendered page"
        );
    }
}
