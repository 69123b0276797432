//! TTL distribution (time left at the reference time, per db, type and
//! prefix) and expiry waves (keys expiring in the same second or minute:
//! a stampede risk when TTLs lack jitter).

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

use serde::Serialize;

use super::facts::KeyFacts;
use super::prefix::{FxMap, PrefixMap, label};

/// Bucket names, in order.
pub const BUCKETS: [&str; 8] = [
    "expired", "<1m", "<1h", "<1d", "<7d", "<30d", "longer", "none",
];

/// Which bucket a key falls in at `now_ms`.
pub fn bucket(expire_ms: Option<i64>, now_ms: i64) -> usize {
    let Some(e) = expire_ms else { return 7 };
    let left = e.saturating_sub(now_ms);
    const S: i64 = 1000;
    match left {
        i64::MIN..=0 => 0,
        1..60_000 => 1,
        60_000..3_600_000 => 2,
        3_600_000..86_400_000 => 3,
        _ if left < 7 * 86_400 * S => 4,
        _ if left < 30 * 86_400 * S => 5,
        _ => 6,
    }
}

/// Keys and bytes per bucket.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Histogram {
    /// Keys per bucket (order of [`BUCKETS`]).
    pub keys: [u64; 8],
    /// Modelled bytes per bucket.
    pub bytes: [u64; 8],
}

impl Histogram {
    /// Counts a key of `bytes` in bucket `b`.
    pub fn add(&mut self, b: usize, bytes: u64) {
        self.keys[b] += 1;
        self.bytes[b] += bytes;
    }

    /// Adds the counts of `o`.
    pub fn merge(&mut self, o: &Histogram) {
        for i in 0..BUCKETS.len() {
            self.keys[i] += o.keys[i];
            self.bytes[i] += o.bytes[i];
        }
    }
}

/// The TTL section.
#[derive(Debug, Clone, Serialize)]
pub struct TtlReport {
    /// Bucket names.
    pub buckets: [&'static str; 8],
    /// Reference time (Unix ms).
    pub reference_ms: i64,
    /// All keys.
    pub overall: Histogram,
    /// Per database.
    pub per_db: BTreeMap<u64, Histogram>,
    /// Per type.
    pub per_type: BTreeMap<&'static str, Histogram>,
    /// Per leaf prefix (largest by keys first, at most `top`).
    pub per_prefix: Vec<(String, Histogram)>,
    /// Prefixes of keys without TTL, by bytes.
    pub no_ttl_by_prefix: Vec<PrefixCount>,
}

/// Keys and bytes of one prefix.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrefixCount {
    /// The prefix.
    pub prefix: String,
    /// Keys.
    pub keys: u64,
    /// Modelled bytes.
    pub bytes: u64,
}

impl PrefixCount {
    /// Counts a key of `bytes`.
    pub fn add(&mut self, bytes: u64) {
        self.keys += 1;
        self.bytes += bytes;
    }

    /// Adds the counts of `o`.
    pub fn merge(&mut self, o: &PrefixCount) {
        self.keys += o.keys;
        self.bytes += o.bytes;
    }
}

/// Builds the TTL section.
pub struct TtlStats {
    now_ms: i64,
    top: usize,
    overall: Histogram,
    per_db: BTreeMap<u64, Histogram>,
    per_type: BTreeMap<&'static str, Histogram>,
    per_prefix: PrefixMap<Histogram>,
}

impl TtlStats {
    /// A builder measuring time left from `now_ms`.
    pub fn new(now_ms: i64, top: usize, prefix_cap: usize) -> Self {
        TtlStats {
            now_ms,
            top,
            overall: Histogram::default(),
            per_db: BTreeMap::new(),
            per_type: BTreeMap::new(),
            per_prefix: PrefixMap::new(prefix_cap),
        }
    }

    /// Counts one key but for its prefix; returns its bucket.
    pub fn count(&mut self, k: &KeyFacts<'_>) -> usize {
        let b = bucket(k.expire_ms, self.now_ms);
        let bytes = k.mem.bytes;
        self.overall.add(b, bytes);
        self.per_db.entry(k.db).or_default().add(b, bytes);
        self.per_type
            .entry(k.dtype.name())
            .or_default()
            .add(b, bytes);
        b
    }

    /// Adds the counts of `o` (built by [`count`](Self::count) alone).
    pub fn merge_counts(&mut self, o: &TtlStats) {
        self.overall.merge(&o.overall);
        for (db, h) in &o.per_db {
            self.per_db.entry(*db).or_default().merge(h);
        }
        for (t, h) in &o.per_type {
            self.per_type.entry(t).or_default().merge(h);
        }
    }

    /// The histogram of `prefix` (or of the "other" bucket when full).
    pub fn prefix(&mut self, prefix: &[u8]) -> &mut Histogram {
        self.per_prefix.get(prefix)
    }

    /// The finished section.
    pub fn report(self) -> TtlReport {
        let mut per: Vec<(String, Histogram)> = self
            .per_prefix
            .iter()
            .map(|(p, h)| (label(p), h.clone()))
            .collect();
        per.sort_by(|a, b| {
            let ka: u64 = a.1.keys.iter().sum();
            let kb: u64 = b.1.keys.iter().sum();
            kb.cmp(&ka).then_with(|| a.0.cmp(&b.0))
        });
        let mut none: Vec<PrefixCount> = per
            .iter()
            .filter(|(_, h)| h.keys[7] > 0)
            .map(|(p, h)| PrefixCount {
                prefix: p.clone(),
                keys: h.keys[7],
                bytes: h.bytes[7],
            })
            .collect();
        none.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.prefix.cmp(&b.prefix)));
        none.truncate(self.top);
        per.truncate(self.top);
        TtlReport {
            buckets: BUCKETS,
            reference_ms: self.now_ms,
            overall: self.overall,
            per_db: self.per_db,
            per_type: self.per_type,
            per_prefix: per,
            no_ttl_by_prefix: none,
        }
    }
}

/// Most prefixes remembered per window (Misra–Gries summary).
const WAVE_PREFIXES: usize = 4;
/// Most windows whose prefixes are tracked, per granularity.
const WAVE_TRACKED: usize = 50_000;

#[derive(Debug, Clone, Default)]
struct Window {
    keys: u64,
    bytes: u64,
    /// (prefix id, count): the summary's first `held` entries.
    prefixes: [(u32, u64); WAVE_PREFIXES],
    held: usize,
}

impl Window {
    /// Counts `n` keys of prefix `id` in a row into the summary (as `n`
    /// single steps would).
    fn track(&mut self, id: u32, mut n: u64) {
        while n > 0 {
            let held = &mut self.prefixes[..self.held];
            if let Some(p) = held.iter_mut().find(|p| p.0 == id) {
                p.1 += n;
                return;
            }
            if self.held < WAVE_PREFIXES {
                self.prefixes[self.held] = (id, n);
                self.held += 1;
                return;
            }
            // Full: every step decrements all counters; those reaching 0
            // leave, which makes room.
            let d = held.iter().map(|p| p.1).min().unwrap_or(0).min(n);
            for p in held.iter_mut() {
                p.1 -= d;
            }
            n -= d;
            let mut kept = 0;
            for i in 0..self.held {
                if self.prefixes[i].1 > 0 {
                    self.prefixes[kept] = self.prefixes[i];
                    kept += 1;
                }
            }
            self.held = kept;
        }
    }
}

/// One window in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    /// Window start (Unix ms).
    pub start_ms: i64,
    /// Keys expiring in it.
    pub keys: u64,
    /// Their modelled bytes.
    pub bytes: u64,
    /// True when it is a burst.
    pub burst: bool,
    /// Main prefixes (approximate counts).
    pub prefixes: Vec<PrefixCount>,
}

/// The expiry-waves section.
#[derive(Debug, Clone, Serialize)]
pub struct WavesReport {
    /// Reference time (Unix ms): only later expiries count.
    pub reference_ms: i64,
    /// A window is a burst with at least this many keys ...
    pub burst_min: u64,
    /// ... and this many times the mean of non-empty windows.
    pub burst_factor: f64,
    /// Busiest seconds (within one day of the reference).
    pub seconds: Vec<Wave>,
    /// Busiest minutes (within 30 days).
    pub minutes: Vec<Wave>,
    /// Keys expiring per minute (non-empty minutes, in time order): the
    /// timeline.
    pub timeline: Vec<(i64, u64)>,
    /// Number of burst seconds and minutes.
    pub burst_seconds: u64,
    /// Number of burst minutes.
    pub burst_minutes: u64,
}

/// Builds the expiry-waves section.
pub struct Waves {
    now_ms: i64,
    top: usize,
    burst_min: u64,
    burst_factor: f64,
    seconds: FxMap<i64, Window>,
    minutes: FxMap<i64, Window>,
    /// Prefixes seen, numbered (windows hold numbers).
    ids: FxMap<Vec<u8>, u32>,
    names: Vec<Vec<u8>>,
}

impl Waves {
    /// A builder for expiries after `now_ms`.
    pub fn new(now_ms: i64, top: usize, burst_min: u64, burst_factor: f64) -> Self {
        Waves {
            now_ms,
            top,
            burst_min,
            burst_factor,
            seconds: FxMap::default(),
            minutes: FxMap::default(),
            ids: FxMap::default(),
            names: Vec::new(),
        }
    }

    /// The number of `prefix` (numbered on first sight).
    pub fn id(&mut self, prefix: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(prefix) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(prefix.to_vec());
        self.ids.insert(prefix.to_vec(), id);
        id
    }

    /// Counts a key of `bytes` expiring at `e` (which is [`in_waves`]), of
    /// the prefix numbered `id`.
    pub fn add_at(&mut self, e: i64, id: u32, bytes: u64) {
        if e.saturating_sub(self.now_ms) < 86_400_000 {
            add_to(&mut self.seconds, e.div_euclid(1000), id, bytes);
        }
        add_to(&mut self.minutes, e.div_euclid(60_000), id, bytes);
    }

    fn top(&self, map: &FxMap<i64, Window>, unit_ms: i64) -> (Vec<Wave>, u64) {
        let n = map.len().max(1) as f64;
        let mean = map.values().map(|w| w.keys).sum::<u64>() as f64 / n;
        let limit = (self.burst_min as f64).max(self.burst_factor * mean);
        let bursts = map.values().filter(|w| w.keys as f64 >= limit).count() as u64;
        let mut v: Vec<(&i64, &Window)> = map.iter().collect();
        v.sort_by(|a, b| b.1.keys.cmp(&a.1.keys).then_with(|| a.0.cmp(b.0)));
        let waves = v
            .into_iter()
            .take(self.top)
            .map(|(t, w)| {
                let mut prefixes: Vec<PrefixCount> = w.prefixes[..w.held]
                    .iter()
                    .map(|&(p, c)| PrefixCount {
                        prefix: self
                            .names
                            .get(p as usize)
                            .map_or_else(String::new, |n| label(n)),
                        keys: c,
                        bytes: 0,
                    })
                    .collect();
                prefixes.sort_by(|a, b| b.keys.cmp(&a.keys).then_with(|| a.prefix.cmp(&b.prefix)));
                Wave {
                    start_ms: t * unit_ms,
                    keys: w.keys,
                    bytes: w.bytes,
                    burst: w.keys as f64 >= limit,
                    prefixes,
                }
            })
            .collect();
        (waves, bursts)
    }

    /// The finished section.
    pub fn report(self) -> WavesReport {
        let (seconds, burst_seconds) = self.top(&self.seconds, 1000);
        let (minutes, burst_minutes) = self.top(&self.minutes, 60_000);
        let mut timeline: Vec<(i64, u64)> = self
            .minutes
            .iter()
            .map(|(m, w)| (m * 60_000, w.keys))
            .collect();
        timeline.sort();
        WavesReport {
            reference_ms: self.now_ms,
            burst_min: self.burst_min,
            burst_factor: self.burst_factor,
            seconds,
            minutes,
            timeline,
            burst_seconds,
            burst_minutes,
        }
    }
}

/// True when a key expiring at `e` (Unix ms) falls in a wave window:
/// after the reference time `now_ms`, within 30 days.
pub fn in_waves(now_ms: i64, e: i64) -> bool {
    let left = e.saturating_sub(now_ms);
    left > 0 && left < 30 * 86_400_000
}

/// Counts a key in window `t` of `map`: its prefix is tracked when the
/// window is, or when fewer than [`WAVE_TRACKED`] windows exist.
fn add_to(map: &mut FxMap<i64, Window>, t: i64, id: u32, bytes: u64) {
    // One lookup: this runs for every expiring key on the merging thread.
    let room = map.len() < WAVE_TRACKED;
    let (w, track) = match map.entry(t) {
        Entry::Occupied(o) => (o.into_mut(), true),
        Entry::Vacant(v) => (v.insert(Window::default()), room),
    };
    w.keys += 1;
    w.bytes += bytes;
    if track {
        w.track(id, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        let now = 1_000_000_000;
        assert_eq!(bucket(None, now), 7);
        assert_eq!(bucket(Some(now - 1), now), 0);
        assert_eq!(bucket(Some(now + 59_999), now), 1);
        assert_eq!(bucket(Some(now + 60_000), now), 2);
        assert_eq!(bucket(Some(now + 86_400_000), now), 4);
        assert_eq!(bucket(Some(now + 40 * 86_400_000), now), 6);
    }
}
