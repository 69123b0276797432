//! Persistence for a Redis-compatible server that embeds rdbtool: the same
//! files, with the same durability, as Redis' own AOF and RDB persistence.
//!
//! * [`AofAppender`] appends commands to the AOF with `appendfsync
//!   always|everysec|no` semantics, optional `#TS:` annotations and group
//!   commit, and reports every write or fsync failure.
//! * [`Snapshot`] writes an RDB of a chosen version from a stream of keys,
//!   atomically (temp file, fsync, rename, directory fsync).
//! * [`AofDir`] manages a Redis 7 multi-part AOF directory: creation,
//!   recovery (BASE + INCR files replayed through [`Replay`], a torn tail
//!   cut like `aof-load-truncated yes`), rewrites (new BASE from a snapshot,
//!   new INCR, old files to HISTORY then deleted) with atomic manifest
//!   swaps.
//!
//! A server's life cycle:
//!
//! ```
//! use rdbtool::model::owned::{OwnedKey, OwnedValue};
//! use rdbtool::persist::{AofDir, AofDirOptions, BoxError, Fsync, Replay};
//! use rdbtool::rdb::write::RdbVersion;
//! use std::collections::BTreeMap;
//!
//! /// A keyspace of strings in db 0.
//! #[derive(Default)]
//! struct Keyspace(BTreeMap<Vec<u8>, Vec<u8>>);
//!
//! impl Replay for Keyspace {
//!     fn key(&mut self, k: OwnedKey) -> Result<(), BoxError> {
//!         if let OwnedValue::String(v) = k.value {
//!             self.0.insert(k.key, v);
//!         }
//!         Ok(())
//!     }
//!     fn command(&mut self, _db: u64, argv: &[&[u8]]) -> Result<(), BoxError> {
//!         match argv {
//!             [name, k, v] if name.eq_ignore_ascii_case(b"set") => {
//!                 self.0.insert(k.to_vec(), v.to_vec());
//!                 Ok(())
//!             }
//!             _ => Err("unknown command".into()),
//!         }
//!     }
//! }
//!
//! # let dir = std::env::temp_dir().join(format!("rdbtool-doc-persist-{}", std::process::id()));
//! let mut opts = AofDirOptions::new(RdbVersion::new(10).unwrap()); // loadable by Redis 7.0
//! opts.appender.fsync = Fsync::Always;
//! let mut ks = Keyspace::default();
//! let (mut aof, app, _report) = AofDir::open(&dir, &opts, &mut ks)?;
//!
//! // Execute, log, then acknowledge.
//! ks.command(0, &[b"SET", b"k", b"v1"]).unwrap();
//! app.append(0, &[b"SET", b"k", b"v1"])?;
//!
//! // Compact the log: the snapshot becomes the new BASE.
//! aof.rewrite(&app, || {
//!     ks.0.iter()
//!         .map(|(k, v)| OwnedKey {
//!             db: 0,
//!             key: k.clone(),
//!             expire_ms: None,
//!             idle_s: None,
//!             freq: None,
//!             value: OwnedValue::String(v.clone()),
//!             source_type: None,
//!         })
//!         .collect::<Vec<_>>()
//! })?;
//! ks.command(0, &[b"SET", b"k", b"v2"]).unwrap();
//! app.append(0, &[b"SET", b"k", b"v2"])?;
//! app.close()?;
//!
//! // Restart: BASE then INCR.
//! let mut again = Keyspace::default();
//! let (_aof, _app, report) = AofDir::open(&dir, &opts, &mut again)?;
//! assert_eq!(again.0.get(&b"k"[..]), Some(&b"v2".to_vec()));
//! assert_eq!((report.keys, report.commands), (1, 1));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), rdbtool::persist::PersistError>(())
//! ```
//!
//! `examples/mini_server.rs` is a complete small server built on this
//! module; `tests/persist_*.rs` check its files against redis-server and
//! kill it at random moments.

mod appender;
mod dir;
mod error;
pub mod fsx;
mod recover;
pub mod resp;
mod snapshot;

pub use appender::{AofAppender, AppenderOptions, AppenderStats, Fsync, Ticket};
pub use dir::{AofDir, AofDirOptions, RecoveryReport, RewriteReport, RewriteStart};
pub use error::{PersistError, Result};
pub use recover::{BoxError, FileLoad, Replay, Truncation, load_files};
pub use snapshot::{Snapshot, SnapshotOptions, SnapshotStats};
