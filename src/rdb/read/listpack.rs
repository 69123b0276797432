//! Listpack blobs (hash/zset/set listpacks, quicklist v2 nodes, stream nodes).

use crate::error::Problem;
use crate::model::Elem;

/// A checked view over a listpack blob: header size and terminator verified.
#[derive(Debug, Clone, Copy)]
pub struct Listpack<'s> {
    body: &'s [u8],
    /// Element count from the header; `None` when the header says 65535.
    pub declared: Option<u16>,
}

fn bad(expected: &'static str, found: u64) -> Problem {
    Problem::Invalid {
        what: "listpack",
        expected,
        found,
    }
}

impl<'s> Listpack<'s> {
    /// Validates the header (total bytes equal to the blob length, final
    /// 0xFF) and returns a view.
    pub fn parse(blob: &'s [u8]) -> Result<Self, Problem> {
        if blob.len() < 7 {
            return Err(Problem::Invalid {
                what: "listpack",
                expected: "a blob of at least 7 bytes (header and terminator)",
                found: blob.len() as u64,
            });
        }
        let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if total != blob.len() {
            return Err(bad("total_bytes equal to the blob length", total as u64));
        }
        if blob[blob.len() - 1] != 0xff {
            return Err(bad("terminator 0xFF", blob[blob.len() - 1] as u64));
        }
        let n = u16::from_le_bytes([blob[4], blob[5]]);
        Ok(Listpack {
            body: &blob[6..blob.len() - 1],
            declared: (n != u16::MAX).then_some(n),
        })
    }

    /// Bytes between the header and the terminator (the elements).
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Iterates the elements, validating each entry's bounds and backlen.
    pub fn iter(&self) -> ListpackIter<'s> {
        ListpackIter { rest: self.body }
    }

    /// Number of elements (walks the listpack when the header does not say).
    pub fn count(&self) -> Result<u64, Problem> {
        match self.declared {
            Some(n) => Ok(n as u64),
            None => {
                let mut n = 0u64;
                for e in self.iter() {
                    e?;
                    n += 1;
                }
                Ok(n)
            }
        }
    }
}

/// The element count a listpack's header declares, from the first bytes
/// `head` of a blob of `total` bytes: `None` when the header does not know
/// (65535: count by walking) or its size field is not `total`.
pub fn declared_count(head: &[u8], total: u64) -> Option<u64> {
    let size = u32::from_le_bytes(head.get(..4)?.try_into().ok()?);
    let n = u16::from_le_bytes(head.get(4..6)?.try_into().ok()?);
    (size as u64 == total && n != u16::MAX).then_some(n as u64)
}

/// Iterator over listpack elements.
#[derive(Debug, Clone)]
pub struct ListpackIter<'s> {
    rest: &'s [u8],
}

/// Size in bytes of the backlen that follows an element of `l` bytes,
/// with Redis' exact thresholds (see the spec's off-by-one note).
#[inline]
pub fn backlen_size(l: usize) -> usize {
    if l < 128 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

impl<'s> ListpackIter<'s> {
    #[inline]
    fn next_elem(&mut self) -> Result<Elem<'s>, Problem> {
        let r = self.rest;
        let b0 = r[0];
        let need = |n: usize| -> Result<&'s [u8], Problem> {
            r.get(..n).ok_or(Problem::Length {
                what: "listpack entry",
                declared: n as u64,
                available: r.len() as u64,
            })
        };
        let (elem, enc_len) = if b0 & 0x80 == 0 {
            (Elem::Int((b0 & 0x7f) as i64), 1)
        } else if b0 & 0xc0 == 0x80 {
            let n = (b0 & 0x3f) as usize;
            let e = need(1 + n)?;
            (Elem::Bytes(&e[1..]), 1 + n)
        } else if b0 & 0xe0 == 0xc0 {
            let e = need(2)?;
            let u = (((b0 & 0x1f) as i64) << 8) | e[1] as i64;
            let v = if u >= 4096 { u - 8192 } else { u };
            (Elem::Int(v), 2)
        } else if b0 & 0xf0 == 0xe0 {
            let h = need(2)?;
            let n = (((b0 & 0x0f) as usize) << 8) | h[1] as usize;
            let e = need(2 + n)?;
            (Elem::Bytes(&e[2..]), 2 + n)
        } else {
            match b0 {
                0xf0 => {
                    let h = need(5)?;
                    let n = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
                    let e = need(5usize.saturating_add(n))?;
                    (Elem::Bytes(&e[5..]), 5 + n)
                }
                0xf1 => {
                    let e = need(3)?;
                    (Elem::Int(i16::from_le_bytes([e[1], e[2]]) as i64), 3)
                }
                0xf2 => {
                    let e = need(4)?;
                    let v = i32::from_le_bytes([0, e[1], e[2], e[3]]) >> 8;
                    (Elem::Int(v as i64), 4)
                }
                0xf3 => {
                    let e = need(5)?;
                    (
                        Elem::Int(i32::from_le_bytes([e[1], e[2], e[3], e[4]]) as i64),
                        5,
                    )
                }
                0xf4 => {
                    let e = need(9)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&e[1..9]);
                    (Elem::Int(i64::from_le_bytes(a)), 9)
                }
                _ => return Err(bad("an element encoding byte", b0 as u64)),
            }
        };
        let bl = backlen_size(enc_len);
        let total = enc_len + bl;
        let back = need(total)?;
        // Validate the backlen: it must decode to enc_len.
        let bb = &back[enc_len..];
        let mut v: usize = 0;
        for (k, &byte) in bb.iter().enumerate() {
            if (k == 0) == (byte & 0x80 != 0) {
                return Err(bad("a well-formed backlen", byte as u64));
            }
            v = (v << 7) | (byte & 0x7f) as usize;
        }
        if v != enc_len {
            return Err(bad("backlen equal to the entry size", v as u64));
        }
        self.rest = &r[total..];
        Ok(elem)
    }
}

impl<'s> Iterator for ListpackIter<'s> {
    type Item = Result<Elem<'s>, Problem>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.next_elem();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in entries {
            body.extend_from_slice(e);
        }
        let total = 6 + body.len() + 1;
        let mut v = (total as u32).to_le_bytes().to_vec();
        v.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        v.extend_from_slice(&body);
        v.push(0xff);
        v
    }

    #[test]
    fn ints_and_strings() {
        let lp = build(&[
            &[0x05, 0x01],
            &[0x82, b'h', b'i', 0x03],
            &[0xdf, 0xff, 0x02],
        ]);
        let l = Listpack::parse(&lp).unwrap();
        let v: Vec<_> = l.iter().map(|e| e.unwrap()).collect();
        assert_eq!(v[0], Elem::Int(5));
        assert_eq!(v[1], Elem::Bytes(b"hi"));
        assert_eq!(v[2], Elem::Int(-1));
    }

    /// The declared count, unless it is the "unknown" 65535 or the size
    /// field is not the blob's.
    #[test]
    fn declared_counts() {
        let lp = build(&[&[0x05, 0x01], &[0x82, b'h', b'i', 0x03]]);
        assert_eq!(declared_count(&lp, lp.len() as u64), Some(2));
        assert_eq!(declared_count(&lp[..6], lp.len() as u64), Some(2));
        assert_eq!(declared_count(&lp, lp.len() as u64 + 1), None);
        assert_eq!(declared_count(&lp[..5], lp.len() as u64), None);
        let mut unknown = lp.clone();
        unknown[4..6].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(declared_count(&unknown, lp.len() as u64), None);
    }

    #[test]
    fn bad_backlen() {
        let lp = build(&[&[0x05, 0x02]]);
        let l = Listpack::parse(&lp).unwrap();
        assert!(l.iter().next().unwrap().is_err());
    }
}
