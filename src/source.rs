//! Input files: memory-mapped read-only, with a fallback to reading the file
//! when it cannot be mapped (pipes, special files).

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap};

use crate::error::{Error, Result};

enum Bytes {
    Map(Mmap),
    Owned(Vec<u8>),
}

/// A file's bytes, mapped when possible.
pub struct Source {
    path: PathBuf,
    bytes: Bytes,
}

impl Source {
    /// Opens and maps `path` (advising sequential access).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| Error::from(e).with_path(&path))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::from(e).with_path(&path))?;
        let bytes = if meta.is_file() && meta.len() > 0 {
            // SAFETY: the mapping is read-only and private to this process;
            // like every mmap-based reader (ripgrep, object) we rely on the
            // file not being truncated while we read it. A concurrent change
            // can yield garbage that the parsers reject, never UB in safe
            // code paths that only see `&[u8]`.
            match unsafe { Mmap::map(&file) } {
                Ok(m) => {
                    let _ = m.advise(Advice::Sequential);
                    Bytes::Map(m)
                }
                Err(_) => {
                    Bytes::Owned(std::fs::read(&path).map_err(|e| Error::from(e).with_path(&path))?)
                }
            }
        } else {
            Bytes::Owned(std::fs::read(&path).map_err(|e| Error::from(e).with_path(&path))?)
        };
        Ok(Source { path, bytes })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
