#!/usr/bin/env bash
# Appender throughput (ops/s) of rdbtool::persist under each appendfsync
# policy, next to redis-server's own AOF with the same policy measured in
# the same run on the same disk:
#   redis-benchmark -t set -n $OPS -q  (50 clients, 3-byte values, 127.0.0.1)
#   against redis-server --appendonly yes --appendfsync <policy>
# (and with -c 1), and examples/persist_bench.rs: 50 threads (and 1)
# appending the same SET
# commands, each waiting until its command is as durable as the policy says.
# Usage: bench/persist.sh [OPS]   (default 100000; files go to $BENCH_DIR or /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
OPS=${1:-100000}
BASE=${BENCH_DIR:-/tmp}/rdbtool-persist-bench.$$
mkdir -p "$BASE"
trap 'rm -rf "$BASE"' EXIT
cargo build --release --quiet --example persist_bench
BIN=target/release/examples/persist_bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis_ops() { # policy clients requests -> requests per second
  local policy=$1 clients=$2 n=$3 port dir pid out
  port=$(free_port); dir="$BASE/redis-$policy-$clients"; mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' \
    --appendonly yes --appendfsync "$policy" --logfile "$dir/log" &
  pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  out=$(redis-benchmark -p "$port" -t set -n "$n" -c "$clients" -q 2>/dev/null | tr '\r' '\n' | grep -E '^SET: [0-9.]+ requests' | tail -1)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$out" | awk '{print int($2)}'
}

ours_ops() { # policy threads ops -> ops per second
  "$BIN" --fsync "$1" --threads "$2" --ops "$3" --dir "$BASE/ours-$1-$2" |
    sed -E 's/.*ops_per_s=([0-9]+).*/\1/'
}

printf '%-11s %17s %17s %17s %17s\n' appendfsync 'redis (50 clients)' 'persist (50 thr)' 'redis (1 client)' 'persist (1 thr)'
for p in always everysec no; do
  # One client under `always` pays one fdatasync per command: fewer ops.
  n1=$OPS; [ "$p" = always ] && n1=$(( OPS / 100 > 500 ? OPS / 100 : 500 ))
  r50=$(redis_ops "$p" 50 "$OPS")
  o50=$(ours_ops "$p" 50 "$OPS")
  r1=$(redis_ops "$p" 1 "$n1")
  o1=$(ours_ops "$p" 1 "$n1")
  printf '%-11s %17s %17s %17s %17s\n' "$p" "$r50" "$o50" "$r1" "$o1"
done
echo "(ops/s; $OPS SET commands each, 1-thread always: OPS/100; $(nproc) cores; disk of $BASE: $(df --output=source "$BASE" | tail -1))"
