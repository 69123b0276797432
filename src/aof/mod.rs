//! Append-only files: `write` turns keys into the commands that rebuild
//! them (a single AOF, a RESP stream, or a Redis 7 multi-part directory).

pub mod write;
