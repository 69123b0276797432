//! Target RDB versions and what each can hold (spec §8, §19, §21).

use crate::model::Flavor;
use crate::server::{Profile, Target};

/// An RDB version a writer can produce: Redis 6..=12 or Valkey 80.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RdbVersion {
    flavor: Flavor,
    version: u32,
}

impl RdbVersion {
    /// Redis versions this writer produces.
    pub const REDIS: std::ops::RangeInclusive<u32> = 6..=12;
    /// Valkey 9's version.
    pub const VALKEY_80: RdbVersion = RdbVersion {
        flavor: Flavor::Valkey,
        version: 80,
    };

    /// The version `n` (6..=12 for Redis, 80 for Valkey), or `None`.
    pub fn new(n: u32) -> Option<RdbVersion> {
        if Self::REDIS.contains(&n) {
            Some(RdbVersion {
                flavor: Flavor::Redis,
                version: n,
            })
        } else if n == 80 {
            Some(Self::VALKEY_80)
        } else {
            None
        }
    }

    /// The number written in the header.
    pub fn number(self) -> u32 {
        self.version
    }

    /// Redis or Valkey magic.
    pub fn flavor(self) -> Flavor {
        self.flavor
    }

    /// The 9-byte magic and version.
    pub fn magic(self) -> String {
        match self.flavor {
            Flavor::Redis => format!("REDIS{:04}", self.version),
            Flavor::Valkey => format!("VALKEY{:03}", self.version),
        }
    }

    /// Redis-line version number that has the same features (Valkey 80
    /// holds everything Redis 11 holds).
    fn level(self) -> u32 {
        match self.flavor {
            Flavor::Redis => self.version,
            Flavor::Valkey => 11,
        }
    }

    /// AUX and RESIZEDB opcodes, quicklists (RDB 7, Redis 3.2).
    pub fn has_aux(self) -> bool {
        self.level() >= 7
    }
    /// 64-bit lengths, binary zset scores, module values (RDB 8).
    pub fn has_rdb8(self) -> bool {
        self.level() >= 8
    }
    /// IDLE/FREQ opcodes and streams (RDB 9).
    pub fn has_rdb9(self) -> bool {
        self.level() >= 9
    }
    /// Listpack encodings and functions (RDB 10, Redis 7.0).
    pub fn has_listpacks(self) -> bool {
        self.level() >= 10
    }
    /// Listpack-encoded sets (RDB 11, Redis 7.2; Valkey).
    pub fn has_set_listpack(self) -> bool {
        self.level() >= 11
    }
    /// Redis hash field expiration types 24/25 (RDB 12).
    pub fn has_redis_hfe(self) -> bool {
        self.flavor == Flavor::Redis && self.version >= 12
    }
    /// Valkey's HASH_2 with per-field expiry.
    pub fn has_valkey_hfe(self) -> bool {
        self.flavor == Flavor::Valkey
    }
    /// Any form of hash field expiration.
    pub fn has_field_ttl(self) -> bool {
        self.has_redis_hfe() || self.has_valkey_hfe()
    }
    /// The stream layout version written (1..=3), if streams exist.
    pub fn stream_version(self) -> Option<u8> {
        match self.level() {
            0..=8 => None,
            9 => Some(1),
            10 => Some(2),
            _ => Some(3),
        }
    }

    /// True when a loader of this version accepts a value stored with
    /// `type_byte` as Redis (or Valkey) writes it: used to copy values
    /// byte for byte.
    pub fn accepts_type(self, type_byte: u8) -> bool {
        let since = match type_byte {
            0..=4 => 1,
            5 | 7 => 8,
            9..=12 => 2,
            13 => 4,
            14 => 7,
            15 => 9,
            16..=19 => 10,
            20 | 21 => 11,
            22 if self.flavor == Flavor::Valkey => return true,
            24 | 25 if self.flavor == Flavor::Redis => 12,
            _ => return false,
        };
        self.level() >= since
    }

    /// The encoding thresholds of the server line that writes this version.
    pub fn profile(self) -> Profile {
        Profile::new(Target::for_rdb_version(
            self.version,
            self.flavor == Flavor::Valkey,
        ))
    }

    /// The `redis-ver` (or `valkey-ver`) a file of this version names.
    pub fn server_version(self) -> &'static str {
        match (self.flavor, self.version) {
            (Flavor::Valkey, _) => "9.0.0",
            (_, 6) => "3.0.7",
            (_, 7) => "3.2.13",
            (_, 8) => "4.0.14",
            (_, 9) => "6.2.14",
            (_, 10) => "7.0.15",
            (_, 11) => "7.2.7",
            _ => "7.4.2",
        }
    }
}

impl std::fmt::Display for RdbVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.flavor {
            Flavor::Redis => write!(f, "{}", self.version),
            Flavor::Valkey => write!(f, "Valkey {}", self.version),
        }
    }
}

/// A loss a down-conversion may need: something the target cannot hold and
/// that has no faithful equivalent. Each must be accepted by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Loss {
    /// Hash field TTLs dropped (fields kept, persistent).
    FieldTtl,
    /// Stream v2 metadata (max deleted ID, entries added, group
    /// entries-read) dropped writing stream v1.
    StreamMeta,
    /// Consumer active times dropped writing streams before v3.
    ActiveTime,
    /// Function libraries dropped (RDB ≤ 9).
    Functions,
    /// Keys whose type the target cannot hold dropped (streams before RDB
    /// 9, modules before 8, arrays, KeyDB cron jobs, Dragonfly member TTLs).
    Keys,
    /// LRU idle / LFU counters dropped (RDB ≤ 8).
    EvictionHints,
}

impl Loss {
    /// The flag name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::FieldTtl => "field-ttl",
            Loss::StreamMeta => "stream-meta",
            Loss::ActiveTime => "active-time",
            Loss::Functions => "functions",
            Loss::Keys => "keys",
            Loss::EvictionHints => "eviction-hints",
        }
    }
}
