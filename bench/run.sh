#!/usr/bin/env bash
# One command for the benchmark: installs the peers into .bench-tools/,
# builds rdbtool --release, generates the datasets into .bench-data/ when
# missing (bench/gen-dataset.py, redis-server 7.0 on 127.0.0.1), and times
# rdbtool against the peers (bench/bench.py), writing bench/results.json.
#
#   bench/run.sh                      # 1M-key dataset, 5 runs each
#   bench/run.sh --sizes 10k --reps 3 # smoke run
#   bench/run.sh --sizes 1m,4m        # also 4M keys (generated on first use)
#   bench/run.sh --aof                # also redis-server AOF load + rewrite
#   bench/run.sh --nice -10           # shared machine: more CPU share, all rows alike
#
# Arguments are passed to bench/bench.py (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.bench-tools"
mkdir -p "$TOOLS"

sizes=1m
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --sizes) sizes="${args[$((i + 1))]}" ;;
        --sizes=*) sizes="${args[$i]#--sizes=}" ;;
    esac
done

# Peers: redis-server / redis-check-rdb (Debian's redis package, 7.0), the
# `rdb` crate's CLI (0.4.0), and GNU time for manual runs.
if ! command -v redis-server >/dev/null || ! command -v redis-check-rdb >/dev/null; then
    bash scripts/install-redis.sh
fi
if [ ! -x "$TOOLS/bin/rdb" ]; then
    cargo install rdb --version 0.4.0 --locked --root "$TOOLS"
fi

cargo build --release --bin rdbtool

for s in ${sizes//,/ }; do
    python3 bench/gen-dataset.py --sizes "$s" --max-age 3600
done

exec python3 bench/bench.py "$@"
