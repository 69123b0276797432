#!/usr/bin/env bash
# Measures `rdbtool aof rewrite` against redis-server on the same AOF:
#   1. a redis-server 7.0 (appendonly yes) is driven by redis-benchmark
#      until its AOF reaches SIZE_MB (strings, lists, sets, zsets, hashes);
#   2. a fresh redis-server loads that AOF directory, then runs BGREWRITEAOF
#      (time to ready + rewrite time; CPU of the server and its rewrite
#      child; peak RSS = VmHWM);
#   3. rdbtool aof rewrite on the same directory (wall, CPU, peak RSS), and
#      the ratios of the two;
#   4. a fresh server loads rdbtool's output: DEBUG DIGEST must be the same.
# Usage: bench/aof-rewrite.sh [SIZE_MB]   (default 700). Needs ~3x SIZE_MB of disk.
#        bench/aof-rewrite.sh AOF_DIR     measure an existing multi-part AOF
#        directory instead (e.g. .bench-data/aof-1m from bench/gen-dataset.py).
# Extra arguments for `rdbtool aof rewrite` (e.g. --partitions 1, --jobs 1)
# go in REWRITE_ARGS. The load average before and after is printed: on a
# shared machine wall times swing with it, CPU times much less.
set -euo pipefail
SIZE_MB=${1:-700}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/rdbtool
W=$(mktemp -d /tmp/rdbtool-bench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -d "$SIZE_MB" ]; then
  mkdir -p "$W/src"; cp -r "$SIZE_MB" "$W/src/appendonlydir"
  aof_mb() { du -sm "$W/src/appendonlydir" | cut -f1; }
else
P=$(port); mkdir -p "$W/src"
redis-server --port "$P" --bind 127.0.0.1 --dir "$W/src" --appendonly yes --appendfsync no \
  --save "" --auto-aof-rewrite-percentage 0 --daemonize no --logfile "$W/src.log" &
SRC=$!
until redis-cli -p "$P" ping >/dev/null 2>&1; do sleep 0.05; done
aof_mb() { du -sm "$W/src/appendonlydir" | cut -f1; }
while [ "$(aof_mb)" -lt "$SIZE_MB" ]; do
  redis-benchmark -p "$P" -q -P 64 -n 250000 -r 2000000 -d 64 -t set,lpush,rpush,sadd,zadd,hset,incr >/dev/null
done
redis-cli -p "$P" shutdown nosave >/dev/null 2>&1 || true; wait $SRC || true
fi
echo "AOF: $(aof_mb) MB, $(ls "$W/src/appendonlydir")"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

P=$(port); mkdir -p "$W/load"; cp -r "$W/src/appendonlydir" "$W/load/"
T0=$(date +%s.%N)
redis-server --port "$P" --bind 127.0.0.1 --dir "$W/load" --appendonly yes --appendfsync no \
  --save "" --auto-aof-rewrite-percentage 0 --daemonize no --logfile "$W/load.log" --enable-debug-command yes &
LOAD=$!
until [ "$(redis-cli -p "$P" info persistence 2>/dev/null | grep -c '^loading:0')" = 1 ]; do sleep 0.05; done
T1=$(date +%s.%N)
redis-cli -p "$P" bgrewriteaof >/dev/null
sleep 0.1
until redis-cli -p "$P" info persistence | grep -q '^aof_rewrite_in_progress:0'; do sleep 0.05; done
T2=$(date +%s.%N)
RSS=$(redis-cli -p "$P" info memory | grep '^used_memory_rss:' | cut -d: -f2 | tr -d '\r')
PEAK=$(redis-cli -p "$P" info memory | grep '^used_memory_peak:' | cut -d: -f2 | tr -d '\r')
DIGEST=$(redis-cli -p "$P" debug digest)
HWM=$(grep VmHWM /proc/$LOAD/status | awk '{print $2}')
# utime + stime, plus cutime + cstime: the rewrite child, reaped by then.
TCK=$(getconf CLK_TCK)
CPU=$(awk -v t="$TCK" '{print ($14+$15+$16+$17)/t}' /proc/$LOAD/stat)
redis-cli -p "$P" shutdown nosave >/dev/null 2>&1 || true; wait $LOAD || true
SWALL=$(echo "$T2 - $T0" | bc)
echo "redis-server: load $(echo "$T1 - $T0" | bc) s + BGREWRITEAOF $(echo "$T2 - $T1" | bc) s = $SWALL s wall, CPU $CPU s (server and rewrite child); RSS $((RSS/1048576)) MB, peak RSS (VmHWM) $((HWM/1024)) MB (used_memory_peak $((PEAK/1048576)) MB)"

# --keep-expired: like the server's own rewrite, so the digests compare even
# when TTLs pass during the run (dropping them would differ from a server
# that has not purged them yet).
/usr/bin/time -v "$BIN" aof rewrite "$W/src/appendonlydir" -o "$W/out" --keep-expired ${REWRITE_ARGS:-} 2> "$W/time.txt" || { cat "$W/time.txt"; exit 1; }
grep -E "rewrote" "$W/time.txt"
RWALL=$(awk -F': ' '/Elapsed/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$W/time.txt")
RCPU=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$W/time.txt")
RRSS=$(awk -F': ' '/Maximum resident/ {print int($2/1024)}' "$W/time.txt")
echo "rdbtool aof rewrite: $RWALL s wall ($(echo "scale=0; 100*$RWALL/$SWALL" | bc) % of the server's), CPU $RCPU s ($(echo "scale=0; 100*$RCPU/$CPU" | bc) %), peak RSS $RRSS MB ($((100*RRSS*1024/HWM)) %)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

P=$(port); mkdir -p "$W/check"; cp -r "$W/out" "$W/check/appendonlydir"
redis-server --port "$P" --bind 127.0.0.1 --dir "$W/check" --appendonly yes --save "" --daemonize no --logfile "$W/check.log" --enable-debug-command yes &
CHK=$!
until [ "$(redis-cli -p "$P" info persistence 2>/dev/null | grep -c '^loading:0')" = 1 ]; do sleep 0.05; done
D2=$(redis-cli -p "$P" debug digest)
redis-cli -p "$P" shutdown nosave >/dev/null 2>&1 || true; wait $CHK || true
echo "DEBUG DIGEST original $DIGEST, rewrite $D2: $([ "$DIGEST" = "$D2" ] && echo same || echo DIFFERENT)"
if [ "$DIGEST" != "$D2" ] && [ -d "$SIZE_MB" ] && [ -n "$(find "$SIZE_MB" -maxdepth 1 -mmin +60 -name '*.manifest')" ]; then
  echo "note: the AOF is more than an hour old: TTLs passing while the two servers run make their digests differ;"
  echo "      regenerate it (python3 bench/gen-dataset.py --force) to compare digests"
fi
