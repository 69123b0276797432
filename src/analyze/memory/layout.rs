//! Struct sizes and accounting rules of each target server line: what
//! `MEMORY USAGE` adds up (object.c `objectComputeSize` /
//! `kvobjComputeSize`) differs between versions.

use crate::server::Target;

/// The per-target constants of the memory model.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// `sizeof(robj)`.
    pub robj: u64,
    /// Redis 8: the key (and an optional expire) live inside the object
    /// (`kvobj`); `MEMORY USAGE` then counts no separate key or dict entry.
    pub embedded_key: bool,
    /// Bytes `MEMORY USAGE` adds for the main-dict entry (7.x `dictEntry`).
    pub key_entry: u64,
    /// `sizeof(dict)`.
    pub dict: u64,
    /// Per-element entry of set and hash tables.
    pub entry: u64,
    /// Per-element entry of a sorted set's table.
    pub zset_entry: u64,
    /// `sizeof(quicklist)`.
    pub quicklist: u64,
    /// `sizeof(quicklistNode)`.
    pub quicklist_node: u64,
    /// `sizeof(zset) + sizeof(zskiplist)`.
    pub zset: u64,
    /// `sizeof(stream)`.
    pub stream: u64,
    /// `sizeof(streamCG)`.
    pub stream_cg: u64,
    /// `sizeof(streamNACK)`.
    pub stream_nack: u64,
    /// `sizeof(streamConsumer)`.
    pub stream_consumer: u64,
    /// Header of a listpack-ex hash (`listpackEx`), allocated.
    pub listpack_ex: u64,
    /// Bytes a hash field with a TTL carries besides its sds (7.4+: the
    /// expire time and metadata flags in front of the field string).
    pub field_ttl_meta: u64,
    /// Redis 8: skiplist nodes of members at least this long are 8 bytes
    /// larger (measured on 8.2.3; 0 = never).
    pub zset_long_member: u64,
    /// Lists may stay a single listpack (7.2+).
    pub listpack_lists: bool,
}

impl Layout {
    /// The layout of `target`.
    pub fn of(target: Target) -> Layout {
        let v7 = Layout {
            robj: 16,
            embedded_key: false,
            key_entry: 24,
            dict: 56,
            entry: 24,
            zset_entry: 24,
            quicklist: 40,
            quicklist_node: 40,
            zset: 16 + 32,
            stream: 80,
            stream_cg: 40,
            stream_nack: 24,
            stream_consumer: 24,
            listpack_ex: 24,
            field_ttl_meta: 0,
            zset_long_member: 0,
            listpack_lists: false,
        };
        match target {
            Target::Redis70 => v7,
            Target::Redis72 => Layout {
                stream_consumer: 32,
                listpack_lists: true,
                ..v7
            },
            Target::Redis74 => Layout {
                stream_consumer: 32,
                listpack_lists: true,
                field_ttl_meta: 17,
                ..v7
            },
            // Calibrated against redis-server 8.2.3.
            Target::Redis8 => Layout {
                embedded_key: true,
                key_entry: 0,
                zset_entry: 16,
                zset_long_member: 100,
                stream: 112,
                stream_nack: 32,
                stream_consumer: 32,
                listpack_lists: true,
                field_ttl_meta: 17,
                ..v7
            },
            // Valkey 8 keeps the 7.2 object layout (documented estimate,
            // not calibrated against a server here).
            Target::Valkey8 => Layout {
                stream_consumer: 32,
                listpack_lists: true,
                ..v7
            },
        }
    }
}
