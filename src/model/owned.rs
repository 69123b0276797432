//! Owned values: what writers consume. Built from the reader's lazy
//! [`Value`] view (RDB → RDB/AOF/DUMP conversion) or from an export line
//! (import), so every writer has one input model.

use crate::error::{Error, Result};
use crate::model::{DataType, RdbLayout};
use crate::rdb::read::stream::StreamValue;
use crate::rdb::read::{KeyRecord, Scratch, Value};

/// A hash field with its value and optional absolute expiry (Unix ms).
#[derive(Debug, Clone, PartialEq)]
pub struct HashField {
    /// Field name.
    pub field: Vec<u8>,
    /// Field value.
    pub value: Vec<u8>,
    /// Hash field expiration (Redis 7.4+ HFE, Valkey 9), absolute Unix ms.
    pub expire_ms: Option<i64>,
}

/// A value, decoded and owned.
#[derive(Debug, Clone)]
pub enum OwnedValue {
    /// A string.
    String(Vec<u8>),
    /// List elements, head to tail.
    List(Vec<Vec<u8>>),
    /// Set members (order not significant).
    Set(Vec<Vec<u8>>),
    /// Sorted set (member, score) pairs (order not significant).
    Zset(Vec<(Vec<u8>, f64)>),
    /// Hash fields in stored order.
    Hash(Vec<HashField>),
    /// A stream with its groups.
    Stream(Box<StreamValue>),
    /// A module value (type 7): the serialized bytes, module id first.
    Module(Vec<u8>),
    /// A value kept verbatim because it has no logical model here (Redis
    /// 8.8 arrays, KeyDB cron jobs): its type byte and serialized bytes.
    Opaque {
        /// The on-disk type byte.
        type_byte: u8,
        /// The layout it was read as.
        layout: RdbLayout,
        /// The serialized bytes.
        raw: Vec<u8>,
    },
}

/// A key with its value and per-key metadata.
#[derive(Debug, Clone)]
pub struct OwnedKey {
    /// Database number.
    pub db: u64,
    /// The key.
    pub key: Vec<u8>,
    /// Absolute expiry (Unix ms).
    pub expire_ms: Option<i64>,
    /// LRU idle seconds.
    pub idle_s: Option<u64>,
    /// LFU counter.
    pub freq: Option<u8>,
    /// The value.
    pub value: OwnedValue,
    /// The type byte the value had in its source, when known: a writer
    /// keeps that layout when the target accepts it (so an import
    /// reproduces the file it was exported from).
    pub source_type: Option<u8>,
}

impl OwnedKey {
    /// Decodes a key record (its key bytes and its whole value), keeping
    /// its source type byte.
    pub fn from_record(k: &KeyRecord<'_>, scratch: &mut Scratch) -> Result<OwnedKey> {
        let key = k.key.to_vec().map_err(|p| Error::parse(p, k.offset))?;
        let value =
            OwnedValue::from_value(&k.value, scratch).map_err(|e| e.with_key(k.db, Some(&key)))?;
        Ok(OwnedKey {
            db: k.db,
            key,
            expire_ms: k.expire_ms,
            idle_s: k.idle_s,
            freq: k.freq,
            value,
            source_type: Some(k.value.type_byte),
        })
    }
}

impl OwnedValue {
    /// The logical type.
    pub fn data_type(&self) -> DataType {
        match self {
            OwnedValue::String(_) => DataType::String,
            OwnedValue::List(_) => DataType::List,
            OwnedValue::Set(_) => DataType::Set,
            OwnedValue::Zset(_) => DataType::Zset,
            OwnedValue::Hash(_) => DataType::Hash,
            OwnedValue::Stream(_) => DataType::Stream,
            OwnedValue::Module(_) => DataType::Module,
            OwnedValue::Opaque { layout, .. } => layout.data_type(),
        }
    }

    /// Number of elements (1 for strings and opaque values, live entries
    /// for streams).
    pub fn len(&self) -> usize {
        match self {
            OwnedValue::String(_) | OwnedValue::Module(_) | OwnedValue::Opaque { .. } => 1,
            OwnedValue::List(v) | OwnedValue::Set(v) => v.len(),
            OwnedValue::Zset(v) => v.len(),
            OwnedValue::Hash(v) => v.len(),
            OwnedValue::Stream(s) => s.entries.len(),
        }
    }

    /// True for an aggregate without elements (which servers refuse or skip).
    pub fn is_empty(&self) -> bool {
        match self {
            OwnedValue::Stream(_) => false,
            _ => self.len() == 0,
        }
    }

    /// Decodes a value read from a file.
    pub fn from_value(v: &Value<'_>, scratch: &mut Scratch) -> Result<OwnedValue> {
        let blob_err = |p| Error::parse(p, v.offset);
        Ok(match v.data_type() {
            DataType::String => {
                let s = v.as_string()?;
                OwnedValue::String(s.to_vec().map_err(blob_err)?)
            }
            DataType::List | DataType::Set => {
                let mut items = Vec::new();
                v.for_each_elem(scratch, |e, _| {
                    items.push(e.to_vec());
                    Ok(())
                })?;
                if v.data_type() == DataType::List {
                    OwnedValue::List(items)
                } else {
                    OwnedValue::Set(items)
                }
            }
            DataType::Zset => {
                let mut items = Vec::new();
                v.for_each_scored(scratch, |m, s| {
                    items.push((m.to_vec(), s));
                    Ok(())
                })?;
                OwnedValue::Zset(items)
            }
            DataType::Hash => {
                let mut fields = Vec::new();
                v.for_each_field(scratch, |f, val, ttl| {
                    fields.push(HashField {
                        field: f.to_vec(),
                        value: val.to_vec(),
                        expire_ms: ttl,
                    });
                    Ok(())
                })?;
                OwnedValue::Hash(fields)
            }
            DataType::Stream => OwnedValue::Stream(Box::new(v.stream()?)),
            // A pre-GA module value has no item annotations: only its own
            // type byte describes it, so it travels as opaque bytes.
            DataType::Module if v.layout != RdbLayout::ModulePreGa => {
                OwnedValue::Module(v.raw.to_vec())
            }
            DataType::Module | DataType::Array | DataType::Cron => OwnedValue::Opaque {
                type_byte: v.type_byte,
                layout: v.layout,
                raw: v.raw.to_vec(),
            },
        })
    }
}
