//! The command line: clap derive structs mirror the flags; each command
//! resolves them into library calls.

pub mod aof;
pub mod aof_input;
pub mod args;
pub mod cluster;
pub mod commands;
pub mod convert;
pub mod fleet;
pub mod output;
pub mod parquet;
pub mod project;
pub mod report;
pub mod survivors;

use crate::error::{Error, ErrorKind};

/// Exit codes scripts can rely on: 0 ok, 1 corrupt or invalid data
/// (including checksum mismatch), 2 usage errors, 3 I/O errors, 4 a version
/// or feature this build does not support.
pub fn exit_code(e: &Error) -> i32 {
    match e.kind() {
        ErrorKind::Usage(_) => 2,
        ErrorKind::Io(_) => 3,
        ErrorKind::UnsupportedVersion(_) => 4,
        _ => 1,
    }
}
