//! DUMP / RESTORE payloads (`type byte + value + u16le RDB version +
//! u64le CRC-64`): [`mod@read`] parses and verifies them, [`mod@write`] builds them.
//! Spec: `shared/spec/dump-payload.md`.

pub mod read;
pub mod write;
