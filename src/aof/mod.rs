//! AOF logs: reading every layout ([`read`]), the command key table
//! ([`commands`]), and the tools built on the reader.

pub mod check;
pub mod command_table;
pub mod commands;
pub mod read;
