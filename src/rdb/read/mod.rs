//! Reading RDB files and DUMP payload values: zero-copy `nom` parsers over
//! borrowed bytes (a memory mapping, a buffer, an AOF preamble).

pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod module;
pub mod prim;
pub mod reader;
pub mod record;
pub mod salvage;
pub mod scan;
pub mod stream;
pub mod validate;
pub mod value;
pub mod ziplist;
pub mod zipmap;

pub use prim::{RdbStr, StreamId};
pub use reader::{ReadOptions, parse_header, read};
pub use record::{Checksum, Header, KeyRecord, Record, Trailer};
pub use validate::validate;
pub use value::{Scratch, Value};
