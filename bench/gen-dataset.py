#!/usr/bin/env python3
"""Generate the benchmark datasets with a real redis-server (7.0 from PATH).

    python3 bench/gen-dataset.py                 # 10k and 1M keys
    python3 bench/gen-dataset.py --sizes 10k     # only the smoke dataset
    python3 bench/gen-dataset.py --with-4m       # also 4M keys (~2 GB RDB)
    python3 bench/gen-dataset.py --force         # regenerate existing files

For each size N the script starts `redis-server` on 127.0.0.1 (a free port, a
temporary directory, no persistence), loads a realistic keyspace through
`redis-cli --pipe`, SAVEs, and writes into `<repo>/.bench-data/`:

  rdb-N.rdb    the snapshot (RDB 10; ~500 MB for 1M keys)
  aof-N/       the same data as a Redis 7 multi-part AOF directory whose BASE
               is plain RESP (`aof-use-rdb-preamble no`, written by
               BGREWRITEAOF; ~700 MB for 1M keys)
  rdb-N.json   what was generated: keys per category, TTL share, waves, sizes

The keyspace (scaled linearly with N): sessions, page caches, user profiles
(listpack hashes), products (some hashtable hashes), counters, rate limits,
locks, job queues (db 1), follower sets (intsets), tag sets, recent-activity
zsets, plus a few big lists/sets/zsets/hashes and streams with consumer groups
and pending entries, and one function library. About 40% of keys have a TTL:
some jittered (sessions, profiles), some in bursts where thousands of keys
expire in the same second (page caches, daily counters, product refresh), so
the expiry-wave analysis has something to find. The server runs with
`maxmemory-policy allkeys-lfu` and a hot subset of keys is touched before the
save, so the file carries FREQ opcodes with varied counters.

All TTLs are at least 1 hour in the future at generation time (the earliest
expiry wave is at +2 h); a redis-server loading the file later drops keys
already expired, so bench/run.sh regenerates a dataset older than 1 hour.

Python 3 standard library only.
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / ".bench-data"
SEED = 20261127


# --------------------------------------------------------------------------
# RESP encoding and a minimal client for the admin commands
# --------------------------------------------------------------------------
def _b(x):
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode()
    return str(x).encode()


def resp(*args):
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = _b(a)
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    """Just enough RESP2 for PING/SAVE/INFO/CONFIG/DBSIZE."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.rf = self.sock.makefile("rb")

    def call(self, *args):
        self.sock.sendall(resp(*args))
        return self._reply()

    def _reply(self):
        line = self.rf.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)[:-2]
            return data.decode(errors="replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def close(self):
        self.rf.close()
        self.sock.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp):
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(tmp), "--save", "", "--appendonly", "no",
            "--maxmemory-policy", "allkeys-lfu", "--protected-mode", "yes",
            "--logfile", str(tmp / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            c = Client(port)
            c.call("PING")
            return proc, port, c
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def info_field(c, section, name):
    for line in c.call("INFO", section).splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


# --------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------
class Text:
    """Cheap pseudo-text: slices of a pool of words, so values compress about
    like real text/JSON under LZF without generating every byte."""

    def __init__(self, rng):
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
                 for _ in range(3000)]
        parts = []
        size = 0
        while size < 4_000_000:
            w = rng.choice(words)
            if rng.random() < 0.08:
                w = str(rng.randint(0, 10**rng.randint(1, 9)))
            parts.append(w)
            size += len(w) + 1
        self.pool = " ".join(parts).encode()
        self.rng = rng

    def get(self, n):
        start = self.rng.randrange(0, len(self.pool) - n - 1)
        return self.pool[start:start + n]


class Gen:
    """Builds the command stream for one dataset and counts what it made."""

    def __init__(self, n, out, now_s):
        self.n = n
        self.out = out
        self.rng = random.Random(SEED + n)
        self.text = Text(self.rng)
        self.now_s = now_s
        self.stats = {"categories": {}, "ttl_keys": 0, "keys": 0, "waves": {}}
        self.buf = []
        self.buf_bytes = 0
        # Burst instants: whole seconds many keys share (no jitter).
        day = 86400
        self.cache_waves = [now_s + 3600 * k for k in (2, 4, 6, 12, 24, 48)]
        midnight = (now_s // day + 1) * day
        self.daily_wave = midnight + day
        self.product_wave = now_s + 3 * day + 1234
        self.hot = []

    # ---- plumbing
    def emit(self, cmd):
        self.buf.append(cmd)
        self.buf_bytes += len(cmd)
        if self.buf_bytes > (1 << 20):
            self.flush()

    def flush(self):
        if self.buf:
            self.out.write(b"".join(self.buf))
            self.buf = []
            self.buf_bytes = 0

    def cmd(self, *args):
        self.emit(resp(*args))

    def variadic(self, head, items, per=500):
        """`head + items` split into commands of at most `per` items."""
        for i in range(0, len(items), per):
            self.cmd(*head, *items[i:i + per])

    def count(self, cat, ttl_ms=None):
        c = self.stats["categories"]
        c[cat] = c.get(cat, 0) + 1
        self.stats["keys"] += 1
        if ttl_ms is not None:
            self.stats["ttl_keys"] += 1

    def wave(self, name, at_s):
        w = self.stats["waves"].setdefault(name, {})
        w[at_s] = w.get(at_s, 0) + 1

    def jitter_ms(self, lo_s, hi_s):
        return (self.now_s + self.rng.randint(lo_s, hi_s)) * 1000 + self.rng.randint(0, 999)

    def uuid(self):
        return "%032x" % self.rng.getrandbits(128)

    def scaled(self, per_million, minimum=1):
        return max(minimum, round(per_million * self.n / 1_000_000))

    # ---- categories (weights are shares of the key count)
    def session(self, i):
        r = self.rng
        k = "session:" + self.uuid()
        body = b'{"uid":%d,"ip":"10.%d.%d.%d","ua":"%s","csrf":"%032x","cart":"%s"}' % (
            r.randint(1, 10**7), r.randint(0, 255), r.randint(0, 255), r.randint(0, 255),
            self.text.get(r.randint(20, 80)), r.getrandbits(128), self.text.get(r.randint(30, 300)))
        t = self.jitter_ms(86400, 14 * 86400)
        self.cmd("SET", k, body, "PXAT", t)
        self.count("session", t)

    def cache_page(self, i):
        r = self.rng
        path = "/%s/%s/%d" % (self.text.get(6).replace(b" ", b"-").decode(),
                              self.text.get(10).replace(b" ", b"-").decode(), i)
        n = int(r.lognormvariate(7.05, 0.7))
        n = min(max(n, 200), 24000)
        html = b"<html><body><h1>" + self.text.get(40) + b"</h1><p>" + self.text.get(n) + b"</p></body></html>"
        at = r.choice(self.cache_waves)
        self.wave("cache:page", at)
        self.cmd("SET", "cache:page:" + path, html, "EXAT", at)
        self.count("cache:page", at)

    def profile(self, i):
        r = self.rng
        k = "user:%d:profile" % i
        fields = [b"name", self.text.get(r.randint(5, 20)), b"email", b"u%d@example.com" % i,
                  b"created", str(1500000000 + r.randint(0, 2 * 10**8)).encode(),
                  b"plan", r.choice([b"free", b"pro", b"team", b"enterprise"]),
                  b"visits", str(r.randint(0, 5000)).encode()]
        for f in range(r.randint(1, 11)):
            fields += [b"pref_%d" % f, self.text.get(r.randint(3, 40))]
        self.cmd("HSET", k, *fields)
        self.hot.append(k)
        ttl = None
        if r.random() < 0.3:
            ttl = self.jitter_ms(7 * 86400, 30 * 86400)
            self.cmd("PEXPIREAT", k, ttl)
        self.count("user:profile", ttl)

    def user_small(self, i):
        r = self.rng
        if r.random() < 0.5:
            self.cmd("SET", "user:%d:name" % i, self.text.get(r.randint(4, 30)))
        else:
            self.cmd("SET", "user:%d:email" % i, "user%d@%s.example" % (i, self.text.get(6).decode().replace(" ", "")))
        self.count("user:small")

    def counter(self, i):
        r = self.rng
        v = r.randint(0, 10**r.randint(1, 12))
        if r.random() < 0.5:
            self.cmd("SET", "stats:daily:page:%d:views" % i, v, "EXAT", self.daily_wave)
            self.wave("stats:daily", self.daily_wave)
            self.count("stats:daily", self.daily_wave)
        else:
            self.cmd("SET", "stats:page:%d:views" % i, v)
            self.count("stats:total")

    def rate(self, i):
        r = self.rng
        t = self.jitter_ms(2 * 3600, 6 * 3600)
        self.cmd("SET", "rate:10.%d.%d.%d" % (r.randint(0, 255), r.randint(0, 255), i % 256),
                 r.randint(1, 100), "PXAT", t)
        self.count("rate", t)

    def lock(self, i):
        t = self.jitter_ms(3600, 12 * 3600)
        self.cmd("SET", "lock:order:%d" % i, self.uuid(), "PXAT", t)
        self.count("lock", t)

    def product(self, i):
        r = self.rng
        k = "product:sku-%08d" % i
        fields = []
        for f in range(r.randint(10, 40)):
            fields += [b"attr_%d" % f, self.text.get(r.randint(4, 30))]
        if r.random() < 0.3:  # a long description: hashtable after loading
            fields += [b"description", self.text.get(r.randint(200, 1500))]
        self.cmd("HSET", k, *fields)
        ttl = None
        if r.random() < 0.2:
            ttl = self.product_wave
            self.cmd("EXPIREAT", k, ttl)
            self.wave("product", ttl)
        self.count("product", ttl)

    def queue(self, i):
        r = self.rng
        jobs = [b'{"id":"%s","kind":"%s","args":"%s"}' % (
            self.uuid().encode(), r.choice([b"mail", b"thumb", b"export", b"billing"]),
            self.text.get(r.randint(20, 120))) for _ in range(r.randint(1, 20))]
        self.cmd("RPUSH", "queue:jobs:%d" % i, *jobs)
        self.count("queue:jobs")

    def followers(self, i):
        r = self.rng
        ids = [r.randint(1, 10**7) for _ in range(r.randint(1, 160))]
        self.cmd("SADD", "user:%d:followers" % i, *ids)
        self.count("user:followers")

    def tags(self, i):
        r = self.rng
        tags = [self.text.get(r.randint(4, 16)) for _ in range(r.randint(5, 50))]
        self.cmd("SADD", "tags:article:%d" % i, *tags)
        self.count("tags")

    def recent(self, i):
        r = self.rng
        items = []
        for _ in range(r.randint(5, 80)):
            items += [1700000000 + r.randint(0, 10**7), b"item:%d" % r.randint(1, 10**6)]
        k = "user:%d:recent" % i
        self.cmd("ZADD", k, *items)
        ttl = None
        if r.random() < 0.4:
            ttl = self.jitter_ms(86400, 30 * 86400)
            self.cmd("PEXPIREAT", k, ttl)
        self.count("user:recent", ttl)

    def config(self, i):
        self.cmd("SET", "config:flag:%d" % i, self.rng.choice(["on", "off", "50%", "beta"]))
        self.count("config")

    # ---- the big ones
    def big(self):
        r = self.rng
        games = ["chess", "go", "tetris", "poker", "racing", "trivia", "golf", "darts"]
        for j in range(self.scaled(40)):
            k = "leaderboard:%s:s%d" % (games[j % len(games)], j)
            items = []
            for p in range(r.randint(10000, 40000)):
                items += [r.randint(0, 10**6) + r.random(), b"player:%d" % r.randint(1, 10**7)]
            self.variadic(("ZADD", k), items, 1000)
            self.count("leaderboard")
        for j in range(self.scaled(20)):
            k = "queue:big:%d" % j
            items = [self.text.get(r.randint(20, 100)) for _ in range(r.randint(10000, 60000))]
            self.variadic(("RPUSH", k), items)
            self.count("queue:big")
        for j in range(self.scaled(30)):
            k = "online:shard:%d" % j
            items = [b"sess-%x" % r.getrandbits(48) for _ in range(r.randint(5000, 40000))]
            self.variadic(("SADD", k), items)
            self.count("online")
        for j in range(self.scaled(50)):
            k = "inventory:warehouse:%d" % j
            items = []
            for f in range(r.randint(1000, 10000)):
                items += [b"sku-%08d" % r.randint(0, 10**8), r.randint(0, 5000)]
            self.variadic(("HSET", k), items, 1000)
            self.count("inventory")
        for j in range(self.scaled(8)):
            k = "events:%s" % ["orders", "clicks", "payments", "audit", "signups",
                               "errors", "emails", "search"][j % 8] + ("" if j < 8 else ":%d" % j)
            base_ms = (self.now_s - 86400) * 1000
            n = r.randint(5000, 30000)
            ids = []
            for e in range(n):
                eid = "%d-%d" % (base_ms + e * 3, e % 3)
                ids.append(eid)
                self.cmd("XADD", k, eid, "type", r.choice(["a", "b", "c"]),
                         "user", r.randint(1, 10**6), "payload", self.text.get(r.randint(20, 120)))
            if n > 100:
                self.cmd("XDEL", k, *ids[10:60:5])
            for g in range(r.randint(1, 3)):
                group = "workers-%d" % g
                self.cmd("XGROUP", "CREATE", k, group, "0")
                for c in range(3):
                    self.cmd("XREADGROUP", "GROUP", group, "consumer-%d" % c,
                             "COUNT", r.randint(50, 400), "STREAMS", k, ">")
                self.cmd("XACK", k, group, *ids[60:400:3])
            self.count("events")

    def touch_hot(self, keys):
        """Access a hot subset many times so LFU counters differ."""
        r = self.rng
        flat = []
        for k in keys:
            flat += [k] * int(r.lognormvariate(4.5, 1.2) + 1)
        r.shuffle(flat)
        self.variadic(("TOUCH",), flat, 200)
        return len(flat)

    def run(self):
        # Shares of the key count (the big keys and streams come on top).
        cats = [
            (self.session, 0.18), (self.cache_page, 0.06), (self.profile, 0.22),
            (self.user_small, 0.12), (self.counter, 0.10), (self.rate, 0.02),
            (self.lock, 0.01), (self.product, 0.05), (self.followers, 0.06),
            (self.tags, 0.04), (self.recent, 0.08), (self.config, 0.02),
        ]
        queue_share = 0.04  # in db 1
        self.cmd("FUNCTION", "LOAD", "REPLACE",
                 "#!lua name=benchlib\n"
                 "redis.register_function('touch_session', function(keys, args) "
                 "return redis.call('PEXPIRE', keys[1], args[1]) end)")
        self.cmd("SELECT", 0)
        idx = 0
        for fn, share in cats:
            for _ in range(round(share * self.n)):
                idx += 1
                fn(idx)
        self.big()
        self.cmd("SELECT", 1)
        for _ in range(round(queue_share * self.n)):
            idx += 1
            self.queue(idx)
        self.cmd("SELECT", 0)
        hot = self.rng.sample(self.hot, min(len(self.hot), max(1, self.n // 200)))
        self.stats["touches"] = self.touch_hot(hot)
        self.flush()


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def parse_size(s):
    s = s.lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1], 1)
    return int(float(s.rstrip("km")) * mult), s


def generate(n, label, force, max_age):
    rdb = DATA / f"rdb-{label}.rdb"
    aof = DATA / f"aof-{label}"
    meta = DATA / f"rdb-{label}.json"
    if rdb.exists() and aof.exists() and meta.exists() and not force:
        age = time.time() - json.loads(meta.read_text()).get("generated_at_s", 0)
        if max_age is None or age < max_age:
            print(f"{rdb} exists, {age / 60:.0f} min old (use --force to regenerate)")
            return
        print(f"{rdb} is {age / 60:.0f} min old: regenerating (its first TTLs are near)")
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rdbtool-bench-") as td:
        tmp = Path(td)
        proc, port, c = start_server(tmp)
        try:
            t0 = time.time()
            now_s = int(t0)
            pipe = subprocess.Popen(
                ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            g = Gen(n, pipe.stdin, now_s)
            g.run()
            pipe.stdin.close()
            report = pipe.stdout.read().decode(errors="replace")
            pipe.wait()
            if pipe.returncode != 0 or "errors: 0," not in report:
                sys.exit(f"redis-cli --pipe failed:\n{report}")
            load_s = time.time() - t0
            dbsize0 = c.call("DBSIZE")
            c.call("SELECT", 1)
            dbsize1 = c.call("DBSIZE")
            t1 = time.time()
            c.call("SAVE")
            save_s = time.time() - t1
            tmp_rdb = DATA / f".rdb-{label}.rdb.tmp"
            shutil.copyfile(tmp / "dump.rdb", tmp_rdb)
            os.replace(tmp_rdb, rdb)
            used = info_field(c, "memory", "used_memory")
            # The same data as a RESP-only AOF (BGREWRITEAOF writes the BASE).
            t2 = time.time()
            c.call("CONFIG", "SET", "aof-use-rdb-preamble", "no")
            c.call("CONFIG", "SET", "appendonly", "yes")
            while True:
                time.sleep(0.5)
                if (info_field(c, "persistence", "aof_rewrite_in_progress") == "0"
                        and info_field(c, "persistence", "aof_rewrite_scheduled") == "0"
                        and info_field(c, "persistence", "aof_enabled") == "1"):
                    break
            if info_field(c, "persistence", "aof_last_bgrewrite_status") != "ok":
                sys.exit("BGREWRITEAOF failed")
            aof_s = time.time() - t2
            tmp_aof = DATA / f".aof-{label}.tmp"
            shutil.rmtree(tmp_aof, ignore_errors=True)
            shutil.copytree(tmp / "appendonlydir", tmp_aof)
            shutil.rmtree(aof, ignore_errors=True)
            os.replace(tmp_aof, aof)
            c.call("SHUTDOWN", "NOSAVE")
        except ConnectionError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    aof_bytes = sum(p.stat().st_size for p in aof.iterdir())
    st = g.stats
    info = {
        "keys_requested": n,
        "keys": dbsize0 + dbsize1,
        "keys_db0": dbsize0,
        "keys_db1": dbsize1,
        "generated_at_s": now_s,
        "rdb_bytes": rdb.stat().st_size,
        "aof_bytes": aof_bytes,
        "server_used_memory": int(used) if used else None,
        "ttl_share": round(st["ttl_keys"] / max(1, st["keys"]), 3),
        "categories": st["categories"],
        "touches": st.get("touches"),
        "waves": {name: {str(k): v for k, v in sorted(w.items())} for name, w in st["waves"].items()},
        "load_seconds": round(load_s, 1),
        "save_seconds": round(save_s, 1),
        "aof_rewrite_seconds": round(aof_s, 1),
        "redis_version": subprocess.run(["redis-server", "--version"], capture_output=True,
                                        text=True).stdout.strip(),
    }
    meta.write_text(json.dumps(info, indent=1) + "\n")
    print(f"{label}: {info['keys']} keys, RDB {info['rdb_bytes'] / 1e6:.1f} MB, "
          f"AOF {aof_bytes / 1e6:.1f} MB, TTL share {info['ttl_share']}, "
          f"load {load_s:.0f} s, save {save_s:.1f} s, AOF rewrite {aof_s:.1f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10k,1m", help="comma-separated: 10k, 100k, 1m, 4m")
    ap.add_argument("--with-4m", action="store_true", help="also the 4M-key dataset")
    ap.add_argument("--force", action="store_true", help="regenerate existing datasets")
    ap.add_argument("--max-age", type=int, default=None,
                    help="regenerate datasets older than this many seconds")
    a = ap.parse_args()
    sizes = [s for s in a.sizes.split(",") if s]
    if a.with_4m and "4m" not in sizes:
        sizes.append("4m")
    for s in sizes:
        n, label = parse_size(s)
        generate(n, label, a.force, a.max_age)


if __name__ == "__main__":
    main()
