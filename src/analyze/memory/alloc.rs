//! The allocator and string headers: jemalloc size classes and the sds
//! header a string of a given length gets.

/// The allocator a server build links: jemalloc 5 with the smallest size
/// class spacing (quantum) it was configured with. Redis' bundled jemalloc
/// (official builds, Docker images) uses 8 bytes (`--with-lg-quantum=3`);
/// distribution packages linking the system jemalloc (Debian) use 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Alloc {
    /// Spacing of the small size classes up to 64 bytes (8 or 16).
    pub quantum: u64,
}

impl Alloc {
    /// Redis' bundled jemalloc.
    pub const BUNDLED: Alloc = Alloc { quantum: 8 };
    /// A system jemalloc with the default 16-byte quantum.
    pub const SYSTEM: Alloc = Alloc { quantum: 16 };

    /// The usable size jemalloc returns for a request of `n` bytes: what
    /// `zmalloc_size` reports for the block.
    pub fn class(self, n: u64) -> u64 {
        if self.quantum == 8 && n <= 64 {
            return n.max(1).div_ceil(8) * 8;
        }
        size_class(n)
    }

    /// Allocated bytes of an sds string of `len` bytes created at its exact
    /// length (`sdsnewlen`), as `sdsZmallocSize` reports it.
    pub fn sds(self, len: u64) -> u64 {
        self.class(sds_header(len) + len + 1)
    }
}

/// jemalloc 5 size classes with a 16-byte quantum (4 KiB pages).
pub fn size_class(n: u64) -> u64 {
    match n {
        0..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            // Four classes per doubling: round up to a quarter of the
            // power of two below `n`.
            let lg = 63 - (n - 1).leading_zeros() as u64;
            let delta = 1u64 << (lg - 2);
            n.div_ceil(delta) * delta
        }
    }
}

/// Header bytes of the smallest sds type that holds `len` bytes
/// (`sdsReqType`: sdshdr5/8/16/32/64 → 1/3/5/9/17 bytes).
pub fn sds_header(len: u64) -> u64 {
    if len < 1 << 5 {
        1
    } else if len < 1 << 8 {
        3
    } else if len < 1 << 16 {
        5
    } else if len < 1 << 32 {
        9
    } else {
        17
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_jemalloc_table() {
        let expect = [
            (1, 8),
            (9, 16),
            (17, 32),
            (100, 112),
            (129, 160),
            (257, 320),
            (536, 640),
            (4097, 5120),
            (14337, 16384),
            (16385, 20480),
            (40000, 40960),
        ];
        for (n, c) in expect {
            assert_eq!(size_class(n), c, "size_class({n})");
        }
    }

    #[test]
    fn sds_types() {
        assert_eq!(Alloc::SYSTEM.sds(0), 8);
        assert_eq!(Alloc::BUNDLED.sds(10), 16);
        assert_eq!(Alloc::SYSTEM.sds(10), 16);
        assert_eq!(Alloc::BUNDLED.sds(20), 24);
        assert_eq!(Alloc::SYSTEM.sds(20), 32);
        assert_eq!(sds_header(31), 1);
        assert_eq!(sds_header(32), 3);
        assert_eq!(sds_header(255), 3);
        assert_eq!(sds_header(256), 5);
    }
}
