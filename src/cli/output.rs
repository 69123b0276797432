//! Output files: written to a temporary file in the same directory, synced,
//! then renamed over the target, so a crash never leaves half a file; an
//! input file is never overwritten.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An output that is stdout or an atomically replaced file.
pub enum Output {
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// A temp file renamed into place by [`Output::commit`].
    File {
        /// Buffered temp file.
        w: BufWriter<File>,
        /// Temp path.
        tmp: PathBuf,
        /// Final path.
        dest: PathBuf,
    },
}

impl Output {
    /// Opens `dest` (or stdout when it is absent or `-`, the usual name for
    /// standard output), refusing to overwrite any of `inputs`.
    pub fn create(dest: Option<&Path>, inputs: &[&Path]) -> Result<Self> {
        let Some(dest) = dest.filter(|d| *d != Path::new("-")) else {
            return Ok(Output::Stdout(BufWriter::with_capacity(
                1 << 16,
                io::stdout(),
            )));
        };
        for i in inputs {
            if let (Ok(a), Ok(b)) = (fs::canonicalize(i), fs::canonicalize(dest))
                && a == b
            {
                return Err(Error::usage(format!(
                    "refusing to overwrite the input file {}",
                    dest.display()
                )));
            }
        }
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .ok_or_else(|| Error::usage("output path has no file name"))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let f = File::create(&tmp).map_err(|e| Error::from(e).with_path(&tmp))?;
        Ok(Output::File {
            w: BufWriter::with_capacity(1 << 16, f),
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(self) -> Result<()> {
        match self {
            Output::Stdout(mut w) => {
                w.flush()?;
                Ok(())
            }
            Output::File { w, tmp, dest } => {
                let f = w.into_inner().map_err(|e| Error::from(e.into_error()))?;
                f.sync_all()?;
                fs::rename(&tmp, &dest).map_err(|e| Error::from(e).with_path(&dest))?;
                if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty())
                    && let Ok(d) = File::open(dir)
                {
                    let _ = d.sync_all();
                }
                Ok(())
            }
        }
    }

    /// Removes the temp file after a failure.
    pub fn abort(self) {
        if let Output::File { tmp, .. } = self {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Refuses `-` where the output is a directory (a multi-part AOF): standard
/// output cannot hold one, and a directory named `-` is never what was meant.
pub fn refuse_stdout_dir(dir: &Path) -> Result<()> {
    if dir == Path::new("-") {
        return Err(Error::usage(
            "this output is a directory of files: give a directory path, not -",
        ));
    }
    Ok(())
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File { w, .. } => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.write_all(buf),
            Output::File { w, .. } => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File { w, .. } => w.flush(),
        }
    }
}
