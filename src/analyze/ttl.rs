//! TTL distribution (time left at the reference time, per db, type and
//! prefix) and expiry waves (keys expiring in the same second or minute:
//! a stampede risk when TTLs lack jitter).

use std::collections::BTreeMap;

use serde::Serialize;

use super::facts::KeyFacts;
use super::prefix::{FxMap, PrefixMap, label};
use crate::rdb::read::prim::prefetch_ref;

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
    seconds: Windows,
    minutes: Windows,
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
            seconds: Windows::new(now_ms, 1000),
            minutes: Windows::new(now_ms, 60_000),
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
            self.seconds.add(e, id, bytes);
        }
        self.minutes.add(e, id, bytes);
    }

    /// Prefetches what [`add_at`](Self::add_at) of a key expiring at `e`
    /// will touch: callers counting many keys ask a few keys ahead.
    pub fn prefetch(&self, e: i64) {
        self.seconds.prefetch(e);
        self.minutes.prefetch(e);
    }

    fn top(&self, windows: &Windows, unit_ms: i64) -> (Vec<Wave>, u64) {
        let n = windows.used.max(1) as f64;
        let mean = windows.iter().map(|(_, w)| w.keys).sum::<u64>() as f64 / n;
        let limit = (self.burst_min as f64).max(self.burst_factor * mean);
        let bursts = windows
            .iter()
            .filter(|(_, w)| w.keys as f64 >= limit)
            .count() as u64;
        let mut v: Vec<(i64, &Window)> = windows.iter().collect();
        v.sort_by(|a, b| b.1.keys.cmp(&a.1.keys).then_with(|| a.0.cmp(&b.0)));
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
        // In time order, as the slots are.
        let timeline: Vec<(i64, u64)> = self
            .minutes
            .iter()
            .map(|(m, w)| (m * 60_000, w.keys))
            .collect();
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

/// How far after the reference time the waves look (30 days).
const WAVE_HORIZON_MS: i64 = 30 * 86_400_000;

/// True when a key expiring at `e` (Unix ms) falls in a wave window:
/// after the reference time `now_ms`, within `WAVE_HORIZON_MS`.
pub fn in_waves(now_ms: i64, e: i64) -> bool {
    let left = e.saturating_sub(now_ms);
    left > 0 && left < WAVE_HORIZON_MS
}

/// The windows of one length (`unit_ms`) in the waves' horizon, in a slot
/// per window numbered from the reference time's: the horizon bounds them
/// (86,401 seconds, 43,201 minutes). A hash map of windows cost a hash, a
/// probe and a cache miss on its control bytes for every expiring key, on
/// the merging thread: a twentieth of `report`'s time on a 1M-key file.
struct Windows {
    unit_ms: i64,
    /// The number of the window in slot 0 (the reference time's).
    first: i64,
    /// Grown to the latest window seen; a window with no key is unused.
    slots: Vec<Window>,
    /// Windows with keys.
    used: usize,
}

impl Windows {
    fn new(now_ms: i64, unit_ms: i64) -> Self {
        Windows {
            unit_ms,
            first: now_ms.div_euclid(unit_ms),
            slots: Vec::new(),
            used: 0,
        }
    }

    /// Counts a key expiring at `e` (inside the horizon: [`in_waves`]).
    fn add(&mut self, e: i64, id: u32, bytes: u64) {
        let i = e.div_euclid(self.unit_ms) - self.first;
        if !(0..=WAVE_HORIZON_MS / self.unit_ms + 1).contains(&i) {
            return;
        }
        let i = i as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, Window::default);
        }
        let w = &mut self.slots[i];
        self.used += usize::from(w.keys == 0);
        w.keys += 1;
        w.bytes += bytes;
        w.track(id, 1);
    }

    /// Asks for the slot of a key expiring at `e` to be brought into the
    /// cache: the slots are touched at random (expiries are spread over
    /// the horizon), so each was a wait on memory.
    fn prefetch(&self, e: i64) {
        let i = e.div_euclid(self.unit_ms) - self.first;
        if let Some(w) = usize::try_from(i).ok().and_then(|i| self.slots.get(i)) {
            prefetch_ref(w);
        }
    }

    /// The used windows (number, counts), in time order.
    fn iter(&self) -> impl Iterator<Item = (i64, &Window)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, w)| w.keys > 0)
            .map(|(i, w)| (self.first + i as i64, w))
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
