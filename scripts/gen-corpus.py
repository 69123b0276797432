#!/usr/bin/env python3
"""Generate rdbtool's own test corpus from real Redis servers.

    python3 scripts/gen-corpus.py            # generate + verify
    python3 scripts/gen-corpus.py --verify   # only re-verify the existing corpus

Servers: `redis-server` from PATH (Debian's 7.0) and, if present, the 8.2 binary
installed by scripts/install-redis.sh at .cache/redis82/redis-server.

For every data file the keyspace is recorded *from the server* (TYPE, GET, LRANGE,
SMEMBERS, ZRANGE WITHSCORES, HGETALL, XRANGE, XINFO STREAM FULL, PEXPIRETIME,
HPEXPIRETIME, OBJECT ENCODING/IDLETIME/FREQ, DEBUG DIGEST, DBSIZE, FUNCTION LIST)
just before SAVE, and written next to the data file as `<file>.json` following the
convention of /work/shared/corpus/MANIFEST.md ("Expectations").
Afterwards every file is loaded into a fresh server and the keyspace is compared
again with the expectations.

Python 3.11 standard library only (a minimal RESP2 client is included).
Content is deterministic (fixed seed, explicit stream IDs, fixed far-future
expiry times); timestamps that Redis takes from the clock (ctime, stream
delivery/seen times, LRU idle times) differ between runs.
"""

import argparse
import base64
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
R82 = REPO / ".cache" / "redis82" / "redis-server"
SEED = 20240607

# Fixed far-future absolute expiry times (never reached while tests run).
T2100_MS = 4102444800000          # 2100-01-01T00:00:00Z
T2050_MS = 2524608000000          # 2050-01-01T00:00:00Z
T2100_S = T2100_MS // 1000


# --------------------------------------------------------------------------
# Minimal RESP2 client
# --------------------------------------------------------------------------
class RedisError(Exception):
    pass


def _b(x):
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, bool):
        raise TypeError("bool argument")
    if isinstance(x, int):
        return str(x).encode()
    if isinstance(x, float):
        return repr(x).encode()
    raise TypeError(type(x))


class Client:
    def __init__(self, port, host="127.0.0.1", timeout=60):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.rf = self.sock.makefile("rb")

    def close(self):
        try:
            self.rf.close()
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = _b(a)
            out.append(b"$%d\r\n" % len(a))
            out.append(a)
            out.append(b"\r\n")
        return b"".join(out)

    def _read(self):
        line = self.rf.readline()
        if not line:
            raise ConnectionError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RedisError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ValueError("bad RESP type %r" % line)

    def call(self, *args):
        self.sock.sendall(self._encode(args))
        r = self._read()
        if isinstance(r, RedisError):
            raise RedisError("%s -> %s" % (" ".join(_b(a)[:40].decode("latin-1") for a in args[:4]), r))
        return r

    def pipeline(self, cmds):
        """Send many commands at once; raise on the first error reply."""
        if not cmds:
            return []
        self.sock.sendall(b"".join(self._encode(c) for c in cmds))
        res = [self._read() for _ in cmds]
        for c, r in zip(cmds, res):
            if isinstance(r, RedisError):
                raise RedisError("%r -> %s" % (c[:3], r))
        return res


def s(x):
    """bytes reply -> str"""
    return x.decode() if isinstance(x, bytes) else x


def kv(flat):
    """flat [k1, v1, k2, v2 ...] -> dict with str keys"""
    return {s(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


# --------------------------------------------------------------------------
# Server management
# --------------------------------------------------------------------------
def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


class Server:
    def __init__(self, binary, workdir, extra=(), dbfilename="dump.rdb"):
        self.binary = str(binary)
        self.dir = Path(workdir)
        self.port = free_port()
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--daemonize", "no", "--dir", str(self.dir), "--dbfilename", dbfilename,
                "--logfile", str(self.dir / "redis.log"),
                "--save", "", "--enable-debug-command", "yes"]
        # redis.conf's value (the built-in default is 512): 150-field hashes become hashtables.
        # Used for generation and verification alike.
        args += ["--hash-max-listpack-entries", "128"]
        args += list(extra)
        if "--appendonly" not in extra:
            args += ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        self.c = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: %s\n%s" % (
                    self.proc.stderr.read().decode(errors="replace"), self.log()))
            try:
                c = Client(self.port)
                if c.call("PING") == "PONG":
                    # wait until loading finished
                    while b"loading:1" in c.call("INFO", "persistence"):
                        time.sleep(0.05)
                    self.c = c
                    break
                c.close()
            except (OSError, RedisError):
                time.sleep(0.05)
        if self.c is None:
            self.stop()
            raise RuntimeError("redis-server did not start:\n" + self.log())
        info = self.info("server")
        self.version = info["redis_version"]
        self.bits = info["arch_bits"]

    def log(self):
        try:
            return (self.dir / "redis.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def info(self, section):
        out = {}
        for line in self.c.call("INFO", section).decode().splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def stop(self, nosave=True):
        if self.proc.poll() is None:
            try:
                if self.c:
                    self.c.sock.sendall(Client._encode(["SHUTDOWN", "NOSAVE" if nosave else "SAVE"]))
                    try:
                        self.c._read()
                    except (OSError, ConnectionError):
                        pass
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.c:
            self.c.close()
            self.c = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def vtuple(v):
    return tuple(int(x) for x in v.split(".")[:2])


# --------------------------------------------------------------------------
# JSON encoding helpers (MANIFEST convention)
# --------------------------------------------------------------------------
def jval(b):
    """string/member value: JSON string if UTF-8, else {"b64": ...}"""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(b).decode()}


def jkey(b):
    """object key (key name / hash field): UTF-8 or "b64:<base64>" """
    try:
        k = b.decode("utf-8")
        assert not k.startswith("b64:")
        return k
    except UnicodeDecodeError:
        return "b64:" + base64.b64encode(b).decode()


def jscore(b):
    t = b.decode()
    if t in ("inf", "+inf"):
        return "inf"
    if t == "-inf":
        return "-inf"
    if t == "nan":
        return "nan"
    f = float(t)
    if f.is_integer() and abs(f) <= 2 ** 53 and not (f == 0 and t.startswith("-")):
        return int(f)
    return f


def jint_or_none(x):
    return None if x is None else int(x)


# --------------------------------------------------------------------------
# Recording the keyspace from a server
# --------------------------------------------------------------------------
def record_stream(c, key):
    entries = c.call("XRANGE", key, "-", "+")
    info = kv(c.call("XINFO", "STREAM", key, "FULL", "COUNT", "0"))
    v = {
        "entries": [{"id": s(eid), "fields": {jkey(f[i]): jval(f[i + 1]) for i in range(0, len(f), 2)}}
                    for eid, f in entries],
        "length": info["length"],
        "last_id": s(info["last-generated-id"]),
    }
    if "recorded-first-entry-id" in info:
        v["first_id"] = s(info["recorded-first-entry-id"])
    v["max_deleted_entry_id"] = s(info["max-deleted-entry-id"])
    v["entries_added"] = info["entries-added"]
    groups = []
    for g in info["groups"]:
        g = kv(g)
        consumers = []
        for cons in g["consumers"]:
            cons = kv(cons)
            cd = {"name": jval(cons["name"]), "seen_time_ms": cons["seen-time"]}
            if "active-time" in cons:
                cd["active_time_ms"] = cons["active-time"]
            cd["pending_ids"] = [s(p[0]) for p in cons["pending"]]
            consumers.append(cd)
        groups.append({
            "name": jval(g["name"]),
            "last_id": s(g["last-delivered-id"]),
            "entries_read": g["entries-read"],
            "pending": [{"id": s(p[0]), "delivery_time_ms": p[2], "delivery_count": p[3]} for p in g["pending"]],
            "consumers": consumers,
        })
    v["groups"] = groups
    return v


def record_key(c, key, version):
    t = s(c.call("TYPE", key))
    d = {"type": t}
    if t == "string":
        d["value"] = jval(c.call("GET", key))
    elif t == "list":
        d["value"] = [jval(x) for x in c.call("LRANGE", key, 0, -1)]
    elif t == "set":
        d["value"] = [jval(x) for x in sorted(c.call("SMEMBERS", key))]
    elif t == "zset":
        r = c.call("ZRANGE", key, 0, -1, "WITHSCORES")
        d["value"] = [[jval(r[i]), jscore(r[i + 1])] for i in range(0, len(r), 2)]
    elif t == "hash":
        r = c.call("HGETALL", key)
        pairs = sorted((r[i], r[i + 1]) for i in range(0, len(r), 2))
        d["value"] = {jkey(f): jval(v) for f, v in pairs}
        if vtuple(version) >= (7, 4):
            fields = [f for f, _ in pairs]
            ttls = c.call("HPEXPIRETIME", key, "FIELDS", len(fields), *fields)
            fe = {jkey(f): (None if x == -1 else x) for f, x in zip(fields, ttls)}
            assert all(x is None or x > 0 for x in fe.values()), fe
            d["field_expire_ms"] = fe
    elif t == "stream":
        d["value"] = record_stream(c, key)
    else:
        raise RuntimeError("unexpected type %s" % t)
    pe = c.call("PEXPIRETIME", key)
    assert pe != -2
    d["expire_ms"] = None if pe == -1 else pe
    d["encoding"] = s(c.call("OBJECT", "ENCODING", key))
    return d


def record_keyspace(srv, policy=None):
    """Record every db. Values first (may touch keys), LRU/LFU last."""
    c = srv.c
    dbs, sizes = {}, {}
    ndb = int(s(c.call("CONFIG", "GET", "databases")[1]))
    for db in range(ndb):
        c.call("SELECT", db)
        n = c.call("DBSIZE")
        if n == 0:
            continue
        sizes[str(db)] = n
        keys = sorted(c.call("KEYS", "*"))
        dbs[str(db)] = {jkey(k): record_key(c, k, srv.version) for k in keys}
    c.call("SELECT", 0)
    return dbs, sizes


def record_access_meta(srv, dbs, policy):
    """OBJECT IDLETIME / FREQ (NOTOUCH commands) for every key."""
    c = srv.c
    for db, keys in dbs.items():
        c.call("SELECT", int(db))
        for jk, d in keys.items():
            k = base64.b64decode(jk[4:]) if jk.startswith("b64:") else jk.encode()
            if policy == "lru":
                d["lru_idle"] = c.call("OBJECT", "IDLETIME", k)
            elif policy == "lfu":
                d["lfu_freq"] = c.call("OBJECT", "FREQ", k)
    c.call("SELECT", 0)


def record_functions(c):
    libs = c.call("FUNCTION", "LIST", "WITHCODE")
    return sorted(s(kv(l)["library_code"]) for l in libs)


def read_rdb_aux(path):
    """AUX fields at the head of an RDB file (used only as a sanity check)."""
    data = Path(path).read_bytes()
    assert data[:5] == b"REDIS", data[:9]
    pos = 9
    aux = {}

    def rlen():
        nonlocal pos
        b0 = data[pos]
        pos += 1
        kind = b0 >> 6
        if kind == 0:
            return False, b0 & 0x3F
        if kind == 1:
            v = ((b0 & 0x3F) << 8) | data[pos]
            pos += 1
            return False, v
        if b0 == 0x80:
            v = int.from_bytes(data[pos:pos + 4], "big")
            pos += 4
            return False, v
        if b0 == 0x81:
            v = int.from_bytes(data[pos:pos + 8], "big")
            pos += 8
            return False, v
        return True, b0 & 0x3F

    def rstr():
        nonlocal pos
        enc, n = rlen()
        if enc:
            size = {0: 1, 1: 2, 2: 4}[n]
            v = int.from_bytes(data[pos:pos + size], "little", signed=True)
            pos += size
            return str(v)
        v = data[pos:pos + n]
        pos += n
        return v.decode()

    while data[pos] == 0xFA:
        pos += 1
        k = rstr()
        aux[k] = rstr()
    return aux


def expectation(rel, srv, dbs, sizes, digest, functions, extra=None):
    e = {
        "file": rel,
        "sources": [{"repo": "rdbtool", "path": "scripts/gen-corpus.py",
                     "statement": "recorded from redis-server %s after SAVE" % srv.version}],
        "complete": True,
        "load": "ok",
        "aux": {"redis-ver": srv.version, "redis-bits": srv.bits},
    }
    if functions:
        e["functions"] = functions
    e["debug_digest"] = digest
    e["db_sizes"] = sizes
    if extra:
        e.update(extra)
    e["databases"] = dbs
    return e


def dumps(obj, level=0, width=100):
    """JSON with one-space indentation; containers whose compact form fits in
    `width` characters stay on one line (keeps the files small)."""
    flat = json.dumps(obj, ensure_ascii=False)
    if not isinstance(obj, (list, dict)) or len(flat) + level <= width or not obj:
        return flat
    pad = " " * (level + 1)
    if isinstance(obj, list):
        items = [pad + dumps(x, level + 1, width) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + " " * level + "]"
    items = [pad + json.dumps(k, ensure_ascii=False) + ": " + dumps(v, level + 1, width) for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n" + " " * level + "}"


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(obj) + "\n"
    assert json.loads(text) == obj
    path.write_text(text)


def save_and_copy(srv, dest):
    c = srv.c
    assert c.call("SAVE") == "OK"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(srv.dir / "dump.rdb", dest)


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()

LUA_LIB = """#!lua name=mylib

local function echo_first(keys, args)
  return args[1]
end

local function get_or_default(keys, args)
  local v = redis.call('GET', keys[1])
  if not v then return args[1] end
  return v
end

redis.register_function('echo_first', echo_first)
redis.register_function{function_name='get_or_default', callback=get_or_default, flags={'no-writes'}}
"""

LUA_LIB2 = """#!lua name=counters
redis.register_function('incr_by_two', function(keys, args) return redis.call('INCRBY', keys[1], 2) end)
"""


def rnd_word(rng):
    return rng.choice(WORDS)


def populate_common(c, rng, ver):
    p = []
    # ---------------- strings ----------------
    ints = [0, 1, 7, -1, 12, 127, -128, 128, -129, 255, 256, 32767, -32768, 32768, -32769, 65535,
            2147483647, -2147483648, 2147483648, -2147483649, 4294967295, 1234567890, -1234567890,
            12345678901, 123456789012345, 9223372036854775807, -9223372036854775808]
    for i in ints:
        p.append(["SET", "str:int:%d" % i, str(i)])
    for name, v in [("big20", "12345678901234567890"), ("neg21", "-99999999999999999999"),
                    ("int64max+1", "9223372036854775808"), ("lead0", "007"), ("plus", "+1"),
                    ("negzero", "-0"), ("float", "1.5"), ("space", " 1"), ("exp", "1e10"),
                    ("hex", "0x10")]:
        p.append(["SET", "str:notint:" + name, v])
    p.append(["SET", "str:empty", ""])
    p.append(["SET", "str:embstr", "hello world"])
    p.append(["SET", "str:embstr44", "e" * 20 + "0123456789abcdefghijklmn"])  # 44 bytes, embstr
    rand60 = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(60))
    p.append(["SET", "str:raw60-incompressible", rand60])
    p.append(["SET", "str:lzf21", "a" * 21])
    p.append(["SET", "str:lzf-abc", "abc" * 40])
    p.append(["SET", "str:lzf-lorem", ("lorem ipsum dolor sit amet " * 100)])
    p.append(["SET", "str:lzf-words", " ".join(rnd_word(rng) for _ in range(300))])
    p.append(["SET", "str:random-binary-2k", bytes(rng.getrandbits(8) for _ in range(2000))])
    p.append(["SET", "str:binary", b"\x00\x01bin\xff\xfe\x00ary\x80"])
    p.append(["SET", "str:only-nul", b"\x00"])
    p.append(["SET", "str:ff", b"\xff"])
    p.append(["SET", "str:utf8", "héllo wörld ✓ 日本語 🙂"])
    p.append(["SET", "str:crlf", "line1\r\nline2\n"])
    p.append(["SET", "str:appended", "12"])
    p.append(["APPEND", "str:appended", "34"])   # int -> raw
    p.append(["SET", b"bin:\x00\xff\xfekey", "value of a binary key"])
    p.append(["SET", b"\xc3\x28", b"\xc3\x28"])   # invalid UTF-8 key and value
    p.append(["SET", "ключ-ユニコード", "utf8 key"])
    p.append(["SET", "", "empty key name"])
    # ---------------- lists ----------------
    p.append(["RPUSH", "list:small", "a", "b", "c", "1", "2", "-3", "100000", "9223372036854775807", "",
              b"\x00\xff", "x" * 40])
    p.append(["RPUSH", "list:ints", *[str(i * i * (-1) ** i) for i in range(40)]])
    p.append(["RPUSH", "list:one", "only"])
    p.append(["LPUSH", "list:lpush", "c", "b", "a"])
    # default fill (-2, 8 kB) with ~12 kB of data -> two listpack nodes; one 5000-byte element
    # (listpack 32-bit string length) and 700-byte ones (12-bit length)
    p.append(["RPUSH", "list:default-multi", *["chunk-%02d-%s" % (i, rnd_word(rng) * 100)[:700] for i in range(10)],
              "big-" + "".join(rnd_word(rng) for _ in range(1200))[:4996]])
    c.pipeline(p)
    p = []
    # small fill and compress depth 1 -> many nodes, interior ones LZF-compressed
    c.call("CONFIG", "SET", "list-max-listpack-size", "4")
    c.call("CONFIG", "SET", "list-compress-depth", "1")
    c.call("RPUSH", "list:compressed", *["item-%04d-%s-%s" % (i, rnd_word(rng), rnd_word(rng)) for i in range(200)])
    # PLAIN nodes: elements above the packed threshold
    c.call("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100")
    # small elements first: from Redis 7.2 a new list is listpack-encoded and only a
    # quicklist (here: more than 4 elements) gets PLAIN nodes for large elements
    c.call("RPUSH", "list:plain", "head-1", "head-2", "head-3", "head-4", "head-5")
    c.call("RPUSH", "list:plain", "P" * 200)
    c.call("RPUSH", "list:plain", bytes(rng.getrandbits(8) for _ in range(300)))
    c.call("RPUSH", "list:plain", "Q" * 150)
    c.call("RPUSH", "list:plain", "tail-small")
    c.call("RPUSH", "list:plain-only", "R" * 500)
    c.call("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0")   # back to default (1 GB)
    c.call("CONFIG", "SET", "list-max-listpack-size", "-2")
    c.call("CONFIG", "SET", "list-compress-depth", "0")
    # ---------------- sets ----------------
    p.append(["SADD", "set:int16", 1, 2, 3, -5, 100, 32767, -32768])
    p.append(["SADD", "set:int32", 1, 70000, -70000, 2147483647, -2147483648])
    p.append(["SADD", "set:int64", 1, 2 ** 40, -(2 ** 63), 2 ** 63 - 1])
    p.append(["SADD", "set:str", "apple", "banana", "cherry", "date"])
    p.append(["SADD", "set:mixed", "1", "two", "3", "-4", "five"])
    p.append(["SADD", "set:binary", b"\x00", b"\xff\xfe", "ok", ""])
    p.append(["SADD", "set:bigint", *range(-300, 300)])                 # 600 > 512 -> hashtable
    p.append(["SADD", "set:bigstr", *["m%03d-%s" % (i, rnd_word(rng)) for i in range(150)]])
    p.append(["SADD", "set:longmember", "short", "L" * 100])
    # ---------------- sorted sets ----------------
    p.append(["ZADD", "zset:small", 1, "a", 2.5, "b", -3, "c", 0, "d", "1e300", "e", "inf", "f", "-inf", "g",
              "-0", "h", 0.1, "i", "1e-300", "j", 123456789012, "k", -1.5e-5, "l", 3.141592653589793, "m",
              9007199254740993, "n", -2, "same1", -2, "same2"])
    p.append(["ZADD", "zset:ints", *[x for i in range(20) for x in (i * 1000 - 5000, "n%02d" % i)]])
    zbig = []
    for i in range(150):
        zbig += [round(rng.uniform(-1e6, 1e6), rng.randint(0, 6)), "member-%03d" % i]
    p.append(["ZADD", "zset:big", *zbig])
    p.append(["ZADD", "zset:longmember", 1, "short", 2, "M" * 100])
    p.append(["ZADD", "zset:binary", 1, b"\x00\xff", 2, b"\xc3\x28", 3, "ok"])
    p.append(["ZADD", "zset:inf-skiplist", "inf", "pinf", "-inf", "ninf", 0, "zero", 1.25, "Z" * 80])
    # ---------------- hashes ----------------
    p.append(["HSET", "hash:small", "name", "alice", "age", "30", "empty", "", "neg", "-5",
              "bigint", "9223372036854775807", "float", "2.5", "bin", b"\x00\xff"])
    p.append(["HSET", "hash:big", *[x for i in range(150) for x in ("field-%03d" % i, "%s-%d" % (rnd_word(rng), i))]])
    p.append(["HSET", "hash:longval", "short", "v", "long", "V" * 100])
    p.append(["HSET", "hash:binaryfields", b"\xff\x00", "binary field", "plain", b"\xfe"])
    p.append(["HSET", "hash:ints", *[x for i in range(30) for x in (str(i), str(i * 7919))]])
    c.pipeline(p)
    p = []
    # ---------------- streams ----------------
    S = "stream:main"
    base = 1700000000000
    c.call("XADD", S, "%d-0" % base, "name", "alice", "age", "30")
    c.call("XADD", S, "%d-1" % base, "name", "bob", "age", "25")            # same fields as master
    c.call("XADD", S, "%d-0" % (base + 1), "city", "paris")                   # different fields
    c.call("XADD", S, "%d-0" % (base + 2), "name", "carol", "age", "41", "extra", "x")
    c.call("XADD", S, "%d-5" % (base + 2), "bin", b"\x00\xff", "n", "-12")
    for i in range(3, 20):
        c.call("XADD", S, "%d-%d" % (base + i * 10, i % 3), "name", rnd_word(rng), "age", str(20 + i))
    c.call("XDEL", S, "%d-1" % base, "%d-0" % (base + 60))
    c.call("XGROUP", "CREATE", S, "g1", "0")
    c.call("XGROUP", "CREATE", S, "g2", "$")
    c.call("XGROUP", "CREATE", S, "g3", "%d-0" % (base + 1), "ENTRIESREAD", "2")
    c.call("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "3", "STREAMS", S, ">")
    c.call("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "4", "STREAMS", S, ">")
    c.call("XACK", S, "g1", "%d-0" % base)
    c.call("XCLAIM", S, "g1", "carol", "0", "%d-0" % (base + 2))
    c.call("XCLAIM", S, "g1", "carol", "0", "%d-0" % (base + 2))               # delivery count 3
    c.call("XGROUP", "CREATECONSUMER", S, "g1", "idle-consumer")
    c.call("XREADGROUP", "GROUP", "g3", "solo", "COUNT", "2", "STREAMS", S, ">")
    c.call("XADD", S, "%d-0" % (base + 500), "late", "entry")
    c.call("XREADGROUP", "GROUP", "g2", "noack", "NOACK", "STREAMS", S, ">")
    c.call("XTRIM", S, "MAXLEN", "15")
    c.call("XSETID", S, "%d-7" % (base + 1000))
    # many nodes
    c.call("CONFIG", "SET", "stream-node-max-entries", "10")
    for i in range(40):
        c.call("XADD", "stream:multinode", "%d-%d" % (base + i // 4, i % 4), "i", str(i), "w", rnd_word(rng))
    c.call("XDEL", "stream:multinode", "%d-0" % (base + 3), "%d-1" % (base + 3))
    c.call("CONFIG", "SET", "stream-node-max-entries", "100")
    c.call("XGROUP", "CREATE", "stream:multinode", "readers", "0")
    c.call("XREADGROUP", "GROUP", "readers", "r1", "COUNT", "25", "STREAMS", "stream:multinode", ">")
    # empty stream with a group (all entries deleted) + XSETID with ENTRIESADDED/MAXDELETEDID
    c.call("XADD", "stream:empty-with-group", "1-1", "f", "v")
    c.call("XADD", "stream:empty-with-group", "2-1", "f", "w")
    c.call("XGROUP", "CREATE", "stream:empty-with-group", "grp", "0")
    c.call("XREADGROUP", "GROUP", "grp", "c", "COUNT", "1", "STREAMS", "stream:empty-with-group", ">")
    c.call("XDEL", "stream:empty-with-group", "1-1", "2-1")
    c.call("XSETID", "stream:empty-with-group", "10-0", "ENTRIESADDED", "5", "MAXDELETEDID", "3-0")
    # empty stream without groups
    c.call("XADD", "stream:empty", "MAXLEN", "0", "5-1", "f", "v")
    # ---------------- TTLs ----------------
    p.append(["SET", "ttl:str", "expires in 2100"])
    p.append(["PEXPIREAT", "ttl:str", T2100_MS + 123])
    p.append(["SET", "ttl:str-2050", "expires in 2050"])
    p.append(["PEXPIREAT", "ttl:str-2050", T2050_MS])
    p.append(["SET", "ttl:int", "42"])
    p.append(["EXPIREAT", "ttl:int", T2100_S])
    p.append(["RPUSH", "ttl:list", "a", "b"])
    p.append(["PEXPIREAT", "ttl:list", T2100_MS + 1])
    p.append(["SADD", "ttl:set", "a", "b"])
    p.append(["PEXPIREAT", "ttl:set", T2100_MS + 2])
    p.append(["ZADD", "ttl:zset", 1, "a"])
    p.append(["PEXPIREAT", "ttl:zset", T2100_MS + 3])
    p.append(["HSET", "ttl:hash", "f", "v"])
    p.append(["PEXPIREAT", "ttl:hash", T2100_MS + 4])
    p.append(["XADD", "ttl:stream", "1-1", "f", "v"])
    p.append(["PEXPIREAT", "ttl:stream", T2100_MS + 5])
    p.append(["SET", b"ttl:bin\xff", b"\xff"])
    p.append(["PEXPIREAT", b"ttl:bin\xff", T2100_MS + 6])
    p.append(["SET", "ttl:persisted", "had a ttl"])
    p.append(["PEXPIREAT", "ttl:persisted", T2100_MS])
    p.append(["PERSIST", "ttl:persisted"])
    c.pipeline(p)
    # ---------------- other databases ----------------
    c.call("SELECT", 1)
    c.pipeline([["SET", "db1:str", "in db 1"], ["RPUSH", "db1:list", "x", "y"],
                ["SET", "str:int:1", "same key name as in db 0 but other value"],
                ["PEXPIREAT", "db1:list", T2100_MS + 10]])
    c.call("SELECT", 5)
    c.pipeline([["HSET", "db5:hash", "a", "1", "b", "2"], ["ZADD", "db5:zset", 1.5, "x", 2, "y"],
                ["PEXPIREAT", "db5:zset", T2050_MS + 5], ["SET", b"db5:\x00", "nul in key"]])
    c.call("SELECT", 15)
    c.pipeline([["SADD", "db15:set", "p", "q", 3], ["XADD", "db15:stream", "7-7", "k", "v"],
                ["SET", "db15:str", "last db"]])
    c.call("SELECT", 0)
    # ---------------- functions ----------------
    c.call("FUNCTION", "LOAD", LUA_LIB)
    c.call("FUNCTION", "LOAD", LUA_LIB2)


def populate_82(c, rng):
    """Redis >= 7.4 / 8.x additions: hash field expiration (HFE)."""
    c.call("HSET", "hfe:small", "f1", "v1", "f2", "v2", "f3", "v3", "f4", "4", "f5", "")
    c.call("HPEXPIREAT", "hfe:small", T2100_MS + 11, "FIELDS", 2, "f1", "f3")
    c.call("HEXPIREAT", "hfe:small", T2100_S + 3600, "FIELDS", 1, "f5")
    c.call("HSET", "hfe:small-keyttl", "a", "1", "b", "2")
    c.call("HPEXPIREAT", "hfe:small-keyttl", T2050_MS + 12, "FIELDS", 1, "a")
    c.call("PEXPIREAT", "hfe:small-keyttl", T2100_MS + 13)
    c.call("HSET", "hfe:all-fields", "x", "1", "y", "2")
    c.call("HPEXPIREAT", "hfe:all-fields", T2100_MS + 14, "FIELDS", 2, "x", "y")
    c.call("HSET", "hfe:persisted", "p", "1", "q", "2")
    c.call("HPEXPIREAT", "hfe:persisted", T2100_MS + 15, "FIELDS", 2, "p", "q")
    c.call("HPERSIST", "hfe:persisted", "FIELDS", 1, "p")
    c.call("HSET", "hfe:big", *[x for i in range(150) for x in ("field-%03d" % i, "%s-%d" % (rnd_word(rng), i))])
    c.call("HPEXPIREAT", "hfe:big", T2100_MS + 100, "FIELDS", 10, *["field-%03d" % i for i in range(0, 150, 15)])
    c.call("HPEXPIREAT", "hfe:big", T2050_MS + 100, "FIELDS", 2, "field-001", "field-149")
    c.call("HSET", "hfe:longval", "short", "v", "long", "W" * 100, b"\xff", b"\x00")
    c.call("HPEXPIREAT", "hfe:longval", T2100_MS + 16, "FIELDS", 1, "long")
    c.call("PEXPIREAT", "hfe:longval", T2100_MS + 17)
    c.call("HSETEX", "hfe:hsetex", "PXAT", T2100_MS + 18, "FIELDS", 2, "s1", "one", "s2", "two")
    c.call("HSET", "hfe:hsetex", "s3", "no ttl")


def check_aux(path, srv):
    aux = read_rdb_aux(path)
    assert aux.get("redis-ver") == srv.version, aux
    assert aux.get("redis-bits") == srv.bits, aux


# --------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------
def gen_encodings(binary, outdir, label):
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="rdbtool-gen-") as tmp, Server(binary, tmp) as srv:
        ver = vtuple(srv.version)
        populate_common(srv.c, rng, ver)
        if ver >= (7, 4):
            populate_82(srv.c, rng)
        dbs, sizes = record_keyspace(srv)
        digest = s(srv.c.call("DEBUG", "DIGEST"))
        funcs = record_functions(srv.c)
        dest = outdir / "encodings.rdb"
        save_and_copy(srv, dest)
        assert s(srv.c.call("DEBUG", "DIGEST")) == digest
        check_aux(dest, srv)
        e = expectation("%s/encodings.rdb" % label, srv, dbs, sizes, digest, funcs)
        write_json(outdir / "encodings.rdb.json", e)
        return srv.version


def wait_quiet_minute(margin=40):
    """LFU counters decay per elapsed minute: keep record+SAVE in one minute."""
    sec = time.time() % 60
    if sec > margin:
        time.sleep(60 - sec + 0.5)


def populate_policy_group(c, prefix, rng):
    c.pipeline([
        ["SET", prefix + ":str", "v-" + prefix],
        ["SET", prefix + ":int", "12345"],
        ["RPUSH", prefix + ":list", "a", "b", "c"],
        ["SADD", prefix + ":set", "x", "y", 1],
        ["ZADD", prefix + ":zset", 1, "a", 2, "b"],
        ["HSET", prefix + ":hash", "f", "v", "g", "w"],
        ["XADD", prefix + ":stream", "1-1", "f", "v"],
        ["SET", prefix + ":ttl", "with ttl"],
        ["PEXPIREAT", prefix + ":ttl", T2100_MS + 99],
    ])


def touch_group(c, prefix, times=1):
    cmds = []
    for _ in range(times):
        cmds += [["GET", prefix + ":str"], ["GET", prefix + ":int"], ["LLEN", prefix + ":list"],
                 ["SCARD", prefix + ":set"], ["ZCARD", prefix + ":zset"], ["HLEN", prefix + ":hash"],
                 ["XLEN", prefix + ":stream"], ["GET", prefix + ":ttl"]]
    c.pipeline(cmds)


def gen_lru(binary, outdir, label):
    rng = random.Random(SEED + 1)
    with tempfile.TemporaryDirectory(prefix="rdbtool-gen-") as tmp, \
            Server(binary, tmp, extra=["--maxmemory-policy", "allkeys-lru"]) as srv:
        c = srv.c
        for g in ("old", "mid", "new"):
            populate_policy_group(c, "lru:" + g, rng)
        c.call("SELECT", 3)
        populate_policy_group(c, "lru:db3", rng)
        c.call("SELECT", 0)
        dbs, sizes = record_keyspace(srv)        # touches every key
        digest = s(c.call("DEBUG", "DIGEST"))
        time.sleep(3.2)
        touch_group(c, "lru:mid")
        time.sleep(2.2)
        touch_group(c, "lru:new")
        record_access_meta(srv, dbs, "lru")
        dest = outdir / "lru.rdb"
        save_and_copy(srv, dest)
        check_aux(dest, srv)
        e = expectation("%s/lru.rdb" % label, srv, dbs, sizes, digest, [],
                        extra={"notes": "saved with maxmemory-policy allkeys-lru. lru_idle = OBJECT IDLETIME (seconds) read just before SAVE; the file "
                                        "stores the idle time at SAVE, so allow +-2 s. Groups: lru:old ~5 s, "
                                        "lru:mid ~2 s, lru:new/lru:db3 ~0 s (db3 touched at record time)."})
        write_json(outdir / "lru.rdb.json", e)


def gen_lfu(binary, outdir, label):
    rng = random.Random(SEED + 2)
    with tempfile.TemporaryDirectory(prefix="rdbtool-gen-") as tmp, \
            Server(binary, tmp, extra=["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"]) as srv:
        c = srv.c
        wait_quiet_minute()
        for g in ("cold", "warm", "hot", "max"):
            populate_policy_group(c, "lfu:" + g, rng)
        touch_group(c, "lfu:warm", 10)
        touch_group(c, "lfu:hot", 100)
        touch_group(c, "lfu:max", 400)
        dbs, sizes = record_keyspace(srv)
        digest = s(c.call("DEBUG", "DIGEST"))
        record_access_meta(srv, dbs, "lfu")
        dest = outdir / "lfu.rdb"
        save_and_copy(srv, dest)
        check_aux(dest, srv)
        e = expectation("%s/lfu.rdb" % label, srv, dbs, sizes, digest, [],
                        extra={"notes": "saved with maxmemory-policy allkeys-lfu. lfu_freq = OBJECT FREQ read just before SAVE (same minute, so no decay); "
                                        "lfu-log-factor 0 makes every access increment the counter "
                                        "(initial 5, capped at 255)."})
        write_json(outdir / "lfu.rdb.json", e)


def gen_aof(binary, outdir, label):
    rng = random.Random(SEED + 3)
    dest = outdir / "aof-multipart"
    with tempfile.TemporaryDirectory(prefix="rdbtool-gen-") as tmp, \
            Server(binary, tmp, extra=["--appendonly", "yes", "--appenddirname", "appendonlydir",
                                       "--aof-timestamp-enabled", "yes", "--appendfsync", "always"]) as srv:
        c = srv.c
        # phase 1: ends up in the base file (RDB preamble) after BGREWRITEAOF
        c.call("SET", "base:str", "written before rewrite")
        c.call("RPUSH", "base:list", "a", "b", "c")
        c.call("HSET", "base:hash", "f1", "v1", "f2", "v2")
        c.call("ZADD", "base:zset", 1, "one", 2, "two")
        c.call("SADD", "base:set", "x", "y")
        c.call("PEXPIREAT", "base:set", T2100_MS)
        c.call("SET", "base:deleted-later", "x")
        c.call("BGREWRITEAOF")
        while True:
            time.sleep(0.2)
            inf = srv.info("persistence")
            if inf["aof_rewrite_in_progress"] == "0" and inf["aof_rewrite_scheduled"] == "0":
                break
        # phase 2: commands in the incr file
        c.call("SET", "k:str", "hello")
        c.call("APPEND", "k:str", " world")
        c.call("INCR", "k:counter")
        c.call("INCRBY", "k:counter", 41)
        c.call("SET", "k:float", "1.5")
        c.call("INCRBYFLOAT", "k:float", "0.25")
        c.call("RPUSH", "k:list", *[rnd_word(rng) for _ in range(5)])
        c.call("LPUSH", "k:list", "first")
        c.call("LPOP", "k:list")
        c.call("SADD", "k:set", "a", "b", "c", "d")
        c.call("SREM", "k:set", "c")
        time.sleep(1.1)      # a new "#TS:" annotation
        c.call("ZADD", "k:zset", 1, "a", 2.5, "b", "-inf", "c")
        c.call("ZINCRBY", "k:zset", 10, "a")
        c.call("HSET", "k:hash", "name", "x", "n", "1")
        c.call("HINCRBY", "k:hash", "n", 5)
        c.call("HDEL", "k:hash", "name")
        c.call("XADD", "k:stream", "1-1", "f", "v")
        c.call("XADD", "k:stream", "2-1", "f", "w")
        c.call("XGROUP", "CREATE", "k:stream", "g", "0")
        c.call("MULTI")
        c.call("SET", "tx:a", "1")
        c.call("INCR", "tx:a")
        c.call("RPUSH", "tx:list", "p", "q")
        c.call("EXEC")
        c.call("SET", "k:expire", "relative ttl")
        c.call("EXPIRE", "k:expire", 100000000)          # logged as PEXPIREAT
        c.call("SET", "k:ex", "set with EX", "EX", 200000000)
        c.call("SET", "k:pxat", "set with PXAT", "PXAT", T2100_MS)
        c.call("SET", "k:gone", "to be deleted")
        c.call("DEL", "k:gone", "base:deleted-later")
        c.call("SET", "k:renamed-src", "renamed")
        c.call("RENAME", "k:renamed-src", "k:renamed")
        time.sleep(1.1)
        c.call("SELECT", 2)
        c.call("SET", "db2:str", "in db 2")
        c.call("HSET", "db2:hash", "a", "1")
        c.call("EXPIRE", "db2:hash", 150000000)
        c.call("MULTI")
        c.call("SET", "db2:tx", "x")
        c.call("DEL", "db2:str")
        c.call("EXEC")
        c.call("SET", b"db2:bin\xff", b"\x00\xff")
        c.call("SELECT", 0)
        c.call("SET", "k:after-select", "back in db 0")
        dbs, sizes = record_keyspace(srv)
        digest = s(c.call("DEBUG", "DIGEST"))
        version = srv.version
        srv.stop()
        src = Path(tmp) / "appendonlydir"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest / "appendonlydir")
    files = sorted(p.name for p in (dest / "appendonlydir").iterdir())
    ts = sum(p.read_bytes().count(b"#TS:") for p in (dest / "appendonlydir").iterdir())
    e = {
        "file": "%s/aof-multipart" % label,
        "sources": [{"repo": "rdbtool", "path": "scripts/gen-corpus.py",
                     "statement": "recorded from redis-server %s (appendonly yes, aof-timestamp-enabled yes, "
                                  "BGREWRITEAOF after the base:* keys) before SHUTDOWN" % version}],
        "kind": "AOF written by redis-server %s" % version,
        "layout": "multi-part: appendonlydir/ with appendonly.aof.manifest (appenddirname appendonlydir, "
                  "appendfilename appendonly.aof); files: %s" % ", ".join(files),
        "timestamp_annotations": ts,
        "complete": True,
        "load": "ok",
        "debug_digest": digest,
        "db_sizes": sizes,
        "databases": dbs,
    }
    write_json(outdir / "aof-multipart.json", e)


# --------------------------------------------------------------------------
# Verification: load every file into a fresh server and compare
# --------------------------------------------------------------------------
def strip_meta(dbs):
    out = {}
    for db, keys in dbs.items():
        out[db] = {k: {f: v for f, v in d.items() if f not in ("lru_idle", "lfu_freq")} for k, d in keys.items()}
    return out


def compare(name, exp, srv, same_version=True):
    errs = []
    dbs, sizes = record_keyspace(srv)
    if sizes != exp["db_sizes"]:
        errs.append("db_sizes %r != %r" % (sizes, exp["db_sizes"]))
    digest = s(srv.c.call("DEBUG", "DIGEST"))
    if same_version and digest != exp["debug_digest"]:
        errs.append("digest %s != %s" % (digest, exp["debug_digest"]))
    want = strip_meta(exp["databases"])
    for db in set(want) | set(dbs):
        for k in set(want.get(db, {})) | set(dbs.get(db, {})):
            a, b = want.get(db, {}).get(k), dbs.get(db, {}).get(k)
            if a is None or b is None:
                errs.append("db %s key %s missing" % (db, k))
                continue
            a, b = dict(a), dict(b)
            if a.get("type") == "string" or not same_version:
                # string object encoding (int/embstr/raw) is not stored in the RDB: integer-looking
                # strings come back as "int"; other versions may pick other encodings
                a["encoding"] = b["encoding"] = None
            if not same_version:
                if "field_expire_ms" not in a:
                    b.pop("field_expire_ms", None)
                if a.get("type") == "stream":
                    for g in b["value"]["groups"]:
                        for cons in g["consumers"]:
                            if not any("active_time_ms" in x for ga in a["value"]["groups"] for x in ga["consumers"]):
                                cons.pop("active_time_ms", None)
            if a != b:
                diff = [f for f in set(a) | set(b) if a.get(f) != b.get(f)]
                errs.append("db %s key %s differs in %s (expected %s, got %s)" % (
                    db, k, diff, [a.get(f) for f in diff][:1], [b.get(f) for f in diff][:1]))
    if exp.get("functions") is not None or record_functions(srv.c):
        if record_functions(srv.c) != exp.get("functions", []):
            errs.append("functions differ")
    return errs


def verify_rdb(binary, path, exp, check_meta=True):
    with tempfile.TemporaryDirectory(prefix="rdbtool-ver-") as tmp:
        shutil.copyfile(path, Path(tmp) / "dump.rdb")
        fields = {f for keys in exp["databases"].values() for d in keys.values() for f in d}
        policy = "lru" if "lru_idle" in fields else "lfu" if "lfu_freq" in fields else None
        extra = ["--maxmemory-policy", "allkeys-" + policy] if policy else []
        with Server(binary, tmp, extra=extra) as srv:
            errs = []
            if check_meta and policy:
                loaded = {db: {k: {} for k in keys} for db, keys in exp["databases"].items()}
                record_access_meta(srv, loaded, policy)
                f = "lru_idle" if policy == "lru" else "lfu_freq"
                age = time.time() - path.stat().st_mtime
                for db, keys in exp["databases"].items():
                    for k, d in keys.items():
                        got, want = loaded[db][k][f], d[f]
                        if policy == "lfu" and got != want:
                            errs.append("%s %s: lfu_freq %s != %s" % (db, k, got, want))
                        if policy == "lru" and not (want - 2 <= got <= want + age + 2):
                            errs.append("%s %s: lru_idle %s not ~ %s" % (db, k, got, want))
            same_version = vtuple(srv.version) == vtuple(exp["aux"]["redis-ver"])
            errs += compare(path.name, exp, srv, same_version=same_version)
            return srv.version, errs


def verify_aof(binary, dirpath, exp):
    with tempfile.TemporaryDirectory(prefix="rdbtool-ver-") as tmp:
        shutil.copytree(dirpath / "appendonlydir", Path(tmp) / "appendonlydir")
        with Server(binary, tmp, extra=["--appendonly", "yes", "--appenddirname", "appendonlydir"]) as srv:
            return srv.version, compare(dirpath.name, exp, srv)


def check_rdb_tool(binary, path):
    """redis-check-rdb is the redis-server binary started under that name."""
    with tempfile.TemporaryDirectory(prefix="rdbtool-chk-") as tmp:
        link = Path(tmp) / "redis-check-rdb"
        link.symlink_to(Path(binary).resolve())
        r = subprocess.run([str(link), str(path)], capture_output=True, text=True)
        ok = r.returncode == 0 and "RDB looks OK" in r.stdout
        return ok, r.stdout + r.stderr


def verify_all(servers):
    problems = []
    for label, binary in servers.items():
        d = CORPUS / label
        for rdb in sorted(d.glob("*.rdb")):
            exp = json.loads(rdb.with_name(rdb.name + ".json").read_text())
            for vlabel, vbin in servers.items():
                if vtuple(vlabel.split("-")[1]) < vtuple(label.split("-")[1]):
                    continue          # older servers cannot read newer RDB versions
                ver, errs = verify_rdb(vbin, rdb, exp, check_meta=(vlabel == label))
                tag = "%s/%s loaded by %s" % (label, rdb.name, ver)
                print(("OK    " if not errs else "FAIL  ") + tag)
                for e in errs[:10]:
                    print("      " + e)
                if errs and vlabel == label:
                    problems.append(tag)
            ok, out = check_rdb_tool(binary, rdb)
            print(("OK    " if ok else "FAIL  ") + "redis-check-rdb (%s) %s/%s" % (label, label, rdb.name))
            if not ok:
                print(out)
                problems.append("redis-check-rdb %s" % rdb)
        aofdir = d / "aof-multipart"
        if aofdir.exists():
            exp = json.loads((d / "aof-multipart.json").read_text())
            ver, errs = verify_aof(binary, aofdir, exp)
            tag = "%s/aof-multipart loaded by %s" % (label, ver)
            print(("OK    " if not errs else "FAIL  ") + tag)
            for e in errs[:10]:
                print("      " + e)
            if errs:
                problems.append(tag)
    return problems


def find_servers():
    servers = {}
    sys_bin = shutil.which("redis-server")
    if not sys_bin:
        sys.exit("redis-server not found on PATH (run scripts/install-redis.sh)")
    for b in [sys_bin, str(R82)]:
        if not os.access(b, os.X_OK):
            continue
        out = subprocess.run([b, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
        if m:
            servers["redis-%s.%s" % (m.group(1), m.group(2))] = b
    return servers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--verify", action="store_true", help="only verify the existing corpus")
    args = ap.parse_args()
    servers = find_servers()
    if "redis-8.2" not in servers:
        print("warning: %s missing; Redis 8.2 files not (re)generated" % R82, file=sys.stderr)
    if not args.verify:
        for label, binary in servers.items():
            outdir = CORPUS / label
            outdir.mkdir(parents=True, exist_ok=True)
            ver = gen_encodings(binary, outdir, label)
            print("generated %s/encodings.rdb (redis %s)" % (label, ver))
            if label == "redis-7.0":
                gen_lru(binary, outdir, label)
                gen_lfu(binary, outdir, label)
                gen_aof(binary, outdir, label)
                print("generated %s/lru.rdb, lfu.rdb, aof-multipart/" % label)
    problems = verify_all(servers)
    total = 0
    for p in sorted(CORPUS.rglob("*")):
        if p.is_file():
            size = p.stat().st_size
            total += size
            if size > 100 * 1024:
                problems.append("%s is %d bytes (> 100 KB)" % (p, size))
    if total > 1024 * 1024:
        problems.append("corpus is %d bytes (> 1 MB)" % total)
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print("corpus OK (%d bytes)" % total)


if __name__ == "__main__":
    main()
