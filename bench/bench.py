#!/usr/bin/env python3
"""Time rdbtool against its peers on the datasets of bench/gen-dataset.py.

Called by bench/run.sh (which installs the peers and builds rdbtool); can be
run alone:

    python3 bench/bench.py --sizes 1m --reps 5

Every command runs warm (the input is read once, untimed, before its rows),
`--reps` times; a row reports the median, min and max wall time, the CPU time
(user+sys, median), throughput in MB/s of the input file (median), and peak
RSS: total (`ru_maxrss` of the child) and, for rdbtool, the peak of its
anonymous memory (`RssAnon`, sampled from /proc every few ms): the issue's
"RSS ≤ 64 MiB plus the mapped file's resident pages" is `RssAnon`. The timed
runs are not sampled: the sampler wakes every 3 ms on one of the cores and
reads the child's memory counters, which slowed a two-thread rdbtool run
by ~10 % on a 2-core machine (a one-thread peer much less); RSS comes from
one extra, sampled run of each command.

Ratios are peer time / rdbtool time on the medians of the same run (> 1:
rdbtool is faster). Rows for later commands (memory, report, convert, aof
rewrite) run only when `rdbtool <command> --help` succeeds, so the harness
keeps working as they land.

Results go to stdout (a table) and to --json (default bench/results.json).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Niceness of the timed processes (--nice): on a shared machine a negative
# value keeps other jobs from stretching the runs; all rows get the same.
NICE = 0


def _nice():
    if NICE:
        os.nice(NICE)


def set_group_nice(n):
    """With the kernel's autogroup scheduling (one CPU share per session), a
    process's own nice only ranks it inside its session: the session's share
    is set through /proc/self/autogroup (restored by `restore_group_nice`).
    Returns how it was applied and the previous value."""
    try:
        with open("/proc/self/autogroup") as f:
            m = re.search(r"nice (-?\d+)", f.read())
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(n))
        return "autogroup", int(m.group(1)) if m else 0
    except OSError:
        return "process", None


def restore_group_nice(prev):
    if prev is not None:
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(prev))
        except OSError:
            pass


# --------------------------------------------------------------------------
# Running one command
# --------------------------------------------------------------------------
class Sampler(threading.Thread):
    """Polls /proc/PID/status for the peak RssAnon/RssFile of a child."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.anon = 0
        self.file = 0
        self.hwm = 0

    def run(self):
        path = f"/proc/{self.pid}/status"
        while not self.stop.is_set():
            try:
                with open(path) as f:
                    txt = f.read()
            except OSError:
                return
            m = re.search(r"RssAnon:\s+(\d+)", txt)
            if m:
                self.anon = max(self.anon, int(m.group(1)))
            m = re.search(r"RssFile:\s+(\d+)", txt)
            if m:
                self.file = max(self.file, int(m.group(1)))
            m = re.search(r"VmHWM:\s+(\d+)", txt)
            if m:
                self.hwm = max(self.hwm, int(m.group(1)))
            self.stop.wait(0.003)


def run_once(argv, cwd=None, sample=True):
    """Runs argv with stdout to /dev/null; returns wall s, cpu s (from
    wait4), peak RSS and peak anonymous RSS in KiB (sampled from /proc when
    `sample`: the child's ru_maxrss would include the forking Python's
    pages) and the exit status."""
    errf = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errf, cwd=cwd,
                         preexec_fn=_nice if NICE else None)
    s = Sampler(p.pid) if sample else None
    if s:
        s.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if s:
        s.stop.set()
        s.join()
    errf.seek(0)
    err = errf.read().decode(errors="replace")
    errf.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "cpu": ru.ru_utime + ru.ru_stime,
        "maxrss_kib": (s.hwm or None) if s else None,
        "anon_kib": (s.anon or None) if s else None,
        "rc": p.returncode,
        "stderr": err[-400:],
    }


def warm(path):
    """Reads a file or a directory's files once, so runs start warm."""
    p = Path(path)
    files = [p] if p.is_file() else sorted(x for x in p.iterdir() if x.is_file())
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass


# --------------------------------------------------------------------------
# redis-server as a peer
# --------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send(sock, *args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    sock.sendall(b"".join(out))
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    # Bulk replies (INFO): read until the announced length arrived.
    if data.startswith(b"$"):
        n = int(data[1:data.index(b"\r\n")])
        head = data.index(b"\r\n") + 2
        while len(data) < head + n + 2:
            data += sock.recv(1 << 16)
        return data[head:head + n].decode()
    return data.decode(errors="replace").strip()


def _vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+)", f.read())
    return int(m.group(1)) if m else None


def redis_load(source, kind, rewrite=False):
    """Starts redis-server on a copy-free view of `source` (an RDB file, or
    an AOF directory whose files are hard-linked), waits for the load and
    returns the load time the server logs, its peak RSS, and optionally
    the time of a BGREWRITEAOF after the load."""
    with tempfile.TemporaryDirectory(prefix="rdbtool-bench-srv-") as td:
        tmp = Path(td)
        args = ["redis-server", "--port", str(free_port()), "--bind", "127.0.0.1",
                "--dir", str(tmp), "--save", "", "--logfile", str(tmp / "redis.log")]
        if kind == "rdb":
            os.symlink(Path(source).resolve(), tmp / "dump.rdb")
            args += ["--appendonly", "no", "--dbfilename", "dump.rdb"]
        else:
            (tmp / "appendonlydir").mkdir()
            for f in Path(source).iterdir():
                os.link(f, tmp / "appendonlydir" / f.name)
            args += ["--appendonly", "yes", "--appenddirname", "appendonlydir",
                     "--aof-use-rdb-preamble", "no"]
        port = int(args[2])
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=_nice if NICE else None)
        try:
            log = tmp / "redis.log"
            # The total for the whole load (7.0 also logs per-file lines).
            pat = re.compile(r"DB loaded from (disk|append only file): ([0-9.]+) seconds")
            loaded = None
            while proc.poll() is None and time.perf_counter() - t0 < 900:
                txt = log.read_text(errors="replace") if log.exists() else ""
                if "Ready to accept connections" in txt:
                    secs = [float(m.group(2)) for m in pat.finditer(txt)]
                    loaded = sum(secs) if secs else None
                    break
                time.sleep(0.02)
            wall = time.perf_counter() - t0
            if loaded is None:
                raise RuntimeError(f"redis-server did not load {source}")
            res = {"load_s": loaded, "ready_wall_s": wall, "maxrss_kib": _vm_hwm(proc.pid)}
            with socket.create_connection(("127.0.0.1", port), timeout=900) as s:
                if rewrite:
                    t1 = time.perf_counter()
                    _send(s, "BGREWRITEAOF")
                    while True:
                        time.sleep(0.02)
                        info = _send(s, "INFO", "persistence")
                        if ("aof_rewrite_in_progress:0" in info
                                and "aof_rewrite_scheduled:0" in info):
                            break
                    res["rewrite_s"] = time.perf_counter() - t1
                    if "aof_last_bgrewrite_status:ok" not in info:
                        tail = (tmp / "redis.log").read_text(errors="replace")[-1500:]
                        raise RuntimeError(f"BGREWRITEAOF failed; server log:\n{tail}")
                res["keys"] = _send(s, "DBSIZE")
                try:
                    _send(s, "SHUTDOWN", "NOSAVE")
                except OSError:
                    pass
            proc.wait(timeout=60)
            return res
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------
def has_cmd(rdbtool, *words):
    r = subprocess.run([rdbtool, *words, "--help"], capture_output=True)
    return r.returncode == 0


def summarize(name, runs, size, group, peer_of=None, argv=None, extra=None):
    walls = [r["wall"] for r in runs]
    med = statistics.median(walls)
    row = {
        "name": name,
        "group": group,
        "argv": argv,
        "runs": len(runs),
        "median_s": med,
        "min_s": min(walls),
        "max_s": max(walls),
        "cpu_median_s": statistics.median(r["cpu"] for r in runs) if runs[0].get("cpu") is not None else None,
        "mb_per_s": size / 1e6 / med if med > 0 else None,
        "maxrss_kib": max(r["maxrss_kib"] or 0 for r in runs) or None,
        "anon_kib": max((r.get("anon_kib") or 0) for r in runs) or None,
        "peer_of": peer_of,
    }
    if extra:
        row.update(extra)
    return row


def bench_dataset(label, a, tools):
    data = Path(a.data)
    rdb = data / f"rdb-{label}.rdb"
    aof = data / f"aof-{label}"
    meta = json.loads((data / f"rdb-{label}.json").read_text())
    size = rdb.stat().st_size
    aof_size = sum(f.stat().st_size for f in aof.iterdir()) if aof.exists() else 0
    rt = a.rdbtool
    rdb_cli = tools / "bin" / "rdb"
    out_tmp = Path(tempfile.mkdtemp(prefix="rdbtool-bench-out-"))
    rows = []

    def timed(name, group, argv, peer_of=None, inputs=(rdb,), cleanup=None):
        if a.only and not re.search(a.only, name):
            return
        for i in inputs:
            warm(i)
        runs = []
        # The timed runs, then one sampled for memory (see the docstring).
        for rep in range(a.reps + 1):
            r = run_once([str(x) for x in argv], sample=rep == a.reps)
            if cleanup:
                cleanup()
            if r["rc"] != 0:
                print(f"  ! {name} exited {r['rc']}: {r['stderr'].strip()}", file=sys.stderr)
                rows.append({"name": name, "group": group, "failed": r["rc"],
                             "stderr": r["stderr"], "peer_of": peer_of})
                return
            if rep == a.reps:
                runs[0]["maxrss_kib"], runs[0]["anon_kib"] = r["maxrss_kib"], r["anon_kib"]
            else:
                runs.append(r)
        row = summarize(name, runs, size, group, peer_of, [str(x) for x in argv])
        rows.append(row)
        print(f"  {name:<44} {row['median_s']:8.3f} s  ({row['min_s']:.3f}-{row['max_s']:.3f})",
              file=sys.stderr)

    def clean_out():
        for f in out_tmp.iterdir():
            if f.is_dir():
                shutil.rmtree(f)
            else:
                f.unlink()

    print(f"dataset {label}: {rdb} ({size / 1e6:.1f} MB, {meta['keys']} keys)", file=sys.stderr)
    # inspect vs the rdb crate's full iteration and redis-check-rdb
    timed("rdbtool inspect", "inspect", [rt, "inspect", rdb])
    if rdb_cli.exists():
        timed("rdb --format nil (rdb crate 0.4.0)", "inspect", [rdb_cli, "--format", "nil", rdb],
              peer_of="rdbtool inspect")
    if shutil.which("redis-check-rdb"):
        timed("redis-check-rdb", "inspect", ["redis-check-rdb", rdb], peer_of="rdbtool inspect")
    # salvage: reading with every plausibility check, as on a damaged file
    # (`--no-checksum`: a matching CRC lets salvage read an intact file as
    # the reader does), against the plain inspect above
    if has_cmd(rt, "inspect", "--salvage"):
        timed("rdbtool inspect --salvage --no-checksum", "salvage",
              [rt, "inspect", "--salvage", "--no-checksum", rdb])
        plain = next((r for r in rows if r["name"] == "rdbtool inspect"), None)
        if plain and "median_s" in plain:
            rows.append(dict(plain, peer_of="rdbtool inspect --salvage --no-checksum",
                             group="salvage"))
    # export vs the rdb crate's JSON
    timed("rdbtool export --format jsonl", "export", [rt, "export", "--format", "jsonl", rdb])
    if rdb_cli.exists():
        timed("rdb --format json (rdb crate 0.4.0)", "export", [rdb_cli, "--format", "json", rdb],
              peer_of="rdbtool export --format jsonl")
    # later commands, when they exist
    if has_cmd(rt, "memory"):
        timed("rdbtool memory --format csv", "memory", [rt, "memory", "--format", "csv", rdb])
        nil = next((r for r in rows if r["name"].startswith("rdb --format nil")), None)
        if nil and "median_s" in nil:
            rows.append(dict(nil, peer_of="rdbtool memory --format csv", group="memory"))
    if has_cmd(rt, "report"):
        timed("rdbtool report", "report", [rt, "report", rdb])
        nil = next((r for r in rows if r["name"].startswith("rdb --format nil")), None)
        if nil and "median_s" in nil:
            rows.append(dict(nil, peer_of="rdbtool report", group="report"))
    if has_cmd(rt, "convert"):
        timed("rdbtool convert --to rdb", "convert",
              [rt, "convert", rdb, "-o", out_tmp / "out.rdb", "--to", "rdb"], cleanup=clean_out)
    # redis-server loading the same file
    srv_runs = []
    if a.only and not re.search(a.only, "redis-server 7.0 load (RDB)"):
        a.server_reps_rdb = 0
    else:
        a.server_reps_rdb = a.server_reps
    for _ in range(a.server_reps_rdb):
        warm(rdb)
        r = redis_load(rdb, "rdb")
        srv_runs.append({"wall": r["load_s"], "cpu": None, "maxrss_kib": r["maxrss_kib"]})
    if srv_runs:
        row = summarize("redis-server 7.0 load (RDB)", srv_runs, size, "load", None,
                        ["redis-server", "--dbfilename", rdb.name])
        row["peer_of"] = "rdbtool convert --to rdb" if has_cmd(rt, "convert") else None
        rows.append(row)
        print(f"  {row['name']:<44} {row['median_s']:8.3f} s", file=sys.stderr)
    # AOF: redis-server load + BGREWRITEAOF vs rdbtool aof rewrite
    aof_rows = not a.only or re.search(a.only, "rdbtool aof rewrite") \
        or re.search(a.only, "redis-server 7.0 AOF load + BGREWRITEAOF")
    if aof.exists() and aof_rows and (a.aof or has_cmd(rt, "aof", "rewrite")):
        if has_cmd(rt, "aof", "rewrite"):
            timed("rdbtool aof rewrite", "aof", [rt, "aof", "rewrite", aof, "-o", out_tmp / "aof-out"],
                  inputs=(aof,), cleanup=clean_out)
        aruns = []
        for _ in range(a.server_reps):
            warm(aof)
            try:
                r = redis_load(aof, "aof", rewrite=True)
            except RuntimeError as e:
                # One retry: a rewrite child can fail on a loaded machine.
                print(f"  ! {e}; retrying once", file=sys.stderr)
                r = redis_load(aof, "aof", rewrite=True)
            aruns.append({"wall": r["load_s"] + r["rewrite_s"], "cpu": None,
                          "maxrss_kib": r["maxrss_kib"], "load": r["load_s"],
                          "rewrite": r["rewrite_s"]})
        row = summarize("redis-server 7.0 AOF load + BGREWRITEAOF", aruns, aof_size, "aof",
                        "rdbtool aof rewrite" if has_cmd(rt, "aof", "rewrite") else None,
                        ["redis-server", "--appendonly", "yes"],
                        {"load_median_s": statistics.median(x["load"] for x in aruns),
                         "rewrite_median_s": statistics.median(x["rewrite"] for x in aruns)})
        rows.append(row)
        print(f"  {row['name']:<44} {row['median_s']:8.3f} s", file=sys.stderr)
    shutil.rmtree(out_tmp, ignore_errors=True)

    # ratios: peer median / rdbtool median
    by_name = {r["name"]: r for r in rows if "median_s" in r}
    for r in rows:
        tgt = by_name.get(r.get("peer_of") or "")
        if tgt and "median_s" in r:
            r["ratio"] = r["median_s"] / tgt["median_s"]
            if r.get("cpu_median_s") and tgt.get("cpu_median_s"):
                r["cpu_ratio"] = r["cpu_median_s"] / tgt["cpu_median_s"]
    return {"label": label, "file": str(rdb.relative_to(REPO)) if rdb.is_relative_to(REPO) else str(rdb),
            "bytes": size, "keys": meta["keys"], "aof_bytes": aof_size,
            "generated_at_s": meta.get("generated_at_s"), "rows": rows}


def fmt_kib(k):
    if not k:
        return "-"
    return f"{k / 1024:.0f} MiB" if k >= 10240 else f"{k} KiB"


def table(ds):
    """The human table: rdbtool rows with their peers below them."""
    lines = [f"{ds['label']}: {ds['bytes'] / 1e6:.1f} MB RDB, {ds['keys']} keys"
             + (f", AOF {ds['aof_bytes'] / 1e6:.1f} MB" if ds.get("aof_bytes") else "")]
    hdr = f"| {'command':<44} | {'median':>8} | {'min':>7} | {'max':>7} | {'CPU':>7} | {'MB/s':>7} | {'peak RSS':>9} | {'anon RSS':>9} | {'peer/rdbtool':>12} |"
    lines += [hdr, "|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|"]
    for r in ds["rows"]:
        if "failed" in r:
            lines.append(f"| {r['name']:<44} | failed (exit {r['failed']}) |")
            continue
        ratio = f"{r['ratio']:.1f}x" if r.get("ratio") else ""
        cpu = f"{r['cpu_median_s']:.3f}s" if r.get("cpu_median_s") is not None else "-"
        lines.append(
            f"| {r['name'] if not r.get('peer_of') else '  vs ' + r['name']:<44} | {r['median_s']:7.3f}s | "
            f"{r['min_s']:6.3f}s | {r['max_s']:6.3f}s | {cpu:>7} | {r['mb_per_s']:7.0f} | "
            f"{fmt_kib(r['maxrss_kib']):>9} | {fmt_kib(r['anon_kib']):>9} | {ratio:>12} |")
    return "\n".join(lines)


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {mem}, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1m", help="comma-separated dataset labels (10k,1m,4m)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--server-reps", type=int, default=None,
                    help="repetitions of redis-server loads (default: --reps)")
    ap.add_argument("--data", default=str(REPO / ".bench-data"))
    ap.add_argument("--tools", default=str(REPO / ".bench-tools"))
    ap.add_argument("--rdbtool", default=str(REPO / "target" / "release" / "rdbtool"))
    ap.add_argument("--aof", action="store_true",
                    help="time redis-server's AOF load + BGREWRITEAOF even without `rdbtool aof rewrite`")
    ap.add_argument("--json", default=str(REPO / "bench" / "results.json"))
    ap.add_argument("--only", default=None,
                    help="run only the rows whose name matches this regular expression")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness of the timed processes (negative needs root)")
    a = ap.parse_args()
    global NICE
    how, prev = set_group_nice(a.nice) if a.nice else ("none", None)
    # Without autogroup, fall back to each timed process's own nice.
    NICE = a.nice if how == "process" else 0
    if a.server_reps is None:
        a.server_reps = a.reps
    tools = Path(a.tools)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"],
                           capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    res = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "rdbtool_commit": commit + ("-dirty" if dirty else ""),
        "load_average_at_start": [round(x, 2) for x in load],
        "reps": a.reps,
        "nice": a.nice,
        "nice_applied_to": how,
        "datasets": [],
    }
    try:
        for label in [s for s in a.sizes.split(",") if s]:
            res["datasets"].append(bench_dataset(label, a, tools))
    finally:
        restore_group_nice(prev)
    res["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    print(f"machine: {res['machine']}; rdbtool {res['rdbtool_commit']}; {a.reps} runs each, warm; "
          f"nice {a.nice}; load average {res['load_average_at_start'][0]} at start, "
          f"{res['load_average_at_end'][0]} at end")
    for ds in res["datasets"]:
        print()
        print(table(ds))
    print(f"\n(results: {a.json})")


if __name__ == "__main__":
    main()
