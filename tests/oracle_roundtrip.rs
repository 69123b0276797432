//! Randomized oracle test: a live redis-server writes random data of every
//! type and encoding, `SAVE`s, and every key rdbtool exports from the dump
//! must equal what that server holds — type, encoding, TTL, value, stream
//! metadata, the DUMP payload bytes — plus the key count per db and the
//! function libraries.
//!
//! Runs against redis-server 7.0 (PATH) and 8.2 (`.cache/redis82`, skipped
//! with a notice when absent). The seed is printed; `RDBTOOL_ORACLE_SEED=n`
//! replays a run (round r uses seed n + r).
//!
//! Where the server itself answers differently before and after loading its
//! own file (a string grown by `APPEND` is `raw` until reloaded, a hash
//! that shrank stays a hashtable), the encoding after `DEBUG RELOAD` is the
//! truth: that is what a server reports after loading the file. Such cases
//! are counted and printed as server nuances, not failures.
//!
//! The three rounds run the server with its built-in defaults; with
//! redis.conf's `hash-max-listpack-entries 128`, `allkeys-lru` (IDLE
//! opcodes) and `rdbcompression no`; and with `allkeys-lfu` (FREQ opcodes).
//! The `DUMP` body of every key equals the value bytes in the file on both
//! servers (no type needs an exception). The `rdbtool export` command line
//! must print exactly what the library wrote.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::redis::{Client, Cmd, Reply, Server, cmd};
use common::rng::Rng;
use rdbtool::export::json::{JsonExporter, JsonMode};
use rdbtool::rdb::read::{ReadOptions, Record, read};
use rdbtool::sink::{Flow, FnSink};
use serde_json::Value as J;

/// Seconds the server's cached LRU clock was seen to lag behind during the
/// write pipeline (an idle time saved 0 reads 4 right after).
const LRU_CLOCK_SLACK_S: i64 = 10;

/// Rounds per server and keys per round.
const ROUNDS: u64 = 3;
const KEYS_PER_ROUND: usize = 2000;

// ---------------------------------------------------------------------------
// Random data
// ---------------------------------------------------------------------------

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-.";

/// Builds the commands that write one round's random keyspace.
struct Gen<'r> {
    rng: &'r mut Rng,
    /// The server is 7.2+ (listpack sets and lists, hash field TTLs).
    v8: bool,
    now_ms: i64,
    cmds: Vec<Cmd>,
    serial: usize,
    /// Keys written so far in the current db, with their kind: sources for
    /// keys made by COPY, SUNIONSTORE, ZUNIONSTORE, SORT ... STORE.
    made: Vec<(&'static str, Vec<u8>)>,
    /// Every plainly written key, with its db.
    all: Vec<(u64, Vec<u8>)>,
}

impl Gen<'_> {
    fn push(&mut self, c: Cmd) {
        self.cmds.push(c);
    }

    /// A unique key: kind label, serial number, then a random tail that is
    /// sometimes binary or non-ASCII.
    fn key(&mut self, kind: &str) -> Vec<u8> {
        self.serial += 1;
        let mut k = format!("{kind}:{}:", self.serial).into_bytes();
        match self.rng.below(6) {
            0 => {
                let n = self.rng.below(12);
                k.extend(self.rng.bytes(n))
            }
            1 => k.extend_from_slice(b"\x00\xff\xfe\r\n\"\\"),
            2 => k.extend_from_slice("ключ-鍵-🔑".as_bytes()),
            _ => {
                let n = self.rng.below(20);
                k.extend(self.rng.text(n, ALNUM));
            }
        }
        k
    }

    /// An integer of a random listpack/intset width class.
    fn int(&mut self) -> i64 {
        match self.rng.below(8) {
            0 => self.rng.irange(0, 127),
            1 => self.rng.irange(-4096, 4095),
            2 => self.rng.irange(i16::MIN as i64, i16::MAX as i64),
            3 => self.rng.irange(-(1 << 23), (1 << 23) - 1),
            4 => self.rng.irange(i32::MIN as i64, i32::MAX as i64),
            5 => self.rng.u64() as i64,
            6 => *self
                .rng
                .pick(&[i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1, i64::MAX - 1]),
            _ => self.rng.irange(-10_000_000_000, 10_000_000_000),
        }
    }

    /// An element of at most 64 bytes (fits every listpack).
    fn small(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0..=2 => self.int().to_string().into_bytes(),
            3..=5 => {
                let n = self.rng.range(0, 20) as usize;
                self.rng.text(n, ALNUM)
            }
            6 => {
                let n = self.rng.range(1, 24) as usize;
                self.rng.bytes(n)
            }
            7 => {
                let n = self.rng.range(20, 64) as usize;
                self.rng.text(n, ALNUM)
            }
            8 => (*self.rng.pick(&[
                "héllo",
                "日本語",
                "007",
                "+1",
                "-0",
                " 5",
                "1e3",
                "",
                "\x00",
            ]))
            .as_bytes()
            .to_vec(),
            _ => {
                // Listpack string length classes: 6-bit, 12-bit.
                let n = *self.rng.pick(&[63usize, 64, 1, 2]);
                self.rng.text(n, ALNUM)
            }
        }
    }

    /// An element longer than 64 bytes (forces hashtable/skiplist).
    fn long(&mut self) -> Vec<u8> {
        let n = self.rng.range(65, 600) as usize;
        if self.rng.chance(0.5) {
            self.rng.text(n, ALNUM)
        } else {
            // Compressible: LZF in the RDB when it is a plain string.
            let u = self.rng.range(1, 8) as usize;
            let unit = self.rng.text(u, ALNUM);
            unit.iter().copied().cycle().take(n).collect()
        }
    }

    fn elem(&mut self, p_long: f64) -> Vec<u8> {
        if self.rng.chance(p_long) {
            self.long()
        } else {
            self.small()
        }
    }

    /// `n` distinct elements.
    fn distinct(&mut self, n: usize, mut f: impl FnMut(&mut Self) -> Vec<u8>) -> Vec<Vec<u8>> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(n);
        let mut tries = 0;
        while out.len() < n && tries < n * 20 + 100 {
            tries += 1;
            let e = f(self);
            if seen.insert(e.clone()) {
                out.push(e);
            }
        }
        out
    }

    /// A size class: tiny, around `a`, around `b`, or big.
    fn size_around(&mut self, a: u64, b: u64) -> usize {
        (match self.rng.below(10) {
            0..=3 => self.rng.range(1, 12),
            4..=5 => self.rng.range(a - 6, a + 6),
            6..=7 => self.rng.range(b - 6, b + 6),
            8 => self.rng.range(12, a),
            _ => self.rng.range(b + 10, b * 3),
        }) as usize
    }

    fn score(&mut self) -> String {
        match self.rng.below(12) {
            0 | 1 => self.rng.irange(-1000, 1000).to_string(),
            2 => self.rng.irange(-(1 << 53), 1 << 53).to_string(),
            3 => format!("{}", self.rng.irange(-100_000, 100_000) as f64 / 1000.0),
            4 => format!("{}", self.rng.irange(1, 1_000_000) as f64 / 7.0),
            5 => (*self.rng.pick(&[
                "inf",
                "-inf",
                "+inf",
                "0",
                "-0",
                "5e-324",
                "-5e-324",
                "1.7976931348623157e308",
                "-1.7976931348623157e308",
                "2.2250738585072014e-308",
                "1e300",
                "-1e-300",
                "0.1",
                "9007199254740993",
            ]))
            .to_string(),
            _ => loop {
                let f = f64::from_bits(self.rng.u64());
                if f.is_finite() {
                    break format!("{f:e}");
                }
            },
        }
    }

    fn maybe_ttl(&mut self, key: &[u8]) {
        if self.rng.chance(0.3) {
            let at = self.now_ms + self.rng.irange(600_000, 31_536_000_000);
            if self.rng.chance(0.8) {
                self.push(cmd!("PEXPIREAT", key, at));
            } else {
                self.push(cmd!("EXPIREAT", key, at / 1000));
            }
        }
    }

    fn string(&mut self, key: Vec<u8>) {
        let v: Vec<u8> = match self.rng.below(16) {
            0 => self.int().to_string().into_bytes(),
            1 => self.rng.irange(0, 10_000).to_string().into_bytes(),
            2 => (*self.rng.pick(&[
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "-9223372036854775809",
                "007",
                "-0",
                "+5",
                " 5",
                "1.5",
                "12345678901234567890",
                "",
            ]))
            .as_bytes()
            .to_vec(),
            3 | 4 => {
                let n = self.rng.range(1, 44) as usize;
                self.rng.text(n, ALNUM)
            }
            5 => {
                let n = *self.rng.pick(&[20usize, 21, 43, 44, 45, 46]);
                self.rng.text(n, ALNUM)
            }
            6 => {
                let n = self.rng.range(45, 3000) as usize;
                self.rng.text(n, ALNUM)
            }
            7 => {
                let n = self.rng.range(45, 20000) as usize;
                let u = self.rng.range(1, 20) as usize;
                let unit = self.rng.text(u, ALNUM);
                unit.iter().copied().cycle().take(n).collect()
            }
            8 => {
                // Now and then past 16383 bytes: a 32-bit length.
                let n = if self.rng.chance(0.1) {
                    self.rng.range(16_384, 70_000)
                } else {
                    self.rng.range(1, 200)
                } as usize;
                self.rng.bytes(n)
            }
            9 => b"\x00\xff\x00\xff binary \x80\x81".to_vec(),
            10 => {
                // Grown in place: raw while live, embstr/int after loading.
                let a = self.small();
                self.push(cmd!("SET", &key, a));
                let b = self.small();
                self.push(cmd!("APPEND", &key, b));
                return self.maybe_ttl(&key);
            }
            11 => {
                let n = self.int() / 4;
                self.push(cmd!("SET", &key, n));
                let by = self.rng.irange(-1000, 1000);
                self.push(cmd!("INCRBY", &key, by));
                return self.maybe_ttl(&key);
            }
            12 => {
                let f = self.rng.irange(-100000, 100000);
                self.push(cmd!("INCRBYFLOAT", &key, format!("{}.25", f)));
                return self.maybe_ttl(&key);
            }
            13 => {
                let off = self.rng.range(0, 100);
                let v = self.small();
                self.push(cmd!("SETRANGE", &key, off, v));
                return self.maybe_ttl(&key);
            }
            14 => {
                for _ in 0..self.rng.range(1, 20) {
                    let bit = self.rng.range(0, 2000);
                    self.push(cmd!("SETBIT", &key, bit, 1));
                }
                return self.maybe_ttl(&key);
            }
            _ => {
                let at = self.now_ms + self.rng.irange(600_000, 1_000_000_000);
                let v = self.small();
                self.push(cmd!("SET", &key, v, "PXAT", at));
                return;
            }
        };
        self.push(cmd!("SET", &key, v));
        self.maybe_ttl(&key);
    }

    fn list(&mut self, key: Vec<u8>) {
        let n = match self.rng.below(10) {
            0..=3 => self.rng.range(1, 10),
            4..=6 => self.rng.range(10, 300),
            7 | 8 => self.rng.range(300, 1500),
            _ => self.rng.range(1500, 4000),
        } as usize;
        let mut changed = false;
        if self.rng.chance(0.4) {
            let fill = *self.rng.pick(&[-1i64, -2, -3, 1, 2, 3, 5, 16, 128]);
            self.push(cmd!("CONFIG", "SET", "list-max-listpack-size", fill));
            changed = true;
        }
        if self.rng.chance(0.4) {
            let depth = self.rng.range(1, 2);
            self.push(cmd!("CONFIG", "SET", "list-compress-depth", depth));
            changed = true;
        }
        let plain = self.rng.chance(0.15);
        if plain {
            self.push(cmd!("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 100));
        }
        let p_long = *self.rng.pick(&[0.0, 0.0, 0.05, 0.3]);
        let compressible = self.rng.chance(0.5);
        let mut i = 0;
        while i < n {
            let chunk = (n - i).min(64);
            let head = self.rng.chance(0.3);
            let mut c = cmd!(if head { "LPUSH" } else { "RPUSH" }, &key);
            for _ in 0..chunk {
                let e = if compressible && self.rng.chance(0.5) {
                    format!("item-{:08}", self.rng.below(50)).into_bytes()
                } else {
                    self.elem(p_long)
                };
                c.push(e);
            }
            self.push(c);
            i += chunk;
        }
        if n > 3 && self.rng.chance(0.3) {
            // At most n/2 of these, so the list stays non-empty.
            for _ in 0..self.rng.range(1, (n as u64 / 2).min(5)) {
                let idx = *self.rng.pick(&[0i64, -1]);
                let e = self.elem(p_long);
                match self.rng.below(4) {
                    0 => self.push(cmd!("LSET", &key, idx, e)),
                    1 => self.push(cmd!("LINSERT", &key, "BEFORE", "item-00000001", e)),
                    2 => self.push(cmd!("LREM", &key, 1, "item-00000002")),
                    _ => self.push(cmd!("RPOP", &key)),
                }
            }
        }
        if plain {
            self.push(cmd!("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 1u64 << 30));
        }
        if changed {
            self.reset_list_config();
        }
        self.maybe_ttl(&key);
    }

    fn reset_list_config(&mut self) {
        self.push(cmd!("CONFIG", "SET", "list-max-listpack-size", -2));
        self.push(cmd!("CONFIG", "SET", "list-compress-depth", 0));
    }

    fn set(&mut self, key: Vec<u8>) {
        let variant = self.rng.below(8);
        let n = self.size_around(128, 512);
        let members = match variant {
            0 => self.distinct(n, |g| g.rng.irange(-32768, 32767).to_string().into_bytes()),
            1 => self.distinct(n, |g| {
                g.rng
                    .irange(i32::MIN as i64, i32::MAX as i64)
                    .to_string()
                    .into_bytes()
            }),
            2 => self.distinct(n, |g| (g.rng.u64() as i64).to_string().into_bytes()),
            3 | 4 => self.distinct(n, |g| g.small()),
            5 => self.distinct(n, |g| g.elem(0.1)),
            6 => self.distinct(n, |g| g.int().to_string().into_bytes()),
            _ => self.distinct(n, |g| g.rng.irange(0, 100).to_string().into_bytes()),
        };
        for chunk in members.chunks(64) {
            let mut c = cmd!("SADD", &key);
            c.extend(chunk.iter().cloned());
            self.push(c);
        }
        if self.rng.chance(0.1) {
            // Converted by a member, then shrunk back: the encoding stays
            // until the set is reloaded.
            let big = self.long();
            self.push(cmd!("SADD", &key, &big));
            self.push(cmd!("SREM", &key, &big));
        }
        self.maybe_ttl(&key);
    }

    fn zset(&mut self, key: Vec<u8>) {
        let n = self.size_around(128, 300);
        let p_long = *self.rng.pick(&[0.0, 0.0, 0.01, 0.2]);
        let members = self.distinct(n, |g| g.elem(p_long));
        for chunk in members.chunks(64) {
            let mut c = cmd!("ZADD", &key);
            for m in chunk {
                c.push(self.score().into_bytes());
                c.push(m.clone());
            }
            self.push(c);
        }
        if self.rng.chance(0.2) {
            let m = self.rng.pick(&members).clone();
            let by = self.score();
            if !by.contains("inf") {
                self.push(cmd!("ZINCRBY", &key, by, m));
            }
        }
        if members.len() > 2 && self.rng.chance(0.15) {
            // Shrink: a skiplist stays one until reloaded.
            let k = self.rng.below(members.len() - 1) + 1;
            let mut c = cmd!("ZREM", &key);
            c.extend(members[..k].iter().cloned());
            self.push(c);
        }
        self.maybe_ttl(&key);
    }

    fn hash(&mut self, key: Vec<u8>) {
        let n = self.size_around(128, 512);
        let p_long = *self.rng.pick(&[0.0, 0.0, 0.0, 0.01, 0.1]);
        let fields = self.distinct(n, |g| g.elem(p_long / 2.0));
        for chunk in fields.chunks(64) {
            let mut c = cmd!("HSET", &key);
            for f in chunk {
                c.push(f.clone());
                c.push(self.elem(p_long));
            }
            self.push(c);
        }
        if self.rng.chance(0.1) {
            let f = self.long();
            self.push(cmd!("HSET", &key, &f, "v"));
            self.push(cmd!("HDEL", &key, &f));
        }
        if self.v8 && self.rng.chance(0.35) {
            // Hash field expiration (7.4+): some or all fields get a TTL.
            let k = if self.rng.chance(0.2) {
                fields.len()
            } else {
                self.rng.range(1, fields.len().min(20) as u64) as usize
            };
            let mut picked = fields.clone();
            for i in 0..k {
                let j = i + self.rng.below(picked.len() - i);
                picked.swap(i, j);
            }
            for chunk in picked[..k].chunks(64) {
                let at = self.now_ms + self.rng.irange(600_000, 31_536_000_000);
                let mut c = cmd!("HPEXPIREAT", &key, at, "FIELDS", chunk.len());
                c.extend(chunk.iter().cloned());
                self.push(c);
            }
            if self.rng.chance(0.2) {
                self.push(cmd!("HPERSIST", &key, "FIELDS", 1, &picked[0]));
            }
        }
        self.maybe_ttl(&key);
    }

    fn stream(&mut self, key: Vec<u8>) {
        if self.rng.chance(0.08) {
            // Empty stream with a group.
            self.push(cmd!("XGROUP", "CREATE", &key, "g0", "$", "MKSTREAM"));
            return self.maybe_ttl(&key);
        }
        let n = match self.rng.below(4) {
            0 => self.rng.range(1, 5),
            1 | 2 => self.rng.range(5, 150),
            _ => self.rng.range(150, 700),
        } as usize;
        let explicit = self.rng.chance(0.5);
        let mut ms = self.rng.range(1, 1_700_000_000_000);
        let nf = self.rng.range(1, 5) as usize;
        let base_fields = self.distinct(nf, |g| g.small());
        let mut ids = Vec::new();
        for i in 0..n {
            let id = if explicit {
                if self.rng.chance(0.7) {
                    ms += self.rng.range(1, 1000);
                }
                let seq = i as u64;
                ids.push(format!("{ms}-{seq}"));
                format!("{ms}-{seq}")
            } else {
                "*".to_string()
            };
            let mut c = cmd!("XADD", &key, id);
            if self.rng.chance(0.8) {
                for f in &base_fields {
                    c.push(f.clone());
                    c.push(self.small());
                }
            } else {
                for _ in 0..self.rng.range(1, 6) {
                    c.push(self.small());
                    c.push(self.elem(0.1));
                }
            }
            self.push(c);
        }
        if explicit && self.rng.chance(0.4) {
            let k = self.rng.range(1, (n as u64 / 4).max(1));
            let mut c = cmd!("XDEL", &key);
            for _ in 0..k {
                c.push(self.rng.pick(&ids).clone().into_bytes());
            }
            self.push(c);
        }
        match self.rng.below(8) {
            0 => {
                let keep = self.rng.range(0, n as u64);
                self.push(cmd!("XTRIM", &key, "MAXLEN", keep));
            }
            1 if explicit => {
                let id = self.rng.pick(&ids).clone();
                self.push(cmd!("XTRIM", &key, "MINID", id));
            }
            _ => {}
        }
        let groups = self.rng.range(0, 3);
        for g in 0..groups {
            let mut gname = format!("g{g}-{}", self.rng.below(1000)).into_bytes();
            if self.rng.chance(0.2) {
                gname.extend_from_slice(b"\x00\xff");
            }
            let start = match self.rng.below(3) {
                0 => "0".to_string(),
                1 => "$".to_string(),
                _ if explicit => self.rng.pick(&ids).clone(),
                _ => "0".to_string(),
            };
            if self.rng.chance(0.3) {
                let er = self.rng.range(0, n as u64);
                self.push(cmd!(
                    "XGROUP",
                    "CREATE",
                    &key,
                    &gname,
                    start,
                    "ENTRIESREAD",
                    er
                ));
            } else {
                self.push(cmd!("XGROUP", "CREATE", &key, &gname, start));
            }
            let consumers = self.rng.range(0, 3);
            for cn in 0..consumers {
                let cname = if cn == 2 {
                    b"c\xff\x00".to_vec()
                } else {
                    format!("c{cn}").into_bytes()
                };
                let count = self.rng.range(1, 50);
                self.push(cmd!(
                    "XREADGROUP",
                    "GROUP",
                    &gname,
                    &cname,
                    "COUNT",
                    count,
                    "STREAMS",
                    &key,
                    ">"
                ));
            }
            if self.rng.chance(0.3) {
                self.push(cmd!("XGROUP", "CREATECONSUMER", &key, &gname, "idle"));
            }
            if explicit && consumers > 0 {
                for _ in 0..self.rng.range(0, 4) {
                    let id = self.rng.pick(&ids).clone();
                    match self.rng.below(3) {
                        0 => self.push(cmd!("XACK", &key, &gname, id)),
                        1 => self.push(cmd!("XCLAIM", &key, &gname, "c0", 0, id)),
                        _ => {
                            let t = self.now_ms - self.rng.irange(0, 100_000);
                            let rc = self.rng.range(1, 9);
                            self.push(cmd!(
                                "XCLAIM",
                                &key,
                                &gname,
                                "c1",
                                0,
                                id,
                                "TIME",
                                t,
                                "RETRYCOUNT",
                                rc,
                                "FORCE"
                            ));
                        }
                    }
                }
            }
        }
        if explicit && self.rng.chance(0.15) {
            ms += 5000;
            let added = n as u64 + self.rng.range(0, 100);
            let maxdel = format!("{}-0", ms - 1);
            self.push(cmd!(
                "XSETID",
                &key,
                format!("{ms}-7"),
                "ENTRIESADDED",
                added,
                "MAXDELETEDID",
                maxdel
            ));
        }
        self.maybe_ttl(&key);
    }

    /// A key of `kind` written earlier in this db, if any.
    fn source(&mut self, kind: &str) -> Option<Vec<u8>> {
        let of_kind: Vec<&Vec<u8>> = self
            .made
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, key)| key)
            .collect();
        (!of_kind.is_empty()).then(|| of_kind[self.rng.below(of_kind.len())].clone())
    }

    /// A key made by another code path than plain writes: HyperLogLog,
    /// GEO, set/zset algebra, SORT ... STORE, COPY, BITFIELD, SETEX.
    fn derived(&mut self, db: u64) {
        let k = self.key("derived");
        match self.rng.below(8) {
            0 => {
                // Sparse or (past hll-sparse-max-bytes) dense HyperLogLog.
                let n = *self.rng.pick(&[3usize, 200, 4000]);
                for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
                    let mut c = cmd!("PFADD", &k);
                    for i in chunk {
                        c.push(format!("e{i}-{}", self.rng.below(1 << 20)).into_bytes());
                    }
                    self.push(c);
                }
            }
            1 => {
                let mut c = cmd!("GEOADD", &k);
                for i in 0..self.rng.range(1, 200) {
                    let lon = self.rng.irange(-179_000_000, 179_000_000) as f64 / 1e6;
                    let lat = self.rng.irange(-85_000_000, 85_000_000) as f64 / 1e6;
                    c.extend([lon.to_string().into_bytes(), lat.to_string().into_bytes()]);
                    c.push(format!("place{i}").into_bytes());
                }
                self.push(c);
            }
            2 => match (self.source("set"), self.source("set")) {
                (Some(a), Some(b)) => {
                    let op = *self.rng.pick(&["SUNIONSTORE", "SINTERSTORE", "SDIFFSTORE"]);
                    self.push(cmd!(op, &k, a, b));
                }
                _ => return self.set(k),
            },
            3 => match (self.source("zset"), self.source("zset")) {
                (Some(a), Some(b)) => {
                    let agg = *self.rng.pick(&["SUM", "MIN", "MAX"]);
                    self.push(cmd!("ZUNIONSTORE", &k, 2, a, b, "AGGREGATE", agg));
                }
                _ => return self.zset(k),
            },
            4 => match self.source("list") {
                Some(src) => self.push(cmd!("SORT", src, "ALPHA", "STORE", &k)),
                None => return self.list(k),
            },
            5 => {
                let kind = *self
                    .rng
                    .pick(&["str", "list", "set", "zset", "hash", "stream"]);
                match self.source(kind) {
                    Some(src) => {
                        // Into this db or another: the copy is checked there.
                        let to = if self.rng.chance(0.5) {
                            db
                        } else {
                            self.rng.range(0, 15)
                        };
                        self.push(cmd!("COPY", src, &k, "DB", to));
                        return;
                    }
                    None => return self.string(k),
                }
            }
            6 => {
                let mut c = cmd!("BITFIELD", &k);
                for _ in 0..self.rng.range(1, 10) {
                    let ty = *self.rng.pick(&["u8", "i16", "u32", "i64"]);
                    let off = self.rng.range(0, 500);
                    let v = self.rng.irange(-100, 100);
                    c.extend(cmd!("SET", ty, off, v));
                }
                self.push(c);
            }
            _ => {
                let v = self.small();
                let secs = self.rng.range(600, 100_000);
                self.push(cmd!("SETEX", &k, secs, v));
                if self.rng.chance(0.5) {
                    self.push(cmd!("GETEX", &k, "PERSIST"));
                }
                return;
            }
        }
        self.maybe_ttl(&k);
    }

    fn function(&mut self, round_seed: u64, i: usize) {
        let n = self.rng.range(0, 300) as usize;
        let pad = self.rng.text(n, ALNUM);
        let code = format!(
            "#!lua name=lib{round_seed}_{i}\n-- {}\nredis.register_function('f{round_seed}_{i}', function(keys, args) return {} end)\n",
            String::from_utf8_lossy(&pad),
            self.rng.range(0, 1000)
        );
        self.push(cmd!("FUNCTION", "LOAD", "REPLACE", code));
    }

    /// Writes `total` keys over the 16 dbs (most in db 0) and a few
    /// function libraries.
    fn keyspace(&mut self, total: usize, round_seed: u64) {
        let mut per_db = [0usize; 16];
        for _ in 0..total {
            let db = if self.rng.chance(0.6) {
                0
            } else {
                self.rng.range(1, 15) as usize
            };
            per_db[db] += 1;
        }
        for (db, &count) in per_db.iter().enumerate() {
            if count == 0 {
                continue;
            }
            self.push(cmd!("SELECT", db));
            self.made.clear();
            if self.rng.chance(0.3) {
                // The empty key is a valid key.
                self.string(Vec::new());
            }
            for _ in 0..count {
                let kind = match self.rng.below(13) {
                    0..=2 => "str",
                    3 | 4 => "list",
                    5 | 6 => "set",
                    7 | 8 => "zset",
                    9 | 10 => "hash",
                    11 => "stream",
                    _ => {
                        self.derived(db as u64);
                        continue;
                    }
                };
                let k = self.key(kind);
                self.made.push((kind, k.clone()));
                self.all.push((db as u64, k.clone()));
                match kind {
                    "str" => self.string(k),
                    "list" => self.list(k),
                    "set" => self.set(k),
                    "zset" => self.zset(k),
                    "hash" => self.hash(k),
                    _ => self.stream(k),
                }
            }
        }
        for i in 0..self.rng.range(0, 3) as usize {
            self.function(round_seed, i);
        }
    }
}

/// Under an LRU/LFU policy, gives a third of the keys a random idle time or
/// LFU counter (DUMP, then RESTORE ... REPLACE ABSTTL IDLETIME|FREQ), so
/// that the IDLE/FREQ opcodes carry values worth checking.
fn spread_access_data(c: &mut Client, rng: &mut Rng, keys: &[(u64, Vec<u8>)]) {
    let policy = c.ok(cmd!("CONFIG", "GET", "maxmemory-policy")).array()[1]
        .bytes()
        .to_vec();
    let lfu = policy.ends_with(b"-lfu");
    if !lfu && !policy.ends_with(b"-lru") {
        return;
    }
    let mut by_db: BTreeMap<u64, Vec<&Vec<u8>>> = BTreeMap::new();
    for (db, k) in keys {
        if rng.chance(0.33) {
            by_db.entry(*db).or_default().push(k);
        }
    }
    for (db, keys) in by_db {
        c.ok(cmd!("SELECT", db));
        let q: Vec<Cmd> = keys
            .iter()
            .flat_map(|k| [cmd!("DUMP", k), cmd!("PEXPIRETIME", k)])
            .collect();
        let r = c.pipeline_ok(&q);
        let mut restore = Vec::new();
        for (k, pair) in keys.iter().zip(r.chunks(2)) {
            let Reply::Bulk(payload) = &pair[0] else {
                continue;
            };
            let at = pair[1].int().max(0);
            let mut cmd = cmd!("RESTORE", k, at, payload, "REPLACE", "ABSTTL");
            if lfu {
                cmd.extend(cmd!("FREQ", rng.range(0, 255)));
            } else {
                cmd.extend(cmd!("IDLETIME", rng.range(0, 10_000_000)));
            }
            restore.push(cmd);
        }
        c.pipeline_ok(&restore);
    }
    c.ok(cmd!("SELECT", 0));
}

// ---------------------------------------------------------------------------
// The export, as the library produces it
// ---------------------------------------------------------------------------

/// One exported key line.
struct Exported {
    db: u64,
    key: Vec<u8>,
    line: J,
}

/// Everything the library made of one dump.
struct Export {
    keys: Vec<Exported>,
    functions: Vec<Vec<u8>>,
    /// `[type byte] ++ raw` per (db, key): the DUMP payload body.
    raw: HashMap<(u64, Vec<u8>), Vec<u8>>,
    checksum: J,
    /// The JSON Lines text.
    text: Vec<u8>,
}

fn jbytes(v: &J) -> Vec<u8> {
    use base64::Engine;
    match v {
        J::String(s) => s.as_bytes().to_vec(),
        J::Object(o) => base64::engine::general_purpose::STANDARD
            .decode(o["b64"].as_str().expect("b64 string"))
            .expect("valid base64"),
        other => panic!("not a byte string: {other}"),
    }
}

fn export(data: &[u8]) -> Export {
    let opts = ReadOptions::default();
    let mut out = Vec::new();
    {
        let mut ex = JsonExporter::new(&mut out, JsonMode::Lines, None);
        read(data, &opts, &mut ex).expect("rdbtool reads the dump");
    }
    let mut keys = Vec::new();
    let mut functions = Vec::new();
    let mut checksum = J::Null;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let j: J = serde_json::from_slice(line).expect("export line is JSON");
        if j.get("key").is_some() && j.get("record").is_none() {
            keys.push(Exported {
                db: j["db"].as_u64().expect("db"),
                key: jbytes(&j["key"]),
                line: j,
            });
        } else {
            match j["record"].as_str() {
                Some("function") => functions.push(jbytes(&j["code"])),
                Some("trailer") => checksum = j["checksum"].clone(),
                _ => {}
            }
        }
    }
    let mut raw = HashMap::new();
    let mut kb = Vec::new();
    read(
        data,
        &opts,
        &mut FnSink(|r: &Record<'_>| {
            if let Record::Key(k) = r {
                let key = k.key.bytes(&mut kb).expect("key bytes").to_vec();
                let mut p = vec![k.value.type_byte];
                p.extend_from_slice(k.value.raw);
                raw.insert((k.db, key), p);
            }
            Ok(Flow::Continue)
        }),
    )
    .expect("second pass");
    Export {
        keys,
        functions,
        raw,
        checksum,
        text: out,
    }
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// Mismatches (failures) and server-side nuances (counted, not failures).
#[derive(Default)]
struct Report {
    fails: Vec<String>,
    fail_kinds: BTreeMap<String, usize>,
    nuances: BTreeMap<String, usize>,
    keys: usize,
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned();
    if b.len() > 60 { format!("{s}…") } else { s }
}

impl Report {
    fn fail(&mut self, what: &str, db: u64, key: &[u8], detail: String) {
        let n = self.fail_kinds.entry(what.to_string()).or_default();
        *n += 1;
        // A few examples of each kind.
        if *n <= 8 {
            self.fails
                .push(format!("[{what}] db{db} {:?}: {detail}", show(key)));
        }
    }
    fn nuance(&mut self, what: String) {
        *self.nuances.entry(what).or_default() += 1;
    }
}

fn score_of(v: &J) -> f64 {
    match v {
        J::Number(n) => n.as_f64().expect("f64 score"),
        J::String(s) => match s.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            _ => f64::NAN,
        },
        _ => f64::NAN,
    }
}

fn parse_f64(b: &[u8]) -> f64 {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

fn id_text(r: &Reply) -> String {
    String::from_utf8_lossy(r.bytes()).into_owned()
}

/// The commands that read one key's value, by exported type.
fn value_cmds(e: &Exported, v8: bool) -> Vec<Cmd> {
    let k = &e.key;
    match e.line["type"].as_str().unwrap_or("") {
        "string" => vec![cmd!("GET", k)],
        "list" => vec![cmd!("LRANGE", k, 0, -1)],
        "set" => vec![cmd!("SMEMBERS", k)],
        "zset" => vec![cmd!("ZRANGE", k, 0, -1, "WITHSCORES")],
        "hash" => {
            let mut v = vec![cmd!("HGETALL", k)];
            let fields = e.line["value"].as_array().map(Vec::len).unwrap_or(0);
            if v8 && fields > 0 {
                let mut c = cmd!("HPEXPIRETIME", k, "FIELDS", fields);
                for p in e.line["value"].as_array().into_iter().flatten() {
                    c.push(jbytes(&p[0]));
                }
                v.push(c);
            }
            v
        }
        "stream" => vec![
            cmd!("XRANGE", k, "-", "+"),
            cmd!("XINFO", "STREAM", k, "FULL", "COUNT", 0),
        ],
        _ => vec![],
    }
}

fn compare_value(rep: &mut Report, e: &Exported, replies: &[Reply], v8: bool) {
    let (db, key) = (e.db, &e.key[..]);
    let val = &e.line["value"];
    let ty = e.line["type"].as_str().unwrap_or("");
    match ty {
        "string" => {
            if replies[0].bytes() != jbytes(val) {
                rep.fail(
                    "string value",
                    db,
                    key,
                    format!(
                        "server {:?} export {:?}",
                        show(replies[0].bytes()),
                        show(&jbytes(val))
                    ),
                );
            }
        }
        "list" => {
            let srv: Vec<&[u8]> = replies[0].array().iter().map(Reply::bytes).collect();
            let ours: Vec<Vec<u8>> = val.as_array().expect("list").iter().map(jbytes).collect();
            if srv.len() != ours.len() || srv.iter().zip(&ours).any(|(a, b)| *a != &b[..]) {
                rep.fail(
                    "list value",
                    db,
                    key,
                    format!("server {} elements, export {}", srv.len(), ours.len()),
                );
            }
        }
        "set" => {
            let srv: BTreeSet<Vec<u8>> = replies[0]
                .array()
                .iter()
                .map(|r| r.bytes().to_vec())
                .collect();
            let ours: Vec<Vec<u8>> = val.as_array().expect("set").iter().map(jbytes).collect();
            let ours_set: BTreeSet<Vec<u8>> = ours.iter().cloned().collect();
            if srv != ours_set || ours.len() != ours_set.len() {
                rep.fail(
                    "set value",
                    db,
                    key,
                    format!("server {} members, export {}", srv.len(), ours.len()),
                );
            }
        }
        "zset" => {
            let a = replies[0].array();
            let srv: Vec<(&[u8], f64)> = a
                .chunks(2)
                .map(|p| (p[0].bytes(), parse_f64(p[1].bytes())))
                .collect();
            let ours: Vec<(Vec<u8>, f64)> = val
                .as_array()
                .expect("zset")
                .iter()
                .map(|p| (jbytes(&p[0]), score_of(&p[1])))
                .collect();
            if srv.len() != ours.len() {
                rep.fail(
                    "zset value",
                    db,
                    key,
                    format!("server {} members, export {}", srv.len(), ours.len()),
                );
            } else if let Some(i) = (0..srv.len()).find(|&i| {
                // Scores bit for bit: -0.0 keeps its sign in both.
                srv[i].0 != &ours[i].0[..] || srv[i].1.to_bits() != ours[i].1.to_bits()
            }) {
                rep.fail(
                    "zset value",
                    db,
                    key,
                    format!(
                        "at {i}: server ({:?}, {:e}) export ({:?}, {:e})",
                        show(srv[i].0),
                        srv[i].1,
                        show(&ours[i].0),
                        ours[i].1
                    ),
                );
            }
        }
        "hash" => {
            let srv: BTreeMap<Vec<u8>, Vec<u8>> = replies[0]
                .array()
                .chunks(2)
                .map(|p| (p[0].bytes().to_vec(), p[1].bytes().to_vec()))
                .collect();
            let pairs = val.as_array().expect("hash");
            let ours: BTreeMap<Vec<u8>, Vec<u8>> = pairs
                .iter()
                .map(|p| (jbytes(&p[0]), jbytes(&p[1])))
                .collect();
            if srv != ours || ours.len() != pairs.len() {
                rep.fail(
                    "hash value",
                    db,
                    key,
                    format!("server {} fields, export {}", srv.len(), pairs.len()),
                );
            }
            if v8 && !pairs.is_empty() {
                let ttls = replies[1].array();
                for (p, t) in pairs.iter().zip(ttls) {
                    let ours = p.get(2).and_then(J::as_i64).unwrap_or(-1);
                    if ours != t.int() {
                        rep.fail(
                            "hash field ttl",
                            db,
                            key,
                            format!(
                                "field {:?}: server {} export {}",
                                show(&jbytes(&p[0])),
                                t.int(),
                                ours
                            ),
                        );
                    }
                }
            }
        }
        "stream" => compare_stream(rep, e, &replies[0], &replies[1], v8),
        other => rep.fail("type", db, key, format!("unexpected type {other}")),
    }
}

fn compare_stream(rep: &mut Report, e: &Exported, xrange: &Reply, info: &Reply, v8: bool) {
    let (db, key) = (e.db, &e.key[..]);
    let s = &e.line["value"];
    let mut fail = |what: &str, d: String| rep.fail(what, db, key, d);
    // Entries.
    let srv: Vec<(String, Vec<Vec<u8>>)> = xrange
        .array()
        .iter()
        .map(|ent| {
            let a = ent.array();
            (
                id_text(&a[0]),
                a[1].array().iter().map(|r| r.bytes().to_vec()).collect(),
            )
        })
        .collect();
    let ours: Vec<(String, Vec<Vec<u8>>)> = s["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|ent| {
            (
                ent["id"].as_str().unwrap_or("").to_string(),
                ent["fields"]
                    .as_array()
                    .expect("fields")
                    .iter()
                    .flat_map(|p| [jbytes(&p[0]), jbytes(&p[1])])
                    .collect(),
            )
        })
        .collect();
    if srv != ours {
        let i = srv.iter().zip(&ours).position(|(a, b)| a != b);
        fail(
            "stream entries",
            format!(
                "server {} entries, export {}; first difference at {i:?}",
                srv.len(),
                ours.len()
            ),
        );
    }
    // Metadata.
    let num = |r: &Reply| r.int().to_string();
    let checks: [(&str, &str, String); 5] = [
        ("length", "length", num(info.field("length"))),
        (
            "last_id",
            "last-generated-id",
            id_text(info.field("last-generated-id")),
        ),
        (
            "max_deleted_entry_id",
            "max-deleted-entry-id",
            id_text(info.field("max-deleted-entry-id")),
        ),
        (
            "entries_added",
            "entries-added",
            num(info.field("entries-added")),
        ),
        (
            "first_id",
            "recorded-first-entry-id",
            id_text(info.field("recorded-first-entry-id")),
        ),
    ];
    for (ours_name, srv_name, srv_val) in checks {
        let o = match &s[ours_name] {
            J::String(t) => t.clone(),
            J::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        if o != srv_val {
            fail(
                "stream meta",
                format!("{ours_name}: server {srv_name}={srv_val} export {o}"),
            );
        }
    }
    // Groups, by name.
    let srv_groups: BTreeMap<Vec<u8>, &Reply> = info
        .field("groups")
        .array()
        .iter()
        .map(|g| (g.field("name").bytes().to_vec(), g))
        .collect();
    let our_groups: BTreeMap<Vec<u8>, &J> = s["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (jbytes(&g["name"]), g))
        .collect();
    if srv_groups.keys().ne(our_groups.keys()) {
        fail(
            "stream groups",
            format!(
                "server {} groups, export {}",
                srv_groups.len(),
                our_groups.len()
            ),
        );
        return;
    }
    for (name, sg) in &srv_groups {
        let og = our_groups[name];
        let gname = show(name);
        let last = id_text(sg.field("last-delivered-id"));
        if og["last_id"].as_str() != Some(&last) {
            fail(
                "stream group",
                format!("{gname}: last-delivered-id {last} export {}", og["last_id"]),
            );
        }
        let er = match sg.field("entries-read") {
            Reply::Nil => J::Null,
            r => J::from(r.int()),
        };
        if og["entries_read"] != er {
            fail(
                "stream group",
                format!("{gname}: entries-read {er} export {}", og["entries_read"]),
            );
        }
        // Group PEL: [id, consumer, delivery-time, delivery-count].
        let srv_pel: Vec<(String, Vec<u8>, i64, i64)> = sg
            .field("pending")
            .array()
            .iter()
            .map(|p| {
                let a = p.array();
                (
                    id_text(&a[0]),
                    a[1].bytes().to_vec(),
                    a[2].int(),
                    a[3].int(),
                )
            })
            .collect();
        let our_pel: Vec<(String, Vec<u8>, i64, i64)> = og["pending"]
            .as_array()
            .expect("pending")
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap_or("").to_string(),
                    if p["consumer"].is_null() {
                        Vec::new()
                    } else {
                        jbytes(&p["consumer"])
                    },
                    p["delivery_time_ms"].as_i64().unwrap_or(-1),
                    p["delivery_count"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        if srv_pel != our_pel {
            let i = srv_pel.iter().zip(&our_pel).position(|(a, b)| a != b);
            fail(
                "stream pel",
                format!(
                    "{gname}: server {} entries, export {}; first difference at {i:?}: {:?} vs {:?}",
                    srv_pel.len(),
                    our_pel.len(),
                    i.map(|i| &srv_pel[i]),
                    i.map(|i| &our_pel[i])
                ),
            );
        }
        // Consumers.
        let srv_cons: BTreeMap<Vec<u8>, &Reply> = sg
            .field("consumers")
            .array()
            .iter()
            .map(|c| (c.field("name").bytes().to_vec(), c))
            .collect();
        let our_cons: BTreeMap<Vec<u8>, &J> = og["consumers"]
            .as_array()
            .expect("consumers")
            .iter()
            .map(|c| (jbytes(&c["name"]), c))
            .collect();
        if srv_cons.keys().ne(our_cons.keys()) {
            fail(
                "stream consumers",
                format!(
                    "{gname}: server {} consumers, export {}",
                    srv_cons.len(),
                    our_cons.len()
                ),
            );
            continue;
        }
        for (cname, sc) in &srv_cons {
            let oc = our_cons[cname];
            let seen = sc.field("seen-time").int();
            if oc["seen_time_ms"].as_i64() != Some(seen) {
                fail(
                    "stream consumer",
                    format!(
                        "{gname}/{}: seen-time {seen} export {}",
                        show(cname),
                        oc["seen_time_ms"]
                    ),
                );
            }
            if v8 {
                let active = sc.field("active-time").int();
                if oc["active_time_ms"].as_i64() != Some(active) {
                    fail(
                        "stream consumer",
                        format!(
                            "{gname}/{}: active-time {active} export {}",
                            show(cname),
                            oc["active_time_ms"]
                        ),
                    );
                }
            }
            let srv_ids: Vec<String> = sc
                .field("pending")
                .array()
                .iter()
                .map(|p| id_text(&p.array()[0]))
                .collect();
            let our_ids: Vec<String> = oc["pending_ids"]
                .as_array()
                .expect("pending_ids")
                .iter()
                .map(|i| i.as_str().unwrap_or("").to_string())
                .collect();
            if srv_ids != our_ids {
                fail(
                    "stream consumer",
                    format!(
                        "{gname}/{}: server {} pending, export {}",
                        show(cname),
                        srv_ids.len(),
                        our_ids.len()
                    ),
                );
            }
        }
    }
}

/// Compares every exported key with the live server, then reloads the
/// server from its own file and compares encodings.
fn compare(
    rep: &mut Report,
    srv: &Server,
    c: &mut Client,
    ex: &Export,
    v8: bool,
    saved: std::time::Instant,
) {
    if ex.checksum["status"] != "ok" {
        rep.fail("checksum", 0, b"", format!("{}", ex.checksum));
    }
    // Key count per db.
    let mut per_db: BTreeMap<u64, Vec<&Exported>> = BTreeMap::new();
    for e in &ex.keys {
        per_db.entry(e.db).or_default().push(e);
    }
    for db in 0..16u64 {
        c.ok(cmd!("SELECT", db));
        let n = c.ok(cmd!("DBSIZE")).int() as usize;
        let ours = per_db.get(&db).map(Vec::len).unwrap_or(0);
        if n != ours {
            rep.fail("dbsize", db, b"", format!("server {n} keys, export {ours}"));
        }
    }
    let policy = c.ok(cmd!("CONFIG", "GET", "maxmemory-policy")).array()[1]
        .bytes()
        .to_vec();
    let lru = policy.ends_with(b"-lru");
    let lfu = policy.ends_with(b"-lfu");
    let mut exported_enc: Vec<(&Exported, String)> = Vec::new();
    for (&db, keys) in &per_db {
        c.ok(cmd!("SELECT", db));
        let mut cmds = Vec::new();
        let mut spans = Vec::new();
        for e in keys {
            let start = cmds.len();
            // First, before anything that touches the key's LRU/LFU data.
            cmds.push(if lru {
                cmd!("OBJECT", "IDLETIME", &e.key)
            } else if lfu {
                cmd!("OBJECT", "FREQ", &e.key)
            } else {
                cmd!("ECHO", "-")
            });
            cmds.push(cmd!("TYPE", &e.key));
            cmds.push(cmd!("OBJECT", "ENCODING", &e.key));
            cmds.push(cmd!("PEXPIRETIME", &e.key));
            cmds.push(cmd!("DUMP", &e.key));
            cmds.extend(value_cmds(e, v8));
            spans.push(start..cmds.len());
        }
        let replies = c.pipeline_ok(&cmds);
        let since_save = saved.elapsed().as_secs() as i64 + 1;
        for (e, span) in keys.iter().zip(spans) {
            rep.keys += 1;
            let (access, r) = replies[span].split_first().expect("replies");
            let idle = e.line.get("lru_idle_s").and_then(J::as_i64);
            let freq = e.line.get("lfu_freq").and_then(J::as_i64);
            // Values 0..=9999 share one integer object (OBJ_SHARED_INTEGERS)
            // and with it one LRU/LFU field, which reads of any key holding
            // the same number update.
            let shared_int = e.line["encoding"] == "int"
                && e.line["value"]
                    .as_str()
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| (0..10_000).contains(&v));
            if (lru || lfu) && shared_int {
                if idle.is_none() && freq.is_none() {
                    rep.fail("lru/lfu", db, &e.key, "no IDLE/FREQ data".into());
                }
                rep.nuance("shared integer: LRU/LFU data not compared".into());
            } else if lru {
                // Idle seconds grow between SAVE and this query; the
                // server's cached LRU clock may also lag by a few seconds
                // while a long pipeline runs.
                match idle {
                    Some(i)
                        if (0..=since_save + LRU_CLOCK_SLACK_S).contains(&(access.int() - i)) => {}
                    _ => rep.fail(
                        "lru idle",
                        db,
                        &e.key,
                        format!("server {} export {idle:?}", access.int()),
                    ),
                }
            } else if lfu {
                // The counter may decay by one if a minute turned since SAVE.
                match freq {
                    Some(f) if (0..=1).contains(&(f - access.int())) => {}
                    _ => rep.fail(
                        "lfu freq",
                        db,
                        &e.key,
                        format!("server {} export {freq:?}", access.int()),
                    ),
                }
            } else if idle.is_some() || freq.is_some() {
                rep.fail("lru/lfu", db, &e.key, "export has IDLE/FREQ data".into());
            }
            let ty = e.line["type"].as_str().unwrap_or("");
            if r[0].bytes() != ty.as_bytes() {
                rep.fail(
                    "type",
                    db,
                    &e.key,
                    format!("server {} export {ty}", show(r[0].bytes())),
                );
                continue;
            }
            let enc = e.line["encoding"].as_str().unwrap_or("").to_string();
            let live = String::from_utf8_lossy(r[1].bytes()).into_owned();
            exported_enc.push((e, live));
            let ttl = e.line["expire_at_ms"].as_i64().unwrap_or(-1);
            if r[2].int() != ttl {
                rep.fail(
                    "ttl",
                    db,
                    &e.key,
                    format!("server {} export {ttl}", r[2].int()),
                );
            }
            // DUMP = [type byte] value, 2-byte RDB version, 8-byte CRC.
            let dump = r[3].bytes();
            let body = &dump[..dump.len().saturating_sub(10)];
            match ex.raw.get(&(db, e.key.clone())) {
                Some(raw) if raw[..] == *body => {}
                Some(raw) => rep.fail(
                    "dump payload",
                    db,
                    &e.key,
                    format!(
                        "{ty}/{enc}: DUMP body {} bytes (type {}), file {} bytes (type {})",
                        body.len(),
                        body.first().copied().unwrap_or(0),
                        raw.len(),
                        raw[0]
                    ),
                ),
                None => rep.fail("dump payload", db, &e.key, "no raw value".into()),
            }
            compare_value(rep, e, &r[4..], v8);
        }
    }
    // Functions.
    let libs = c.ok(cmd!("FUNCTION", "LIST", "WITHCODE"));
    let srv_libs: BTreeSet<Vec<u8>> = libs
        .array()
        .iter()
        .map(|l| l.field("library_code").bytes().to_vec())
        .collect();
    let ours: BTreeSet<Vec<u8>> = ex.functions.iter().cloned().collect();
    if srv_libs != ours || ours.len() != ex.functions.len() {
        rep.fail(
            "functions",
            0,
            b"",
            format!(
                "server {} libraries, export {}",
                srv_libs.len(),
                ex.functions.len()
            ),
        );
    }
    // Encodings: the server's answer after loading its own file.
    let hash_limit: usize = String::from_utf8_lossy(
        c.ok(cmd!("CONFIG", "GET", "hash-max-listpack-entries"))
            .array()[1]
            .bytes(),
    )
    .parse()
    .expect("hash-max-listpack-entries");
    srv.must(c, cmd!("DEBUG", "RELOAD"));
    let mut by_db: BTreeMap<u64, Vec<(&Exported, String)>> = BTreeMap::new();
    for (e, live) in exported_enc {
        by_db.entry(e.db).or_default().push((e, live));
    }
    for (db, list) in by_db {
        c.ok(cmd!("SELECT", db));
        let cmds: Vec<Cmd> = list
            .iter()
            .map(|(e, _)| cmd!("OBJECT", "ENCODING", &e.key))
            .collect();
        let replies = c.pipeline_ok(&cmds);
        for ((e, live), r) in list.iter().zip(replies) {
            let loaded = String::from_utf8_lossy(r.bytes()).into_owned();
            let ours = e.line["encoding"].as_str().unwrap_or("");
            let ty = e.line["type"].as_str().unwrap_or("");
            if *live != loaded {
                rep.nuance(format!("{ty}: live encoding {live}, {loaded} after reload"));
            }
            let fields = e.line["value"].as_array().map(Vec::len).unwrap_or(0);
            if ty == "hash"
                && ours == "hashtable"
                && live == "hashtable"
                && loaded.starts_with("listpack")
                && fields > 128
                && fields <= hash_limit
            {
                // The file cannot tell whether its writer ran with redis.conf's
                // hash-max-listpack-entries 128 (then a hashtable of this size
                // stays one) or the built-in 512 (then only a hash that once
                // held a long value is one, and reloading makes it a
                // listpack). rdbtool keeps the file's layout: what the writer
                // holds live.
                rep.nuance(format!(
                    "hash of 129..={hash_limit} fields stored as a hashtable: export = live hashtable, {loaded} after reload"
                ));
            } else if ours != loaded {
                rep.fail(
                    "encoding",
                    db,
                    &e.key,
                    format!(
                        "{ty}: server after reload {loaded} (live {live}), export {ours}, rdb_type {}",
                        e.line["rdb_type"]
                    ),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Coverage
// ---------------------------------------------------------------------------

/// Counts what a dump holds: `type/encoding` per key, and the stored forms
/// the generator aims for (LZF strings, PLAIN and compressed list nodes).
fn coverage(ex: &Export, into: &mut BTreeMap<String, usize>) {
    use rdbtool::rdb::read::prim::{RdbStr, length, string};
    let mut add = |k: String| *into.entry(k).or_default() += 1;
    for e in &ex.keys {
        add(format!(
            "{}/{}",
            e.line["type"].as_str().unwrap_or("?"),
            e.line["encoding"].as_str().unwrap_or("?")
        ));
        if e.line.get("expire_at_ms").is_some_and(|t| !t.is_null()) {
            add("ttl".into());
        }
    }
    for e in &ex.keys {
        if e.line.get("lru_idle_s").is_some() {
            add("IDLE opcode".into());
        }
        if e.line.get("lfu_freq").is_some() {
            add("FREQ opcode".into());
        }
    }
    for ((_, _), raw) in ex.raw.iter() {
        match raw[0] {
            0 => {
                if let Ok((_, RdbStr::Lzf { .. })) = string(&raw[1..]) {
                    add("string stored LZF".into());
                }
            }
            18 => {
                // Quicklist 2: count, then (container, listpack blob) per node.
                let Ok((mut r, n)) = length(&raw[1..]) else {
                    continue;
                };
                for _ in 0..n {
                    let (r2, container) = length(r).expect("container");
                    let (r3, blob) = string(r2).expect("node");
                    if container == 1 {
                        add("list PLAIN node".into());
                    } else if matches!(blob, RdbStr::Lzf { .. }) {
                        add("list LZF node".into());
                    }
                    r = r3;
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Rounds
// ---------------------------------------------------------------------------

fn base_seed() -> u64 {
    match std::env::var("RDBTOOL_ORACLE_SEED") {
        Ok(s) => s.trim().parse().expect("RDBTOOL_ORACLE_SEED is a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

/// Server settings per round: the built-in defaults, and redis.conf's
/// `hash-max-listpack-entries 128` (Debian's packaged config).
fn round_args(round: u64) -> &'static [&'static str] {
    match round % 3 {
        0 => &[],
        // redis.conf's hash threshold, IDLE opcodes, no LZF.
        1 => &[
            "--hash-max-listpack-entries",
            "128",
            "--maxmemory-policy",
            "allkeys-lru",
            "--rdbcompression",
            "no",
        ],
        // FREQ opcodes.
        _ => &["--maxmemory-policy", "allkeys-lfu"],
    }
}

fn run_rounds(name: &str, start: impl Fn(&[&str]) -> Option<Server>) {
    let seed = base_seed();
    eprintln!("oracle {name}: RDBTOOL_ORACLE_SEED={seed}");
    let mut total = Report::default();
    let mut seen = BTreeMap::new();
    let mut v8 = false;
    for round in 0..ROUNDS {
        let Some(srv) = start(round_args(round)) else {
            return;
        };
        v8 = !srv.version.starts_with("7.0");
        let round_seed = seed.wrapping_add(round);
        let mut rng = Rng::new(round_seed);
        let mut c = srv.client();
        let now = c.ok(cmd!("TIME"));
        let now_ms = String::from_utf8_lossy(now.array()[0].bytes())
            .parse::<i64>()
            .expect("TIME seconds")
            * 1000;
        let t0 = std::time::Instant::now();
        let mut g = Gen {
            rng: &mut rng,
            v8,
            now_ms,
            cmds: Vec::new(),
            serial: 0,
            made: Vec::new(),
            all: Vec::new(),
        };
        g.keyspace(KEYS_PER_ROUND, round_seed);
        let cmds = std::mem::take(&mut g.cmds);
        let keys = std::mem::take(&mut g.all);
        c.pipeline_ok(&cmds);
        spread_access_data(&mut c, &mut rng, &keys);
        c.ok(cmd!("SELECT", 0));
        let data = srv.save(&mut c);
        let saved = std::time::Instant::now();
        let ex = export(&data);
        // The command line prints exactly what the library wrote.
        let dump = srv.dir().join("dump.rdb");
        let cli = std::process::Command::new(env!("CARGO_BIN_EXE_rdbtool"))
            .arg("export")
            .arg(&dump)
            .args(["--format", "jsonl"])
            .output()
            .expect("run rdbtool");
        assert!(cli.status.success(), "rdbtool export failed: {cli:?}");
        assert!(
            cli.stdout == ex.text,
            "rdbtool export output differs from the library's"
        );
        coverage(&ex, &mut seen);
        let mut rep = Report::default();
        compare(&mut rep, &srv, &mut c, &ex, v8, saved);
        eprintln!(
            "oracle {name} round {round} (seed {round_seed}, {:?}): {} keys, {} bytes, {} mismatches, {:.1} s",
            round_args(round),
            rep.keys,
            data.len(),
            rep.fail_kinds.values().sum::<usize>(),
            t0.elapsed().as_secs_f64()
        );
        total.keys += rep.keys;
        for (k, v) in rep.nuances {
            *total.nuances.entry(k).or_default() += v;
        }
        for (k, v) in rep.fail_kinds {
            *total.fail_kinds.entry(k).or_default() += v;
        }
        total.fails.extend(rep.fails);
    }
    eprintln!("oracle {name} coverage: {seen:?}");
    let mut want = vec![
        "string/int",
        "string/embstr",
        "string/raw",
        "string stored LZF",
        "list/quicklist",
        "list PLAIN node",
        "list LZF node",
        "set/intset",
        "set/hashtable",
        "zset/listpack",
        "zset/skiplist",
        "hash/listpack",
        "hash/hashtable",
        "stream/stream",
        "ttl",
        "IDLE opcode",
        "FREQ opcode",
    ];
    if v8 {
        want.extend(["list/listpack", "set/listpack", "hash/listpackex"]);
    }
    for w in want {
        assert!(seen.contains_key(w), "{name}: no key of {w} was generated");
    }
    for (k, v) in &total.nuances {
        eprintln!("  server nuance ({name}): {k}: {v} keys");
    }
    if !total.fails.is_empty() {
        for f in total.fails.iter().take(60) {
            eprintln!("  {f}");
        }
        panic!(
            "{name}: {} mismatches over {} keys: {:?} (replay with RDBTOOL_ORACLE_SEED={seed})",
            total.fail_kinds.values().sum::<usize>(),
            total.keys,
            total.fail_kinds
        );
    }
    assert!(total.keys > 0, "no key compared");
}

#[test]
fn oracle_redis_70() {
    run_rounds("redis-7.0", |args| Some(Server::redis70(args)));
}

#[test]
fn oracle_redis_82() {
    run_rounds("redis-8.2", Server::redis82);
}
