//! Ziplist blobs (types 10, 12, 13 and the nodes of quicklist type 14).

use crate::error::Problem;
use crate::model::Elem;

/// A checked view over a ziplist blob (header, tail offset and terminator).
#[derive(Debug, Clone, Copy)]
pub struct Ziplist<'s> {
    body: &'s [u8],
    /// Entry count from the header; `None` when it says 65535.
    pub declared: Option<u16>,
}

fn bad(expected: &'static str, found: u64) -> Problem {
    Problem::Invalid {
        what: "ziplist",
        expected,
        found,
    }
}

impl<'s> Ziplist<'s> {
    /// Validates the header and terminator.
    pub fn parse(blob: &'s [u8]) -> Result<Self, Problem> {
        if blob.len() < 11 {
            return Err(Problem::Invalid {
                what: "ziplist",
                expected: "a blob of at least 11 bytes (header and terminator)",
                found: blob.len() as u64,
            });
        }
        let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if total != blob.len() {
            return Err(bad("zlbytes equal to the blob length", total as u64));
        }
        let tail = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
        if tail >= blob.len() {
            return Err(bad("zltail inside the blob", tail as u64));
        }
        if blob[blob.len() - 1] != 0xff {
            return Err(bad("terminator 0xFF", blob[blob.len() - 1] as u64));
        }
        let n = u16::from_le_bytes([blob[8], blob[9]]);
        Ok(Ziplist {
            body: &blob[10..blob.len() - 1],
            declared: (n != u16::MAX).then_some(n),
        })
    }

    /// Iterates the entries, checking bounds and each prevlen.
    pub fn iter(&self) -> ZiplistIter<'s> {
        ZiplistIter {
            rest: self.body,
            prev: 0,
        }
    }

    /// Number of entries (walks when the header does not say).
    pub fn count(&self) -> Result<u64, Problem> {
        match self.declared {
            Some(n) => Ok(n as u64),
            None => {
                let mut n = 0;
                for e in self.iter() {
                    e?;
                    n += 1;
                }
                Ok(n)
            }
        }
    }
}

/// Iterator over ziplist entries.
#[derive(Debug, Clone)]
pub struct ZiplistIter<'s> {
    rest: &'s [u8],
    prev: usize,
}

impl<'s> ZiplistIter<'s> {
    fn next_entry(&mut self) -> Result<Elem<'s>, Problem> {
        let r = self.rest;
        let need = |n: usize| -> Result<&'s [u8], Problem> {
            r.get(..n).ok_or(Problem::Length {
                what: "ziplist entry",
                declared: n as u64,
                available: r.len() as u64,
            })
        };
        let (prevlen, p) = match r[0] {
            0xfe => {
                let h = need(5)?;
                (u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize, 5)
            }
            0xff => return Err(bad("an entry before the terminator", 0xff)),
            b => (b as usize, 1),
        };
        if prevlen != self.prev {
            return Err(bad(
                "prevlen equal to the previous entry's size",
                prevlen as u64,
            ));
        }
        let h = need(p + 1)?;
        let enc = h[p];
        let (elem, size) = match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                let e = need(p + 1 + n)?;
                (Elem::Bytes(&e[p + 1..]), p + 1 + n)
            }
            1 => {
                let h = need(p + 2)?;
                let n = (((enc & 0x3f) as usize) << 8) | h[p + 1] as usize;
                let e = need(p + 2 + n)?;
                (Elem::Bytes(&e[p + 2..]), p + 2 + n)
            }
            2 => {
                let h = need(p + 5)?;
                let n = u32::from_be_bytes([h[p + 1], h[p + 2], h[p + 3], h[p + 4]]) as usize;
                let e = need((p + 5).saturating_add(n))?;
                (Elem::Bytes(&e[p + 5..]), p + 5 + n)
            }
            _ => match enc {
                0xc0 => {
                    let e = need(p + 3)?;
                    (
                        Elem::Int(i16::from_le_bytes([e[p + 1], e[p + 2]]) as i64),
                        p + 3,
                    )
                }
                0xd0 => {
                    let e = need(p + 5)?;
                    (
                        Elem::Int(
                            i32::from_le_bytes([e[p + 1], e[p + 2], e[p + 3], e[p + 4]]) as i64
                        ),
                        p + 5,
                    )
                }
                0xe0 => {
                    let e = need(p + 9)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&e[p + 1..p + 9]);
                    (Elem::Int(i64::from_le_bytes(a)), p + 9)
                }
                0xf0 => {
                    let e = need(p + 4)?;
                    let v = i32::from_le_bytes([0, e[p + 1], e[p + 2], e[p + 3]]) >> 8;
                    (Elem::Int(v as i64), p + 4)
                }
                0xfe => {
                    let e = need(p + 2)?;
                    (Elem::Int(e[p + 1] as i8 as i64), p + 2)
                }
                0xf1..=0xfd => (Elem::Int((enc & 0x0f) as i64 - 1), p + 1),
                _ => return Err(bad("an entry encoding byte", enc as u64)),
            },
        };
        self.prev = size;
        self.rest = &r[size..];
        Ok(elem)
    }
}

impl<'s> Iterator for ZiplistIter<'s> {
    type Item = Result<Elem<'s>, Problem>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.next_entry();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        // two entries: "ab" (prevlen 0), int8 -3 (prevlen 4)
        let body = [0x00, 0x02, b'a', b'b', 0x04, 0xfe, 0xfd];
        let total = 10 + body.len() + 1;
        let mut v = (total as u32).to_le_bytes().to_vec();
        v.extend_from_slice(&14u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&body);
        v.push(0xff);
        let z = Ziplist::parse(&v).unwrap();
        let e: Vec<_> = z.iter().map(|e| e.unwrap()).collect();
        assert_eq!(e, vec![Elem::Bytes(b"ab"), Elem::Int(-3)]);
    }
}
