//! DUMP / RESTORE payloads (`type byte + value + u16le RDB version +
//! u64le CRC-64`): [`read`] parses and verifies them, [`write`] builds them.
//! Spec: `shared/spec/dump-payload.md`.

pub mod read;
pub mod write;
