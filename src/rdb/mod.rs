//! The RDB snapshot format: `read` and `write` mirror each other.

pub mod read;
pub mod write;
