//! The AOF / RESP writer: commands equivalent to each key, the way Redis'
//! AOF rewrite emits them (variadic commands of at most 64 elements,
//! `PEXPIREAT` for TTLs, `XADD`/`XSETID`/`XGROUP CREATE`/`XCLAIM` for
//! streams, `FUNCTION LOAD` for libraries, `RESTORE` for values with no
//! command form such as module values), into a single file or a Redis 7
//! multi-part directory.

pub mod commands;
pub mod dir;
pub mod resp;
pub mod sink;

pub use commands::{CommandSink, emit_function, emit_key};
pub use dir::{BaseFormat, write_aof_dir};
pub use resp::{RespWriter, put_command};
pub use sink::AofSink;
