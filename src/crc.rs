//! CRC-64/Jones as Redis computes it (reflected, init 0, no final xor).
//!
//! `crc-fast` (SIMD folding, ~36 GB/s here) instead of the bytewise `crc64`
//! crate (~2.4 GB/s): on a 500 MB snapshot the difference is 0.2 s, most of
//! a fast `inspect`'s budget. `crc64` stays as the reference in the tests.

use std::sync::OnceLock;

pub mod burst;

use crc_fast::CrcParams;

fn params() -> CrcParams {
    static P: OnceLock<CrcParams> = OnceLock::new();
    *P.get_or_init(|| {
        CrcParams::new(
            "CRC-64/REDIS",
            64,
            0xad93d23594c935a9,
            0,
            true,
            0,
            0xe9c6d914c4b8d9ca,
        )
    })
}

/// CRC-64 of `data`, as stored in an RDB trailer or DUMP payload footer.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum_with_params(params(), data)
}

/// Bytes [`crc64_reporting`] covers between reports of its progress.
const REPORT_STEP: usize = 8 << 20;

/// [`crc64`] of `data`, storing in `done` how many bytes it has read after
/// every 8 MiB: a pass that gives back the pages it has read must not give
/// back what the checksum has yet to read.
pub fn crc64_reporting(data: &[u8], done: &std::sync::atomic::AtomicUsize) -> u64 {
    let mut crc = Crc64::default();
    for (n, step) in data.chunks(REPORT_STEP).enumerate() {
        crc.update(step);
        let read = (n + 1).saturating_mul(REPORT_STEP).min(data.len());
        done.store(read, std::sync::atomic::Ordering::Relaxed);
    }
    crc.value()
}

/// An incremental CRC-64 for writers that stream their output.
pub struct Crc64(crc_fast::Digest);

impl Default for Crc64 {
    fn default() -> Self {
        Crc64(crc_fast::Digest::new_with_params(params()))
    }
}

impl Crc64 {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The CRC of everything fed so far.
    pub fn value(&self) -> u64 {
        self.0.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_and_reference() {
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        assert_eq!(crc64(&data), crc64::crc64(0, &data));
        let mut d = Crc64::default();
        d.update(&data[..777]);
        d.update(&data[777..]);
        assert_eq!(d.value(), crc64(&data));
    }
}
