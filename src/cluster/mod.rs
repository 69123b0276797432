//! Redis Cluster: hash slots of keys.

pub mod slot;
