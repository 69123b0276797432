//! Writing RDB files and DUMP payload values, the mirror of
//! [`crate::rdb::read`]: primitives, LZF, blob encoders (listpack, ziplist,
//! intset), streams, value layouts, down-conversion and the record writer.
//!
//! A program that persists its own data writes records in order:
//!
//! ```
//! use rdbtool::model::owned::{OwnedKey, OwnedValue};
//! use rdbtool::rdb::write::{RdbVersion, RdbWriter};
//!
//! let mut w = RdbWriter::new(Vec::new(), RdbVersion::new(11).unwrap(), true)?;
//! w.default_aux(1_700_000_000)?;
//! w.select_db(0, Some((1, 1)))?;
//! w.key(&OwnedKey {
//!     db: 0,
//!     key: b"visits".to_vec(),
//!     expire_ms: Some(4_102_444_800_000),
//!     idle_s: None,
//!     freq: None,
//!     value: OwnedValue::List(vec![b"a".to_vec(), b"b".to_vec()]),
//!     source_type: None,
//! })?;
//! let file: Vec<u8> = w.finish()?;
//! assert!(file.starts_with(b"REDIS0011"));
//! # Ok::<(), rdbtool::Error>(())
//! ```

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
pub use sink::{ConvertStats, RdbSink, RdbSinkOptions, Refused, library_code};
pub use value::{ValueEncoder, choose_layout, type_byte};
pub use version::{Loss, RdbVersion};
pub use writer::{KeyMeta, RdbWriter, copies_verbatim};
