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

/// What to tell a user whose read of an RDB file failed on damage (a
/// structure, the checksum, the header) that its CRC-64 locates and
/// salvage would set back: where, and that `--salvage` reads the file so.
pub fn damage_hint(e: &Error) -> Option<String> {
    if !matches!(
        e.kind(),
        ErrorKind::Parse(_)
            | ErrorKind::Checksum { .. }
            | ErrorKind::BadMagic(_)
            | ErrorKind::UnsupportedVersion(_)
    ) {
        return None;
    }
    let src = crate::source::Source::open(e.location().path.as_ref()?).ok()?;
    let fix = crate::rdb::read::salvage::repairable(
        src.bytes(),
        &crate::rdb::read::ReadOptions::default(),
    )?;
    Some(format!(
        "the file's CRC-64 locates the damage: {} byte(s) at offset {} (0x{:x}) hold {} where the checksum gives {}; --salvage reads the file with them set back",
        fix.found.len() / 2,
        fix.offset,
        fix.offset,
        fix.found,
        fix.fixed
    ))
}

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
