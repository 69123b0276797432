//! The records a reader delivers: borrowed from the input, valid for the
//! duration of the sink call.

use serde::Serialize;

use super::prim::RdbStr;
use super::value::Value;
use crate::model::Flavor;

/// The file header.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Header {
    /// Redis or Valkey magic.
    pub flavor: Flavor,
    /// The RDB version number from the header.
    pub version: u32,
    /// Bytes the magic and version take (9).
    pub len: usize,
}

/// One key with its value and per-key metadata.
#[derive(Debug, Clone, Copy)]
pub struct KeyRecord<'a> {
    /// Database number.
    pub db: u64,
    /// The key.
    pub key: RdbStr<'a>,
    /// The value, as a lazy view.
    pub value: Value<'a>,
    /// Absolute expiry (Unix ms), if any.
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (IDLE opcode), if present.
    pub idle_s: Option<u64>,
    /// LFU counter (FREQ opcode), if present.
    pub freq: Option<u8>,
    /// Offset of the record's first byte (its first prefix opcode).
    pub offset: u64,
    /// Offset just past the value.
    pub end: u64,
}

/// A non-key record or a key.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// An AUX field.
    Aux {
        /// Field name.
        key: RdbStr<'a>,
        /// Field value.
        value: RdbStr<'a>,
    },
    /// SELECTDB.
    SelectDb {
        /// The database.
        db: u64,
    },
    /// RESIZEDB hints for the current db.
    ResizeDb {
        /// The database.
        db: u64,
        /// Keys hint.
        keys: u64,
        /// Expires hint.
        expires: u64,
    },
    /// A key.
    Key(KeyRecord<'a>),
    /// A FUNCTION2 record: a library's source code.
    Function {
        /// The library source, beginning with its shebang line.
        code: RdbStr<'a>,
    },
    /// A pre-GA FUNCTION record (Redis 7.0 release candidates).
    FunctionPreGa {
        /// Function name.
        name: RdbStr<'a>,
        /// Engine name.
        engine: RdbStr<'a>,
        /// Description, if any.
        description: Option<RdbStr<'a>>,
        /// Code.
        code: RdbStr<'a>,
    },
    /// A MODULE_AUX record.
    ModuleAux {
        /// Module type id.
        module_id: u64,
        /// 1 = before the keyspace, 2 = after.
        when: u64,
        /// The record's bytes after the opcode (id, when, items).
        raw: &'a [u8],
    },
    /// SLOT_INFO hints (cluster mode).
    SlotInfo {
        /// Slot.
        slot: u64,
        /// Keys hint.
        keys: u64,
        /// Expires hint.
        expires: u64,
    },
    /// A vendor opcode the reader understood enough to skip.
    Vendor {
        /// The opcode byte.
        opcode: u8,
        /// Its payload bytes.
        raw: &'a [u8],
    },
    /// Salvage mode only: a damaged byte range the reader skipped.
    Skipped {
        /// Offset of the first skipped byte (the damaged record's start).
        start: u64,
        /// Offset where reading resumed (the next plausible record, or the
        /// end of the data).
        end: u64,
        /// The db selected when the damage was met.
        db: u64,
        /// The last key read intact before the range, if any.
        last_key: Option<&'a [u8]>,
        /// Why the record at `start` was rejected.
        error: &'a crate::error::Error,
    },
    /// Salvage mode only, before every other record: a short run of
    /// damaged bytes that the file's CRC-64 trailer located and salvage set
    /// back to what the checksum says they were. The records that follow
    /// are read from the repaired bytes; the trailer still reports the
    /// file's mismatch.
    Repaired {
        /// Offset of the first repaired byte.
        offset: u64,
        /// The bytes the file holds there.
        found: &'a [u8],
        /// The bytes the checksum gives.
        fixed: &'a [u8],
    },
}

/// What the CRC-64 trailer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Checksum {
    /// RDB < 5: no trailer.
    Absent,
    /// Trailer is 0: written without a checksum.
    Disabled,
    /// Verified.
    Ok {
        /// The value.
        value: u64,
    },
    /// Not verified (the caller asked not to).
    Unchecked {
        /// The stored value.
        stored: u64,
    },
    /// Mismatch.
    Mismatch {
        /// Stored value.
        stored: u64,
        /// Computed value.
        computed: u64,
    },
}

/// The words `inspect` and `fleet` print for a trailer.
impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Checksum::Ok { value } => write!(f, "ok (0x{value:016x})"),
            Checksum::Disabled => f.write_str("disabled (0 in trailer)"),
            Checksum::Absent => f.write_str("none (RDB < 5)"),
            Checksum::Unchecked { stored } => write!(f, "not verified (0x{stored:016x})"),
            Checksum::Mismatch { stored, computed } => write!(
                f,
                "MISMATCH: stored 0x{stored:016x}, computed 0x{computed:016x}"
            ),
        }
    }
}

/// What the reader saw at the end of the data.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Trailer {
    /// Checksum status.
    pub checksum: Checksum,
    /// Offset just past the EOF opcode and checksum: where an AOF preamble's
    /// RESP text begins.
    pub end_offset: u64,
    /// True when a sink asked to stop before the end.
    pub stopped: bool,
}
