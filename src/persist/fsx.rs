//! File-system steps that make a change durable and atomic: fsync of a
//! directory (so a created or renamed entry survives a crash) and
//! "write a temp file, fsync it, rename it over the target, fsync the
//! directory" for small files such as the manifest.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::error::{PersistError, Result};

/// Prefix of every temporary file this module creates, as Redis names its
/// own (`temp-…`): a crash can leave them behind and `AofDir::open` removes
/// them; the server never loads them.
pub const TEMP_PREFIX: &str = "temp-";

/// fsyncs a directory, making the entries created, renamed or removed in it
/// durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| PersistError::io("open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| PersistError::io("fsync directory", dir, e))
}

/// Replaces `dir/name` with `data` atomically and durably: the file is
/// written under a temp name, fsynced, renamed over `name`, then the
/// directory is fsynced. After a crash the target holds either the old or
/// the new content, never a mix; a leftover temp file is removed on error.
pub fn replace_file(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{TEMP_PREFIX}{name}"));
    let dest = dir.join(name);
    let r = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| PersistError::io("create", &tmp, e))?;
        f.write_all(data)
            .map_err(|e| PersistError::io("write", &tmp, e))?;
        f.sync_all()
            .map_err(|e| PersistError::io("fsync", &tmp, e))?;
        fs::rename(&tmp, &dest).map_err(|e| PersistError::io("rename", &dest, e))
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r?;
    sync_dir(dir)
}

/// Creates (or empties) `path` for appending and makes its directory entry
/// durable before anything refers to it.
pub fn create_for_append(dir: &Path, name: &str) -> Result<File> {
    let path = dir.join(name);
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| PersistError::io("create", &path, e))?;
    // A file of this name can exist after a crash between its creation and
    // the manifest update that lists it; it holds nothing acknowledged.
    f.set_len(0)
        .map_err(|e| PersistError::io("truncate", &path, e))?;
    f.sync_all()
        .map_err(|e| PersistError::io("fsync", &path, e))?;
    sync_dir(dir)?;
    Ok(f)
}
