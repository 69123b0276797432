#!/usr/bin/env bash
# Throughput of `rdbtool restore --cluster` against `restore` into one
# server, on the same RDB (default: the 1M-key dataset of
# bench/gen-dataset.py; db 1 mapped to db 0 for the cluster).
#
#   bench/restore-cluster.sh [RDB] [--pipeline N]
#
# Starts, on 127.0.0.1 (free ports, a temp dir), a 3-master cluster of
# redis-server 7.0 (`redis-cli --cluster create`) and one standalone
# server; times each restore; checks the key counts; stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
RDB=${1:-.bench-data/rdb-1m.rdb}
shift || true
BIN=target/release/rdbtool
[ -x "$BIN" ] || cargo build --release --bin rdbtool
DIR=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() { # name port [args...]
    local name=$1 port=$2
    shift 2
    mkdir -p "$DIR/$name"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$DIR/$name" --save "" \
        --appendonly no --logfile "$DIR/$name/log" "$@" &
    PIDS+=($!)
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
}

NODES=()
for i in 1 2 3; do
    p=$(free_port)
    start "n$i" "$p" --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-port "$(free_port)"
    NODES+=("127.0.0.1:$p")
done
redis-cli --cluster create "${NODES[@]}" --cluster-yes >/dev/null
for n in "${NODES[@]}"; do
    until redis-cli -p "${n#*:}" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
done
SOLO=$(free_port)
start solo "$SOLO"

run() { # label args...
    local label=$1
    shift
    /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KB max RSS (rdbtool)" \
        "$BIN" restore "$RDB" "$@" 2>"$DIR/err" || { cat "$DIR/err"; exit 1; }
    grep -v '^rdbtool: failed' "$DIR/err" | sed "s/^/$label: /"
}

run cluster "redis://${NODES[0]}" --cluster --db-map 1=0 "$@"
total=0
for n in "${NODES[@]}"; do
    total=$((total + $(redis-cli -p "${n#*:}" dbsize)))
done
echo "cluster: $total keys on the masters"
run single "redis://127.0.0.1:$SOLO" "$@"
echo "single: $(redis-cli -p "$SOLO" info keyspace | grep '^db' | tr '\r\n' '  ')"
