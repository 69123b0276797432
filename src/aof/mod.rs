//! AOF logs: reading every layout ([`read`]), the command key table
//! ([`commands`]), the tools built on the reader, and [`write`], which turns
//! keys into the commands that rebuild them (a single AOF, a RESP stream, or
//! a Redis 7 multi-part directory).

pub mod check;
pub mod command_table;
pub mod commands;
pub mod read;
pub mod write;
