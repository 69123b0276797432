//! The persistence layer's error: which operation failed on which file, so
//! a server can log it and decide (refuse writes, exit, retry after space
//! was freed). I/O errors keep their `io::ErrorKind` (`StorageFull`,
//! `PermissionDenied`, `ReadOnlyFilesystem`, `FileTooLarge`, ...).

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong in the persistence layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// A file-system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation (`"write"`, `"fdatasync"`, `"rename"`, ...).
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The appender refuses writes because an earlier write or fsync failed:
    /// after a failed fsync the kernel may have dropped dirty pages, so the
    /// file's durable content is unknown until it is reopened (and recovered).
    #[error(
        "AOF appender stopped: {op} of {} failed earlier ({message}); reopen the AOF to continue",
        path.display()
    )]
    Stopped {
        /// The operation that failed.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error kind of the original failure.
        kind: io::ErrorKind,
        /// The original error's message.
        message: String,
    },
    /// A file of the AOF cannot be loaded (corruption, a torn file that is not
    /// the last one, an invalid manifest).
    #[error("{}{}: {what}", path.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where, when known.
        offset: Option<u64>,
        /// What is wrong.
        what: String,
    },
    /// The replay callback refused a key or command.
    #[error("replaying {} at offset {offset}: {source}", path.display())]
    Replay {
        /// The file being replayed.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// The callback's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Encoding or decoding a file's content failed (RDB writer or reader
    /// errors name the offset and key).
    #[error(transparent)]
    Data(#[from] crate::Error),
}

impl PersistError {
    /// An I/O error of `op` on `path`.
    pub fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        PersistError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The OS error kind behind this error, when it is an I/O failure (also
    /// for a stopped appender, the kind of the failure that stopped it).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            PersistError::Io { source, .. } => Some(source.kind()),
            PersistError::Stopped { kind, .. } => Some(*kind),
            PersistError::Data(e) => match e.kind() {
                crate::ErrorKind::Io(e) => Some(e.kind()),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Result of persistence operations.
pub type Result<T, E = PersistError> = std::result::Result<T, E>;
