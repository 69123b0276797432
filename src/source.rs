//! Input files: memory-mapped read-only, with a fallback to reading the file
//! when it cannot be mapped (pipes, special files).

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap, UncheckedAdvice};

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

    /// Bytes made in memory for `path` (e.g. an AOF's replayed state
    /// written as an RDB), read like a file's.
    pub fn from_bytes(path: impl AsRef<Path>, bytes: Vec<u8>) -> Self {
        Source {
            path: path.as_ref().to_path_buf(),
            bytes: Bytes::Owned(bytes),
        }
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    /// Bytes worth giving back at a time ([`Source::release`]): one
    /// `madvise` call each, and at most this much more resident than a pass
    /// needs.
    pub const RELEASE_STEP: usize = 32 << 20;

    /// Drops the pages of the bytes before `end` from this process's
    /// resident set: a single pass over a large mapping (an AOF replay)
    /// otherwise keeps all of it resident until the end, as much memory as
    /// the file's size. Reading those bytes again still works (the kernel
    /// refaults them from the file). A no-op for bytes held in memory.
    pub fn release_before(&self, end: usize) {
        if let Bytes::Map(m) = &self.bytes {
            const PAGE: usize = 4096;
            let end = end.min(m.len()) / PAGE * PAGE;
            if end > 0 {
                // SAFETY: the mapping is private, read-only and never
                // written, so MADV_DONTNEED only unmaps clean pages; the
                // next access refaults the same bytes from the file, so
                // slices borrowed from the mapping keep their contents.
                let _ = unsafe { m.unchecked_advise_range(UncheckedAdvice::DontNeed, 0, end) };
            }
        }
    }

    /// As [`Source::release_before`], for the pages wholly inside `range`
    /// only: a reader that releases as it goes does not walk the page
    /// tables of what it released before again.
    pub fn release(&self, range: std::ops::Range<usize>) {
        if let Bytes::Map(m) = &self.bytes {
            const PAGE: usize = 4096;
            let start = range.start.div_ceil(PAGE) * PAGE;
            let end = range.end.min(m.len()) / PAGE * PAGE;
            if start < end {
                // SAFETY: as in `release_before`: the mapping is private,
                // read-only and never written, so the next access refaults
                // the same bytes from the file.
                let _ = unsafe {
                    m.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
                };
            }
        }
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Released pages read back the file's bytes (they are refaulted).
    #[test]
    fn released_pages_read_back_the_file() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/rdb/rdbcli/rct_all.rdb");
        let want = std::fs::read(&path).unwrap();
        assert!(
            want.len() > 3 * 4096,
            "{path:?} too small to release a page"
        );
        let src = Source::open(&path).unwrap();
        src.release(100..want.len() - 100);
        assert_eq!(src.bytes(), &want[..]);
    }
}
