//! Keys and bytes per cluster hash slot, summed per slot range: where the
//! data of a snapshot would sit in a cluster (`inspect --by-slot`), and the
//! SLOT_INFO hints cluster-mode servers write, checked against the keys.

use serde::Serialize;

use crate::cluster::slot::SLOTS;

/// Per-slot counters (every slot; 400 KiB) and the ranges they are shown in.
#[derive(Debug, Clone)]
pub struct SlotCounts {
    ranges: Vec<(u16, u16)>,
    keys: Vec<u64>,
    expiring: Vec<u64>,
    bytes: Vec<u64>,
    /// SLOT_INFO hints (slot, keys, expires), in file order.
    hints: Vec<(u64, u64, u64)>,
}

/// One slot range's totals.
#[derive(Debug, Clone, Serialize)]
pub struct RangeStats {
    /// First slot.
    pub first: u16,
    /// Last slot (inclusive).
    pub last: u16,
    /// Keys.
    pub keys: u64,
    /// Keys with a TTL.
    pub expiring: u64,
    /// Serialized bytes (key + value as stored in the file).
    pub bytes: u64,
}

/// One slot's totals.
#[derive(Debug, Clone, Serialize)]
pub struct SlotStats {
    /// The slot.
    pub slot: u16,
    /// Keys.
    pub keys: u64,
    /// Serialized bytes.
    pub bytes: u64,
}

/// The slot view of a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SlotReport {
    /// Totals per requested range.
    pub ranges: Vec<RangeStats>,
    /// Slots holding at least one key.
    pub slots_with_keys: u64,
    /// The slots with most bytes (at most 10).
    pub top: Vec<SlotStats>,
    /// SLOT_INFO records met (cluster-mode servers write one per slot with
    /// keys).
    pub slot_info_records: u64,
    /// Slots whose SLOT_INFO key count differs from the keys counted.
    pub slot_info_mismatches: Vec<SlotInfoMismatch>,
}

/// A SLOT_INFO hint that disagrees with the keys in the file.
#[derive(Debug, Clone, Serialize)]
pub struct SlotInfoMismatch {
    /// The slot.
    pub slot: u64,
    /// Keys the record announces.
    pub hinted_keys: u64,
    /// Keys counted in that slot.
    pub counted_keys: u64,
}

/// Parses `a-b,c,...` into inclusive ranges, in the order given.
pub fn parse_ranges(spec: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let p = |s: &str| s.trim().parse::<u16>().ok().filter(|&v| v < SLOTS);
        match (p(a), p(b)) {
            (Some(a), Some(b)) if a <= b => out.push((a, b)),
            _ => return Err(format!("invalid slot range {part:?} (slots are 0-16383)")),
        }
    }
    if out.is_empty() {
        return Err("no slot range given".into());
    }
    Ok(out)
}

/// The default ranges: 16 of 1024 slots.
pub fn default_ranges() -> Vec<(u16, u16)> {
    (0..16).map(|i| (i * 1024, i * 1024 + 1023)).collect()
}

impl SlotCounts {
    /// Empty counters shown in `ranges`.
    pub fn new(ranges: Vec<(u16, u16)>) -> Self {
        let n = SLOTS as usize;
        SlotCounts {
            ranges,
            keys: vec![0; n],
            expiring: vec![0; n],
            bytes: vec![0; n],
            hints: Vec::new(),
        }
    }

    /// Counts a key of `bytes` serialized bytes in `slot`.
    pub fn add(&mut self, slot: u16, bytes: u64, expiring: bool) {
        let s = slot as usize % SLOTS as usize;
        self.keys[s] += 1;
        self.bytes[s] += bytes;
        self.expiring[s] += u64::from(expiring);
    }

    /// Records a SLOT_INFO record.
    pub fn hint(&mut self, slot: u64, keys: u64, expires: u64) {
        self.hints.push((slot, keys, expires));
    }

    /// Adds another file's counters (same ranges).
    pub fn absorb(&mut self, o: &SlotCounts) {
        for s in 0..SLOTS as usize {
            self.keys[s] += o.keys[s];
            self.bytes[s] += o.bytes[s];
            self.expiring[s] += o.expiring[s];
        }
        self.hints.extend_from_slice(&o.hints);
    }

    /// The report: range totals, the top slots, the SLOT_INFO check.
    pub fn report(&self) -> SlotReport {
        let ranges = self
            .ranges
            .iter()
            .map(|&(first, last)| {
                let r = first as usize..=last as usize;
                RangeStats {
                    first,
                    last,
                    keys: self.keys[r.clone()].iter().sum(),
                    expiring: self.expiring[r.clone()].iter().sum(),
                    bytes: self.bytes[r].iter().sum(),
                }
            })
            .collect();
        let mut top: Vec<SlotStats> = (0..SLOTS)
            .filter(|&s| self.keys[s as usize] > 0)
            .map(|s| SlotStats {
                slot: s,
                keys: self.keys[s as usize],
                bytes: self.bytes[s as usize],
            })
            .collect();
        let slots_with_keys = top.len() as u64;
        top.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.slot.cmp(&b.slot)));
        top.truncate(10);
        // Several files may hint the same slot: their counts add up.
        let mut hinted = std::collections::BTreeMap::<u64, u64>::new();
        for &(slot, keys, _) in &self.hints {
            *hinted.entry(slot).or_default() += keys;
        }
        let slot_info_mismatches = hinted
            .into_iter()
            .filter_map(|(slot, hinted_keys)| {
                let counted_keys = usize::try_from(slot)
                    .ok()
                    .and_then(|s| self.keys.get(s))
                    .copied()
                    .unwrap_or(0);
                (counted_keys != hinted_keys).then_some(SlotInfoMismatch {
                    slot,
                    hinted_keys,
                    counted_keys,
                })
            })
            .collect();
        SlotReport {
            ranges,
            slots_with_keys,
            top,
            slot_info_records: self.hints.len() as u64,
            slot_info_mismatches,
        }
    }
}

impl SlotReport {
    /// The human rendering, appended to `o`.
    pub fn write_text(&self, o: &mut String) {
        use super::inspect::human_bytes;
        use std::fmt::Write;
        let _ = writeln!(
            o,
            "\nSlots     {} with keys (serialized bytes: key + value as stored)",
            self.slots_with_keys
        );
        let _ = writeln!(
            o,
            "  {:>11} {:>10} {:>10} {:>12}",
            "slots", "keys", "expiring", "bytes"
        );
        for r in &self.ranges {
            let _ = writeln!(
                o,
                "  {:>11} {:>10} {:>10} {:>12}",
                format!("{}-{}", r.first, r.last),
                r.keys,
                r.expiring,
                human_bytes(r.bytes)
            );
        }
        if !self.top.is_empty() {
            let top: Vec<String> = self
                .top
                .iter()
                .map(|s| format!("{} ({} keys, {})", s.slot, s.keys, human_bytes(s.bytes)))
                .collect();
            let _ = writeln!(o, "  top slots: {}", top.join(", "));
        }
        if self.slot_info_records > 0 {
            let _ = writeln!(
                o,
                "  SLOT_INFO records: {}, {} disagree with the keys counted",
                self.slot_info_records,
                self.slot_info_mismatches.len()
            );
            for m in self.slot_info_mismatches.iter().take(10) {
                let _ = writeln!(
                    o,
                    "    slot {}: record says {} keys, file holds {}",
                    m.slot, m.hinted_keys, m.counted_keys
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_top() {
        assert_eq!(
            parse_ranges("0-5460, 8000").unwrap(),
            [(0, 5460), (8000, 8000)]
        );
        assert!(parse_ranges("5-1").is_err() && parse_ranges("").is_err());
        let mut c = SlotCounts::new(vec![(0, 9), (10, 16383)]);
        c.add(3, 100, true);
        c.add(3, 50, false);
        c.add(12000, 10, false);
        c.hint(3, 2, 1);
        c.hint(12000, 5, 0);
        let r = c.report();
        assert_eq!(
            (r.ranges[0].keys, r.ranges[0].bytes, r.ranges[0].expiring),
            (2, 150, 1)
        );
        assert_eq!((r.ranges[1].keys, r.slots_with_keys), (1, 2));
        assert_eq!(r.top[0].slot, 3);
        assert_eq!(r.slot_info_mismatches.len(), 1);
        assert_eq!(r.slot_info_mismatches[0].slot, 12000);
    }
}
