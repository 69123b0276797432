//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod browser;
pub mod expected;
pub mod mem_redis;
pub mod redis;
pub mod rng;
