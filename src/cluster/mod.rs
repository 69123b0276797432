//! Redis Cluster and many-file work: hash slots of keys, the slot map of a
//! `nodes.conf`, splitting one snapshot into many and merging many into
//! one.

pub mod input;
pub mod merge;
pub mod nodes;
pub mod slot;
pub mod split;
