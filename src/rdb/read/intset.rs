//! Intset blobs (type 11): sorted 16/32/64-bit integers.

use crate::error::Problem;

/// A checked view over an intset blob.
#[derive(Debug, Clone, Copy)]
pub struct Intset<'s> {
    width: usize,
    data: &'s [u8],
}

/// Element width and count from the first bytes `head` of an intset blob
/// of `total` bytes, when they are what [`Intset::parse`] accepts.
pub fn header(head: &[u8], total: u64) -> Option<(usize, u64)> {
    let width = u32::from_le_bytes(head.get(..4)?.try_into().ok()?) as u64;
    let n = u32::from_le_bytes(head.get(4..8)?.try_into().ok()?) as u64;
    (matches!(width, 2 | 4 | 8) && n > 0 && 8 + n * width == total).then_some((width as usize, n))
}

impl<'s> Intset<'s> {
    /// Validates encoding (2, 4 or 8), exact size and non-emptiness.
    pub fn parse(blob: &'s [u8]) -> Result<Self, Problem> {
        if blob.len() < 8 {
            return Err(Problem::Invalid {
                what: "intset",
                expected: "a blob of at least 8 bytes (encoding and length)",
                found: blob.len() as u64,
            });
        }
        let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if !matches!(width, 2 | 4 | 8) {
            return Err(Problem::Invalid {
                what: "intset",
                expected: "element width 2, 4 or 8",
                found: width as u64,
            });
        }
        let n = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as u64;
        if n == 0 || 8 + n * width as u64 != blob.len() as u64 {
            return Err(Problem::Invalid {
                what: "intset",
                expected: "a non-zero length matching the blob size",
                found: n,
            });
        }
        Ok(Intset {
            width,
            data: &blob[8..],
        })
    }
    /// Bytes per element (2, 4 or 8).
    pub fn width(&self) -> usize {
        self.width
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }
    /// True when empty (never, for a parsed intset).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The elements in stored (ascending) order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + 's {
        let w = self.width;
        self.data.chunks_exact(w).map(move |c| match w {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        let mut b = 2u32.to_le_bytes().to_vec();
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&(-5i16).to_le_bytes());
        b.extend_from_slice(&7i16.to_le_bytes());
        let s = Intset::parse(&b).unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-5, 7]);
        assert_eq!(header(&b[..8], b.len() as u64), Some((2, 2)));
        b.push(0);
        assert!(Intset::parse(&b).is_err());
        assert_eq!(header(&b[..8], b.len() as u64), None);
    }
}
