#!/usr/bin/env bash
# Install DuckDB's Python package for python3 (the Parquet tests query the
# exported files with it). Idempotent; prints nothing on success. When pip
# cannot install it, a warning is printed and the test decides: it fails
# if PyPI is reachable, and skips (saying why) only when it is not.
set -u -o pipefail
if python3 -c "import duckdb" >/dev/null 2>&1; then
    exit 0
fi
log="$(mktemp)"
if ! python3 -m pip install --quiet duckdb >"$log" 2>&1; then
    echo "install-duckdb: warning: 'pip install duckdb' failed:" >&2
    tail -n 5 "$log" | sed 's/^/  /' >&2
fi
rm -f "$log"
exit 0
