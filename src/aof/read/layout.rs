//! Which files make up an AOF: a single `appendonly.aof` (RESP, optionally
//! after an RDB preamble) or a Redis 7 multi-part directory (manifest, BASE,
//! INCR files; HISTORY entries listed but never loaded).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::manifest::{self, FileType, Manifest, ManifestError};
use crate::error::{Error, ErrorKind, Result};

/// The role of a file in the load order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An old-style single file.
    Single,
    /// The multi-part BASE.
    Base,
    /// A multi-part INCR file.
    Incr,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Single => "single",
            Role::Base => "base",
            Role::Incr => "incr",
        })
    }
}

/// One file to load.
#[derive(Debug, Clone)]
pub struct AofFile {
    /// Its name as the manifest gives it (or the file name of a single file).
    pub name: Vec<u8>,
    /// Where it is.
    pub path: PathBuf,
    /// Its role.
    pub role: Role,
    /// Manifest sequence number.
    pub seq: Option<i64>,
}

impl AofFile {
    /// The name for messages (lossy UTF-8).
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// How the set was found.
#[derive(Debug, Clone)]
pub enum Layout {
    /// One file.
    Single,
    /// A manifest and the files it lists.
    MultiPart {
        /// The manifest file.
        manifest_path: PathBuf,
        /// Its parsed content, or why the server would refuse it.
        manifest: std::result::Result<Manifest, ManifestError>,
    },
}

/// An AOF: the files a server loads, in order.
#[derive(Debug, Clone)]
pub struct AofSet {
    /// The path the user gave.
    pub input: PathBuf,
    /// The directory the files live in.
    pub dir: PathBuf,
    /// Single or multi-part.
    pub layout: Layout,
    /// Files in load order (empty when the manifest is invalid).
    pub files: Vec<AofFile>,
}

/// The default names a server uses (`appendfilename`, `appenddirname`).
pub const DEFAULT_FILE: &str = "appendonly.aof";
/// Default multi-part directory name.
pub const DEFAULT_DIR: &str = "appendonlydir";

fn io_err(e: std::io::Error, p: &Path) -> Error {
    Error::from(e).with_path(p)
}

impl AofSet {
    /// Finds the AOF at `path`: a manifest, a single AOF file, a multi-part
    /// directory, or a server `dir` holding `appendonlydir/` or `appendonly.aof`.
    /// A file is a manifest when `redis-check-aof` would take it for one
    /// (a non-comment line starts with `file`).
    pub fn open(path: &Path) -> Result<AofSet> {
        let meta = std::fs::metadata(path).map_err(|e| io_err(e, path))?;
        if meta.is_dir() {
            let mut manifests = Vec::new();
            for ent in std::fs::read_dir(path).map_err(|e| io_err(e, path))? {
                let ent = ent.map_err(|e| io_err(e, path))?;
                let name = ent.file_name();
                if name.as_bytes().ends_with(b".manifest")
                    && !name.as_bytes().starts_with(b"temp-")
                    && ent.path().is_file()
                {
                    manifests.push(ent.path());
                }
            }
            manifests.sort();
            return match manifests.len() {
                1 => Self::multi_part(path, manifests.remove(0)),
                0 if path.join(DEFAULT_DIR).is_dir() => Self::open(&path.join(DEFAULT_DIR)),
                0 if path.join(DEFAULT_FILE).is_file() => {
                    Ok(Self::single(path, &path.join(DEFAULT_FILE)))
                }
                0 => Err(Error::usage(format!(
                    "{}: no AOF here (no *.manifest, no {DEFAULT_DIR}/, no {DEFAULT_FILE})",
                    path.display()
                ))),
                _ => Err(Error::usage(format!(
                    "{}: several manifests; name the one to use",
                    path.display()
                ))),
            };
        }
        let data = std::fs::read(path).map_err(|e| io_err(e, path))?;
        if manifest::looks_like_manifest(&data) {
            return Self::multi_part(path, path.to_path_buf());
        }
        Ok(Self::single(path, path))
    }

    fn single(input: &Path, file: &Path) -> AofSet {
        AofSet {
            input: input.to_path_buf(),
            dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            layout: Layout::Single,
            files: vec![AofFile {
                name: file
                    .file_name()
                    .map(|n| n.as_bytes().to_vec())
                    .unwrap_or_default(),
                path: file.to_path_buf(),
                role: Role::Single,
                seq: None,
            }],
        }
    }

    fn multi_part(input: &Path, manifest_path: PathBuf) -> Result<AofSet> {
        let dir = manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let data = std::fs::read(&manifest_path).map_err(|e| io_err(e, &manifest_path))?;
        let parsed = manifest::parse(&data);
        let files = match &parsed {
            Ok(m) => m
                .load_order()
                .map(|e| AofFile {
                    name: e.name.clone(),
                    path: dir.join(OsStr::from_bytes(&e.name)),
                    role: if e.file_type == FileType::Base {
                        Role::Base
                    } else {
                        Role::Incr
                    },
                    seq: Some(e.seq),
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        Ok(AofSet {
            input: input.to_path_buf(),
            dir,
            layout: Layout::MultiPart {
                manifest_path,
                manifest: parsed,
            },
            files,
        })
    }

    /// The manifest, or the server's reason to refuse it.
    pub fn manifest(&self) -> Result<Option<&Manifest>> {
        match &self.layout {
            Layout::Single => Ok(None),
            Layout::MultiPart {
                manifest_path,
                manifest,
            } => match manifest {
                Ok(m) => Ok(Some(m)),
                Err(e) => Err(Error::new(ErrorKind::Aof(e.to_string())).with_path(manifest_path)),
            },
        }
    }
}
