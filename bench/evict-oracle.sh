#!/usr/bin/env bash
# The full `rdbtool project` vs redis-server 7.0 table: key counts × type
# mixes × access data (IDLE, FREQ, none) × policies × 50/70/90 % of the
# memory the data needs; two real evictions per case (tests/evict_oracle.rs,
# `projection_table`). Writes the markdown table to OUT (default
# bench/results-evict.md) and prints it.
# `bench/evict-oracle.sh mean [OUT]`: the projection against the server's
# mean — every case the tables (EVICT_TABLES, default results-evict.md and
# results-evict-200k.md) miss, on a fresh file of the same kind: 8 real
# evictions (EVICT_REPEAT) against 40 projection runs (EVICT_PROJ_RUNS;
# `mean_study`; default OUT bench/results-evict-mean.md). EVICT_CASES
# names the cases instead (";"-separated, as the mean table labels them);
# EVICT_MODE=restore measures `--mode restore` the way `restore` does.
# `bench/evict-oracle.sh restore [OUT]`: `--mode restore` against an empty
# server at the target maxmemory that takes the file's keys by RESTORE
# (`restore_table`; default OUT bench/results-evict-restore.md).
# Usage: [EVICT_SIZES=10000,50000,200000] [EVICT_MIXES=small,all,strings,collections] \
#        bench/evict-oracle.sh [OUT]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TEST=projection_table
DEFAULT_OUT=$ROOT/bench/results-evict.md
SCOPE="sizes ${EVICT_SIZES:-10000,50000,200000}, mixes ${EVICT_MIXES:-small,all,strings,collections}"
if [ "${1:-}" = mean ]; then
  shift
  TEST=mean_study
  DEFAULT_OUT=$ROOT/bench/results-evict-mean.md
  CASES="the cases ${EVICT_TABLES:-bench/results-evict.md,bench/results-evict-200k.md} miss"
  [ -n "${EVICT_CASES:-}" ] && CASES="$EVICT_CASES"
  SCOPE="$CASES${EVICT_MODE:+ (EVICT_MODE=$EVICT_MODE)}; ${EVICT_REPEAT:-8} real runs per case, ${EVICT_PROJ_RUNS:-40} projection runs"
fi
if [ "${1:-}" = restore ]; then
  shift
  TEST=restore_table
  DEFAULT_OUT=$ROOT/bench/results-evict-restore.md
  SCOPE="--mode restore: 10k keys, mixes small,all, two real restores (rdbtool restore --pipeline 1) per case, 20 projection runs"
fi
OUT=${1:-$DEFAULT_OUT}
cd "$ROOT"
LOG=$(mktemp /tmp/rdbtool-evict-bench-XXXXXX)
BIN=$(mktemp /tmp/rdbtool-evict-bin-XXXXXX)
trap 'rm -f "$LOG" "$BIN"' EXIT
# The table runs on a copy of the binary: rebuilding meanwhile is safe.
cargo build --release --quiet
cp target/release/rdbtool "$BIN"
chmod +x "$BIN"
export RDBTOOL_BIN=$BIN
set +e
nice -n 10 cargo test --release --test evict_oracle -- --ignored --nocapture "$TEST" 2>&1 | tee "$LOG"
STATUS=${PIPESTATUS[0]}
set -e
{
  echo "# rdbtool project vs redis-server 7.0 evictions"
  echo
  echo "$(date -u +%F), redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), $SCOPE; test status $STATUS."
  echo
  grep '^|' "$LOG"
  echo
  sed -n '/^failures:/,/^\]/p' "$LOG"
} > "$OUT"
echo "table: $OUT"
