//! [`Snapshot`]: an RDB written atomically and durably from a stream of
//! keys, through the project's RDB writer ([`crate::rdb::write`]).
//!
//! The file is written under a temporary name in the target's directory,
//! fsynced, renamed over the target, and the directory is fsynced: after a
//! crash at any point the target is either the previous snapshot or the new
//! one, complete. Memory use is one key at a time plus a 64 KiB buffer.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{PersistError, Result};
use super::fsx::{TEMP_PREFIX, sync_dir};
use crate::model::owned::OwnedKey;
use crate::rdb::write::{RdbVersion, RdbWriter};

/// What to write besides the keys.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// RDB version (10 for Redis 7.0, 11 for 7.2, 12 for 7.4+); the writer
    /// picks the encodings that version's server expects.
    pub version: RdbVersion,
    /// LZF-compress strings over 20 bytes (`rdbcompression yes`).
    pub compress: bool,
    /// `ctime` AUX field (Unix seconds); `None` = now.
    pub ctime_s: Option<i64>,
    /// Mark the file as a multi-part AOF BASE (`aof-base` = 1, Redis 7.0+)
    /// instead of a plain dump (`aof-base` = 0).
    pub aof_base: bool,
    /// Extra AUX fields, written after the standard ones.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function libraries (their source code), written before the keys.
    pub functions: Vec<Vec<u8>>,
}

impl SnapshotOptions {
    /// Defaults for `version`: compression on, ctime now, no extras.
    pub fn new(version: RdbVersion) -> Self {
        SnapshotOptions {
            version,
            compress: true,
            ctime_s: None,
            aof_base: false,
            aux: Vec::new(),
            functions: Vec::new(),
        }
    }
}

/// What a committed snapshot holds.
#[derive(Debug, Clone)]
pub struct SnapshotStats {
    /// Where it is.
    pub path: PathBuf,
    /// Keys written.
    pub keys: u64,
    /// File size.
    pub bytes: u64,
}

/// An RDB being written; dropped without [`Snapshot::commit`] it leaves
/// nothing behind (the temp file is removed, the target untouched).
///
/// ```
/// use rdbtool::model::owned::{OwnedKey, OwnedValue};
/// use rdbtool::persist::{Snapshot, SnapshotOptions};
/// use rdbtool::rdb::write::RdbVersion;
/// # let dir = std::env::temp_dir().join(format!("rdbtool-doc-snap-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let opts = SnapshotOptions::new(RdbVersion::new(10).unwrap());
/// let keys = (0..3).map(|i| OwnedKey {
///     db: 0,
///     key: format!("k{i}").into_bytes(),
///     expire_ms: None,
///     idle_s: None,
///     freq: None,
///     value: OwnedValue::List(vec![b"a".to_vec(), b"b".to_vec()]),
///     source_type: None,
/// });
/// let stats = Snapshot::write(&dir.join("dump.rdb"), &opts, keys)?;
/// assert_eq!(stats.keys, 3);
/// assert!(std::fs::read(dir.join("dump.rdb"))?.starts_with(b"REDIS0010"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Snapshot {
    w: Option<RdbWriter<BufWriter<File>>>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl Snapshot {
    /// Starts writing the snapshot that will replace `dest`: header, AUX
    /// fields and functions.
    pub fn create(dest: &Path, opts: &SnapshotOptions) -> Result<Snapshot> {
        let dir = parent(dest);
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) = name else {
            return Err(PersistError::io(
                "create",
                dest,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
            ));
        };
        let tmp = dir.join(format!("{TEMP_PREFIX}{}-{name}", std::process::id()));
        let f = File::create(&tmp).map_err(|e| PersistError::io("create", &tmp, e))?;
        let mut s = Snapshot {
            w: None,
            tmp,
            dest: dest.to_path_buf(),
        };
        let mut w = RdbWriter::new(
            BufWriter::with_capacity(1 << 16, f),
            opts.version,
            opts.compress,
        )
        .map_err(|e| e.with_path(&s.tmp))?;
        let ctime = opts.ctime_s.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
        let head = (|| {
            w.default_aux(ctime)?;
            // Redis 7.0+ marks every RDB; a BASE must say 1 so tools and the
            // server know its expired keys are kept on purpose (aof.md §4.5).
            w.aux(b"aof-base", if opts.aof_base { b"1" } else { b"0" })?;
            for (k, v) in &opts.aux {
                w.aux(k, v)?;
            }
            for f in &opts.functions {
                w.function(f)?;
            }
            Ok::<_, crate::Error>(())
        })();
        head.map_err(|e| e.with_path(&s.tmp))?;
        s.w = Some(w);
        Ok(s)
    }

    /// Writes one key (its db, expiry and value; aggregates must not be
    /// empty, as no server keeps an empty one).
    pub fn key(&mut self, k: &OwnedKey) -> Result<()> {
        match self.w.as_mut() {
            Some(w) => Ok(w.key(k).map_err(|e| e.with_path(&self.tmp))?),
            None => Ok(()),
        }
    }

    /// Keys written so far.
    pub fn keys(&self) -> u64 {
        self.w.as_ref().map_or(0, RdbWriter::keys)
    }

    /// Ends the file (EOF, CRC-64), fsyncs it, renames it over the target
    /// and fsyncs the directory.
    pub fn commit(mut self) -> Result<SnapshotStats> {
        let Some(w) = self.w.take() else {
            return Err(PersistError::io(
                "commit",
                &self.dest,
                std::io::Error::other("snapshot already failed"),
            ));
        };
        let keys = w.keys();
        let mut out = w.finish().map_err(|e| e.with_path(&self.tmp))?;
        out.flush()
            .map_err(|e| PersistError::io("write", &self.tmp, e))?;
        let f = out
            .into_inner()
            .map_err(|e| PersistError::io("write", &self.tmp, e.into_error()))?;
        f.sync_all()
            .map_err(|e| PersistError::io("fsync", &self.tmp, e))?;
        let bytes = f
            .metadata()
            .map_err(|e| PersistError::io("stat", &self.tmp, e))?
            .len();
        drop(f);
        fs::rename(&self.tmp, &self.dest).map_err(|e| PersistError::io("rename", &self.dest, e))?;
        // From here the temp name no longer exists; Drop must not remove
        // anything.
        self.tmp = PathBuf::new();
        sync_dir(parent(&self.dest))?;
        Ok(SnapshotStats {
            path: self.dest.clone(),
            keys,
            bytes,
        })
    }

    /// Writes a whole snapshot from an iterator of keys.
    pub fn write<I>(dest: &Path, opts: &SnapshotOptions, keys: I) -> Result<SnapshotStats>
    where
        I: IntoIterator<Item = OwnedKey>,
    {
        let mut s = Snapshot::create(dest, opts)?;
        for k in keys {
            s.key(&k)?;
        }
        s.commit()
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn parent(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}
