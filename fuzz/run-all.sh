#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each and prints, per
# target: executions, coverage (cov/ft from libFuzzer's final status line),
# corpus size, peak RSS and the crash/timeout/OOM artifacts it wrote.
#
#   fuzz/run-all.sh SECONDS [TARGET...]      (JOBS=2 runs two at a time)
#
# Seeds are rebuilt at each run from the repository's corpus/ and, when
# present, ../shared/corpus (copied in, never committed): whole files for
# rdb_read and rdb_roundtrip, AOF files and manifests for aof_read and
# aof_manifest, DUMP payloads, and for the other targets the structures and
# exports `seeds` makes from them (records_roundtrip starts from nothing).
# libFuzzer's own finds accumulate in fuzz/corpus/<target> (ignored by
# git). Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: run-all.sh SECONDS [TARGET...]}
shift
jobs=${JOBS:-1}
root=$(cd .. && pwd)
shared="$root/../shared/corpus"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Sanitizer off: the crate is safe Rust (bounds are checked anyway) and
# ASan halves the execution rate; allocation bounds are checked by the
# harness's counting allocator instead.
# Built once up front and run directly, so editing the sources while a long
# campaign runs cannot break it (cargo fuzz run would rebuild).
for t in "${targets[@]}"; do cargo +nightly fuzz build -s none "$t"; done
bin=target/x86_64-unknown-linux-gnu/release
cargo +nightly build --release --example seeds -q

# Per-invocation seed directory, so two invocations can run side by side.
seeds=seeds/$$
rm -rf "$seeds"
mkdir -p "$seeds"/{rdb_read,rdb_roundtrip,aof_read,aof_manifest,dump_payload} logs/last artifacts
trap 'rm -rf "$seeds"' EXIT
sources=("$root/corpus")
[ -d "$shared/rdb" ] && sources+=("$shared/rdb")
# copy_to DIR FILE...: files under hashed names.
copy_to() {
    local d=$1
    shift
    for f; do cp "$f" "$d/$(echo "$f" | md5sum | cut -c1-16)"; done
}
export -f copy_to
find "${sources[@]}" -type f \( -name '*.rdb' -o -path '*/rdb/*' \) -size -4M \
    -exec bash -c 'copy_to "$0/rdb_read" "$@"; copy_to "$0/rdb_roundtrip" "$@"' "$seeds" {} +
# AOF files (single files, BASE/INCR parts) and manifests; DUMP payloads.
aofs=("$root/corpus")
[ -d "$shared/aof" ] && aofs+=("$shared/aof")
find "${aofs[@]}" -type f \( -name '*.aof' -o -name '*.aof.*' \) ! -name '*.manifest' -size -1M \
    -exec bash -c 'copy_to "$0/aof_read" "$@"' "$seeds" {} +
find "${aofs[@]}" -type f -name '*.manifest' \
    -exec bash -c 'copy_to "$0/aof_manifest" "$@"' "$seeds" {} +
[ -d "$shared/dump" ] && find "$shared/dump" -type f -size -1M \
    -exec bash -c 'copy_to "$0/dump_payload" "$@"' "$seeds" {} +
./target/release/examples/seeds "$seeds" "${sources[@]}"

dict_for() {
    case $1 in
        aof_read) echo aof.dict ;;
        aof_manifest) echo manifest.dict ;;
        import_jsonl | import_csv) echo import.dict ;;
        *) echo rdb.dict ;;
    esac
}

max_len_for() {
    case $1 in
        rdb_read | rdb_roundtrip | aof_read) echo 65536 ;;
        rdb_value) echo 32768 ;;
        *) echo 16384 ;;
    esac
}

run_one() {
    set +e
    local t=$1 log="logs/last/$1.log"
    mkdir -p "corpus/$t" "$seeds/$t" "artifacts/$t"
    local before
    before=$(find "artifacts/$t" -type f | wc -l)
    local start=$SECONDS
    "$bin/$t" "corpus/$t" "$seeds/$t" -artifact_prefix="artifacts/$t/" \
        -max_total_time="$secs" -dict="$(dict_for "$t")" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len_for "$t")" -print_final_stats=1 -print_pcs=0 \
        >"$log" 2>&1 || true
    local took=$((SECONDS - start))
    local execs cov ft corp rss
    execs=$(grep -oE 'stat::number_of_executed_units: +[0-9]+' "$log" | awk '{print $2}' | tail -1)
    cov=$(grep -oE '^#[0-9]+.*cov: [0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+' | awk '{print $2}')
    ft=$(grep -oE '^#[0-9]+.*ft: [0-9]+' "$log" | tail -1 | grep -oE 'ft: [0-9]+' | awk '{print $2}')
    corp=$(find "corpus/$t" -type f | wc -l)
    rss=$(grep -oE 'stat::peak_rss_mb: +[0-9]+' "$log" | awk '{print $2}' | tail -1)
    local found
    found=$(($(find "artifacts/$t" -type f | wc -l) - before))
    local crashes
    crashes=$(grep -oE '(crash|oom|timeout|leak|slow-unit)-[0-9a-f]+' "$log" | sort -u | tr '\n' ' ')
    printf '%-13s %6ss %12s %8s %8s %7s %6sMB %3s %s\n' "$t" "$took" "${execs:-?}" "${cov:-?}" \
        "${ft:-?}" "$corp" "${rss:-?}" "$found" "$crashes" >"logs/last/$t.row"
}

printf '%-13s %7s %12s %8s %8s %7s %8s %3s %s\n' target time execs cov ft corpus peak_rss new artifacts
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$t" &
done
wait
for t in "${targets[@]}"; do cat "logs/last/$t.row"; done | tee -a logs/summary.txt
