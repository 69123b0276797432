//! The slot map of a cluster as `nodes.conf` (or `CLUSTER NODES`) states
//! it: every master with the slots it serves.

use super::slot::SLOTS;
use crate::error::{Error, Result};

/// A master and its slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    /// Node id (40 hex characters).
    pub id: String,
    /// `ip:port` (the client port; bus port and hostname removed).
    pub addr: String,
    /// Served slot ranges, inclusive.
    pub ranges: Vec<(u16, u16)>,
}

impl Master {
    /// A file-name friendly form of the address, `ip-port` (`:` of IPv6
    /// addresses become `_`); `node-port` while the node does not know its
    /// own IP (a node that never met another writes `:port`); the id's
    /// first 12 characters without an address.
    pub fn file_stem(&self) -> String {
        match self.addr.rsplit_once(':') {
            Some(("", p)) if !p.is_empty() => format!("node-{p}"),
            Some((h, p)) if !p.is_empty() => format!("{}-{p}", h.replace(':', "_")),
            _ => self.id.chars().take(12).collect(),
        }
    }
}

/// Parses `nodes.conf` / `CLUSTER NODES` text: the masters that serve at
/// least one slot, in file order. Slots being migrated or imported
/// (`[slot->-id]`, `[slot-<-id]`) stay with the node that serves them.
pub fn parse_nodes(text: &str) -> Result<Vec<Master>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0] == "vars" {
            continue;
        }
        let bad = |what: &str| {
            Error::usage(format!(
                "nodes file line {}: {what} (expected `id ip:port@cport flags master ping pong epoch link slot...`)",
                n + 1
            ))
        };
        if f.len() < 8 {
            return Err(bad("too few fields"));
        }
        if !f[2].split(',').any(|x| x == "master") {
            continue;
        }
        let addr = f[1].split(['@', ',']).next().unwrap_or_default();
        let mut ranges = Vec::new();
        for s in &f[8..] {
            if s.starts_with('[') {
                continue;
            }
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let parse = |x: &str| x.parse::<u16>().ok().filter(|&v| v < SLOTS);
            match (parse(a), parse(b)) {
                (Some(a), Some(b)) if a <= b => ranges.push((a, b)),
                _ => return Err(bad(&format!("invalid slot range {s:?}"))),
            }
        }
        if !ranges.is_empty() {
            out.push(Master {
                id: f[0].to_string(),
                addr: addr.to_string(),
                ranges,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_masters_and_skips_replicas_and_migrations() {
        // Lines as Redis 7.0 writes them (hostname and shard-id variants).
        let text = "\
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001,,shard-id=aa myself,master - 0 0 1 connected 0-5460 [5461-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f ::1:30003@31003 master - 0 1426238318243 3 connected 10923-16382 16383
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30006@31006 master - 0 1426238316232 6 connected
a8740245b65ef0c0f3e6c4c8728a41f8e9b22316 :23999@33999,,tls-port=0,shard-id=d8 master - 0 0 0 connected 0
vars currentEpoch 6 lastVoteEpoch 0
";
        let m = parse_nodes(text).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[3].file_stem(), "node-23999");
        assert_eq!(m[0].addr, "127.0.0.1:30001");
        assert_eq!(m[0].ranges, vec![(0, 5460)]);
        assert_eq!(m[1].file_stem(), "127.0.0.1-30002");
        assert_eq!(m[2].ranges, vec![(10923, 16382), (16383, 16383)]);
        assert_eq!(m[2].file_stem(), "__1-30003");
        assert!(parse_nodes("x 1:2@3 master - 0 0 1 connected 9-2").is_err());
        assert!(parse_nodes("x 1:2@3 master").is_err());
    }
}
