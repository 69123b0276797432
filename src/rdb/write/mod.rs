//! Writing RDB files and DUMP payload values, the mirror of
//! [`crate::rdb::read`]: primitives, LZF, blob encoders (listpack, ziplist,
//! intset), streams, value layouts, down-conversion and the record writer.

pub mod downgrade;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod prim;
pub mod sink;
pub mod stream;
pub mod value;
pub mod version;
pub mod writer;
pub mod ziplist;

pub use downgrade::{Verdict, adapt};
pub use sink::{ConvertStats, RdbSink, RdbSinkOptions, Refused};
pub use value::{ValueEncoder, choose_layout, type_byte};
pub use version::{Loss, RdbVersion};
pub use writer::{KeyMeta, RdbWriter, copies_verbatim};
