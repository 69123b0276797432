//! Redis 7 multi-part AOF directories: a BASE file (`<name>.1.base.aof` of
//! RESP commands, or `<name>.1.base.rdb`, an RDB with `aof-base 1`), an
//! empty `<name>.1.incr.aof` and the manifest, built in a temporary
//! directory and renamed into place so a crash leaves no half directory.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// What the BASE file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaseFormat {
    /// RESP commands (`aof-use-rdb-preamble no`).
    Resp,
    /// An RDB (`aof-use-rdb-preamble yes`, the Redis 7 default).
    Rdb,
}

/// Writes a multi-part AOF directory at `dest` (which must not exist) whose
/// BASE file, of format `base`, is produced by `fill` into the writer it is
/// given. Returns what `fill` returned.
pub fn write_aof_dir<T>(
    dest: &Path,
    name: &str,
    base: BaseFormat,
    fill: impl FnOnce(&mut fs::File) -> Result<T>,
) -> Result<T> {
    if dest.exists() {
        return Err(Error::usage(format!(
            "{} exists; an AOF directory is written only to a new path",
            dest.display()
        )));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let leaf = dest
        .file_name()
        .ok_or_else(|| Error::usage("output path has no name"))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        leaf.to_string_lossy(),
        std::process::id()
    ));
    let build = || -> Result<T> {
        fs::create_dir(&tmp)?;
        let ext = match base {
            BaseFormat::Resp => "aof",
            BaseFormat::Rdb => "rdb",
        };
        let base = format!("{name}.1.base.{ext}");
        let incr = format!("{name}.1.incr.aof");
        let mut f = fs::File::create(tmp.join(&base))?;
        let r = fill(&mut f)?;
        f.flush()?;
        f.sync_all()?;
        fs::File::create(tmp.join(&incr))?.sync_all()?;
        let mut m = fs::File::create(tmp.join(format!("{name}.manifest")))?;
        write!(m, "file {base} seq 1 type b\nfile {incr} seq 1 type i\n")?;
        m.sync_all()?;
        fs::rename(&tmp, dest)?;
        Ok(r)
    };
    let r = build();
    if r.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    r
}
