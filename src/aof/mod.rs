//! AOF logs: reading every layout ([`read`]), the command key table
//! ([`commands`]), the tools built on the reader (check, repair, history,
//! offline rewrite), and `write`: the commands that rebuild a keyspace (a
//! single AOF, a RESP stream, or a Redis 7 multi-part directory).

pub mod check;
pub mod command_table;
pub mod commands;
pub mod history;
pub mod read;
pub mod repair;
pub mod rewrite;
pub mod state;
pub mod write;
